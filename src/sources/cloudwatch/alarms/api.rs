//! The `DescribeAlarms` call, behind a trait so that the refresher can be tested without AWS.
//!
//! [`SdkAlarmsApi`] calls CloudWatch with `aws-sdk-cloudwatch` (one client per identity, the
//! SDK's own retries off: the refresher backs off and counts every call) and turns each
//! `MetricAlarm` into an [`AlarmDefinition`] and its state. Errors are the GetMetricData
//! source's [`CallError`]s.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_sdk_cloudwatch::types::{AlarmType, MetricAlarm, StateValue};

use super::{AlarmDefinition, AlarmQuery, AlarmStat, FetchedAlarm};
use crate::alarm_model::AlarmState;
use crate::sources::aws::{AwsConfigs, AwsIdentity};
use crate::sources::cloudwatch::api::{CallError, LazyClient, call_error};

/// CloudWatch's limit on `AlarmNames` per `DescribeAlarms` call (and on `MaxRecords`).
pub const MAX_NAMES_PER_CALL: usize = 100;

/// One `DescribeAlarms` request (one page of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmsRequest {
    /// The alarm names, at most [`MAX_NAMES_PER_CALL`].
    pub names: Vec<String>,
    /// The token of the page to read, after the first.
    pub next_token: Option<String>,
}

/// One page of an answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlarmsPage {
    /// The metric alarms found.
    pub alarms: Vec<FetchedAlarm>,
    /// The names of composite alarms found (they have no metric to evaluate).
    pub composite: Vec<String>,
    /// Where the next page starts, if there is one.
    pub next_token: Option<String>,
}

/// The future a call returns.
pub type AlarmsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AlarmsPage, CallError>> + Send + 'a>>;

/// Something that answers `DescribeAlarms`.
pub trait DescribeAlarmsApi: Send + Sync + 'static {
    /// Reads one page.
    fn describe_alarms<'a>(&'a self, request: &'a AlarmsRequest) -> AlarmsFuture<'a>;
}

/// Makes the API of an identity (a real client, or a fake in tests).
pub type AlarmsApiFactory = Arc<dyn Fn(&AwsIdentity) -> Arc<dyn DescribeAlarmsApi> + Send + Sync>;

/// The factory of real clients, sharing `configs`.
pub fn sdk_factory(configs: Arc<AwsConfigs>) -> AlarmsApiFactory {
    Arc::new(move |identity: &AwsIdentity| {
        Arc::new(SdkAlarmsApi {
            client: LazyClient::new(identity, &configs),
        }) as Arc<dyn DescribeAlarmsApi>
    })
}

/// `DescribeAlarms` through `aws-sdk-cloudwatch`.
pub struct SdkAlarmsApi {
    client: LazyClient,
}

impl SdkAlarmsApi {
    /// `DescribeAlarms` through a client configured elsewhere (an emulator with fixed
    /// credentials in tests).
    pub fn from_client(client: aws_sdk_cloudwatch::Client) -> Self {
        Self {
            client: LazyClient::from_client(client),
        }
    }

    async fn call(&self, request: &AlarmsRequest) -> Result<AlarmsPage, CallError> {
        let output = self
            .client
            .get()
            .await
            .describe_alarms()
            .set_alarm_names(Some(request.names.clone()))
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .max_records(MAX_NAMES_PER_CALL as i32)
            .set_next_token(request.next_token.clone())
            .send()
            .await
            .map_err(call_error)?;
        Ok(AlarmsPage {
            alarms: output.metric_alarms().iter().map(fetched).collect(),
            composite: output
                .composite_alarms()
                .iter()
                .filter_map(|a| a.alarm_name().map(str::to_owned))
                .collect(),
            next_token: output.next_token().map(str::to_owned),
        })
    }
}

impl DescribeAlarmsApi for SdkAlarmsApi {
    fn describe_alarms<'a>(&'a self, request: &'a AlarmsRequest) -> AlarmsFuture<'a> {
        Box::pin(self.call(request))
    }
}

fn dimensions(dimensions: &[aws_sdk_cloudwatch::types::Dimension]) -> BTreeMap<String, String> {
    dimensions
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().to_owned(),
                d.value().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The definition and state of a `MetricAlarm`.
pub fn fetched(alarm: &MetricAlarm) -> FetchedAlarm {
    let definition = AlarmDefinition {
        alarm_name: alarm.alarm_name().unwrap_or_default().to_owned(),
        namespace: alarm.namespace().map(str::to_owned),
        metric_name: alarm.metric_name().map(str::to_owned),
        dimensions: dimensions(alarm.dimensions()),
        statistic: alarm.statistic().map(|s| s.as_str().to_owned()),
        extended_statistic: alarm.extended_statistic().map(str::to_owned),
        period: alarm.period(),
        unit: alarm.unit().map(|u| u.as_str().to_owned()),
        metrics: alarm
            .metrics()
            .iter()
            .map(|query| AlarmQuery {
                id: query.id().unwrap_or_default().to_owned(),
                expression: query.expression().map(str::to_owned),
                metric: query.metric_stat().map(|stat| AlarmStat {
                    namespace: stat
                        .metric()
                        .and_then(|m| m.namespace())
                        .unwrap_or_default()
                        .to_owned(),
                    metric_name: stat
                        .metric()
                        .and_then(|m| m.metric_name())
                        .unwrap_or_default()
                        .to_owned(),
                    dimensions: stat
                        .metric()
                        .map(|m| dimensions(m.dimensions()))
                        .unwrap_or_default(),
                    stat: stat.stat().unwrap_or_default().to_owned(),
                    unit: stat.unit().map(|u| u.as_str().to_owned()),
                    period: stat.period(),
                }),
                period: query.period(),
                return_data: query.return_data(),
                account_id: query.account_id().map(str::to_owned),
            })
            .collect(),
        threshold: alarm.threshold(),
        threshold_metric_id: alarm.threshold_metric_id().map(str::to_owned),
        comparison_operator: alarm.comparison_operator().map(|o| o.as_str().to_owned()),
        evaluation_periods: alarm.evaluation_periods(),
        datapoints_to_alarm: alarm.datapoints_to_alarm(),
        treat_missing_data: alarm.treat_missing_data().map(str::to_owned),
        promql: alarm.evaluation_criteria().is_some(),
        wall_clock_window: alarm
            .evaluation_window()
            .is_some_and(|w| !w.is_sliding_window()),
    };
    let state = match alarm.state_value() {
        Some(StateValue::Alarm) => AlarmState::Alarm,
        Some(StateValue::Ok) => AlarmState::Ok,
        _ => AlarmState::InsufficientData,
    };
    FetchedAlarm { definition, state }
}
