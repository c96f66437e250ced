//! CloudWatch alarms read by name: translation of definitions, the DescribeAlarms refresher,
//! and policy sets resolved and served through the registry, against fake CloudWatch APIs in
//! tokio's virtual time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::api::{AlarmsApiFactory, AlarmsPage, AlarmsRequest, DescribeAlarmsApi};
use super::*;
use crate::clock::TokioClock;
use crate::controller::{ControllerConfig, Verdict};
use crate::engine::reason::Outcome;
use crate::policy::document::MetricSpec;
use crate::policy::load::load_str;
use crate::registry::{Origin, Registry, RegistryConfig};
use crate::sources::aws::AwsConfigs;
use crate::sources::cloudwatch::api::{
    ApiFactory, CallError, CallFuture, MetricDataApi, Page, Request, Series, Status, classify,
};
use crate::sources::hub::SourceHub;

fn start() -> DateTime<Utc> {
    "2026-01-05T10:00:30Z".parse().unwrap()
}

fn reference(yaml: &str) -> CloudWatchAlarmRef {
    serde_saphyr::from_str(yaml).unwrap()
}

/// A single-metric alarm on `Test/<metric>`; a metric named `n<number>` has that value in
/// every period (see [`FakeMetrics`]).
fn definition(name: &str, metric: &str, operator: &str, threshold: f64) -> AlarmDefinition {
    AlarmDefinition {
        alarm_name: name.to_owned(),
        namespace: Some("Test".to_owned()),
        metric_name: Some(metric.to_owned()),
        dimensions: [("ServiceName".to_owned(), "web".to_owned())].into(),
        statistic: Some("Maximum".to_owned()),
        period: Some(60),
        threshold: Some(threshold),
        comparison_operator: Some(operator.to_owned()),
        evaluation_periods: Some(3),
        datapoints_to_alarm: Some(2),
        ..AlarmDefinition::default()
    }
}

fn fetched(definition: AlarmDefinition, state: AlarmState) -> FetchedAlarm {
    FetchedAlarm { definition, state }
}

// --- Translation ----------------------------------------------------------------------------

#[test]
fn a_single_metric_alarm_becomes_a_cloudwatch_source_and_an_alarm() {
    let reference = reference(
        "{alarmName: web-p99, awsRegion: eu-west-1, roleArn: 'arn:aws:iam::1:role/r', \
         externalId: s3cr3t}",
    );
    let mut definition = definition("web-p99", "Latency", "GreaterThanThreshold", 0.5);
    definition.statistic = None;
    definition.extended_statistic = Some("p99".to_owned());
    definition.unit = Some("Seconds".to_owned());
    definition.treat_missing_data = Some("breaching".to_owned());
    let (source, alarm) = definition.translate(&reference, "alarm:latency").unwrap();
    assert!(source.problems().is_empty(), "{:?}", source.problems());
    assert_eq!(source.identity(), reference.identity());
    assert_eq!(source.namespace.as_deref(), Some("Test"));
    assert_eq!(source.metric_name.as_deref(), Some("Latency"));
    assert_eq!(source.dimensions["ServiceName"], "web");
    assert_eq!(source.stat.as_deref(), Some("p99"));
    assert_eq!(source.unit.as_deref(), Some("Seconds"));
    assert_eq!((source.period, source.end_time_offset_seconds), (60, 60));
    assert_eq!(alarm.metric, "alarm:latency");
    assert_eq!(alarm.alarm_name.as_deref(), Some("web-p99"));
    assert_eq!(
        alarm.comparison_operator,
        ComparisonOperator::GreaterThanThreshold
    );
    assert_eq!(alarm.threshold, 0.5);
    assert_eq!(
        (alarm.evaluation_periods, alarm.datapoints_to_alarm),
        (3, Some(2))
    );
    assert_eq!(alarm.treat_missing_data, TreatMissingData::Breaching);
    let text = format!("{reference:?} {:?}", reference.key());
    assert!(!text.contains("s3cr3t"), "{text}");
}

fn stat(metric: &str, period: i32) -> Option<AlarmStat> {
    Some(AlarmStat {
        namespace: "AWS/SQS".to_owned(),
        metric_name: metric.to_owned(),
        dimensions: [("QueueName".to_owned(), "orders".to_owned())].into(),
        stat: "Sum".to_owned(),
        unit: None,
        period: Some(period),
    })
}

fn math_alarm(metrics: Vec<AlarmQuery>) -> AlarmDefinition {
    AlarmDefinition {
        alarm_name: "backlog".to_owned(),
        metrics,
        threshold: Some(100.0),
        comparison_operator: Some("GreaterThanThreshold".to_owned()),
        evaluation_periods: Some(2),
        ..AlarmDefinition::default()
    }
}

fn query(
    id: &str,
    expression: Option<&str>,
    metric: Option<AlarmStat>,
    returns: bool,
) -> AlarmQuery {
    AlarmQuery {
        id: id.to_owned(),
        expression: expression.map(str::to_owned),
        metric,
        period: None,
        return_data: Some(returns),
        account_id: None,
    }
}

#[test]
fn a_metric_math_alarm_becomes_an_expression_over_its_inputs() {
    let definition = math_alarm(vec![
        query(
            "visible",
            None,
            stat("ApproximateNumberOfMessagesVisible", 300),
            false,
        ),
        query(
            "flight",
            None,
            stat("ApproximateNumberOfMessagesNotVisible", 300),
            false,
        ),
        query("total", Some("visible + flight"), None, true),
    ]);
    let (source, alarm) = definition
        .translate(&reference("{alarmName: backlog}"), "alarm:b")
        .unwrap();
    assert!(source.problems().is_empty(), "{:?}", source.problems());
    assert_eq!(source.expression.as_deref(), Some("visible + flight"));
    assert_eq!(source.metrics.len(), 2);
    assert_eq!(source.metrics["visible"].stat.as_deref(), Some("Sum"));
    assert_eq!(source.period, 300, "the inputs' period");
    assert_eq!(alarm.threshold, 100.0);
    // One MetricStat returning data is a plain metric.
    let definition = math_alarm(vec![query(
        "m1",
        None,
        stat("NumberOfMessagesSent", 60),
        true,
    )]);
    let (source, _) = definition
        .translate(&reference("{alarmName: backlog}"), "alarm:b")
        .unwrap();
    assert_eq!(source.expression, None);
    assert_eq!(source.metric_name.as_deref(), Some("NumberOfMessagesSent"));
    assert_eq!(source.period, 60);
}

#[test]
fn what_the_scaler_cannot_run_is_refused_with_a_reason() {
    let evaluate = reference("{alarmName: a}");
    let trust = reference("{alarmName: a, mode: trustState}");
    let base = || definition("a", "m", "GreaterThanThreshold", 1.0);
    let error = |definition: AlarmDefinition, reference: &CloudWatchAlarmRef| {
        definition.translate(reference, "alarm:a").unwrap_err()
    };
    let mut band = base();
    band.comparison_operator = Some("GreaterThanUpperThreshold".to_owned());
    assert!(error(band, &trust).contains("anomaly detection band: unsupported"));
    let mut band = base();
    band.threshold = None;
    band.threshold_metric_id = Some("ad1".to_owned());
    assert!(error(band, &evaluate).contains("ThresholdMetricId"));
    let mut promql = base();
    promql.promql = true;
    assert!(error(promql, &trust).contains("PromQL"));
    let mut period = base();
    period.period = Some(45);
    assert!(error(period, &evaluate).contains("its period 45 s is not one the scaler fetches"));
    let mut missing = base();
    missing.treat_missing_data = Some("sometimes".to_owned());
    assert!(error(missing, &evaluate).contains("unknown TreatMissingData `sometimes`"));
    let mut wall = base();
    wall.wall_clock_window = true;
    assert!(error(wall.clone(), &evaluate).contains("use `mode: trustState`"));
    assert!(
        wall.translate(&trust, "alarm:a").is_ok(),
        "CloudWatch evaluates it"
    );
    let mut other_account = query("m1", None, stat("m", 60), false);
    other_account.account_id = Some("111122223333".to_owned());
    let cross = math_alarm(vec![other_account, query("e1", Some("m1 * 2"), None, true)]);
    assert!(error(cross, &evaluate).contains("another account (AccountId): unsupported"));
    let nested = math_alarm(vec![
        query("m1", None, stat("m", 60), false),
        query("e1", Some("m1 * 2"), None, false),
        query("e2", Some("e1 + 1"), None, true),
    ]);
    assert!(error(nested, &evaluate).contains("more than one expression (`e2`, `e1`)"));
    let periods = math_alarm(vec![
        query("m1", None, stat("m", 60), false),
        query("m2", None, stat("n", 300), false),
        query("e1", Some("m1 + m2"), None, true),
    ]);
    assert!(error(periods, &evaluate).contains("different periods"));
}

// --- The refresher --------------------------------------------------------------------------

type Answer = dyn Fn(&AlarmsRequest, usize) -> Result<AlarmsPage, CallError> + Send + Sync;

/// DescribeAlarms over a table of alarms, two per page.
struct FakeAlarms {
    requests: Mutex<Vec<AlarmsRequest>>,
    alarms: Mutex<BTreeMap<String, FetchedAlarm>>,
    composite: BTreeSet<String>,
    failure: Mutex<Option<CallError>>,
    answer: Option<Box<Answer>>,
}

impl FakeAlarms {
    fn new(alarms: impl IntoIterator<Item = FetchedAlarm>) -> Arc<Self> {
        Arc::new(Self {
            requests: Mutex::new(Vec::new()),
            alarms: Mutex::new(
                alarms
                    .into_iter()
                    .map(|a| (a.definition.alarm_name.clone(), a))
                    .collect(),
            ),
            composite: ["a-composite".to_owned()].into(),
            failure: Mutex::new(None),
            answer: None,
        })
    }

    fn set(&self, alarm: FetchedAlarm) {
        self.alarms
            .lock()
            .unwrap()
            .insert(alarm.definition.alarm_name.clone(), alarm);
    }

    fn delete(&self, name: &str) {
        self.alarms.lock().unwrap().remove(name);
    }

    fn fail(&self, error: Option<CallError>) {
        *self.failure.lock().unwrap() = error;
    }

    fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn request(&self, index: usize) -> AlarmsRequest {
        self.requests.lock().unwrap()[index].clone()
    }

    fn page(&self, request: &AlarmsRequest) -> Result<AlarmsPage, CallError> {
        if let Some(error) = self.failure.lock().unwrap().clone() {
            return Err(error);
        }
        let alarms = self.alarms.lock().unwrap();
        let found: Vec<FetchedAlarm> = request
            .names
            .iter()
            .filter_map(|name| alarms.get(name).cloned())
            .collect();
        let from: usize = request
            .next_token
            .as_deref()
            .map_or(0, |t| t.parse().unwrap());
        let to = (from + 2).min(found.len());
        Ok(AlarmsPage {
            alarms: found[from..to].to_vec(),
            composite: request
                .names
                .iter()
                .filter(|n| self.composite.contains(*n))
                .cloned()
                .collect(),
            next_token: (to < found.len()).then(|| to.to_string()),
        })
    }
}

impl DescribeAlarmsApi for FakeAlarms {
    fn describe_alarms<'a>(&'a self, request: &'a AlarmsRequest) -> api::AlarmsFuture<'a> {
        let index = {
            let mut requests = self.requests.lock().unwrap();
            requests.push(request.clone());
            requests.len() - 1
        };
        let answer = match &self.answer {
            Some(answer) => answer(request, index),
            None => self.page(request),
        };
        Box::pin(async move { answer })
    }
}

fn alarms_factory(fake: &Arc<FakeAlarms>) -> AlarmsApiFactory {
    let fake = fake.clone();
    Arc::new(move |_: &AwsIdentity| fake.clone() as Arc<dyn DescribeAlarmsApi>)
}

fn service(fake: &Arc<FakeAlarms>, metrics: &Arc<Metrics>) -> CloudWatchAlarms {
    CloudWatchAlarms::new(
        alarms_factory(fake),
        Arc::new(TokioClock::starting_at(start())),
        metrics.clone(),
    )
}

fn key(name: &str) -> AlarmKey {
    reference(&format!("{{alarmName: {name}, awsRegion: eu-west-1}}")).key()
}

fn describe_calls(metrics: &Metrics) -> String {
    let text = metrics.encode();
    text.lines()
        .find(|l| l.contains("operation=\"DescribeAlarms\""))
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(start_paused = true)]
async fn alarms_of_one_identity_share_calls_of_a_hundred_names_with_pages() {
    let names: Vec<String> = (0..150).map(|i| format!("alarm-{i:03}")).collect();
    let fake = FakeAlarms::new(names.iter().map(|n| {
        fetched(
            definition(n, "n1", "GreaterThanThreshold", 0.0),
            AlarmState::Ok,
        )
    }));
    let metrics = Arc::new(Metrics::new());
    let alarms = service(&fake, &metrics);
    let registered: Vec<_> = names
        .iter()
        .map(|n| alarms.register(&key(n), 300))
        .collect();
    assert_eq!(alarms.refreshers(), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // 100 + 50 names, two alarms per page: 50 + 25 pages.
    assert_eq!(fake.calls(), 75);
    assert_eq!(fake.request(0).names.len(), 100);
    assert_eq!(fake.request(0).next_token, None);
    assert_eq!(fake.request(1).next_token.as_deref(), Some("2"));
    assert_eq!(fake.request(50).names.len(), 50);
    assert!(
        describe_calls(&metrics).ends_with(" 75"),
        "{}",
        describe_calls(&metrics)
    );
    for (_, feed) in &registered {
        let feed = feed.borrow();
        assert!(
            feed.definition.is_some() && feed.last_error.is_none(),
            "{feed:?}"
        );
        assert_eq!(feed.state, Some(AlarmState::Ok));
        assert_eq!(
            feed.last_success,
            Some(start() + chrono::Duration::seconds(1))
        );
    }
    // Then every refresh interval.
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(fake.calls(), 150);
    // The registrations gone, the refresher stops.
    drop(registered);
    assert_eq!(alarms.refreshers(), 0);
    tokio::time::sleep(Duration::from_secs(900)).await;
    assert_eq!(fake.calls(), 150);
}

#[tokio::test(start_paused = true)]
async fn the_shortest_refresh_wins_and_each_identity_has_its_refresher() {
    let fake = FakeAlarms::new([
        fetched(
            definition("a", "n1", "GreaterThanThreshold", 0.0),
            AlarmState::Ok,
        ),
        fetched(
            definition("b", "n1", "GreaterThanThreshold", 0.0),
            AlarmState::Ok,
        ),
    ]);
    let metrics = Arc::new(Metrics::new());
    let alarms = service(&fake, &metrics);
    let _a = alarms.register(&key("a"), 300);
    let _b = alarms.register(&key("b"), 60);
    let other = reference("{alarmName: a, awsRegion: us-east-1}").key();
    let _c = alarms.register(&other, 300);
    assert_eq!(alarms.refreshers(), 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.calls(), 2, "one call per identity");
    tokio::time::sleep(Duration::from_secs(60)).await;
    // eu-west-1 refreshes both names every 60 s; us-east-1 waits for its 300 s.
    assert_eq!(fake.calls(), 3);
    assert_eq!(fake.request(2).names, ["a", "b"]);
}

#[tokio::test(start_paused = true)]
async fn unknown_and_composite_alarms_are_errors_naming_them() {
    let fake = FakeAlarms::new([]);
    let metrics = Arc::new(Metrics::new());
    let alarms = service(&fake, &metrics);
    let (_r1, unknown) = alarms.register(&key("nope"), 60);
    let (_r2, composite) = alarms.register(&key("a-composite"), 60);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        unknown.borrow().last_error.as_deref(),
        Some("CloudWatch has no alarm named `nope` in eu-west-1")
    );
    assert!(unknown.borrow().definition.is_none());
    assert!(
        composite
            .borrow()
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("`a-composite` is a composite alarm")),
        "{:?}",
        composite.borrow()
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_refresh_keeps_the_definition_and_backs_off() {
    let fake = FakeAlarms::new([fetched(
        definition("a", "n1", "GreaterThanThreshold", 0.0),
        AlarmState::Alarm,
    )]);
    let metrics = Arc::new(Metrics::new());
    let alarms = service(&fake, &metrics);
    let (_registration, feed) = alarms.register(&key("a"), 60);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.calls(), 1);
    fake.fail(Some(classify(
        Some("Throttling"),
        "Rate exceeded".to_owned(),
    )));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(fake.calls(), 2);
    {
        let feed = feed.borrow();
        assert!(feed.definition.is_some(), "the last definition stays");
        assert_eq!(feed.state, Some(AlarmState::Alarm));
        assert_eq!(
            feed.last_error.as_deref(),
            Some("DescribeAlarms failed: throttled: Rate exceeded")
        );
    }
    assert!(metrics.encode().contains("error=\"throttled\""));
    // The failed call was at +60 s; the next attempts wait 60-120 s, then 120-240 s: the
    // third call comes within +120..+180 s, the fourth not before +240 s.
    tokio::time::sleep(Duration::from_secs(57)).await;
    assert_eq!(fake.calls(), 2, "no retry before half the backoff (+119 s)");
    tokio::time::sleep(Duration::from_secs(62)).await;
    assert_eq!(fake.calls(), 3, "one retry by the whole backoff (+181 s)");
    fake.fail(None);
    // The fourth call (by +420 s) succeeds, and the refreshes are back to every 60 s.
    tokio::time::sleep(Duration::from_secs(241)).await;
    assert!(fake.calls() >= 4);
    assert_eq!(feed.borrow().last_error, None);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_call_times_out() {
    // A call that never answers.
    struct Hang;
    impl DescribeAlarmsApi for Hang {
        fn describe_alarms<'a>(&'a self, _: &'a AlarmsRequest) -> api::AlarmsFuture<'a> {
            Box::pin(std::future::pending())
        }
    }
    let metrics = Arc::new(Metrics::new());
    let alarms = CloudWatchAlarms::new(
        Arc::new(|_: &AwsIdentity| Arc::new(Hang) as Arc<dyn DescribeAlarmsApi>),
        Arc::new(TokioClock::starting_at(start())),
        metrics.clone(),
    );
    let (_registration, feed) = alarms.register(&key("a"), 60);
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        feed.borrow().last_error.as_deref(),
        Some("DescribeAlarms failed: timed out after 10 s")
    );
}

// --- Through the registry -------------------------------------------------------------------

/// GetMetricData: every period of a metric named `n<number>` has that value.
struct FakeMetrics {
    calls: Mutex<usize>,
}

impl MetricDataApi for FakeMetrics {
    fn get_metric_data<'a>(&'a self, request: &'a Request) -> CallFuture<'a> {
        *self.calls.lock().unwrap() += 1;
        let series = request
            .queries
            .iter()
            .filter(|q| q.return_data() != Some(false))
            .map(|q| {
                let stat = q.metric_stat().unwrap();
                let value: f64 = stat
                    .metric()
                    .and_then(|m| m.metric_name())
                    .unwrap_or("n0")
                    .trim_start_matches('n')
                    .parse()
                    .unwrap_or(0.0);
                let period = i64::from(stat.period().unwrap_or(60));
                let mut points = Vec::new();
                let mut at = request.start;
                while at < request.end {
                    points.push((at, value));
                    at += chrono::Duration::seconds(period);
                }
                Series {
                    id: q.id().unwrap().to_owned(),
                    label: None,
                    status: Status::Complete,
                    points,
                    messages: Vec::new(),
                }
            })
            .collect();
        Box::pin(async move {
            Ok(Page {
                series,
                next_token: None,
            })
        })
    }
}

const POLICY: &str = r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {name: orders-api, namespace: shop}
spec:
  scalableTarget: {minCapacity: 1, maxCapacity: 20}
  alarms:
    queueHigh:
      cloudwatchAlarm: {alarmName: orders-queue-high, awsRegion: eu-west-1, refreshSeconds: 60}
  policies:
  - policyName: queue-out
    stepScaling:
      alarm: queueHigh
      adjustmentType: ChangeInCapacity
      stepAdjustments:
      - {metricIntervalUpperBound: 0, scalingAdjustment: 4}
      - {metricIntervalLowerBound: 0, scalingAdjustment: 2}
"#;

struct Setup {
    registry: Arc<Registry>,
    metrics: Arc<Metrics>,
}

fn setup(fake: &Arc<FakeAlarms>) -> Setup {
    let clock = Arc::new(TokioClock::starting_at(start()));
    let metrics = Arc::new(Metrics::new());
    let values: Arc<dyn MetricDataApi> = Arc::new(FakeMetrics {
        calls: Mutex::new(0),
    });
    let values: ApiFactory = Arc::new(move |_: &AwsIdentity| values.clone());
    let hub = SourceHub::with_cloudwatch_apis(
        clock.clone(),
        metrics.clone(),
        Arc::new(AwsConfigs::new()),
        values,
        alarms_factory(fake),
    );
    let registry = Registry::new(RegistryConfig {
        hub,
        clock,
        metrics: metrics.clone(),
        controller: ControllerConfig::default(),
        initial_capacity: None,
        source_description: "test".to_owned(),
    });
    Setup { registry, metrics }
}

impl Setup {
    fn insert(&self, text: &str) {
        self.registry
            .insert(load_str(text, "test").unwrap(), Origin::Embedded("test"));
    }

    fn verdict(&self) -> Arc<Verdict> {
        self.registry.get("shop", "orders-api").unwrap().verdict()
    }

    fn desired(&self) -> Option<u32> {
        self.verdict().decision().map(|d| d.desired)
    }

    fn unavailable(&self) -> String {
        match self.verdict().as_ref() {
            Verdict::Unavailable { reason, .. } => reason.clone(),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_referenced_alarm_is_unavailable_until_read_then_evaluated_and_replaced_when_it_changes()
{
    let queue_alarm = |threshold| {
        fetched(
            definition(
                "orders-queue-high",
                "n1500",
                "GreaterThanOrEqualToThreshold",
                threshold,
            ),
            AlarmState::InsufficientData,
        )
    };
    let fake = FakeAlarms::new([queue_alarm(1000.0)]);
    let s = setup(&fake);
    s.insert(POLICY);
    // Never a guess: unavailable, naming the alarm, until DescribeAlarms answers.
    let reason = s.unavailable();
    assert_eq!(
        reason,
        "waiting for the definition of CloudWatch alarm `orders-queue-high` \
         (spec.alarms.queueHigh) from DescribeAlarms"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Evaluated by the scaler: 1500 >= 1000 in 2 of 3 periods; 500 above: +2.
    assert_eq!(s.desired(), Some(3), "{:?}", s.verdict());
    let handle = s.registry.get("shop", "orders-api").unwrap();
    let metric = handle
        .set
        .metrics
        .iter()
        .find(|m| m.name == "alarm:queueHigh")
        .unwrap();
    let MetricSpec::CloudWatch(source) = &metric.source else {
        panic!("{metric:?}")
    };
    assert_eq!(source.metric_name.as_deref(), Some("n1500"));
    assert_eq!(source.stat.as_deref(), Some("Maximum"));
    assert!(
        s.metrics
            .encode()
            .contains("operation=\"DescribeAlarms\"} 1\n")
    );

    // The alarm changes in CloudWatch: a new policy set from the capacity decided, 3, which the
    // new threshold (2000, not breached) keeps.
    fake.set(queue_alarm(2000.0));
    tokio::time::sleep(Duration::from_secs(61)).await;
    let handle = s.registry.get("shop", "orders-api").unwrap();
    let alarm = handle
        .set
        .alarms
        .iter()
        .find(|a| a.name == "queueHigh")
        .unwrap();
    assert_eq!(alarm.threshold, 2000.0);
    assert_eq!(s.desired(), Some(3), "{:?}", s.verdict());
    let decision = s.verdict().decision().unwrap().clone();
    assert!(
        matches!(decision.reasons[0].outcome, Outcome::AlarmOk),
        "{decision:?}"
    );

    // The alarm disappears: an error naming it, the last good definition stays in service.
    fake.delete("orders-queue-high");
    tokio::time::sleep(Duration::from_secs(60)).await;
    let still = s.registry.get("shop", "orders-api").unwrap();
    assert!(Arc::ptr_eq(&still.set, &handle.set));
    assert_eq!(s.desired(), Some(3));

    // Unchanged definitions refresh without replacing anything.
    fake.set(queue_alarm(2000.0));
    tokio::time::sleep(Duration::from_secs(120)).await;
    let still = s.registry.get("shop", "orders-api").unwrap();
    assert!(Arc::ptr_eq(&still.set, &handle.set));
}

#[tokio::test(start_paused = true)]
async fn an_unknown_or_unsupported_alarm_keeps_the_policy_set_unavailable_with_the_reason() {
    let fake = FakeAlarms::new([]);
    let s = setup(&fake);
    s.insert(POLICY);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        s.unavailable(),
        "CloudWatch alarm `orders-queue-high` (spec.alarms.queueHigh): CloudWatch has no alarm \
         named `orders-queue-high` in eu-west-1"
    );
    let mut band = definition("orders-queue-high", "n1", "LessThanLowerThreshold", 0.0);
    band.threshold = None;
    fake.set(fetched(band, AlarmState::Ok));
    tokio::time::sleep(Duration::from_secs(60)).await;
    let reason = s.unavailable();
    assert!(
        reason.starts_with(
            "its CloudWatch alarms cannot be used: spec.alarms.queueHigh.cloudwatchAlarm: \
             CloudWatch alarm `orders-queue-high`: its comparison operator LessThanLowerThreshold"
        ),
        "{reason}"
    );
    // Fixed in CloudWatch: served at the next refresh.
    fake.set(fetched(
        definition("orders-queue-high", "n1500", "GreaterThanThreshold", 1000.0),
        AlarmState::Ok,
    ));
    tokio::time::sleep(Duration::from_secs(62)).await;
    assert_eq!(s.desired(), Some(3), "{:?}", s.verdict());
}

#[tokio::test(start_paused = true)]
async fn a_changed_file_keeps_its_running_version_until_the_new_one_is_resolved() {
    let fake = FakeAlarms::new([fetched(
        definition("orders-queue-high", "n1500", "GreaterThanThreshold", 1000.0),
        AlarmState::Ok,
    )]);
    let s = setup(&fake);
    s.insert(POLICY);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.desired(), Some(3));
    // The same file again: nothing changes.
    let running = s.registry.get("shop", "orders-api").unwrap();
    s.insert(POLICY);
    assert!(Arc::ptr_eq(
        &s.registry.get("shop", "orders-api").unwrap().set,
        &running.set
    ));
    // A new version naming another alarm: the running one serves until it is resolved.
    fake.set(fetched(
        definition(
            "orders-queue-higher",
            "n1500",
            "GreaterThanThreshold",
            1200.0,
        ),
        AlarmState::Ok,
    ));
    s.insert(&POLICY.replace(
        "alarmName: orders-queue-high,",
        "alarmName: orders-queue-higher,",
    ));
    assert!(Arc::ptr_eq(
        &s.registry.get("shop", "orders-api").unwrap().set,
        &running.set
    ));
    assert_eq!(s.desired(), Some(3));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let handle = s.registry.get("shop", "orders-api").unwrap();
    assert!(!Arc::ptr_eq(&handle.set, &running.set));
    let alarm = handle
        .set
        .alarms
        .iter()
        .find(|a| a.name == "queueHigh")
        .unwrap();
    assert_eq!(alarm.threshold, 1200.0);
    // The new controller starts from the decided capacity, 3, and its alarm adds 2.
    assert_eq!(s.desired(), Some(5), "{:?}", s.verdict());
    // Removing the file stops everything.
    assert!(s.registry.remove(&handle.set.id));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(s.registry.hub().alarms().refreshers(), 0);
}

#[tokio::test(start_paused = true)]
async fn trust_state_follows_cloudwatch_and_the_values_choose_the_step() {
    // The values (1500) never breach 2000: evaluated, this alarm would stay OK.
    let alarm = |state| {
        fetched(
            definition("orders-queue-high", "n1500", "GreaterThanThreshold", 2000.0),
            state,
        )
    };
    let fake = FakeAlarms::new([alarm(AlarmState::Ok)]);
    let s = setup(&fake);
    s.insert(&POLICY.replace(
        "refreshSeconds: 60}",
        "refreshSeconds: 60, mode: trustState}",
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.desired(), Some(1), "{:?}", s.verdict());
    // CloudWatch says ALARM: 1500 - 2000 = -500 selects the step below the threshold: +4.
    fake.set(alarm(AlarmState::Alarm));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(s.desired(), Some(5), "{:?}", s.verdict());
    // A state change alone does not replace the policy set.
    let handle = s.registry.get("shop", "orders-api").unwrap();
    fake.set(alarm(AlarmState::InsufficientData));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(Arc::ptr_eq(
        &s.registry.get("shop", "orders-api").unwrap().set,
        &handle.set
    ));
    let decision = s.verdict().decision().unwrap().clone();
    assert!(
        matches!(decision.reasons[0].outcome, Outcome::InsufficientData),
        "{decision:?}"
    );
    // The state cannot be read for 3 refreshes: unavailable, not a stale state.
    fake.fail(Some(classify(None, "connection refused".to_owned())));
    tokio::time::sleep(Duration::from_secs(200)).await;
    let reason = s.unavailable();
    assert!(
        reason.starts_with(
            "the state of CloudWatch alarm `orders-queue-high` (spec.alarms.queueHigh, mode \
             trustState) has not been read since"
        ) && reason.contains("connection refused"),
        "{reason}"
    );
}
