//! The Prometheus source against a real Prometheus: Debian's `prometheus` package, started on
//! 127.0.0.1 with a temporary TSDB, scraping every second a `/metrics` target this test serves
//! (`tests/support/prometheus.rs`).
//!
//! `tests/run-all.sh` installs Prometheus when it is missing. Without the binary on `PATH` these
//! tests fail (they do not skip), saying so.

#[path = "support/certificates.rs"]
mod certificates;
#[path = "support/prometheus.rs"]
mod prometheus_server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ecs_scaler::clock::SystemClock;
use ecs_scaler::controller::Verdict;
use ecs_scaler::policy::document::PrometheusSpec;
use ecs_scaler::policy::load::load_str;
use ecs_scaler::serve::{ServeConfig, Server};
use ecs_scaler::sources::hub::SourceHub;
use ecs_scaler::sources::poller::Poll;
use ecs_scaler::sources::prometheus::{BasicAuth, PrometheusPoller};
use ecs_scaler::sources::{FeedReceiver, FeedState, SourceError};
use ecs_scaler::telemetry::Metrics;
use prometheus_server::{ACTIVE_USERS, Prometheus, Target, get_text, http_client};
use tokio::sync::oneshot;

/// The password of the TLS test's basic auth user, and its bcrypt hash for Prometheus's web
/// config (cost 4, to keep the test fast).
const PASSWORD: &str = "p4ss-SECRET";
const PASSWORD_BCRYPT: &str = "$2b$04$/ze8fHimVuh5MP3MmSt1oOvP1VXCUNuxxAjeVOFRvYN7rxtS9u/gO";

fn spec(address: &str, query: &str) -> PrometheusSpec {
    serde_json::from_value(serde_json::json!({
        "serverAddress": address,
        "query": query,
        "pollIntervalSeconds": 1,
        "timeoutSeconds": 1,
    }))
    .unwrap()
}

fn document(name: &str, address: &str, query: &str) -> String {
    format!(
        r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {{name: {name}}}
spec:
  scalableTarget: {{minCapacity: 1, maxCapacity: 20}}
  metrics:
    activeUsers:
      prometheus:
        serverAddress: {address}
        query: '{query}'
        period: 10
        pollIntervalSeconds: 1
        timeoutSeconds: 1
  policies:
  - policyName: active-users-per-task
    targetTracking: {{metric: activeUsers, perTask: true, targetValue: 500}}
  behavior:
    targetTrackingHighAlarm: {{evaluationPeriods: 1, datapointsToAlarm: 1, thresholdRatio: 1.0}}
"#
    )
}

/// The feed's state once `wanted` holds (the test fails after `seconds` seconds).
async fn wait_for_state(
    feed: &FeedReceiver,
    seconds: u64,
    what: &str,
    wanted: impl Fn(&FeedState) -> bool,
) -> FeedState {
    let waited = tokio::time::timeout(Duration::from_secs(seconds), async {
        while !wanted(&feed.borrow()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "no {what} within {seconds} s: {:?}",
        *feed.borrow()
    );
    feed.borrow().clone()
}

async fn wait_for_value(feed: &FeedReceiver, value: f64) {
    wait_for_state(feed, 15, &format!("datapoint {value}"), |state| {
        state.datapoints.back().is_some_and(|d| d.value == value)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_users_come_from_a_real_prometheus_through_the_hub_and_the_server() {
    let target = Target::start(640.0).await;
    let mut prometheus = Prometheus::start(target.addr, None);
    let client = http_client();
    let address = prometheus.address.clone();
    prometheus
        .wait("/-/ready", async || {
            get_text(&client, &format!("{address}/-/ready")).await
        })
        .await;
    prometheus
        .wait("the first sample", async || {
            let body = get_text(
                &client,
                &format!("{address}/api/v1/query?query=app_active_sessions"),
            )
            .await?;
            if body.contains("\"640\"") {
                Ok(())
            } else {
                Err(body)
            }
        })
        .await;

    // Through the hub: the query's one series is one datapoint; a change follows.
    let set = load_str(&document("checkout", &address, ACTIVE_USERS), "test").unwrap();
    let hub = SourceHub::new(Arc::new(SystemClock), Arc::new(Metrics::new()));
    let feed = hub.subscribe(&set, 0);
    wait_for_value(&feed, 640.0).await;
    assert!(feed.borrow().last_error.is_none());
    target.set(1234.0);
    wait_for_value(&feed, 1234.0).await;

    // A query with two series is an error naming them; the feed keeps no datapoint.
    let set = load_str(&document("pods", &address, "app_pod_sessions"), "test").unwrap();
    let pods = hub.subscribe(&set, 0);
    let state = wait_for_state(&pods, 10, "error", |state| state.last_error.is_some()).await;
    let error = state.last_error.unwrap();
    assert!(error.contains("returned 2 series"), "{error}");
    assert!(
        error.contains(r#"pod="checkout-a""#) && error.contains(r#"pod="checkout-b""#),
        "{error}"
    );
    assert!(state.datapoints.is_empty());

    // Through a served policy set: 1234 active users at 500 per task is 3 tasks.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("checkout.yaml"),
        document("checkout", &address, ACTIVE_USERS),
    )
    .unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(ServeConfig {
        policies: Some(dir.path().to_owned()),
        grpc_listen: any,
        http_listen: any,
        initial_capacity: None,
        tick: Duration::from_millis(200),
        reload_interval: Duration::from_secs(60),
        limits: Default::default(),
        push: Default::default(),
        tls: None,
    })
    .await
    .unwrap();
    let handle = server.registry().get("default", "checkout").unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let mut verdicts = handle.subscribe();
    let decided = tokio::time::timeout(
        Duration::from_secs(40),
        verdicts.wait_for(|verdict| matches!(&**verdict, Verdict::Decided(d) if d.desired == 3)),
    )
    .await;
    assert!(
        decided.is_ok(),
        "no decision of 3 tasks within 40 s: {:?}",
        handle.verdict()
    );
    let _ = stop.send(());
    running.await.unwrap().unwrap();
}

async fn poll_once(spec: &PrometheusSpec) -> Result<Vec<f64>, SourceError> {
    let poller = PrometheusPoller::new(spec.key(), Arc::new(SystemClock));
    let observations = poller.poll().await?;
    Ok(observations.iter().map(|o| o.value).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate_and_basic_auth_against_a_real_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path();
    certificates::write(files, "ecs-scaler test CA");
    std::fs::write(files.join("password"), format!("{PASSWORD}\n")).unwrap();
    std::fs::write(files.join("wrong-password"), "not-it-SECRET").unwrap();
    let target = Target::start(777.0).await;
    let web_config = format!(
        "tls_server_config:\n  \
           cert_file: {dir}/server.crt\n  \
           key_file: {dir}/server.key\n  \
           client_auth_type: RequireAndVerifyClientCert\n  \
           client_ca_file: {dir}/ca.crt\n\
         basic_auth_users:\n  \
           alice: '{PASSWORD_BCRYPT}'\n",
        dir = files.display()
    );
    let mut prometheus = Prometheus::start(target.addr, Some(web_config));
    let address = prometheus.address.clone();

    let mut good = spec(&address, ACTIVE_USERS);
    good.ca_file = Some(files.join("ca.crt"));
    good.cert_file = Some(files.join("client.crt"));
    good.key_file = Some(files.join("client.key"));
    good.basic_auth = Some(BasicAuth {
        username: "alice".to_owned(),
        password_file: files.join("password"),
    });
    assert!(good.problems().is_empty(), "{:?}", good.problems());
    // Ready and scraped: the query answers over mutual TLS with the first sample.
    let values = prometheus
        .wait("the first sample over TLS", async || {
            match poll_once(&good).await {
                Ok(values) if !values.is_empty() => Ok(values),
                Ok(_) => Err("no sample yet".to_owned()),
                Err(error) => Err(error.to_string()),
            }
        })
        .await;
    assert_eq!(values, [777.0]);

    // unsafeSsl trusts the unknown CA; the client certificate is still presented.
    let mut unverified = good.clone();
    unverified.ca_file = None;
    unverified.unsafe_ssl = true;
    assert_eq!(poll_once(&unverified).await.unwrap(), [777.0]);

    // Without the CA, the server's certificate is refused.
    let mut untrusted = good.clone();
    untrusted.ca_file = None;
    let error = poll_once(&untrusted).await.unwrap_err().to_string();
    assert!(error.contains("certificate"), "{error}");

    // Without a client certificate, Prometheus refuses the connection. In TLS 1.3 the client
    // sees its handshake complete before the server checks the certificate, so the refusal
    // shows as the server's alert or, when the client is quicker, as the connection closed
    // under the request.
    let mut anonymous = good.clone();
    anonymous.cert_file = None;
    anonymous.key_file = None;
    let error = poll_once(&anonymous).await.unwrap_err().to_string();
    assert!(
        ["alert", "connection was not ready", "connection closed"]
            .iter()
            .any(|refusal| error.contains(refusal)),
        "{error}"
    );

    // A wrong password is Prometheus's 401, and no password appears in the error.
    let mut wrong = good.clone();
    wrong.basic_auth = Some(BasicAuth {
        username: "alice".to_owned(),
        password_file: files.join("wrong-password"),
    });
    let error = poll_once(&wrong).await.unwrap_err().to_string();
    assert!(error.contains("HTTP 401"), "{error}");
    for text in [error, format!("{wrong:?}"), format!("{:?}", wrong.key())] {
        assert!(!text.contains("SECRET"), "a secret leaked: {text}");
    }
}
