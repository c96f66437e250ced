//! The CloudWatch source against LocalStack (the current aws-sdk-cloudwatch speaks RPCv2-CBOR,
//! which moto does not).
//!
//! Each test starts its own LocalStack on a free port of 127.0.0.1, from the venv that
//! `tests/run-all.sh` builds (`target/localstack-venv`, or the python given by
//! `ECS_SCALER_LOCALSTACK_PYTHON`), puts metric data with the Rust SDK, with timestamps in the
//! past (GetMetricData reads history), and checks the values:
//! - in process: a hub whose batcher calls LocalStack through a client with fixed dummy
//!   credentials; the values reach the feeds as period values and a policy set's decision;
//! - end to end: `ecs-scaler serve` with a policy file whose metric names LocalStack as its
//!   `awsEndpoint`, credentials from the SDK's default chain (dummy ones in the child's
//!   environment); the decision is read over HTTP, the calls on `/metrics`.
//!
//! - CloudWatch alarms read by name: `PutMetricAlarm`, a policy set whose step policy names the
//!   alarm (`cloudwatchAlarm`), resolved with `DescribeAlarms` and evaluated by the scaler; in mode
//!   `trustState`, the state `SetAlarmState` gives (LocalStack re-evaluates an alarm only every
//!   `EvaluationPeriods x Period`, 3 minutes here, after its creation).
//!
//! LocalStack 4.14's GetMetricData handles metric statistics (not metric math, not extended
//! statistics): expressions, percentiles and pagination are covered by the unit tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StandardUnit, StateValue, Statistic,
};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use chrono::Utc;
use ecs_scaler::capacity::assumed::AssumedCapacity;
use ecs_scaler::clock::SystemClock;
use ecs_scaler::controller::driver::Driver;
use ecs_scaler::controller::{Controller, ControllerConfig, Verdict};
use ecs_scaler::engine::history_periods;
use ecs_scaler::engine::reason::Outcome;
use ecs_scaler::policy::load::load_str;
use ecs_scaler::registry::{Origin, Registry, RegistryConfig};
use ecs_scaler::sources::aws::{AwsConfigs, AwsIdentity};
use ecs_scaler::sources::cloudwatch::alarms::api::{
    AlarmsApiFactory, DescribeAlarmsApi, SdkAlarmsApi,
};
use ecs_scaler::sources::cloudwatch::api::{ApiFactory, MetricDataApi, SdkApi};
use ecs_scaler::sources::hub::SourceHub;
use ecs_scaler::telemetry::Metrics;

const REGION: &str = "us-east-1";
const ACCESS_KEY: &str = "AKIDECSSCALERCWTEST";
const SECRET_KEY: &str = "ecs-scaler-cloudwatch-test-secret";

/// The venv's python: `ECS_SCALER_LOCALSTACK_PYTHON` (relative to the manifest directory) or
/// `target/localstack-venv/bin/python`.
fn python() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = match std::env::var_os("ECS_SCALER_LOCALSTACK_PYTHON") {
        Some(value) if !value.is_empty() => manifest_dir.join(value),
        _ => manifest_dir.join("target/localstack-venv/bin/python"),
    };
    assert!(
        python.exists(),
        "no LocalStack python at {}: run `bash tests/run-all.sh` (it creates \
         target/localstack-venv with tests/localstack/requirements.txt on pyenv's Python 3.13), \
         or point ECS_SCALER_LOCALSTACK_PYTHON at a python with localstack-core installed",
        python.display()
    );
    python
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET on 127.0.0.1; the status line and the body.
fn http_get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default().to_owned();
    Ok((status, body.to_owned()))
}

/// A child process killed when dropped (also when a test panics).
struct Process {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Process {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited with {status}; its log:\n{}",
                self.name,
                self.log()
            );
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// LocalStack serving CloudWatch on a free port.
struct LocalStack {
    process: Process,
    port: u16,
    _dir: tempfile::TempDir,
}

/// Runs LocalStack in this python process and exits when the test process is gone (its stdin
/// closes), so that a killed test run leaves no LocalStack behind.
const LAUNCHER: &str = "\
import os, runpy, sys, threading
def watch():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
runpy.run_module('localstack.runtime.main', run_name='__main__')
";

impl LocalStack {
    fn start() -> Self {
        let python = python();
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("localstack.log");
        let child = Command::new(&python)
            .args(["-c", LAUNCHER])
            .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
            .env("SERVICES", "cloudwatch")
            .env("LOCALSTACK_VOLUME_DIR", dir.path().join("volume"))
            // Its state (the metrics database) goes to $TMPDIR/localstack: one per test.
            .env("TMPDIR", dir.path())
            .env("DISABLE_EVENTS", "1")
            .env("SKIP_SSL_CERT_DOWNLOAD", "1")
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("localstack.err")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start LocalStack with {}: {e}", python.display()));
        let mut localstack = Self {
            process: Process {
                child,
                name: "LocalStack",
                log,
            },
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            localstack.process.check_alive();
            if let Ok((status, body)) = http_get(port, "/_localstack/health")
                && status.contains("200")
                && (body.contains("\"cloudwatch\": \"available\"")
                    || body.contains("\"cloudwatch\": \"running\""))
            {
                return localstack;
            }
            assert!(
                Instant::now() < deadline,
                "LocalStack not ready after 90 s; its log:\n{}",
                localstack.process.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client with fixed dummy credentials (the test's own, not the scaler's chain).
    fn client(&self) -> aws_sdk_cloudwatch::Client {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let config = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .build();
        aws_sdk_cloudwatch::Client::from_conf(config)
    }
}

/// Puts two samples per minute (`low` and `high`) for the 21 minutes before the current one.
async fn put_history(client: &aws_sdk_cloudwatch::Client, metric: &str, low: f64, high: f64) {
    let now = Utc::now().timestamp();
    let this_minute = now - now.rem_euclid(60);
    for minutes_ago in 1..=21 {
        let start = this_minute - 60 * minutes_ago;
        let data = [(10, low), (40, high)].map(|(second, value)| {
            MetricDatum::builder()
                .metric_name(metric)
                .dimensions(
                    Dimension::builder()
                        .name("ServiceName")
                        .value("web")
                        .build(),
                )
                .timestamp(AwsDateTime::from_secs(start + second))
                .value(value)
                .unit(StandardUnit::Count)
                .build()
        });
        client
            .put_metric_data()
            .namespace("EcsScaler/Test")
            .set_metric_data(Some(data.to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PutMetricData: {}",
                    aws_sdk_cloudwatch::error::DisplayErrorContext(e)
                )
            });
    }
}

fn policy(endpoint: Option<&str>) -> String {
    let endpoint = endpoint
        .map(|e| format!("awsRegion: {REGION}, awsEndpoint: '{e}', "))
        .unwrap_or_default();
    format!(
        r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {{name: web, namespace: shop}}
spec:
  scalableTarget: {{minCapacity: 1, maxCapacity: 20}}
  metrics:
    backlog:
      cloudwatch: {{{endpoint}namespace: EcsScaler/Test, metricName: Backlog,
                   dimensions: {{ServiceName: web}}, stat: Average}}
    backlogSum:
      cloudwatch: {{{endpoint}namespace: EcsScaler/Test, metricName: Backlog,
                   dimensions: {{ServiceName: web}}, stat: Sum, unit: Count}}
    peak:
      cloudwatch: {{{endpoint}namespace: EcsScaler/Test, metricName: Backlog,
                   dimensions: {{ServiceName: web}}, stat: Maximum}}
  alarms:
    peakHigh: {{metric: peak, comparisonOperator: GreaterThanThreshold, threshold: 450,
               evaluationPeriods: 3}}
  policies:
  - policyName: backlog
    targetTracking: {{metric: backlog, targetValue: 100}}
  - policyName: peak
    stepScaling:
      alarm: peakHigh
      adjustmentType: ChangeInCapacity
      stepAdjustments: [{{metricIntervalLowerBound: 0, scalingAdjustment: 1}}]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_values_reach_feeds_and_decisions_in_one_batched_call() {
    let localstack = LocalStack::start();
    let client = localstack.client();
    // Average 400, Sum 800, Maximum 500 per minute.
    put_history(&client, "Backlog", 300.0, 500.0).await;

    let api: Arc<dyn MetricDataApi> = Arc::new(SdkApi::from_client(client.clone()));
    let factory: ApiFactory = Arc::new(move |_: &AwsIdentity| api.clone());
    let metrics = Arc::new(Metrics::new());
    let hub = SourceHub::with_cloudwatch_api(
        Arc::new(SystemClock),
        metrics.clone(),
        Arc::new(AwsConfigs::new()),
        factory,
    );
    let set = Arc::new(load_str(&policy(None), "test").unwrap());
    let (controller, verdicts) = Controller::new(
        set.clone(),
        &hub,
        Arc::new(AssumedCapacity::new(1)),
        Arc::new(SystemClock),
        metrics.clone(),
        ControllerConfig::default(),
    );
    let mut verdicts = verdicts.subscribe();
    let feeds: Vec<_> = (0..set.metrics.len())
        .map(|i| hub.subscribe(&set, i))
        .collect();
    let running = Driver::spawn().run(controller);

    // The first fetch comes a second after the registrations, or with a cycle due soon.
    let decision = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            verdicts.changed().await.unwrap();
            let verdict = verdicts.borrow_and_update().clone();
            if let Some(decision) = verdict.decision()
                && decision.desired != 1
            {
                return decision.clone();
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no scale-out within 30 s: {:?}; feeds: {:?}",
            verdicts.borrow(),
            feeds.iter().map(|f| f.borrow().clone()).collect::<Vec<_>>()
        )
    });
    // Target tracking: 400 / 100 per task -> 4 tasks; the step policy (peak 500 > 450) adds 1
    // to the capacity of 1: the larger wins.
    assert_eq!(decision.desired, 4, "{decision:?}");

    // Each feed holds CloudWatch's own statistic per minute, as period values, over the
    // periods its metric's history keeps (at least 15 for target tracking's scale-in alarm).
    for (metric, feed) in set.metrics.iter().zip(&feeds) {
        let name = metric.name.as_str();
        let state = feed.borrow();
        let expected = match name {
            "backlog" => 400.0,
            "backlogSum" => 800.0,
            "peak" => 500.0,
            other => panic!("{other}"),
        };
        let kept = history_periods(metric).min(15);
        assert!(state.last_error.is_none(), "{name}: {state:?}");
        assert!(state.datapoints.len() >= kept, "{name}: {state:?}");
        for datapoint in &state.datapoints {
            assert!(datapoint.period_value, "{name}: {datapoint:?}");
            assert_eq!(datapoint.value, expected, "{name}: {datapoint:?}");
            assert_eq!(
                datapoint.timestamp.timestamp() % 60,
                0,
                "{name}: {datapoint:?}"
            );
        }
    }
    // The three queries went in one call.
    let text = metrics.encode();
    assert!(
        text.contains(
            "ecs_scaler_aws_api_calls_total{service=\"cloudwatch\",operation=\"GetMetricData\"} 1\n"
        ),
        "{text}"
    );
    drop(running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_fetches_cloudwatch_through_the_default_credential_chain() {
    let localstack = LocalStack::start();
    put_history(&localstack.client(), "Backlog", 300.0, 500.0).await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("web.yaml"),
        policy(Some(&localstack.endpoint())),
    )
    .unwrap();
    let (grpc, http) = (free_port(), free_port());
    let log = dir.path().join("server.log");
    let child = Command::new(env!("CARGO_BIN_EXE_ecs-scaler"))
        .arg("serve")
        .arg("--policies")
        .arg(dir.path())
        .args(["--grpc-listen", &format!("127.0.0.1:{grpc}")])
        .args(["--http-listen", &format!("127.0.0.1:{http}")])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info,ecs_scaler=debug")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Process {
        child,
        name: "ecs-scaler serve",
        log,
    };

    let deadline = Instant::now() + Duration::from_secs(40);
    let body = loop {
        server.check_alive();
        if let Ok((status, body)) = http_get(http, "/v1/namespaces/shop/policysets/web")
            && status.contains("200")
            && body.contains("\"desired\":4")
        {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no decision of 4 within 40 s; the server's log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(body.contains("\"status\":\"Decided\""), "{body}");
    let (_, text) = http_get(http, "/metrics").unwrap();
    assert!(
        text.contains(
            "ecs_scaler_aws_api_calls_total{service=\"cloudwatch\",operation=\"GetMetricData\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "source=\"cloudwatch:EcsScaler/Test/Backlog{ServiceName=web}:Sum:Count@60s\""
        ),
        "{text}"
    );
    for output in [text, body, server.log()] {
        assert!(!output.contains(SECRET_KEY), "the secret leaked:\n{output}");
    }
}

// --- CloudWatch alarms read by name -------------------------------------------------------------

/// `PutMetricAlarm` on the maximum of the test metric: N = M = 3 one-minute periods.
async fn put_alarm(client: &aws_sdk_cloudwatch::Client, name: &str, threshold: f64) {
    client
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("EcsScaler/Test")
        .metric_name("Backlog")
        .dimensions(
            Dimension::builder()
                .name("ServiceName")
                .value("web")
                .build(),
        )
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(3)
        .threshold(threshold)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .treat_missing_data("missing")
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PutMetricAlarm: {}",
                aws_sdk_cloudwatch::error::DisplayErrorContext(e)
            )
        });
}

async fn set_alarm_state(client: &aws_sdk_cloudwatch::Client, name: &str, state: StateValue) {
    client
        .set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("set by the test")
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "SetAlarmState: {}",
                aws_sdk_cloudwatch::error::DisplayErrorContext(e)
            )
        });
}

/// A registry whose CloudWatch calls (GetMetricData and DescribeAlarms) go to LocalStack.
/// A registry reading CloudWatch from `localstack`, evaluating every `tick` (and at each
/// change of a feed).
fn registry(localstack: &LocalStack, metrics: &Arc<Metrics>, tick: Duration) -> Arc<Registry> {
    let client = localstack.client();
    let values: Arc<dyn MetricDataApi> = Arc::new(SdkApi::from_client(client.clone()));
    let values: ApiFactory = Arc::new(move |_: &AwsIdentity| values.clone());
    let alarms: Arc<dyn DescribeAlarmsApi> = Arc::new(SdkAlarmsApi::from_client(client));
    let alarms: AlarmsApiFactory = Arc::new(move |_: &AwsIdentity| alarms.clone());
    let hub = SourceHub::with_cloudwatch_apis(
        Arc::new(SystemClock),
        metrics.clone(),
        Arc::new(AwsConfigs::new()),
        values,
        alarms,
    );
    Registry::new(RegistryConfig {
        hub,
        clock: Arc::new(SystemClock),
        metrics: metrics.clone(),
        controller: ControllerConfig { tick },
        initial_capacity: None,
        source_description: "test".to_owned(),
    })
}

fn alarm_policy(alarm: &str, mode: &str, step: &str) -> String {
    format!(
        r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {{name: web, namespace: shop}}
spec:
  scalableTarget: {{minCapacity: 1, maxCapacity: 20}}
  alarms:
    peak:
      cloudwatchAlarm: {{alarmName: {alarm}, mode: {mode}, refreshSeconds: 10}}
  policies:
  - policyName: peak
    stepScaling:
      alarm: peak
      adjustmentType: ChangeInCapacity
      stepAdjustments: [{step}]
"#
    )
}

/// Waits up to `seconds` for a verdict `accept` takes.
async fn wait_for(
    registry: &Registry,
    seconds: u64,
    what: &str,
    accept: impl Fn(&Verdict) -> bool,
) -> Verdict {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let verdict = registry.get("shop", "web").unwrap().verdict();
        if accept(&verdict) {
            return verdict.as_ref().clone();
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen within {seconds} s: {verdict:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudwatch_alarm_read_by_name_is_evaluated_and_drives_a_step_policy() {
    let localstack = LocalStack::start();
    let client = localstack.client();
    // Maximum 500 per minute, above the alarm's 450.
    put_history(&client, "Backlog", 300.0, 500.0).await;
    put_alarm(&client, "web-backlog-peak", 450.0).await;

    let metrics = Arc::new(Metrics::new());
    // No tick: the values' arrival is evaluated (capacity 1, desired 2), and no evaluation
    // follows from the assumed capacity 2 before the check below sees that decision (a tick
    // could come a few milliseconds after the arrival).
    let registry = registry(&localstack, &metrics, Duration::from_secs(3600));
    let policy = alarm_policy(
        "web-backlog-peak",
        "evaluate",
        "{metricIntervalLowerBound: 0, scalingAdjustment: 1}",
    );
    let set = load_str(&policy, "test").unwrap();
    assert_eq!(set.unresolved_alarms().len(), 1);
    registry.insert(set, Origin::Embedded("test"));
    let verdict = registry.get("shop", "web").unwrap().verdict();
    assert!(
        matches!(verdict.as_ref(), Verdict::Unavailable { reason, .. } if reason.contains("`web-backlog-peak`")),
        "{verdict:?}"
    );

    // 500 > 450 in 3 of 3 periods: ALARM, 50 above the threshold: +1.
    let verdict = wait_for(&registry, 30, "a scale-out to 2", |v| {
        v.decision().is_some_and(|d| d.desired == 2)
    })
    .await;
    assert_eq!(verdict.decision().unwrap().capacity, 1);

    // The definition DescribeAlarms returned, as the scaler runs it.
    let handle = registry.get("shop", "web").unwrap();
    let metric = handle
        .set
        .metrics
        .iter()
        .find(|m| m.name == "alarm:peak")
        .unwrap();
    let ecs_scaler::policy::document::MetricSpec::CloudWatch(source) = &metric.source else {
        panic!("{metric:?}")
    };
    assert_eq!(source.namespace.as_deref(), Some("EcsScaler/Test"));
    assert_eq!(source.metric_name.as_deref(), Some("Backlog"));
    assert_eq!(source.dimensions["ServiceName"], "web");
    assert_eq!(source.stat.as_deref(), Some("Maximum"));
    assert_eq!(source.period, 60);
    let alarm = handle.set.alarms.iter().find(|a| a.name == "peak").unwrap();
    assert_eq!(alarm.threshold, 450.0);
    assert_eq!(
        (alarm.evaluation_periods, alarm.datapoints_to_alarm),
        (3, 3)
    );
    assert_eq!(
        alarm.operator,
        ecs_scaler::policy::document::ComparisonOperator::GreaterThanThreshold
    );
    assert!(alarm.trusted.is_none());
    let text = metrics.encode();
    assert!(
        text.contains(
            "ecs_scaler_aws_api_calls_total{service=\"cloudwatch\",operation=\"DescribeAlarms\"}"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trust_state_alarm_follows_set_alarm_state_and_the_values_choose_the_step() {
    let localstack = LocalStack::start();
    let client = localstack.client();
    // Maximum 500 per minute, below the alarm's 1000: evaluated, the alarm would stay OK.
    put_history(&client, "Backlog", 300.0, 500.0).await;
    put_alarm(&client, "web-backlog-trusted", 1000.0).await;
    set_alarm_state(&client, "web-backlog-trusted", StateValue::Ok).await;

    let metrics = Arc::new(Metrics::new());
    let registry = registry(&localstack, &metrics, Duration::from_secs(1));
    let policy = alarm_policy(
        "web-backlog-trusted",
        "trustState",
        "{metricIntervalUpperBound: 0, scalingAdjustment: 2}",
    );
    registry.insert(load_str(&policy, "test").unwrap(), Origin::Embedded("test"));
    wait_for(&registry, 30, "a decision with the alarm OK", |v| {
        v.decision()
            .is_some_and(|d| d.desired == 1 && matches!(d.reasons[0].outcome, Outcome::AlarmOk))
    })
    .await;

    // CloudWatch says ALARM: the next refresh (10 s) brings it; 500 - 1000 = -500 selects +2.
    set_alarm_state(&client, "web-backlog-trusted", StateValue::Alarm).await;
    wait_for(&registry, 30, "a scale-out to 3", |v| {
        v.decision().is_some_and(|d| d.desired == 3)
    })
    .await;
    let handle = registry.get("shop", "web").unwrap();
    let alarm = handle.set.alarms.iter().find(|a| a.name == "peak").unwrap();
    assert_eq!(
        alarm.trusted.as_ref().map(|t| t.key.alarm_name.as_str()),
        Some("web-backlog-trusted")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reads_an_alarm_named_in_a_policy_file_through_the_default_credential_chain() {
    let localstack = LocalStack::start();
    let client = localstack.client();
    put_history(&client, "Backlog", 300.0, 500.0).await;
    put_alarm(&client, "web-backlog-peak", 450.0).await;

    let dir = tempfile::tempdir().unwrap();
    let policy = alarm_policy(
        "web-backlog-peak",
        "evaluate",
        "{metricIntervalLowerBound: 0, scalingAdjustment: 1}",
    )
    .replace(
        "refreshSeconds: 10",
        &format!(
            "refreshSeconds: 10, awsRegion: {REGION}, awsEndpoint: '{}'",
            localstack.endpoint()
        ),
    );
    std::fs::write(dir.path().join("web.yaml"), policy).unwrap();
    let (grpc, http) = (free_port(), free_port());
    let log = dir.path().join("server.log");
    let child = Command::new(env!("CARGO_BIN_EXE_ecs-scaler"))
        .arg("serve")
        .arg("--policies")
        .arg(dir.path())
        .args(["--grpc-listen", &format!("127.0.0.1:{grpc}")])
        .args(["--http-listen", &format!("127.0.0.1:{http}")])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info,ecs_scaler=debug")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut server = Process {
        child,
        name: "ecs-scaler serve",
        log,
    };

    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        server.check_alive();
        if let Ok((status, body)) = http_get(http, "/v1/namespaces/shop/policysets/web")
            && status.contains("200")
            && body.contains("\"desired\":2")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no decision of 2 within 40 s; the server's log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_, text) = http_get(http, "/metrics").unwrap();
    assert!(
        text.contains(
            "ecs_scaler_aws_api_calls_total{service=\"cloudwatch\",operation=\"DescribeAlarms\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("source=\"cloudwatch:EcsScaler/Test/Backlog{ServiceName=web}:Maximum@60s\""),
        "{text}"
    );
    for output in [text, server.log()] {
        assert!(!output.contains(SECRET_KEY), "the secret leaked:\n{output}");
    }
}
