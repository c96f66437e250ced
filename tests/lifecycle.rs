//! Lifecycle and limits of `Server::run`: readiness, the stream, policy set and push body caps,
//! and the drain on shutdown (in-flight requests finish, open streams end with OK, `run` returns
//! Ok).

#[path = "support/http.rs"]
mod http;
#[path = "support/scaler.rs"]
mod scaler;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use ecs_scaler::cli::{Cli, Command};
use ecs_scaler::grpc::proto::external_scaler_client::ExternalScalerClient;
use ecs_scaler::grpc::proto::{GetMetricSpecResponse, ScaledObjectRef};
use ecs_scaler::serve::{Limits, ServeConfig};
use futures_util::StreamExt;
use scaler::Scaler;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;

const POLICY: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: worker, namespace: jobs}
spec:
  scalableTarget: {minCapacity: 1, maxCapacity: 10}
  metrics:
    backlog: {push: {period: 10}}
  policies:
  - policyName: backlog-per-task
    targetTracking: {metric: backlog, perTask: true, targetValue: 100}
"#;

/// A scaler serving [`POLICY`] with `limits`, evaluating every 50 ms.
async fn start(limits: Limits) -> Scaler {
    let files = [("worker.yaml", POLICY.to_owned())];
    Scaler::start_with("jobs", &files, |config| {
        config.tick = Duration::from_millis(50);
        config.reload_interval = Duration::from_secs(60);
        config.limits = limits;
    })
    .await
}

fn worker() -> ScaledObjectRef {
    ScaledObjectRef {
        name: "worker-so".to_owned(),
        namespace: "jobs".to_owned(),
        scaler_metadata: [("policy".to_owned(), "worker".to_owned())].into(),
    }
}

#[tokio::test]
async fn readyz_answers_once_every_policy_set_has_a_first_verdict() {
    let mut running = start(Limits::default()).await;
    let mut last = (0, String::new());
    for _ in 0..100 {
        last = http::get(running.http, "/readyz").await;
        if last.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last.0, 200, "{}", last.1);
    assert_eq!(last.1, "ready\n");
    running.stop();
}

#[tokio::test]
async fn streams_beyond_the_limit_are_resource_exhausted_until_one_closes() {
    let mut running = start(Limits {
        max_stream_subscribers: 2,
        ..Limits::default()
    })
    .await;
    let mut client = ExternalScalerClient::new(running.channel.clone());
    let first = client
        .stream_is_active(worker())
        .await
        .unwrap()
        .into_inner();
    let _second = client
        .stream_metric_spec(worker())
        .await
        .unwrap()
        .into_inner();
    let refused = client.stream_is_active(worker()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("--max-stream-subscribers"),
        "{}",
        refused.message()
    );
    let refused = client.stream_metric_spec(worker()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    // Unary calls are not limited.
    client.get_metric_spec(worker()).await.unwrap();

    drop(first);
    let mut reopened = None;
    for _ in 0..100 {
        match client.stream_is_active(worker()).await {
            Ok(stream) => {
                reopened = Some(stream);
                break;
            }
            Err(status) => assert_eq!(status.code(), Code::ResourceExhausted),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reopened.is_some(), "a closed stream frees its place");
    running.stop();
}

#[tokio::test]
async fn inline_policy_sets_beyond_the_limit_are_resource_exhausted() {
    let mut running = start(Limits {
        max_policy_sets: 1,
        ..Limits::default()
    })
    .await;
    let mut client = ExternalScalerClient::new(running.channel.clone());
    let inline = ScaledObjectRef {
        name: "inline-so".to_owned(),
        namespace: "jobs".to_owned(),
        scaler_metadata: [("targetValue".to_owned(), "10".to_owned())].into(),
    };
    let refused = client.get_metric_spec(inline).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("--max-policy-sets")
            && refused.message().contains("jobs/inline-so"),
        "{}",
        refused.message()
    );
    // The file-defined policy set is still served.
    client.get_metric_spec(worker()).await.unwrap();
    running.stop();
}

#[tokio::test]
async fn inline_policy_sets_unused_for_inline_idle_timeout_are_removed_freeing_their_place() {
    // The flag reaches the limits; an hour without it; under a minute is refused.
    let limits = |extra: &[&str]| serve_config(extra).limits.inline_idle_timeout;
    assert_eq!(limits(&[]), Duration::from_secs(3600));
    assert_eq!(
        limits(&["--inline-idle-timeout", "120"]),
        Duration::from_secs(120)
    );
    let error = Cli::try_parse_from(["ecs-scaler", "serve", "--inline-idle-timeout", "59"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("--inline-idle-timeout"), "{error}");

    let mut running = start(Limits {
        max_policy_sets: 2,
        inline_idle_timeout: Duration::from_secs(1),
        ..Limits::default()
    })
    .await;
    let mut client = ExternalScalerClient::new(running.channel.clone());
    let inline = |name: &str| ScaledObjectRef {
        name: name.to_owned(),
        namespace: "jobs".to_owned(),
        scaler_metadata: [("targetValue".to_owned(), "10".to_owned())].into(),
    };
    client.get_metric_spec(inline("deleted-so")).await.unwrap();
    let refused = client.get_metric_spec(inline("new-so")).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    // Nothing asks for deleted-so any more (its ScaledObject is gone): it is removed with its
    // series, while the file-defined policy set, unused too, stays.
    scaler::eventually("deleted-so removed", Duration::from_secs(10), async || {
        running
            .registry
            .get("jobs", "deleted-so")
            .is_none()
            .then_some(())
    })
    .await;
    scaler::eventually("its series removed", Duration::from_secs(5), async || {
        (!running.metrics_text().contains("policy_set=\"deleted-so\"")).then_some(())
    })
    .await;
    assert!(running.registry.get("jobs", "worker").is_some());
    client.get_metric_spec(inline("new-so")).await.unwrap();
    running.stop();
}

/// A TCP proxy to `target` for one connection, which stops forwarding in both directions once
/// `frozen` is set, yet keeps both sockets open: a peer whose node died.
async fn freezable_proxy(target: SocketAddr) -> (SocketAddr, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let frozen = Arc::new(AtomicBool::new(false));
    let flag = frozen.clone();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(target).await.unwrap();
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let forward = |mut from: OwnedReadHalf, mut to: OwnedWriteHalf, frozen: Arc<AtomicBool>| async move {
            let mut buffer = vec![0u8; 16 * 1024];
            loop {
                let n = from.read(&mut buffer).await.unwrap_or(0);
                if frozen.load(Ordering::SeqCst) {
                    // Hold both halves: no FIN, no RST, nothing.
                    std::future::pending::<()>().await;
                }
                if n == 0 || to.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        };
        tokio::join!(
            forward(client_read, server_write, flag.clone()),
            forward(server_read, client_write, flag),
        );
    });
    (address, frozen)
}

#[tokio::test]
async fn a_stream_whose_client_vanished_is_closed_after_the_unanswered_keepalive() {
    let mut running = start(Limits {
        max_stream_subscribers: 1,
        grpc_keepalive: Duration::from_millis(500),
        ..Limits::default()
    })
    .await;
    let (proxy, frozen) = freezable_proxy(running.grpc).await;
    let through_proxy = tonic::transport::Endpoint::from_shared(format!("http://{proxy}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut vanishing = ExternalScalerClient::new(through_proxy);
    let mut stream = vanishing
        .stream_is_active(worker())
        .await
        .unwrap()
        .into_inner();
    // The stream answers at once with the current activity: it is open.
    stream.message().await.unwrap();
    let mut client = ExternalScalerClient::new(running.channel.clone());
    let refused = client.stream_is_active(worker()).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::ResourceExhausted,
        "the one place is taken"
    );
    // The client's node dies: its connection stays open but answers nothing.
    frozen.store(true, Ordering::SeqCst);
    scaler::eventually("the place freed", Duration::from_secs(10), async || {
        client.stream_is_active(worker()).await.ok()
    })
    .await;
    running.stop();
}

/// `ServeConfig` of `ecs-scaler serve` with `extra` arguments.
fn serve_config(extra: &[&str]) -> ServeConfig {
    let mut args = vec!["ecs-scaler", "serve"];
    args.extend(extra);
    match Cli::try_parse_from(args).unwrap().command {
        Command::Serve(args) => args.into(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn push_bodies_over_max_push_body_bytes_are_413_and_smaller_ones_are_accepted() {
    // The flag reaches the limits; 64 KiB without it; 0 is refused.
    assert_eq!(serve_config(&[]).limits.max_push_body_bytes, 65536);
    let limits = serve_config(&["--max-push-body-bytes", "100"]).limits;
    assert_eq!(limits.max_push_body_bytes, 100);
    let error = Cli::try_parse_from(["ecs-scaler", "serve", "--max-push-body-bytes", "0"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("--max-push-body-bytes"), "{error}");
    // The HTTP connection cap likewise (10,000 without it; the header timeout is 10 s).
    let http = serve_config(&[]).limits.http_connections;
    assert_eq!(
        (http.max_connections, http.header_read_timeout),
        (10_000, Duration::from_secs(10))
    );
    let http = serve_config(&["--max-http-connections", "5"]).limits;
    assert_eq!(http.http_connections.max_connections, 5);

    let mut running = start(limits).await;
    let path = "/v1/namespaces/jobs/policysets/worker/metrics/backlog";
    let small = r#"{"value": 7}"#;
    let (status, body) = http::request(running.http, "PUT", path, small).await;
    assert_eq!(status, 204, "{body}");
    // 101 bytes: one over the limit.
    let large = format!(r#"{{"value": 7, "timestamp": null{}}}"#, " ".repeat(70));
    assert_eq!(large.len(), 101);
    let (status, body) = http::request(running.http, "PUT", path, &large).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("larger than 100 bytes"), "{body}");
    // At the limit exactly: accepted.
    let exact = &format!(r#"{{"value": 7, "timestamp": null{}}}"#, " ".repeat(69));
    assert_eq!(exact.len(), 100);
    let (status, body) = http::request(running.http, "PUT", path, exact).await;
    assert_eq!(status, 204, "{body}");
    running.stop();
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_ends_open_streams_with_ok() {
    let mut running = start(Limits::default()).await;
    let mut client = ExternalScalerClient::new(running.channel.clone());
    let mut activity = client
        .stream_is_active(worker())
        .await
        .unwrap()
        .into_inner();
    let mut specs = client
        .stream_metric_spec(worker())
        .await
        .unwrap()
        .into_inner();
    tokio::time::timeout(Duration::from_secs(5), activity.message())
        .await
        .unwrap()
        .unwrap()
        .expect("the activity at once");
    specs.message().await.unwrap().expect("the spec at once");

    // A unary GetMetricSpec whose request body stays open until `release`: the server has the
    // message but the request is in flight until the body ends.
    let (release, released) = oneshot::channel::<()>();
    let body = futures_util::stream::iter([worker()])
        .chain(futures_util::stream::once(released).filter_map(|_| std::future::ready(None)));
    let mut grpc = tonic::client::Grpc::new(running.channel.clone());
    let in_flight = tokio::spawn(async move {
        grpc.ready().await.unwrap();
        grpc.client_streaming::<_, ScaledObjectRef, GetMetricSpecResponse, _>(
            tonic::Request::new(body),
            PathAndQuery::from_static("/externalscaler.ExternalScaler/GetMetricSpec"),
            tonic_prost::ProstCodec::default(),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    assert!(running.stop(), "the server listens for the signal");
    // Open streams end with OK (no error status).
    let ended = tokio::time::timeout(Duration::from_secs(5), activity.message())
        .await
        .expect("StreamIsActive ends on shutdown");
    assert!(matches!(ended, Ok(None)), "{ended:?}");
    let ended = tokio::time::timeout(Duration::from_secs(5), specs.message())
        .await
        .expect("StreamMetricSpec ends on shutdown");
    assert!(matches!(ended, Ok(None)), "{ended:?}");

    // The in-flight request holds the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(running.is_serving(), "run waits for in-flight requests");
    release.send(()).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the in-flight request finishes")
        .unwrap()
        .expect("with OK");
    assert_eq!(
        response.into_inner().metric_specs[0].metric_name,
        "ecs-desired-jobs-worker"
    );
    let result = tokio::time::timeout(Duration::from_secs(5), running.finished())
        .await
        .expect("run returns once drained");
    assert!(result.is_ok(), "{result:?}");
}
