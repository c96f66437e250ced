//! The gRPC server with TLS, as KEDA connects with `enableTLS`, `caCert`, `tlsClientCert` and
//! `tlsClientKey`: certificates generated at test time with rcgen.

#[path = "support/certificates.rs"]
mod certificates;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ecs_scaler::grpc::proto::ScaledObjectRef;
use ecs_scaler::grpc::proto::external_scaler_client::ExternalScalerClient;
use ecs_scaler::serve::{ServeConfig, ServeError, Server, TlsFiles};
use tokio::sync::oneshot;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// Starts the scaler (embedded examples) with TLS from `dir`; returns its address and a stop.
async fn start(dir: &Path, client_ca: bool) -> (SocketAddr, oneshot::Sender<()>) {
    let (address, _, stop) = start_with(dir, client_ca, false).await;
    (address, stop)
}

/// [`start`]; with `tls_beside`, TLS is served on a listener of its own (`--grpc-tls-listen`)
/// and the main one stays plaintext: returns (main address, TLS address, stop).
async fn start_with(
    dir: &Path,
    client_ca: bool,
    tls_beside: bool,
) -> (SocketAddr, Option<SocketAddr>, oneshot::Sender<()>) {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(ServeConfig {
        policies: None,
        grpc_listen: any,
        http_listen: any,
        initial_capacity: None,
        tick: Duration::from_secs(1),
        reload_interval: Duration::from_secs(60),
        limits: Default::default(),
        push: Default::default(),
        tls: Some(TlsFiles {
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
            client_ca: client_ca.then(|| dir.join("ca.crt")),
            listen: tls_beside.then_some(any),
        }),
    })
    .await
    .unwrap();
    let address = server.grpc_addr().unwrap();
    let tls_address = server.grpc_tls_addr().map(Result::unwrap);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    (address, tls_address, stop)
}

fn pem(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

/// A KEDA-like call over TLS trusting `ca_dir`'s CA, presenting `client`'s certificate if any.
async fn get_metric_spec(
    address: SocketAddr,
    ca_dir: &Path,
    client: Option<&Path>,
) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pem(ca_dir, "ca.crt")))
        .domain_name("localhost");
    if let Some(dir) = client {
        tls = tls.identity(Identity::from_pem(
            pem(dir, "client.crt"),
            pem(dir, "client.key"),
        ));
    }
    let channel = Channel::from_shared(format!("https://{address}"))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let request = ScaledObjectRef {
        name: "checkout".to_owned(),
        namespace: "default".to_owned(),
        scaler_metadata: [("policy".to_owned(), "checkout".to_owned())].into(),
    };
    ExternalScalerClient::new(channel)
        .get_metric_spec(request)
        .await
        .map(|_| ())
        .map_err(|status| format!("{status:?}"))
}

#[tokio::test]
async fn tls_server_answers_a_client_that_trusts_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    certificates::write(dir.path(), "ecs-scaler test CA");
    let (address, _stop) = start(dir.path(), false).await;
    get_metric_spec(address, dir.path(), None).await.unwrap();
}

#[tokio::test]
async fn client_certificates_signed_by_the_client_ca_are_accepted_others_refused() {
    let dir = tempfile::tempdir().unwrap();
    certificates::write(dir.path(), "ecs-scaler test CA");
    let stranger = tempfile::tempdir().unwrap();
    certificates::write(stranger.path(), "another CA");
    let (address, _stop) = start(dir.path(), true).await;

    get_metric_spec(address, dir.path(), Some(dir.path()))
        .await
        .unwrap();
    let without = get_metric_spec(address, dir.path(), None).await;
    assert!(
        without.is_err(),
        "a client without a certificate must be refused"
    );
    let untrusted = get_metric_spec(address, dir.path(), Some(stranger.path())).await;
    assert!(
        untrusted.is_err(),
        "a certificate of another CA must be refused"
    );
}

/// A plaintext call, as KEDA makes it without `enableTLS`.
async fn plaintext_get_metric_spec(address: SocketAddr) -> Result<(), ()> {
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await;
    match channel {
        Err(_) => Err(()),
        Ok(channel) => ExternalScalerClient::new(channel)
            .get_metric_spec(ScaledObjectRef {
                name: "checkout".to_owned(),
                namespace: "default".to_owned(),
                scaler_metadata: [("policy".to_owned(), "checkout".to_owned())].into(),
            })
            .await
            .map(|_| ())
            .map_err(|_| ()),
    }
}

#[tokio::test]
async fn tls_beside_plaintext_serves_both_kinds_of_trigger_from_one_scaler() {
    let dir = tempfile::tempdir().unwrap();
    certificates::write(dir.path(), "ecs-scaler test CA");
    let (plain, tls, _stop) = start_with(dir.path(), true, true).await;
    let tls = tls.expect("a TLS listener");
    assert_ne!(plain, tls);
    // Plaintext on the main listener, no client certificate asked.
    plaintext_get_metric_spec(plain).await.unwrap();
    // TLS, with the client certificate, on the other.
    get_metric_spec(tls, dir.path(), Some(dir.path()))
        .await
        .unwrap();
    // Each listener speaks only its own protocol.
    assert!(plaintext_get_metric_spec(tls).await.is_err());
    assert!(
        get_metric_spec(plain, dir.path(), Some(dir.path()))
            .await
            .is_err()
    );
    // The TLS listener still requires a client certificate.
    assert!(get_metric_spec(tls, dir.path(), None).await.is_err());
}

#[tokio::test]
async fn plaintext_clients_cannot_talk_to_a_tls_server() {
    let dir = tempfile::tempdir().unwrap();
    certificates::write(dir.path(), "ecs-scaler test CA");
    let (address, _stop) = start(dir.path(), false).await;
    let channel = Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await;
    let result = match channel {
        Err(_) => Err(()),
        Ok(channel) => ExternalScalerClient::new(channel)
            .get_metric_spec(ScaledObjectRef::default())
            .await
            .map(|_| ())
            .map_err(|_| ()),
    };
    assert!(result.is_err());
}

#[tokio::test]
async fn missing_tls_files_are_reported_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let result = Server::bind(ServeConfig {
        policies: None,
        grpc_listen: any,
        http_listen: any,
        initial_capacity: None,
        tick: Duration::from_secs(1),
        reload_interval: Duration::from_secs(60),
        limits: Default::default(),
        push: Default::default(),
        tls: Some(TlsFiles {
            cert: dir.path().join("missing.crt"),
            key: dir.path().join("missing.key"),
            client_ca: None,
            listen: None,
        }),
    })
    .await;
    let Err(error @ ServeError::Tls { .. }) = result else {
        panic!("expected a TLS file error");
    };
    assert!(error.to_string().contains("missing.crt"), "{error}");
}
