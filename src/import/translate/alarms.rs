//! CloudWatch alarms: which ones invoke a scaling policy, and each one as an alarm of the
//! policy set evaluated by the scaler (spec B.7).
//!
//! Input: a policy's `Alarms` (names) and `describe-alarms` (`MetricAlarms`); without names, the
//! alarms whose `AlarmActions` name the policy's ARN. Output: `spec.alarms` entries (M of N,
//! operator, threshold, `TreatMissingData`) over `cloudwatch` metrics (shared by alarms on the
//! same metric), one report row per alarm. Errors (a `String` for the policy's row): the alarms
//! could not be read, or an alarm has no equivalent (anomaly detection band, unknown operator
//! or `TreatMissingData`, a missing field, an invalid period).

use std::collections::BTreeSet;

use serde_json::json;

use super::ServiceBuilder;
use super::metrics::{
    cloudwatch_source, describe_dimensions, dimensions_json, math_fields, resolve_math,
    simple_statistic,
};
use super::rows::num;
use crate::import::aws::{Metric, MetricAlarm, MetricStat, ScalingPolicy};
use crate::import::report::Status;
use crate::policy::document::{AlarmSpec, ComparisonOperator, MetricSpec, TreatMissingData};
use crate::policy::validate::is_valid_period;

/// Whether an alarm action invokes the policy `policy_arn` (target tracking alarms add
/// `:createdBy/<uuid>`).
fn invokes(action: &str, policy_arn: &str) -> bool {
    action == policy_arn
        || action
            .strip_prefix(policy_arn)
            .is_some_and(|rest| rest.starts_with(':'))
}

fn operator_symbol(operator: ComparisonOperator) -> &'static str {
    match operator {
        ComparisonOperator::GreaterThanOrEqualToThreshold => ">=",
        ComparisonOperator::GreaterThanThreshold => ">",
        ComparisonOperator::LessThanThreshold => "<",
        ComparisonOperator::LessThanOrEqualToThreshold => "<=",
    }
}

/// The alarms that invoke a scaling policy, as `describe-alarms` has them.
#[derive(Debug, Default)]
pub(super) struct InvokingAlarms<'a> {
    /// The alarms found: those the policy lists, or those whose actions name it.
    pub(super) found: Vec<&'a MetricAlarm>,
    /// The alarms the policy lists that `describe-alarms` does not have: deleted (they never
    /// invoke it again).
    pub(super) deleted: Vec<String>,
}

/// `a`, `b` as `` `a`, `b` ``.
pub(super) fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a> ServiceBuilder<'a> {
    /// The alarms that invoke `policy`: those it lists, else those whose actions name it.
    /// `Err` when `describe-alarms` could not be read.
    pub(super) fn resolve_alarms(
        &self,
        policy: &ScalingPolicy,
    ) -> Result<InvokingAlarms<'a>, String> {
        let listed: Vec<&str> = policy
            .alarms
            .iter()
            .map(|a| a.alarm_name.as_str())
            .collect();
        let all = match &self.input.alarms {
            Ok(all) => all,
            Err(reason) if listed.is_empty() => {
                return Err(format!("the alarms invoking it are unknown: {reason}"));
            }
            Err(reason) => {
                return Err(format!(
                    "its alarm(s) `{}` are unresolved: {reason}",
                    listed.join("`, `")
                ));
            }
        };
        let mut alarms = InvokingAlarms::default();
        if !listed.is_empty() {
            for name in listed {
                match all.iter().find(|a| a.alarm_name == name) {
                    Some(alarm) => alarms.found.push(alarm),
                    None => alarms.deleted.push(name.to_owned()),
                }
            }
        } else if !policy.policy_arn.is_empty() {
            alarms.found = all
                .iter()
                .filter(|alarm| {
                    alarm
                        .alarm_actions
                        .iter()
                        .any(|action| invokes(action, &policy.policy_arn))
                })
                .collect();
        }
        Ok(alarms)
    }

    /// Adds `alarm` and its metric (once) and reports it; its key in `spec.alarms`.
    pub(super) fn alarm(&mut self, alarm: &MetricAlarm) -> Result<String, String> {
        if let Some(key) = self.alarm_keys.get(&alarm.alarm_name) {
            return Ok(key.clone());
        }
        if alarm.threshold_metric_id.is_some() {
            return Err(
                "it compares with an anomaly detection band, which has no equivalent".to_owned(),
            );
        }
        let operator = match alarm.comparison_operator.as_deref() {
            Some("GreaterThanOrEqualToThreshold") => {
                ComparisonOperator::GreaterThanOrEqualToThreshold
            }
            Some("GreaterThanThreshold") => ComparisonOperator::GreaterThanThreshold,
            Some("LessThanThreshold") => ComparisonOperator::LessThanThreshold,
            Some("LessThanOrEqualToThreshold") => ComparisonOperator::LessThanOrEqualToThreshold,
            Some(other) => return Err(format!("operator `{other}` has no equivalent")),
            None => return Err("it has no ComparisonOperator".to_owned()),
        };
        let threshold = alarm.threshold.ok_or("it has no Threshold")?;
        let evaluation_periods = alarm
            .evaluation_periods
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or("it has no valid EvaluationPeriods")?;
        let datapoints_to_alarm = alarm
            .datapoints_to_alarm
            .map(|m| {
                u32::try_from(m).map_err(|_| "DatapointsToAlarm is negative or above 4294967295")
            })
            .transpose()?;
        let treat_missing_data = match alarm.treat_missing_data.as_deref() {
            None | Some("missing") => TreatMissingData::Missing,
            Some("notBreaching") => TreatMissingData::NotBreaching,
            Some("breaching") => TreatMissingData::Breaching,
            Some("ignore") => TreatMissingData::Ignore,
            Some(other) => return Err(format!("TreatMissingData `{other}` is unknown")),
        };
        let mut approximations = Vec::new();
        let (fields, period, statistic, description, ecs_warning) = if alarm.metrics.is_empty() {
            let namespace = alarm.namespace.clone().ok_or("it has no Namespace")?;
            let metric_name = alarm.metric_name.clone().ok_or("it has no MetricName")?;
            let stat = alarm
                .statistic
                .clone()
                .or_else(|| alarm.extended_statistic.clone())
                .ok_or("it has no Statistic")?;
            if alarm.extended_statistic.is_some()
                && alarm.evaluate_low_sample_count_percentile.as_deref() == Some("ignore")
            {
                approximations.push(
                    "EvaluateLowSampleCountPercentile `ignore` is not reproduced: periods with \
                     too few samples for the percentile are evaluated"
                        .to_owned(),
                );
            }
            let mut fields = json!({
                "namespace": namespace,
                "metricName": metric_name,
                "stat": stat,
            });
            if !alarm.dimensions.is_empty() {
                fields["dimensions"] = dimensions_json(&alarm.dimensions);
            }
            if let Some(unit) = &alarm.unit {
                fields["unit"] = json!(unit);
            }
            let description = format!(
                "{namespace} {metric_name}{} {stat}",
                describe_dimensions(&alarm.dimensions)
            );
            let warning = self
                .ecs_service_metric(&alarm.dimensions, Some(&namespace))
                .then(|| {
                    self.ecs_metric_warning(std::iter::once(&MetricStat {
                        metric: Metric {
                            namespace: Some(namespace.clone()),
                            metric_name: Some(metric_name.clone()),
                            dimensions: alarm.dimensions.clone(),
                        },
                        stat: stat.clone(),
                        unit: None,
                        period: None,
                    }))
                })
                .flatten();
            (
                fields,
                alarm.period,
                simple_statistic(&stat),
                description,
                warning,
            )
        } else {
            let math = resolve_math(&alarm.metrics)?;
            let periods: BTreeSet<i64> = math.inputs.values().filter_map(|s| s.period).collect();
            if periods.len() > 1 {
                approximations.push(format!(
                    "its inputs have different periods ({:?} s); all are fetched at the \
                     alarm's period",
                    periods
                ));
            }
            let warning = self.ecs_metric_warning(math.inputs.values());
            let (fields, description, statistic) = math_fields(&math);
            (fields, math.period, statistic, description, warning)
        };
        let period = period
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| is_valid_period(*p))
            .ok_or("it has no valid Period (10, 20, 30 or a multiple of 60 seconds)")?;
        let mut fields = self.with_region(fields);
        fields["period"] = json!(period);
        let source = cloudwatch_source(fields)?;
        let preferred = match (&alarm.metric_name, alarm.metrics.is_empty()) {
            (Some(metric_name), true) => metric_name.clone(),
            _ => alarm.alarm_name.clone(),
        };
        let metric = self.add_metric(&preferred, MetricSpec::CloudWatch(Box::new(source)));
        let key = Self::unique_key(&self.alarms, &alarm.alarm_name);
        self.alarms.insert(
            key.clone(),
            AlarmSpec {
                metric: metric.clone(),
                alarm_name: Some(alarm.alarm_name.clone()),
                statistic,
                comparison_operator: operator,
                threshold,
                evaluation_periods,
                datapoints_to_alarm,
                treat_missing_data,
                per_task: false,
            },
        );
        self.alarm_keys
            .insert(alarm.alarm_name.clone(), key.clone());
        let m = datapoints_to_alarm.unwrap_or(evaluation_periods);
        let setting = format!(
            "alarm `{}` ({description} {} {}, {m} of {evaluation_periods} x {period} s, missing \
             data: {})",
            alarm.alarm_name,
            operator_symbol(operator),
            num(threshold),
            alarm.treat_missing_data.as_deref().unwrap_or("missing")
        );
        let status = match ecs_warning {
            Some(warning) => Status::Decide(warning),
            None if !approximations.is_empty() => Status::Approximate(approximations.join("; ")),
            None => Status::Exact,
        };
        self.report.push(
            setting,
            format!(
                "spec.alarms.{key}, evaluated by the scaler on the cloudwatch metric \
                 spec.metrics.{metric}"
            ),
            status,
        );
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:autoscaling:us-east-1:111122223333:scalingPolicy:abc:resource/ecs/service/c/web:policyName/out";

    #[test]
    fn an_alarm_action_invokes_the_policy_of_its_arn() {
        assert!(invokes(ARN, ARN));
        assert!(invokes(&format!("{ARN}:createdBy/1234"), ARN));
        assert!(!invokes(&format!("{ARN}-fast"), ARN));
    }
}
