//! The live path: the same data as the CLI files, read with the AWS SDK.
//!
//! `DescribeScalableTargets` (every ECS service of the cluster, or the `--service`s),
//! `DescribeScalingPolicies` and `DescribeScheduledActions` per service, all paginated; then
//! CloudWatch `DescribeAlarms` for every alarm a policy names; when a step scaling policy names
//! none (AWS lists them, emulators may not), every alarm, and the translation finds those whose
//! actions invoke the policy. The answers are converted into the structs of [`super::aws`], so the
//! translation cannot tell a live import from a file import. A CloudWatch failure does not stop
//! the import: the alarms are then reported as unresolved.
//!
//! Endpoints: `--endpoint-url` for every call, or per service with the SDK's
//! `AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING` and `AWS_ENDPOINT_URL_CLOUDWATCH`.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write as _};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_applicationautoscaling::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_applicationautoscaling::types as aas;
use aws_sdk_cloudwatch::types as cw;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use chrono::TimeZone;

use super::aws::{
    AlarmRef, AwsInput, CustomizedMetric, Dimension, Metric, MetricAlarm, MetricQuery, MetricStat,
    PredefinedMetric, PredictiveScalingConfiguration, ScalableTarget, ScalableTargetAction,
    ScalingPolicy, ScheduledAction, StepAdjustment, StepScalingConfiguration, SuspendedState,
    TargetTrackingConfiguration, Timestamp,
};
use crate::sources::aws::{AwsConfigs, AwsIdentity, describe_error};

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    /// The ECS cluster.
    pub cluster: String,
    /// Its services to import (empty: every scalable service).
    pub services: Vec<String>,
    /// Region.
    pub region: Option<String>,
    /// Endpoint URL of every call.
    pub endpoint_url: Option<String>,
    /// Named profile.
    pub profile: Option<String>,
    /// Bound of each AWS operation, its retries included.
    pub timeout: Duration,
}

/// `DescribeScalableTargets` takes at most this many resource ids per call.
const RESOURCE_IDS_PER_CALL: usize = 50;
/// `DescribeAlarms` takes at most this many alarm names per call.
const ALARM_NAMES_PER_CALL: usize = 100;
/// Show progress from this many services on (when stderr is a terminal).
const PROGRESS_FROM: usize = 5;

/// The SDK configuration of the import: [`sdk_config`] with every operation bounded by
/// `--timeout` (the SDK itself waits for an answer without end).
async fn config(options: &LiveOptions) -> SdkConfig {
    sdk_config(options)
        .await
        .into_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(options.timeout)
                .build(),
        )
        .build()
}

async fn sdk_config(options: &LiveOptions) -> SdkConfig {
    let identity = AwsIdentity {
        aws_region: options.region.clone(),
        aws_endpoint: options.endpoint_url.clone(),
        ..AwsIdentity::default()
    };
    let Some(profile) = &options.profile else {
        return AwsConfigs::new().get(&identity).await;
    };
    // A named profile: the same client as the sources use, with the profile's credentials and
    // region (an explicit region or endpoint still wins).
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .profile_name(profile);
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint.clone());
    }
    loader.load().await
}

/// Every item of every page of `$request` (an SDK operation's builder; the operations share no
/// trait, hence a macro); an error names `$operation`.
macro_rules! all_items {
    ($request:expr, $operation:literal) => {
        $request
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| error($operation, e))
    };
}

fn error<E, R>(operation: &str, error: SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    format!("{operation}: {}", describe_error(&error))
}

/// Reads the cluster's scaling configuration; also notes for the report (services without a
/// scalable target).
pub async fn fetch(options: &LiveOptions) -> Result<(AwsInput, Vec<String>), String> {
    let config = config(options).await;
    let aas = aws_sdk_applicationautoscaling::Client::new(&config);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let mut notes = Vec::new();

    let prefix = format!("service/{}/", options.cluster);
    let wanted: Vec<String> = options
        .services
        .iter()
        .map(|service| format!("{prefix}{service}"))
        .collect();
    let mut targets = Vec::new();
    let chunks: Vec<Option<Vec<String>>> = if wanted.is_empty() {
        vec![None]
    } else {
        wanted
            .chunks(RESOURCE_IDS_PER_CALL)
            .map(|chunk| Some(chunk.to_vec()))
            .collect()
    };
    for resource_ids in chunks {
        let found = all_items!(
            aas.describe_scalable_targets()
                .service_namespace(aas::ServiceNamespace::Ecs)
                .scalable_dimension(aas::ScalableDimension::EcsServiceDesiredCount)
                .set_resource_ids(resource_ids),
            "DescribeScalableTargets"
        )?;
        targets.extend(
            found
                .iter()
                .filter(|t| t.resource_id().starts_with(&prefix))
                .map(convert_target),
        );
    }
    targets.sort_by(|a, b| a.resource_id.cmp(&b.resource_id));
    targets.dedup_by(|a, b| a.resource_id == b.resource_id);
    for id in &wanted {
        if !targets.iter().any(|t| &t.resource_id == id) {
            notes.push(format!(
                "{id} has no scalable target: Application Auto Scaling does not scale it"
            ));
        }
    }

    let progress = targets.len() >= PROGRESS_FROM && std::io::stderr().is_terminal();
    let mut policies = Vec::new();
    let mut actions = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        if progress {
            eprint!(
                "\r\x1b[Kimporting {}/{}: {}",
                i + 1,
                targets.len(),
                target.resource_id
            );
            let _ = std::io::stderr().flush();
        }
        let found = all_items!(
            aas.describe_scaling_policies()
                .service_namespace(aas::ServiceNamespace::Ecs)
                .resource_id(&target.resource_id)
                .scalable_dimension(aas::ScalableDimension::EcsServiceDesiredCount),
            "DescribeScalingPolicies"
        )?;
        policies.extend(found.iter().map(convert_policy));
        let found = all_items!(
            aas.describe_scheduled_actions()
                .service_namespace(aas::ServiceNamespace::Ecs)
                .resource_id(&target.resource_id)
                .scalable_dimension(aas::ScalableDimension::EcsServiceDesiredCount),
            "DescribeScheduledActions"
        )?;
        actions.extend(found.iter().map(convert_action));
    }
    if progress {
        eprintln!("\r\x1b[Kimported {} services", targets.len());
    }

    let alarms = alarms(&cloudwatch, &policies).await;
    Ok((
        AwsInput {
            scalable_targets: targets,
            scaling_policies: policies,
            scheduled_actions: actions,
            alarms,
        },
        notes,
    ))
}

/// The alarms the policies name and, when a step scaling policy names none (AWS lists them;
/// emulators may not), every alarm, so that those invoking it are found through their actions.
async fn alarms(
    client: &aws_sdk_cloudwatch::Client,
    policies: &[ScalingPolicy],
) -> Result<Vec<MetricAlarm>, String> {
    let names: BTreeSet<String> = policies
        .iter()
        .flat_map(|p| p.alarms.iter().map(|a| a.alarm_name.clone()))
        .collect();
    let list_all = policies
        .iter()
        .any(|p| p.policy_type == "StepScaling" && p.alarms.is_empty());
    let names: Vec<String> = names.into_iter().collect();
    let requests: Vec<Option<Vec<String>>> = if list_all {
        vec![None]
    } else {
        names
            .chunks(ALARM_NAMES_PER_CALL)
            .map(|chunk| Some(chunk.to_vec()))
            .collect()
    };
    let mut found: Vec<MetricAlarm> = Vec::new();
    for alarm_names in requests {
        let pages = client
            .describe_alarms()
            .set_alarm_names(alarm_names)
            .alarm_types(cw::AlarmType::MetricAlarm)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| {
                format!(
                    "{} (step scaling needs the definitions of its alarms)",
                    error("CloudWatch DescribeAlarms", e)
                )
            })?;
        for alarm in pages.iter().flat_map(|page| page.metric_alarms()) {
            let alarm = convert_alarm(alarm);
            if !found.iter().any(|a| a.alarm_name == alarm.alarm_name) {
                found.push(alarm);
            }
        }
    }
    found.sort_by(|a, b| a.alarm_name.cmp(&b.alarm_name));
    Ok(found)
}

fn timestamp(time: &aws_sdk_applicationautoscaling::primitives::DateTime) -> Option<Timestamp> {
    chrono::Utc
        .timestamp_opt(time.secs(), time.subsec_nanos())
        .single()
        .map(Timestamp)
}

fn convert_target(target: &aas::ScalableTarget) -> ScalableTarget {
    ScalableTarget {
        service_namespace: target.service_namespace().as_str().to_owned(),
        resource_id: target.resource_id().to_owned(),
        scalable_dimension: target.scalable_dimension().as_str().to_owned(),
        min_capacity: i64::from(target.min_capacity()),
        max_capacity: i64::from(target.max_capacity()),
        suspended_state: target.suspended_state().map(|s| SuspendedState {
            dynamic_scaling_in_suspended: s.dynamic_scaling_in_suspended(),
            dynamic_scaling_out_suspended: s.dynamic_scaling_out_suspended(),
            scheduled_scaling_suspended: s.scheduled_scaling_suspended(),
        }),
        scalable_target_arn: target.scalable_target_arn().map(str::to_owned),
        creation_time: timestamp(target.creation_time()),
    }
}

fn convert_policy(policy: &aas::ScalingPolicy) -> ScalingPolicy {
    ScalingPolicy {
        policy_arn: policy.policy_arn().to_owned(),
        policy_name: policy.policy_name().to_owned(),
        service_namespace: policy.service_namespace().as_str().to_owned(),
        resource_id: policy.resource_id().to_owned(),
        scalable_dimension: policy.scalable_dimension().as_str().to_owned(),
        policy_type: policy.policy_type().as_str().to_owned(),
        step_scaling_policy_configuration: policy.step_scaling_policy_configuration().map(|c| {
            StepScalingConfiguration {
                adjustment_type: c.adjustment_type().map(|t| t.as_str().to_owned()),
                step_adjustments: c
                    .step_adjustments()
                    .iter()
                    .map(|s| StepAdjustment {
                        metric_interval_lower_bound: s.metric_interval_lower_bound(),
                        metric_interval_upper_bound: s.metric_interval_upper_bound(),
                        scaling_adjustment: i64::from(s.scaling_adjustment()),
                    })
                    .collect(),
                min_adjustment_magnitude: c.min_adjustment_magnitude().map(i64::from),
                cooldown: c.cooldown().map(i64::from),
                metric_aggregation_type: c.metric_aggregation_type().map(|t| t.as_str().to_owned()),
            }
        }),
        target_tracking_scaling_policy_configuration: policy
            .target_tracking_scaling_policy_configuration()
            .map(|c| TargetTrackingConfiguration {
                target_value: c.target_value(),
                predefined_metric_specification: c.predefined_metric_specification().map(|p| {
                    PredefinedMetric {
                        predefined_metric_type: p.predefined_metric_type().as_str().to_owned(),
                        resource_label: p.resource_label().map(str::to_owned),
                    }
                }),
                customized_metric_specification: c.customized_metric_specification().map(|m| {
                    CustomizedMetric {
                        metric_name: m.metric_name().map(str::to_owned),
                        namespace: m.namespace().map(str::to_owned),
                        dimensions: m
                            .dimensions()
                            .iter()
                            .map(|d| Dimension {
                                name: d.name().to_owned(),
                                value: d.value().to_owned(),
                            })
                            .collect(),
                        statistic: m.statistic().map(|s| s.as_str().to_owned()),
                        unit: m.unit().map(str::to_owned),
                        metrics: m.metrics().iter().map(convert_tt_query).collect(),
                    }
                }),
                scale_out_cooldown: c.scale_out_cooldown().map(i64::from),
                scale_in_cooldown: c.scale_in_cooldown().map(i64::from),
                disable_scale_in: c.disable_scale_in(),
            }),
        predictive_scaling_policy_configuration: policy
            .predictive_scaling_policy_configuration()
            .map(|c| PredictiveScalingConfiguration {
                mode: c.mode().map(|m| m.as_str().to_owned()),
            }),
        alarms: policy
            .alarms()
            .iter()
            .map(|a| AlarmRef {
                alarm_name: a.alarm_name().to_owned(),
                alarm_arn: a.alarm_arn().to_owned(),
            })
            .collect(),
        creation_time: timestamp(policy.creation_time()),
    }
}

fn convert_tt_query(query: &aas::TargetTrackingMetricDataQuery) -> MetricQuery {
    MetricQuery {
        id: query.id().to_owned(),
        expression: query.expression().map(str::to_owned),
        metric_stat: query.metric_stat().map(|stat| MetricStat {
            metric: Metric {
                namespace: stat.metric().and_then(|m| m.namespace()).map(str::to_owned),
                metric_name: stat
                    .metric()
                    .and_then(|m| m.metric_name())
                    .map(str::to_owned),
                dimensions: stat
                    .metric()
                    .map(|m| m.dimensions())
                    .unwrap_or_default()
                    .iter()
                    .map(|d| Dimension {
                        name: d.name().to_owned(),
                        value: d.value().to_owned(),
                    })
                    .collect(),
            },
            stat: stat.stat().to_owned(),
            unit: stat.unit().map(str::to_owned),
            period: None,
        }),
        label: query.label().map(str::to_owned),
        return_data: query.return_data(),
        period: None,
        account_id: None,
    }
}

fn convert_action(action: &aas::ScheduledAction) -> ScheduledAction {
    ScheduledAction {
        scheduled_action_name: action.scheduled_action_name().to_owned(),
        service_namespace: action.service_namespace().as_str().to_owned(),
        schedule: action.schedule().to_owned(),
        timezone: action.timezone().map(str::to_owned),
        resource_id: action.resource_id().to_owned(),
        scalable_dimension: action.scalable_dimension().map(|d| d.as_str().to_owned()),
        start_time: action.start_time().and_then(timestamp),
        end_time: action.end_time().and_then(timestamp),
        scalable_target_action: action
            .scalable_target_action()
            .map(|a| ScalableTargetAction {
                min_capacity: a.min_capacity().map(i64::from),
                max_capacity: a.max_capacity().map(i64::from),
            }),
        creation_time: timestamp(action.creation_time()),
    }
}

fn convert_dimensions(dimensions: &[cw::Dimension]) -> Vec<Dimension> {
    dimensions
        .iter()
        .map(|d| Dimension {
            name: d.name().unwrap_or_default().to_owned(),
            value: d.value().unwrap_or_default().to_owned(),
        })
        .collect()
}

fn convert_alarm(alarm: &cw::MetricAlarm) -> MetricAlarm {
    MetricAlarm {
        alarm_name: alarm.alarm_name().unwrap_or_default().to_owned(),
        alarm_arn: alarm.alarm_arn().map(str::to_owned),
        actions_enabled: alarm.actions_enabled(),
        alarm_actions: alarm.alarm_actions().to_vec(),
        metric_name: alarm.metric_name().map(str::to_owned),
        namespace: alarm.namespace().map(str::to_owned),
        statistic: alarm.statistic().map(|s| s.as_str().to_owned()),
        extended_statistic: alarm.extended_statistic().map(str::to_owned),
        dimensions: convert_dimensions(alarm.dimensions()),
        period: alarm.period().map(i64::from),
        unit: alarm.unit().map(|u| u.as_str().to_owned()),
        evaluation_periods: alarm.evaluation_periods().map(i64::from),
        datapoints_to_alarm: alarm.datapoints_to_alarm().map(i64::from),
        threshold: alarm.threshold(),
        comparison_operator: alarm.comparison_operator().map(|o| o.as_str().to_owned()),
        treat_missing_data: alarm.treat_missing_data().map(str::to_owned),
        evaluate_low_sample_count_percentile: alarm
            .evaluate_low_sample_count_percentile()
            .map(str::to_owned),
        metrics: alarm
            .metrics()
            .iter()
            .map(|query| MetricQuery {
                id: query.id().unwrap_or_default().to_owned(),
                expression: query.expression().map(str::to_owned),
                metric_stat: query.metric_stat().map(|stat| MetricStat {
                    metric: Metric {
                        namespace: stat.metric().and_then(|m| m.namespace()).map(str::to_owned),
                        metric_name: stat
                            .metric()
                            .and_then(|m| m.metric_name())
                            .map(str::to_owned),
                        dimensions: convert_dimensions(
                            stat.metric().map(|m| m.dimensions()).unwrap_or_default(),
                        ),
                    },
                    stat: stat.stat().unwrap_or_default().to_owned(),
                    unit: stat.unit().map(|u| u.as_str().to_owned()),
                    period: stat.period().map(i64::from),
                }),
                label: query.label().map(str::to_owned),
                return_data: query.return_data(),
                period: query.period().map(i64::from),
                account_id: query.account_id().map(str::to_owned),
            })
            .collect(),
        threshold_metric_id: alarm.threshold_metric_id().map(str::to_owned),
    }
}
