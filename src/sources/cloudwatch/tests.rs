//! CloudWatch source tests: the spec, the window, batching, pagination, period values, errors
//! and registration, against a fake `GetMetricData` in tokio's virtual time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatch::types::MetricDataQuery;
use chrono::{DateTime, Utc};

use super::api::{ApiFactory, CallError, MetricDataApi, Page, Request, Series, Status, classify};
use super::batcher::{CloudWatchSources, Registration, next_cycle, window};
use super::*;
use crate::clock::TokioClock;
use crate::policy::load::load_str;
use crate::sources::{FeedState, SourceError, SourceKey};
use crate::telemetry::Metrics;

/// Tests start in the middle of a period, so a new query is fetched on its own first.
fn start() -> DateTime<Utc> {
    "2026-01-05T10:00:30Z".parse().unwrap()
}

fn t(text: &str) -> DateTime<Utc> {
    format!("2026-01-05T{text}Z").parse().unwrap()
}

fn spec(yaml: &str) -> CloudWatchSpec {
    serde_saphyr::from_str(yaml).unwrap()
}

fn fields(spec: &CloudWatchSpec) -> Vec<String> {
    spec.problems()
        .into_iter()
        .map(|(field, _)| field)
        .collect()
}

// --- The spec -------------------------------------------------------------------------------

#[test]
fn a_metric_statistic_has_defaults_and_a_key_without_credentials() {
    let spec = spec(
        "{awsRegion: eu-west-1, roleArn: 'arn:aws:iam::1:role/r', externalId: s3cr3t, \
         namespace: AWS/SQS, metricName: ApproximateNumberOfMessagesVisible, \
         dimensions: {QueueName: orders}}",
    );
    assert!(spec.problems().is_empty(), "{:?}", spec.problems());
    assert_eq!((spec.period, spec.end_time_offset_seconds), (60, 60));
    assert_eq!(spec.stale_after_seconds(), 180);
    assert_eq!(spec.delay_seconds(), 60 + FETCH_GRACE_SECONDS);
    let key = spec.key();
    let Query::Stat(stat) = &key.query else {
        panic!("{key:?}")
    };
    assert_eq!(stat.stat, "Average");
    let text = format!("{} {key:?}", SourceKey::CloudWatch(Box::new(key.clone())));
    assert!(
        text.starts_with(
            "cloudwatch:AWS/SQS/ApproximateNumberOfMessagesVisible{QueueName=orders}:Average@60s"
        ),
        "{text}"
    );
    assert!(!text.contains("s3cr3t"), "{text}");
}

#[test]
fn a_metric_needs_a_namespace_and_name_or_an_expression_but_not_both() {
    assert_eq!(fields(&spec("{}")), ["namespace", "metricName"]);
    assert_eq!(
        fields(&spec(
            "{namespace: A, metricName: b, expression: 'm1 * 2', \
             metrics: {m1: {namespace: A, metricName: b}}}"
        )),
        ["namespace", "metricName"]
    );
    assert_eq!(
        fields(&spec(
            "{namespace: A, metricName: b, metrics: {m1: {namespace: A, metricName: b}}}"
        )),
        ["metrics"]
    );
    assert_eq!(fields(&spec("{expression: '  '}")), ["expression"]);
    assert_eq!(
        fields(&spec(
            "{namespace: A, metricName: b, endTimeOffsetSeconds: 7200}"
        )),
        ["endTimeOffsetSeconds"]
    );
}

#[test]
fn expression_inputs_need_cloudwatch_ids_and_valid_statistics() {
    let spec = spec(
        "{expression: 'Mx + m_2 + 1m', metrics: {\
            Mx: {namespace: A, metricName: b}, \
            m_2: {namespace: A, metricName: b, stat: p99.9, unit: Count}, \
            1m: {namespace: '', metricName: b, stat: average, unit: Furlongs}}}",
    );
    assert_eq!(
        fields(&spec),
        [
            "metrics.1m",
            "metrics.1m.namespace",
            "metrics.1m.stat",
            "metrics.1m.unit",
            "metrics.Mx"
        ]
    );
    let messages: Vec<String> = spec.problems().into_iter().map(|(_, m)| m).collect();
    assert!(messages[0].contains("lower-case letter"), "{messages:?}");
}

#[test]
fn statistics_are_the_ones_cloudwatch_accepts() {
    for good in [
        "Average",
        "Sum",
        "Minimum",
        "Maximum",
        "SampleCount",
        "IQM",
        "p99",
        "p99.9",
        "p0",
        "p100",
        "tm90",
        "wm80",
        "tc95",
        "ts90",
        "TM(10%:90%)",
        "tm(:95%)",
        "PR(:300)",
        "TC(0.005:0.030)",
        "WM(5%:)",
    ] {
        assert!(is_valid_stat(good), "{good}");
    }
    for bad in [
        "",
        "average",
        "avg",
        "p",
        "p101",
        "p99.",
        "pp99",
        "p(10:90)",
        "pr90",
        "TM()",
        "TM(:)",
        "TM(a:b)",
        "tm90%",
        "p99.12345678901",
    ] {
        assert!(!is_valid_stat(bad), "{bad}");
    }
}

#[test]
fn a_policy_document_with_a_cloudwatch_metric_validates_and_reports_paths() {
    let document = |metric: &str| {
        format!(
            "apiVersion: ecs-scaler.dev/v1alpha1\nkind: ScalingPolicySet\n\
             metadata: {{name: web}}\nspec:\n  scalableTarget: {{minCapacity: 1, maxCapacity: 10}}\n\
             \x20 metrics:\n    cpu: {{cloudwatch: {metric}}}\n  policies:\n\
             \x20 - policyName: cpu\n    targetTracking: {{metric: cpu, targetValue: 50}}\n"
        )
    };
    let set = load_str(
        &document("{namespace: AWS/ECS, metricName: CPUUtilization, period: 300}"),
        "test",
    )
    .unwrap();
    assert_eq!(set.metrics[0].period_seconds, 300);
    assert_eq!(set.metrics[0].source.kind(), "cloudwatch");
    let error = load_str(
        &document("{namespace: AWS/ECS, metricName: CPU, period: 45, stat: p101}"),
        "test",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("spec.metrics.cpu.cloudwatch.period"),
        "{error}"
    );
    assert!(
        error.contains("spec.metrics.cpu.cloudwatch.stat"),
        "{error}"
    );
}

#[test]
fn expression_inputs_are_renamed_outside_strings_and_functions() {
    let inputs: BTreeMap<String, StatQuery> = ["m1", "errors"]
        .into_iter()
        .map(|id| {
            let query = StatQuery {
                namespace: "A".into(),
                metric_name: "b".into(),
                dimensions: BTreeMap::new(),
                stat: "Sum".into(),
                unit: None,
            };
            (id.to_owned(), query)
        })
        .collect();
    assert_eq!(
        rename_inputs(
            "100 * errors / FILL(m1, 0) + 1e3 + m10 + SEARCH('{A,b} m1 \\'x\\' errors', 'Sum', 60)",
            &inputs,
            "i3_"
        ),
        "100 * i3_errors / FILL(i3_m1, 0) + 1e3 + m10 + SEARCH('{A,b} m1 \\'x\\' errors', 'Sum', 60)"
    );
    let expression = |text: &str| Query::Expression {
        expression: text.to_owned(),
        inputs: inputs.clone(),
    };
    assert!(expression("SUM(METRICS())").needs_own_call());
    assert!(expression("AVG(METRICS ('m'))").needs_own_call());
    assert!(!expression("m1 + errors").needs_own_call());
    assert!(!expression("SEARCH('METRICS()', 'Sum', 60)").needs_own_call());
    assert_eq!(expression("m1").size(), 3);
}

// --- Window and schedule --------------------------------------------------------------------

#[test]
fn the_window_ends_at_now_minus_the_offset_truncated_to_the_period() {
    assert_eq!(
        window(t("10:05:30"), 60, 60, 5),
        (t("09:59:00"), t("10:04:00"))
    );
    // At a period boundary: 10:05:00 - 60 s is 10:04:00 exactly, which ends the window.
    assert_eq!(
        window(t("10:05:00"), 60, 60, 5),
        (t("09:59:00"), t("10:04:00"))
    );
    assert_eq!(
        window(t("10:05:33"), 10, 60, 3),
        (t("10:04:00"), t("10:04:30"))
    );
    assert_eq!(
        window(t("10:05:33"), 300, 0, 2),
        (t("09:55:00"), t("10:05:00"))
    );
    // The lookback is capped at what fits one call.
    let (start, end) = window(t("10:05:00"), 60, 0, 10_000);
    assert_eq!((end - start).num_minutes(), batcher::MAX_LOOKBACK as i64);
}

#[test]
fn cycles_run_once_per_period_after_the_offset_and_splay() {
    assert_eq!(next_cycle(t("10:05:30"), 60, 60, 0), t("10:06:00"));
    assert_eq!(next_cycle(t("10:06:00"), 60, 60, 0), t("10:07:00"));
    assert_eq!(
        next_cycle(t("10:05:30"), 60, 60, 2_500),
        "2026-01-05T10:06:02.500Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(next_cycle(t("10:05:30"), 300, 60, 0), t("10:06:00"));
    assert_eq!(next_cycle(t("10:06:01"), 300, 60, 0), t("10:11:00"));
    assert_eq!(next_cycle(t("10:05:31"), 10, 0, 0), t("10:05:40"));
    // The window of a cycle ends at the period boundary just before the offset.
    let at = next_cycle(t("10:05:30"), 60, 60, 4_000);
    assert_eq!(window(at, 60, 60, 1).1, t("10:05:00"));
}

// --- The batcher, against a fake ------------------------------------------------------------

type Answer = dyn Fn(&Request, usize) -> Result<Page, CallError> + Send + Sync;

struct Fake {
    requests: Mutex<Vec<Request>>,
    answer: Box<Answer>,
}

impl MetricDataApi for Fake {
    fn get_metric_data<'a>(&'a self, request: &'a Request) -> super::api::CallFuture<'a> {
        let index = {
            let mut requests = self.requests.lock().unwrap();
            requests.push(request.clone());
            requests.len() - 1
        };
        let answer = (self.answer)(request, index);
        Box::pin(async move { answer })
    }
}

impl Fake {
    fn new(
        answer: impl Fn(&Request, usize) -> Result<Page, CallError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            requests: Mutex::new(Vec::new()),
            answer: Box::new(answer),
        })
    }

    fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn request(&self, index: usize) -> Request {
        self.requests.lock().unwrap()[index].clone()
    }
}

fn factory(fake: &Arc<Fake>) -> ApiFactory {
    let fake = fake.clone();
    Arc::new(move |_: &crate::sources::aws::AwsIdentity| fake.clone() as Arc<dyn MetricDataApi>)
}

/// The value every period of a metric named `n<number>` has: the number.
fn value_of(query: &MetricDataQuery) -> f64 {
    let name = query
        .metric_stat()
        .and_then(|s| s.metric())
        .and_then(|m| m.metric_name())
        .unwrap_or("n0");
    name.trim_start_matches('n').parse().unwrap_or(0.0)
}

/// One complete series per returned query, a datapoint per period of the window.
fn full_page(request: &Request, value: impl Fn(&MetricDataQuery) -> f64) -> Page {
    let series = request
        .queries
        .iter()
        .filter(|q| q.return_data() != Some(false))
        .map(|q| {
            let period = i64::from(
                q.period()
                    .or(q.metric_stat().and_then(|s| s.period()))
                    .unwrap_or(60),
            );
            let mut points = Vec::new();
            let mut at = request.start;
            while at < request.end {
                points.push((at, value(q)));
                at += chrono::Duration::seconds(period);
            }
            points.reverse(); // TimestampDescending
            Series {
                id: q.id().unwrap().to_owned(),
                label: None,
                status: Status::Complete,
                points,
                messages: Vec::new(),
            }
        })
        .collect();
    Page {
        series,
        next_token: None,
    }
}

fn stat_key(name: &str) -> CloudWatchKey {
    spec(&format!("{{namespace: Test, metricName: {name}}}")).key()
}

struct Harness {
    sources: CloudWatchSources,
    metrics: Arc<Metrics>,
}

impl Harness {
    fn new(fake: &Arc<Fake>) -> Self {
        let metrics = Arc::new(Metrics::new());
        let clock = TokioClock::starting_at(start());
        Self {
            sources: CloudWatchSources::new(factory(fake), Arc::new(clock), metrics.clone()),
            metrics,
        }
    }

    fn register(
        &self,
        key: &CloudWatchKey,
        lookback: usize,
    ) -> (Registration, crate::sources::FeedReceiver) {
        let (sender, receiver) = crate::sources::feed::channel(FeedState::default());
        (self.sources.register(key, lookback, sender), receiver)
    }
}

fn values(feed: &crate::sources::FeedReceiver) -> Vec<(DateTime<Utc>, f64)> {
    feed.borrow()
        .datapoints
        .iter()
        .inspect(|d| assert!(d.period_value))
        .map(|d| (d.timestamp, d.value))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn twelve_hundred_queries_take_three_calls_per_period() {
    let fake = Fake::new(|request, _| Ok(full_page(request, value_of)));
    let h = Harness::new(&fake);
    let mut feeds = Vec::new();
    for n in 0..1_200 {
        feeds.push(h.register(&stat_key(&format!("n{n}")), 3));
    }
    // The registrations share their first calls, a second later.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(fake.calls(), 3);
    let sizes: Vec<usize> = (0..3).map(|i| fake.request(i).queries.len()).collect();
    assert_eq!(sizes, [500, 500, 200]);
    let first = fake.request(0);
    // At 10:00:01 with the 60 s offset: the 3 periods before 09:59.
    assert_eq!((first.start, first.end), (t("09:56:00"), t("09:59:00")));
    for (n, (_, feed)) in feeds.iter().enumerate() {
        let got = values(feed);
        assert_eq!(got.len(), 3, "query {n}");
        assert!(
            got.iter().all(|(_, v)| *v == n as f64),
            "query {n}: {got:?}"
        );
        assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "oldest first");
    }
    // The next cycle, at 10:01:00 plus the splay, fetches everything again in 3 calls; only the
    // period that is new reaches the feeds.
    tokio::time::sleep(Duration::from_secs(65)).await;
    assert_eq!(fake.calls(), 6);
    assert_eq!(fake.request(3).end, t("10:00:00"));
    assert!(feeds.iter().all(|(_, feed)| values(feed).len() == 4));
    let text = h.metrics.encode();
    assert!(
        text.contains(
            "ecs_scaler_aws_api_calls_total{service=\"cloudwatch\",operation=\"GetMetricData\"} 6"
        ),
        "{text}"
    );
    // An hour later: 3 calls per period.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(fake.calls(), 6 + 3 * 60);
}

#[tokio::test(start_paused = true)]
async fn expressions_count_with_their_inputs_and_metrics_calls_go_alone() {
    let fake = Fake::new(|request, _| Ok(full_page(request, |_| 1.0)));
    let h = Harness::new(&fake);
    let mut feeds = Vec::new();
    for n in 0..300 {
        let spec = spec(&format!(
            "{{expression: 'a / b * {n}', metrics: {{a: {{namespace: T, metricName: n{n}}}, \
             b: {{namespace: T, metricName: d}}}}}}"
        ));
        feeds.push(h.register(&spec.key(), 2));
    }
    let metrics_all =
        spec("{expression: 'SUM(METRICS())', metrics: {a: {namespace: T, metricName: x}}}");
    feeds.push(h.register(&metrics_all.key(), 2));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // 300 x 3 entries: 166 expressions (498 entries) per call, then the rest, then METRICS().
    let sizes: Vec<usize> = (0..fake.calls())
        .map(|i| fake.request(i).queries.len())
        .collect();
    assert_eq!(sizes, [498, 402, 2]);
    let request = fake.request(0);
    let ids: Vec<&str> = request.queries.iter().map(|q| q.id().unwrap()).collect();
    assert_eq!(&ids[..6], ["e0", "i0_a", "i0_b", "e1", "i1_a", "i1_b"]);
    assert_eq!(request.queries[3].expression(), Some("i1_a / i1_b * 1"));
    assert_eq!(request.queries[4].return_data(), Some(false));
    assert!(feeds.iter().all(|(_, feed)| values(feed).len() == 2));
}

#[tokio::test(start_paused = true)]
async fn pages_are_followed_and_joined() {
    // The answer comes in pages of two datapoints per query.
    let fake = Fake::new(|request, _| {
        let full = full_page(request, value_of);
        let page: usize = request
            .next_token
            .as_deref()
            .map_or(0, |t| t.parse().unwrap());
        let series: Vec<Series> = full
            .series
            .into_iter()
            .map(|s| Series {
                points: s.points.into_iter().skip(page * 2).take(2).collect(),
                status: Status::PartialData,
                ..s
            })
            .collect();
        let more = series.iter().any(|s| s.points.len() == 2) && page < 2;
        Ok(Page {
            series,
            next_token: more.then(|| (page + 1).to_string()),
        })
    });
    let h = Harness::new(&fake);
    let (_a, a) = h.register(&stat_key("n7"), 5);
    let (_b, b) = h.register(&stat_key("n8"), 5);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(fake.calls(), 3, "pages 0, 1 and 2");
    assert_eq!(fake.request(1).next_token.as_deref(), Some("1"));
    assert_eq!(fake.request(1).queries, fake.request(0).queries);
    assert_eq!(values(&a).len(), 5);
    assert!(values(&a).iter().all(|(_, v)| *v == 7.0));
    assert!(values(&b).iter().all(|(_, v)| *v == 8.0));
}

#[tokio::test(start_paused = true)]
async fn revised_periods_are_delivered_again_unchanged_ones_are_not() {
    // The newest period of each answer is still filling in CloudWatch: its value grows with
    // every call until it is final.
    let fake = Fake::new(|request, call| {
        let mut page = full_page(request, |_| 10.0);
        for series in &mut page.series {
            let newest = series.points.iter_mut().max_by_key(|(at, _)| *at).unwrap();
            newest.1 = 5.0 + call as f64;
        }
        Ok(page)
    });
    let h = Harness::new(&fake);
    let (_registration, feed) = h.register(&stat_key("n1"), 3);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        values(&feed),
        [
            (t("09:56:00"), 10.0),
            (t("09:57:00"), 10.0),
            (t("09:58:00"), 5.0)
        ]
    );
    tokio::time::sleep(Duration::from_secs(65)).await;
    // 09:58 was revised from 5 to 10 (sent again: it replaces the period), 09:59 is new;
    // 09:57 was not sent again.
    assert_eq!(
        values(&feed)[3..],
        [(t("09:58:00"), 10.0), (t("09:59:00"), 6.0)]
    );
    // In a history, the revision replaces the period instead of adding to it.
    let mut history = crate::engine::history::MetricHistory::new(60, 8);
    for d in &feed.borrow().datapoints {
        history.record_period_value(d.timestamp.timestamp(), d.value, 1);
    }
    let period = history.period(t("09:58:00").timestamp()).unwrap();
    assert_eq!((period.count, period.sum), (1, 10.0));
    assert_eq!(feed.borrow().last_error, None);
}

#[tokio::test(start_paused = true)]
async fn throttling_fails_every_query_stops_the_cycle_and_backs_off() {
    let fake = Fake::new(|request, call| {
        if (1..=4).contains(&call) {
            Err(classify(Some("Throttling"), "Rate exceeded".to_owned()))
        } else {
            Ok(full_page(request, value_of))
        }
    });
    let h = Harness::new(&fake);
    let mut feeds = Vec::new();
    for n in 0..600 {
        feeds.push(h.register(&stat_key(&format!("n{n}")), 3));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // Call 0 answered the first 500, call 1 was throttled: the last 100 failed.
    assert_eq!(fake.calls(), 2);
    assert_eq!(values(&feeds[0].1).len(), 3);
    assert!(
        feeds[599]
            .1
            .borrow()
            .last_error
            .as_deref()
            .unwrap()
            .contains("throttled")
    );
    // Backing off: no cycle at 10:01; the retry comes 60 s x 2^1 x [0.5, 1) after 10:00:31.
    tokio::time::sleep(Duration::from_secs(58)).await;
    assert_eq!(fake.calls(), 2, "no call within one period");
    tokio::time::sleep(Duration::from_secs(62)).await;
    assert_eq!(
        fake.calls(),
        3,
        "throttled at once: the second call is not made"
    );
    for (_, feed) in [&feeds[0], &feeds[599]] {
        let state = feed.borrow();
        assert!(
            state
                .last_error
                .as_deref()
                .unwrap()
                .contains("Rate exceeded"),
            "{state:?}"
        );
    }
    assert_eq!(values(&feeds[0].1).len(), 3, "the last good values stay");
    // Two more throttled retries, ever later; then calls 5 and 6 answer.
    tokio::time::sleep(Duration::from_secs(2_000)).await;
    assert!(fake.calls() >= 7, "{}", fake.calls());
    assert!(
        feeds
            .iter()
            .all(|(_, feed)| feed.borrow().last_error.is_none())
    );
    assert!(values(&feeds[599].1).len() >= 3);
    let text = h.metrics.encode();
    assert!(text.contains("error=\"throttled\""), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_rejected_query_is_found_by_bisection_and_then_fetched_alone() {
    let bad = |q: &MetricDataQuery| q.metric_stat().and_then(|s| s.stat()) == Some("p99.99999");
    let fake = Fake::new(move |request, _| {
        if request.queries.iter().any(bad) {
            Err(classify(
                Some("InvalidParameterValue"),
                "The value p99.99999 for parameter Stat is not valid.".to_owned(),
            ))
        } else {
            Ok(full_page(request, value_of))
        }
    });
    let h = Harness::new(&fake);
    let mut feeds = Vec::new();
    for n in 0..8 {
        let stat = if n == 5 { "p99.99999" } else { "Average" };
        let spec = spec(&format!(
            "{{namespace: T, metricName: n{n}, stat: '{stat}'}}"
        ));
        feeds.push(h.register(&spec.key(), 1));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // 8 -> 4 + 4 (first half fine) -> 2 + 2 -> 1 + 1: 7 calls.
    let sizes: Vec<usize> = (0..fake.calls())
        .map(|i| fake.request(i).queries.len())
        .collect();
    assert_eq!(sizes, [8, 4, 4, 2, 1, 1, 2]);
    for (n, (_, feed)) in feeds.iter().enumerate() {
        let state = feed.borrow();
        if n == 5 {
            assert!(
                state
                    .last_error
                    .as_deref()
                    .unwrap()
                    .contains("Stat is not valid")
            );
            assert!(state.datapoints.is_empty());
        } else {
            assert_eq!(
                (state.datapoints.len(), &state.last_error),
                (1, &None),
                "query {n}"
            );
        }
    }
    // From now on the bad query has a call of its own; no backoff (CloudWatch is fine).
    tokio::time::sleep(Duration::from_secs(65)).await;
    let sizes: Vec<usize> = (7..fake.calls())
        .map(|i| fake.request(i).queries.len())
        .collect();
    assert_eq!(sizes, [7, 1]);
}

#[tokio::test(start_paused = true)]
async fn per_query_failures_and_several_series_fail_only_their_query() {
    let fake = Fake::new(|request, _| {
        let mut page = full_page(request, value_of);
        for series in &mut page.series {
            if series.id == "q1" {
                series.status = Status::Forbidden;
                series.messages = vec!["Forbidden: not authorized".to_owned()];
                series.points.clear();
            }
        }
        // q2 is a SEARCH that found two series.
        let second = Series {
            label: Some("queue-b".to_owned()),
            ..page.series[2].clone()
        };
        page.series[2].label = Some("queue-a".to_owned());
        page.series.push(second);
        Ok(page)
    });
    let h = Harness::new(&fake);
    let feeds: Vec<_> = (0..3)
        .map(|n| h.register(&stat_key(&format!("n{n}")), 2))
        .collect();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(values(&feeds[0].1).len(), 2);
    let error = |n: usize| feeds[n].1.borrow().last_error.clone().unwrap();
    assert!(error(1).contains("Forbidden"), "{}", error(1));
    assert!(
        error(2).contains("2 time series (queue-a, queue-b)"),
        "{}",
        error(2)
    );
    // Not a batch failure: the next cycle comes on time.
    tokio::time::sleep(Duration::from_secs(65)).await;
    assert_eq!(fake.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn unregistering_the_last_query_stops_the_batcher() {
    let fake = Fake::new(|request, _| Ok(full_page(request, value_of)));
    let h = Harness::new(&fake);
    let (a, _feed_a) = h.register(&stat_key("n1"), 2);
    let (b, _feed_b) = h.register(&stat_key("n2"), 2);
    let other_period =
        spec("{namespace: T, metricName: n3, period: 300, endTimeOffsetSeconds: 0}").key();
    let (c, _feed_c) = h.register(&other_period, 2);
    assert_eq!(h.sources.batchers(), 2, "one per period");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(fake.calls(), 2);
    let series = |name: &str| {
        h.metrics
            .encode()
            .lines()
            .filter(|line| line.starts_with("ecs_scaler_source") && line.contains(name))
            .count()
    };
    assert!(series("/n1:") > 0, "{}", h.metrics.encode());
    drop(a);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(fake.request(2).queries.len(), 1, "only n2 is left");
    assert_eq!(series("/n1:"), 0, "a stopped query leaves no series");
    assert!(series("/n2:") > 0);
    drop((b, c));
    assert_eq!(h.sources.batchers(), 0);
    let calls = fake.calls();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(fake.calls(), calls);
    assert_eq!(series("ecs_scaler_source"), 0, "{}", h.metrics.encode());
}

#[tokio::test(start_paused = true)]
async fn a_longer_history_need_refetches_soon_with_the_longer_window() {
    let fake = Fake::new(|request, _| Ok(full_page(request, value_of)));
    let h = Harness::new(&fake);
    let key = stat_key("n4");
    let (_registration, feed) = h.register(&key, 3);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(values(&feed).len(), 3);
    h.sources.need_history(&key, 10);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(fake.calls(), 2);
    let request = fake.request(1);
    assert_eq!((request.end - request.start).num_minutes(), 10);
    // Only the 7 older periods are new to the feed.
    assert_eq!(values(&feed).len(), 10);
}

#[test]
fn errors_are_classified_for_backoff_and_bisection() {
    for code in [
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceeded",
    ] {
        let error = classify(Some(code), "slow down".to_owned());
        assert_eq!(
            error.error,
            SourceError::Throttled("slow down".to_owned()),
            "{code}"
        );
        assert!(!error.rejected);
    }
    for code in [
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "MissingParameter",
    ] {
        let error = classify(Some(code), "bad".to_owned());
        assert!(error.rejected, "{code}");
        assert_eq!(error.error.kind(), "failed");
    }
    for code in [Some("AccessDenied"), Some("InternalServiceError"), None] {
        let error = classify(code, "no".to_owned());
        assert!(!error.rejected, "{code:?}");
        assert_eq!(error.error, SourceError::Failed("no".to_owned()));
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_that_hangs_times_out_and_backs_off() {
    struct Hang;
    impl MetricDataApi for Hang {
        fn get_metric_data<'a>(&'a self, _: &'a Request) -> super::api::CallFuture<'a> {
            Box::pin(std::future::pending())
        }
    }
    let metrics = Arc::new(Metrics::new());
    let clock = TokioClock::starting_at(start());
    let api: ApiFactory =
        Arc::new(|_: &crate::sources::aws::AwsIdentity| Arc::new(Hang) as Arc<dyn MetricDataApi>);
    let sources = CloudWatchSources::new(api, Arc::new(clock), metrics.clone());
    let (sender, feed) = crate::sources::feed::channel(FeedState::default());
    let _registration = sources.register(&stat_key("n1"), 2, sender);
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        feed.borrow().last_error.as_deref(),
        Some("timed out after 10 s")
    );
    assert!(metrics.encode().contains("error=\"timeout\""));
}

#[tokio::test(start_paused = true)]
async fn a_query_registered_just_before_a_cycle_joins_it() {
    let fake = Fake::new(|request, _| Ok(full_page(request, value_of)));
    let h = Harness::new(&fake);
    tokio::time::sleep(Duration::from_secs(25)).await;
    // 10:00:55: the cycle of 10:01 (plus at most 5 s of splay) is close.
    let (_registration, feed) = h.register(&stat_key("n1"), 2);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(fake.calls(), 0);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(fake.calls(), 1);
    assert_eq!(fake.request(0).end, t("10:00:00"));
    assert_eq!(values(&feed).len(), 2);
}

// --- Through the hub to a decision ----------------------------------------------------------

fn policy(name: &str) -> String {
    format!(
        r#"
apiVersion: ecs-scaler.dev/v1alpha1
kind: ScalingPolicySet
metadata: {{name: {name}, namespace: shop}}
spec:
  scalableTarget: {{minCapacity: 1, maxCapacity: 20}}
  metrics:
    cpu: {{cloudwatch: {{namespace: AWS/ECS, metricName: n400, dimensions: {{ServiceName: web}}}}}}
  policies:
  - policyName: cpu
    targetTracking: {{metric: cpu, targetValue: 100}}
"#
    )
}

#[tokio::test(start_paused = true)]
async fn cloudwatch_values_reach_the_decision_of_every_policy_set_sharing_the_query() {
    use crate::capacity::assumed::AssumedCapacity;
    use crate::controller::driver::Driver;
    use crate::controller::{Controller, ControllerConfig};
    use crate::sources::hub::SourceHub;

    let fake = Fake::new(|request, _| Ok(full_page(request, value_of)));
    let clock = TokioClock::starting_at(start());
    let metrics = Arc::new(Metrics::new());
    let hub = SourceHub::with_cloudwatch_api(
        Arc::new(clock),
        metrics.clone(),
        Arc::new(crate::sources::aws::AwsConfigs::new()),
        factory(&fake),
    );
    let driver = Driver::spawn();
    let mut running = Vec::new();
    let mut verdicts = Vec::new();
    for name in ["web", "api"] {
        let set = Arc::new(load_str(&policy(name), "test").unwrap());
        let (controller, receiver) = Controller::new(
            set,
            &hub,
            Arc::new(AssumedCapacity::new(1)),
            Arc::new(clock),
            metrics.clone(),
            ControllerConfig::default(),
        );
        running.push(driver.run(controller));
        verdicts.push(receiver.subscribe());
    }
    assert_eq!(hub.len(), 1, "one feed for the shared query");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.calls(), 1, "one call for both policy sets");
    let request = fake.request(0);
    assert_eq!(request.queries.len(), 1);
    // Enough periods for the target tracking low alarm (15) with its evaluation range (2 more)
    // and CloudWatch's delay.
    assert_eq!((request.end - request.start).num_minutes(), 15 + 2 + 2 + 2);
    for receiver in &verdicts {
        let verdict = receiver.borrow().clone();
        // 400 against a target of 100 for 3 periods: the high alarm scales 1 task out to 4.
        assert_eq!(
            verdict.decision().map(|d| d.desired),
            Some(4),
            "{verdict:?}"
        );
    }
    // Without subscribers the query is unregistered and the batcher stops.
    drop(running);
    tokio::time::sleep(Duration::from_millis(1)).await;
    drop(verdicts);
    hub.release_unused();
    assert!(hub.is_empty());
    let calls = fake.calls();
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(fake.calls(), calls);
}

#[tokio::test(start_paused = true)]
async fn a_failing_query_makes_its_policy_sets_unavailable_after_three_periods() {
    use crate::capacity::assumed::AssumedCapacity;
    use crate::controller::driver::Driver;
    use crate::controller::{Controller, ControllerConfig, Verdict};
    use crate::sources::hub::SourceHub;

    let fake = Fake::new(|request, call| {
        if call == 0 {
            Ok(full_page(request, value_of))
        } else {
            Err(classify(
                None,
                "dispatch failure: connection refused".to_owned(),
            ))
        }
    });
    let clock = TokioClock::starting_at(start());
    let metrics = Arc::new(Metrics::new());
    let hub = SourceHub::with_cloudwatch_api(
        Arc::new(clock),
        metrics.clone(),
        Arc::new(crate::sources::aws::AwsConfigs::new()),
        factory(&fake),
    );
    let set = Arc::new(load_str(&policy("web"), "test").unwrap());
    let (controller, verdicts) = Controller::new(
        set,
        &hub,
        Arc::new(AssumedCapacity::new(1)),
        Arc::new(clock),
        metrics.clone(),
        ControllerConfig::default(),
    );
    let verdicts = verdicts.subscribe();
    let _running = Driver::spawn().run(controller);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(verdicts.borrow().decision().map(|d| d.desired), Some(4));
    // The last good values serve until 3 periods without a successful fetch have passed.
    tokio::time::sleep(Duration::from_secs(170)).await;
    assert!(verdicts.borrow().decision().is_some());
    tokio::time::sleep(Duration::from_secs(20)).await;
    let verdict = verdicts.borrow().clone();
    let Verdict::Unavailable { reason, .. } = verdict.as_ref() else {
        panic!("{verdict:?}")
    };
    assert!(reason.contains("connection refused"), "{reason}");
}
