//! CloudWatch alarms that policy sets reference by name (`spec.alarms.<name>.cloudwatchAlarm`).
//!
//! ECS step scaling policies are invoked by CloudWatch alarms. Instead of copying an alarm into
//! the policy document, a policy set can name it; the scaler then reads its definition with
//! `DescribeAlarms` and keeps it fresh:
//!
//! - **One refresher per AWS identity** (region, endpoint, role): every alarm name registered
//!   with the same identity is read in `DescribeAlarms` calls of up to 100 names (pages followed
//!   through `NextToken`), every `refreshSeconds` (the shortest among the identity's
//!   registrations). A new name is read about a second after it registers. Throttling and
//!   transport failures back the refresher off (jittered, doubling); every call is counted in
//!   `ecs_scaler_aws_api_calls{service="cloudwatch",operation="DescribeAlarms"}`.
//! - **An [`AlarmFeed`] per alarm** (a watch channel) holds the latest definition, its state
//!   (`StateValue`), when it was last read, and the last error. An alarm CloudWatch does not know
//!   (or a composite alarm) is an error naming it; a definition once read is kept (the last good
//!   one stays in service).
//! - **Translation** ([`AlarmDefinition::translate`]): the definition becomes an ordinary alarm
//!   over a generated `cloudwatch` metric source (the alarm's metric, or its metric math), so the
//!   policy set compiles from a resolved document and the alarm's metric is fetched by the
//!   GetMetricData batchers like any other. Anomaly detection bands, PromQL alarms,
//!   cross-account metrics and intermediate math expressions are refused with a message saying so.
//!
//! In mode `evaluate` (the default) the scaler evaluates the alarm itself (M of N over the
//! fetched values), as it does an inline alarm: deterministic, identical on every replica,
//! reacting within a period. In mode `trustState` the alarm's state is CloudWatch's `StateValue`
//! (CloudWatch's own evaluation, missing-data handling included), read at every refresh, so it
//! lags by up to one refresh; the fetched values still choose the step.

pub mod api;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use self::api::{AlarmsApiFactory, AlarmsRequest, DescribeAlarmsApi, MAX_NAMES_PER_CALL};
use super::{CloudWatchSpec, MetricStatSpec};
use crate::alarm_model::{
    AlarmSpec, AlarmState, ComparisonOperator, Statistic, TreatMissingData, is_valid_period,
};
use crate::clock::Clock;
use crate::sources::SourceError;
use crate::sources::aws::AwsIdentity;
use crate::sources::poller::backoff;
use crate::telemetry::{AwsCallLabels, Metrics, SourceLabels, SourceSeries};

/// The default time between two reads of an alarm's definition, in seconds.
pub const DEFAULT_REFRESH_SECONDS: u32 = 300;
/// The shortest `refreshSeconds` accepted.
pub const MIN_REFRESH_SECONDS: u32 = 10;
/// The longest `refreshSeconds` accepted (a day).
pub const MAX_REFRESH_SECONDS: u32 = 86_400;
/// How long a new registration waits for others to share its first call.
pub const DEBOUNCE: Duration = Duration::from_secs(1);
/// The longest a call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Pages followed per call before giving up (a broken `NextToken` loop).
const MAX_PAGES: usize = 100;

/// How a referenced alarm's state is decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AlarmMode {
    /// The scaler evaluates the alarm's definition over the fetched metric values (M of N),
    /// as it does an inline alarm.
    #[default]
    Evaluate,
    /// The alarm's state is CloudWatch's `StateValue`, read at every refresh; the fetched
    /// metric values only choose the step.
    TrustState,
}

/// `spec.alarms.<name>.cloudwatchAlarm`: an alarm read from CloudWatch by name.
#[derive(Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudWatchAlarmRef {
    /// The alarm's name in CloudWatch.
    pub alarm_name: String,
    /// Region (default: the SDK's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<String>,
    /// Endpoint URL override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_endpoint: Option<String>,
    /// Role to assume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// External ID for the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// `evaluate` (default) or `trustState`.
    #[serde(default)]
    pub mode: AlarmMode,
    /// Seconds between two reads of the definition and state (default 300).
    #[serde(default = "default_refresh")]
    pub refresh_seconds: u32,
}

fn default_refresh() -> u32 {
    DEFAULT_REFRESH_SECONDS
}

impl fmt::Debug for CloudWatchAlarmRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudWatchAlarmRef")
            .field("alarm_name", &self.alarm_name)
            .field("identity", &self.identity())
            .field("mode", &self.mode)
            .field("refresh_seconds", &self.refresh_seconds)
            .finish()
    }
}

impl CloudWatchAlarmRef {
    /// Who reads the alarm (and fetches its metric).
    pub fn identity(&self) -> AwsIdentity {
        AwsIdentity {
            aws_region: self.aws_region.clone(),
            aws_endpoint: self.aws_endpoint.clone(),
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
        }
    }

    /// What identifies the alarm: its name and who reads it.
    pub fn key(&self) -> AlarmKey {
        AlarmKey {
            identity: self.identity(),
            alarm_name: self.alarm_name.clone(),
        }
    }

    /// Problems with the reference, as `(field, message)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.alarm_name.trim().is_empty() {
            problems.push(("alarmName".to_owned(), "must not be empty".to_owned()));
        } else if self.alarm_name.len() > 255 {
            problems.push((
                "alarmName".to_owned(),
                "is longer than CloudWatch's 255 characters".to_owned(),
            ));
        }
        if !(MIN_REFRESH_SECONDS..=MAX_REFRESH_SECONDS).contains(&self.refresh_seconds) {
            problems.push((
                "refreshSeconds".to_owned(),
                format!(
                    "{} is not between {MIN_REFRESH_SECONDS} and {MAX_REFRESH_SECONDS}",
                    self.refresh_seconds
                ),
            ));
        }
        problems
    }

    /// A `cloudwatch` metric source with the reference's identity and nothing to fetch yet.
    pub fn source(&self) -> CloudWatchSpec {
        CloudWatchSpec {
            aws_region: self.aws_region.clone(),
            aws_endpoint: self.aws_endpoint.clone(),
            role_arn: self.role_arn.clone(),
            external_id: self.external_id.clone(),
            namespace: None,
            metric_name: None,
            dimensions: BTreeMap::new(),
            stat: None,
            unit: None,
            expression: None,
            metrics: BTreeMap::new(),
            period: 60,
            end_time_offset_seconds: 60,
            stale_after_seconds: None,
        }
    }
}

/// An alarm as the refresher knows it: its name and who reads it (never a credential).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlarmKey {
    /// Who reads it.
    pub identity: AwsIdentity,
    /// Its name.
    pub alarm_name: String,
}

impl fmt::Display for AlarmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`", self.alarm_name)?;
        if let Some(region) = &self.identity.aws_region {
            write!(f, " in {region}")?;
        }
        Ok(())
    }
}

/// A metric alarm's definition, as `DescribeAlarms` gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmDefinition {
    /// `AlarmName`.
    pub alarm_name: String,
    /// `Namespace` (single-metric alarms).
    pub namespace: Option<String>,
    /// `MetricName` (single-metric alarms).
    pub metric_name: Option<String>,
    /// `Dimensions` (single-metric alarms).
    pub dimensions: BTreeMap<String, String>,
    /// `Statistic` (single-metric alarms).
    pub statistic: Option<String>,
    /// `ExtendedStatistic`, e.g. `p99` (single-metric alarms).
    pub extended_statistic: Option<String>,
    /// `Period` in seconds (single-metric alarms).
    pub period: Option<i32>,
    /// `Unit`.
    pub unit: Option<String>,
    /// `Metrics` (metric math alarms).
    pub metrics: Vec<AlarmQuery>,
    /// `Threshold`.
    pub threshold: Option<f64>,
    /// `ThresholdMetricId` (anomaly detection alarms).
    pub threshold_metric_id: Option<String>,
    /// `ComparisonOperator`.
    pub comparison_operator: Option<String>,
    /// `EvaluationPeriods`.
    pub evaluation_periods: Option<i32>,
    /// `DatapointsToAlarm`.
    pub datapoints_to_alarm: Option<i32>,
    /// `TreatMissingData`.
    pub treat_missing_data: Option<String>,
    /// It is a PromQL alarm (`EvaluationCriteria`).
    pub promql: bool,
    /// It evaluates wall clock windows instead of a sliding window (`EvaluationWindow`).
    pub wall_clock_window: bool,
}

/// One entry of a metric math alarm's `Metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmQuery {
    /// `Id`.
    pub id: String,
    /// `Expression`.
    pub expression: Option<String>,
    /// `MetricStat`.
    pub metric: Option<AlarmStat>,
    /// `Period`.
    pub period: Option<i32>,
    /// `ReturnData`.
    pub return_data: Option<bool>,
    /// `AccountId` (cross-account alarms).
    pub account_id: Option<String>,
}

/// A `MetricStat` of a metric math alarm.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmStat {
    /// Namespace.
    pub namespace: String,
    /// Metric name.
    pub metric_name: String,
    /// Dimensions.
    pub dimensions: BTreeMap<String, String>,
    /// Statistic.
    pub stat: String,
    /// Unit.
    pub unit: Option<String>,
    /// Period in seconds.
    pub period: Option<i32>,
}

/// A metric alarm read from CloudWatch: its definition and its state.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedAlarm {
    /// The definition.
    pub definition: AlarmDefinition,
    /// `StateValue`.
    pub state: AlarmState,
}

/// The anomaly detection operators.
const BAND_OPERATORS: [&str; 3] = [
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
];

impl AlarmDefinition {
    /// The alarm as the scaler runs it: a `cloudwatch` metric source fetched with the identity
    /// of `reference`, and an alarm over the metric named `metric_key`. The error says what is
    /// not supported.
    pub fn translate(
        &self,
        reference: &CloudWatchAlarmRef,
        metric_key: &str,
    ) -> Result<(CloudWatchSpec, AlarmSpec), String> {
        if self.promql {
            return Err(
                "it is a PromQL alarm, which has no CloudWatch metric to fetch: \
                        unsupported"
                    .to_owned(),
            );
        }
        let operator = match self.comparison_operator.as_deref() {
            Some("GreaterThanOrEqualToThreshold") => {
                ComparisonOperator::GreaterThanOrEqualToThreshold
            }
            Some("GreaterThanThreshold") => ComparisonOperator::GreaterThanThreshold,
            Some("LessThanThreshold") => ComparisonOperator::LessThanThreshold,
            Some("LessThanOrEqualToThreshold") => ComparisonOperator::LessThanOrEqualToThreshold,
            Some(band) if BAND_OPERATORS.contains(&band) => {
                return Err(format!(
                    "its comparison operator {band} compares with an anomaly detection band: \
                     unsupported (step scaling measures the distance to a fixed threshold)"
                ));
            }
            Some(other) => return Err(format!("unknown comparison operator `{other}`")),
            None => return Err("it has no ComparisonOperator".to_owned()),
        };
        let threshold = match self.threshold {
            Some(threshold) if threshold.is_finite() => threshold,
            _ if self.threshold_metric_id.is_some() => {
                return Err(
                    "its threshold is an anomaly detection band (ThresholdMetricId): unsupported"
                        .to_owned(),
                );
            }
            _ => return Err("it has no Threshold".to_owned()),
        };
        let evaluation_periods = self
            .evaluation_periods
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or("it has no EvaluationPeriods")?;
        let datapoints_to_alarm = match self.datapoints_to_alarm {
            None => None,
            Some(m) => Some(
                u32::try_from(m).map_err(|_| format!("its DatapointsToAlarm {m} is negative"))?,
            ),
        };
        let treat_missing_data = match self.treat_missing_data.as_deref() {
            None | Some("missing") => TreatMissingData::Missing,
            Some("notBreaching") => TreatMissingData::NotBreaching,
            Some("breaching") => TreatMissingData::Breaching,
            Some("ignore") => TreatMissingData::Ignore,
            Some(other) => return Err(format!("unknown TreatMissingData `{other}`")),
        };
        if self.wall_clock_window && reference.mode == AlarmMode::Evaluate {
            return Err(
                "it evaluates wall clock windows, which mode `evaluate` does not \
                        reproduce: use `mode: trustState`"
                    .to_owned(),
            );
        }
        let mut source = reference.source();
        let period = if let Some(metric_name) = &self.metric_name {
            source.namespace = Some(self.namespace.clone().ok_or("it has no Namespace")?);
            source.metric_name = Some(metric_name.clone());
            source.dimensions = self.dimensions.clone();
            source.stat = Some(
                self.statistic
                    .clone()
                    .or_else(|| self.extended_statistic.clone())
                    .ok_or("it has no Statistic or ExtendedStatistic")?,
            );
            source.unit = self.unit.clone();
            self.period
        } else if !self.metrics.is_empty() {
            self.math(&mut source)?
        } else {
            return Err(
                "it has neither a metric (MetricName) nor metric math (Metrics)".to_owned(),
            );
        };
        source.period = period
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| is_valid_period(*p))
            .ok_or_else(|| match period {
                Some(period) => format!(
                    "its period {period} s is not one the scaler fetches (10, 20, 30 or a \
                     multiple of 60)"
                ),
                None => "it has no Period".to_owned(),
            })?;
        let alarm = AlarmSpec {
            metric: metric_key.to_owned(),
            alarm_name: Some(self.alarm_name.clone()),
            // CloudWatch aggregates each period with the source's `stat`.
            statistic: Statistic::Average,
            comparison_operator: operator,
            threshold,
            evaluation_periods,
            datapoints_to_alarm,
            treat_missing_data,
            per_task: false,
        };
        Ok((source, alarm))
    }

    /// Fills `source` from `Metrics`; returns the period.
    fn math(&self, source: &mut CloudWatchSpec) -> Result<Option<i32>, String> {
        if let Some(query) = self.metrics.iter().find(|q| q.account_id.is_some()) {
            return Err(format!(
                "its metric `{}` is read from another account (AccountId): unsupported",
                query.id
            ));
        }
        let returned: Vec<&AlarmQuery> = self
            .metrics
            .iter()
            .filter(|q| q.return_data == Some(true))
            .collect();
        let expressions: Vec<&AlarmQuery> = self
            .metrics
            .iter()
            .filter(|q| q.expression.is_some())
            .collect();
        let result = match (returned.as_slice(), expressions.as_slice()) {
            ([one], _) => *one,
            ([], [one]) => *one,
            ([], _) if self.metrics.len() == 1 => &self.metrics[0],
            ([], _) => return Err("none of its Metrics has ReturnData".to_owned()),
            _ => return Err("several of its Metrics have ReturnData".to_owned()),
        };
        match (&result.expression, &result.metric) {
            (Some(expression), _) => {
                let mut periods = BTreeSet::new();
                for query in self.metrics.iter().filter(|q| q.id != result.id) {
                    let (Some(stat), None) = (&query.metric, &query.expression) else {
                        return Err(format!(
                            "its metric math has more than one expression (`{}`, `{}`): only \
                             one expression over metrics is supported",
                            result.id, query.id
                        ));
                    };
                    periods.extend(stat.period.or(query.period));
                    source.metrics.insert(
                        query.id.clone(),
                        MetricStatSpec {
                            namespace: stat.namespace.clone(),
                            metric_name: stat.metric_name.clone(),
                            dimensions: stat.dimensions.clone(),
                            stat: Some(stat.stat.clone()),
                            unit: stat.unit.clone(),
                        },
                    );
                }
                source.expression = Some(expression.clone());
                match (result.period, periods.len()) {
                    (Some(period), _) => Ok(Some(period)),
                    (None, 0 | 1) => Ok(periods.first().copied()),
                    (None, _) => Err(format!(
                        "its metrics have different periods ({periods:?} s): unsupported"
                    )),
                }
            }
            (None, Some(stat)) => {
                source.namespace = Some(stat.namespace.clone());
                source.metric_name = Some(stat.metric_name.clone());
                source.dimensions = stat.dimensions.clone();
                source.stat = Some(stat.stat.clone());
                source.unit = stat.unit.clone();
                Ok(stat.period.or(result.period))
            }
            (None, None) => Err(format!(
                "its metric `{}` has neither an Expression nor a MetricStat",
                result.id
            )),
        }
    }
}

/// What the scaler knows of one alarm.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmFeed {
    /// The latest definition read (kept when a later read fails or the alarm disappears).
    pub definition: Option<Arc<AlarmDefinition>>,
    /// The latest state read.
    pub state: Option<AlarmState>,
    /// When `DescribeAlarms` last returned the alarm.
    pub last_success: Option<DateTime<Utc>>,
    /// Why the latest read failed (the alarm is unknown, the call failed), if it did.
    pub last_error: Option<String>,
}

/// The alarm refreshers of a hub, one per AWS identity, created and stopped with their alarms.
#[derive(Clone)]
pub struct CloudWatchAlarms {
    inner: Arc<Inner>,
}

struct Inner {
    refreshers: Mutex<HashMap<AwsIdentity, RefresherHandle>>,
    api: AlarmsApiFactory,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    next_id: AtomicU64,
}

impl Inner {
    fn refreshers(&self) -> MutexGuard<'_, HashMap<AwsIdentity, RefresherHandle>> {
        self.refreshers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

struct RefresherHandle {
    shared: Arc<Shared>,
    task: AbortHandle,
}

/// What a refresher and its registrations share.
struct Shared {
    alarms: Mutex<BTreeMap<String, Watched>>,
    wake: Notify,
}

impl Shared {
    fn alarms(&self) -> MutexGuard<'_, BTreeMap<String, Watched>> {
        self.alarms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shortest refresh interval registered.
    fn interval(&self) -> Duration {
        let seconds = self
            .alarms()
            .values()
            .flat_map(|w| w.registrations.values().copied())
            .min()
            .unwrap_or(DEFAULT_REFRESH_SECONDS);
        Duration::from_secs(u64::from(seconds.max(1)))
    }
}

struct Watched {
    feed: watch::Sender<AlarmFeed>,
    /// Registration id to its refresh interval in seconds.
    registrations: HashMap<u64, u32>,
    /// Not read since it registered.
    fresh: bool,
}

/// Keeps an alarm registered with its refresher; dropping the last registration of an alarm
/// stops reading it, and stops the refresher with its last alarm.
pub struct AlarmRegistration {
    inner: Arc<Inner>,
    key: AlarmKey,
    id: u64,
}

impl Drop for AlarmRegistration {
    fn drop(&mut self) {
        let mut refreshers = self.inner.refreshers();
        let Some(handle) = refreshers.get(&self.key.identity) else {
            return;
        };
        let empty = {
            let mut alarms = handle.shared.alarms();
            if let Some(watched) = alarms.get_mut(&self.key.alarm_name) {
                watched.registrations.remove(&self.id);
                if watched.registrations.is_empty() {
                    alarms.remove(&self.key.alarm_name);
                }
            }
            alarms.is_empty()
        };
        if empty {
            handle.task.abort();
            refreshers.remove(&self.key.identity);
        }
    }
}

impl CloudWatchAlarms {
    /// No refresher yet; calls go through `api`, time comes from `clock`.
    pub fn new(api: AlarmsApiFactory, clock: Arc<dyn Clock>, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Arc::new(Inner {
                refreshers: Mutex::new(HashMap::new()),
                api,
                clock,
                metrics,
                next_id: AtomicU64::new(0),
            }),
        }
    }

    /// Reads the alarm of `key` every `refresh_seconds` (or more often, if another registration
    /// of its identity asks so) until the registration is dropped; returns the registration and
    /// the alarm's feed. Must be called within a tokio runtime.
    pub fn register(
        &self,
        key: &AlarmKey,
        refresh_seconds: u32,
    ) -> (AlarmRegistration, watch::Receiver<AlarmFeed>) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut refreshers = self.inner.refreshers();
        let handle = refreshers
            .entry(key.identity.clone())
            .or_insert_with(|| self.start(&key.identity));
        let receiver = {
            let mut alarms = handle.shared.alarms();
            let watched = alarms
                .entry(key.alarm_name.clone())
                .or_insert_with(|| Watched {
                    feed: watch::channel(AlarmFeed::default()).0,
                    registrations: HashMap::new(),
                    fresh: true,
                });
            watched
                .registrations
                .insert(id, refresh_seconds.max(MIN_REFRESH_SECONDS));
            watched.feed.subscribe()
        };
        // A new alarm is read soon; a shorter interval takes effect at once.
        handle.shared.wake.notify_one();
        (
            AlarmRegistration {
                inner: self.inner.clone(),
                key: key.clone(),
                id,
            },
            receiver,
        )
    }

    /// Number of running refreshers.
    pub fn refreshers(&self) -> usize {
        self.inner.refreshers().len()
    }

    fn start(&self, identity: &AwsIdentity) -> RefresherHandle {
        let shared = Arc::new(Shared {
            alarms: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
        });
        let region = identity
            .aws_region
            .clone()
            .unwrap_or_else(|| "the default region".to_owned());
        let series = SourceSeries::with_labels(
            self.inner.metrics.clone(),
            SourceLabels {
                source: format!("cloudwatch-alarms:{region}"),
                kind: "cloudwatch",
            },
        );
        let refresher = Refresher {
            region,
            series,
            shared: shared.clone(),
            api: (self.inner.api)(identity),
            clock: self.inner.clock.clone(),
            metrics: self.inner.metrics.clone(),
        };
        let task = tokio::spawn(refresher.run());
        RefresherHandle {
            shared,
            task: task.abort_handle(),
        }
    }
}

/// Which alarms a cycle reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selection {
    All,
    Fresh,
}

struct Refresher {
    region: String,
    /// Its error counts (removed when the refresher stops).
    series: SourceSeries,
    shared: Arc<Shared>,
    api: Arc<dyn DescribeAlarmsApi>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

/// What a successful call found.
#[derive(Default)]
struct Found {
    alarms: HashMap<String, FetchedAlarm>,
    composite: HashSet<String>,
}

impl Refresher {
    async fn run(self) {
        let mut failures = 0u32;
        let mut last_full = Instant::now();
        let mut next_full = last_full + self.shared.interval();
        loop {
            let selection = tokio::select! {
                () = tokio::time::sleep_until(next_full) => Selection::All,
                () = self.shared.wake.notified() => {
                    tokio::time::sleep(DEBOUNCE).await;
                    if failures > 0 {
                        // Backing off: the new alarms wait for the next attempt.
                        continue;
                    }
                    next_full = next_full.min(last_full + self.shared.interval());
                    Selection::Fresh
                }
            };
            let failed = self.cycle(selection).await;
            let now = Instant::now();
            if failed {
                failures = failures.saturating_add(1);
                next_full = now + backoff(self.shared.interval(), failures, fastrand::f64());
            } else if selection == Selection::All {
                failures = 0;
                last_full = now;
                next_full = now + self.shared.interval();
            }
        }
    }

    /// Reads the selected alarms and updates their feeds; true when a call failed.
    async fn cycle(&self, selection: Selection) -> bool {
        let names: Vec<String> = self
            .shared
            .alarms()
            .iter_mut()
            .filter(|(_, w)| selection == Selection::All || w.fresh)
            .map(|(name, w)| {
                w.fresh = false;
                name.clone()
            })
            .collect();
        if names.is_empty() {
            return false;
        }
        let chunks: Vec<&[String]> = names.chunks(MAX_NAMES_PER_CALL).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            match self.fetch(chunk).await {
                Ok(found) => self.deliver(chunk, found),
                Err(error) => {
                    self.series.failed(error.kind());
                    warn!(region = %self.region, %error, "DescribeAlarms failed; the alarms' last definitions stay in service.");
                    let message = format!("DescribeAlarms failed: {error}");
                    let alarms = self.shared.alarms();
                    for name in chunks[i..].iter().flat_map(|c| c.iter()) {
                        if let Some(watched) = alarms.get(name) {
                            fail(watched, &message);
                        }
                    }
                    return true;
                }
            }
        }
        debug!(region = %self.region, alarms = names.len(), "CloudWatch alarms read.");
        false
    }

    /// One call (all its pages) for `names`.
    async fn fetch(&self, names: &[String]) -> Result<Found, SourceError> {
        let mut request = AlarmsRequest {
            names: names.to_vec(),
            next_token: None,
        };
        let mut found = Found::default();
        for _ in 0..MAX_PAGES {
            self.metrics
                .aws_api_calls
                .get_or_create(&AwsCallLabels {
                    service: "cloudwatch",
                    operation: "DescribeAlarms",
                })
                .inc();
            let page = match tokio::time::timeout(CALL_TIMEOUT, self.api.describe_alarms(&request))
                .await
            {
                Ok(Ok(page)) => page,
                Ok(Err(error)) => return Err(error.error),
                Err(_) => return Err(SourceError::Timeout(CALL_TIMEOUT.as_secs())),
            };
            for alarm in page.alarms {
                found
                    .alarms
                    .insert(alarm.definition.alarm_name.clone(), alarm);
            }
            found.composite.extend(page.composite);
            match page.next_token {
                Some(token) => request.next_token = Some(token),
                None => break,
            }
        }
        Ok(found)
    }

    fn deliver(&self, names: &[String], mut found: Found) {
        let now = self.clock.now();
        let alarms = self.shared.alarms();
        for name in names {
            // Unregistered meanwhile.
            let Some(watched) = alarms.get(name) else {
                continue;
            };
            match found.alarms.remove(name) {
                Some(fetched) => {
                    watched.feed.send_if_modified(|feed| {
                        let new_definition =
                            feed.definition.as_deref() != Some(&fetched.definition);
                        let changed = new_definition
                            || feed.state != Some(fetched.state)
                            || feed.last_error.is_some();
                        if new_definition {
                            if feed.definition.is_some() {
                                info!(alarm = %name, region = %self.region, "CloudWatch alarm definition changed.");
                            }
                            feed.definition = Some(Arc::new(fetched.definition));
                        }
                        feed.state = Some(fetched.state);
                        feed.last_success = Some(now);
                        feed.last_error = None;
                        changed
                    });
                }
                None => {
                    let message = if found.composite.contains(name) {
                        format!(
                            "`{name}` is a composite alarm: only metric alarms can invoke a step \
                             scaling policy here"
                        )
                    } else {
                        format!("CloudWatch has no alarm named `{name}` in {}", self.region)
                    };
                    fail(watched, &message);
                }
            }
        }
    }
}

/// Records a failed read of an alarm (its last definition stays).
fn fail(watched: &Watched, message: &str) {
    watched.feed.send_if_modified(|feed| {
        let changed = feed.last_error.as_deref() != Some(message);
        if changed {
            warn!(error = %message, "CloudWatch alarm not read.");
            feed.last_error = Some(message.to_owned());
        }
        changed
    });
}

#[cfg(test)]
mod tests;
