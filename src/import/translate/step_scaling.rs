//! Step scaling policies (spec B.1, B.2).
//!
//! Input: a `StepScaling` policy (`StepScalingPolicyConfiguration`: adjustment type, steps,
//! cooldown, `MetricAggregationType`, `MinAdjustmentMagnitude`) and the alarms that invoke it.
//! Output: one `spec.policies` entry per alarm whose actions are enabled (the first under the
//! policy's name, the others as `<policy>-<alarm>`), each on its alarm, and the policy's report
//! row before its alarms' rows. Errors become the row's `decide`: an unknown adjustment or
//! aggregation type, a value out of range, alarms that could not be read or translated.

use std::fmt::Write as _;

use super::alarms::{InvokingAlarms, quoted};
use super::rows::num;
use super::{DEFAULT_COOLDOWN, ServiceBuilder};
use crate::import::aws::{ScalingPolicy, StepScalingConfiguration};
use crate::import::report::Status;
use crate::policy::document::{
    AdjustmentType, MetricAggregationType, PolicySpec, StepAdjustmentSpec, StepScalingSpec,
};

fn describe_steps(config: &StepScalingConfiguration, adjustment: &str) -> String {
    let steps: Vec<String> = config
        .step_adjustments
        .iter()
        .map(|step| {
            let lower = step
                .metric_interval_lower_bound
                .map_or("-inf".to_owned(), num);
            let upper = step
                .metric_interval_upper_bound
                .map_or("+inf".to_owned(), num);
            let change = match adjustment {
                "PercentChangeInCapacity" => format!("{:+}%", step.scaling_adjustment),
                "ExactCapacity" => format!("={}", step.scaling_adjustment),
                _ => format!("{:+}", step.scaling_adjustment),
            };
            format!("{lower}..{upper}: {change}")
        })
        .collect();
    format!("steps {}", steps.join(", "))
}

impl<'a> ServiceBuilder<'a> {
    /// Translates a step scaling policy: one policy of the set per alarm that invokes it.
    ///
    /// Only CloudWatch alarms invoke a step scaling policy: the user creates and manages them,
    /// and Application Auto Scaling runs the policy when one of them is breached (user guide,
    /// "Step scaling policies for Application Auto Scaling",
    /// <https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-step-scaling-policies.html>).
    /// An alarm the policy lists that `describe-alarms` does not have was deleted, so ECS never
    /// runs the policy through it: nothing is written for it, and a policy left without alarms
    /// is not written at all (importing again cannot bring a deleted alarm back).
    pub(super) fn step_policy(
        &mut self,
        policy: &ScalingPolicy,
        config: &StepScalingConfiguration,
    ) {
        let name = &policy.policy_name;
        let adjustment = config.adjustment_type.as_deref().unwrap_or("?");
        let cooldown = config.cooldown.unwrap_or(DEFAULT_COOLDOWN);
        let aggregation = config
            .metric_aggregation_type
            .as_deref()
            .unwrap_or("Average");
        let mut setting = format!(
            "policy `{name}` (StepScaling: {adjustment}, {}, cooldown {cooldown} s, {aggregation}",
            describe_steps(config, adjustment)
        );
        if let Some(magnitude) = config.min_adjustment_magnitude {
            let _ = write!(setting, ", MinAdjustmentMagnitude {magnitude}");
        }
        setting.push(')');
        let decide = |this: &mut Self, why: String| {
            this.report
                .push(setting.clone(), "not translated", Status::Decide(why))
        };
        let adjustment_type = match adjustment {
            "ChangeInCapacity" => AdjustmentType::ChangeInCapacity,
            "PercentChangeInCapacity" => AdjustmentType::PercentChangeInCapacity,
            "ExactCapacity" => AdjustmentType::ExactCapacity,
            other => return decide(self, format!("unknown AdjustmentType `{other}`")),
        };
        let metric_aggregation_type = match aggregation {
            "Average" => MetricAggregationType::Average,
            "Minimum" => MetricAggregationType::Minimum,
            "Maximum" => MetricAggregationType::Maximum,
            other => return decide(self, format!("unknown MetricAggregationType `{other}`")),
        };
        let mut steps = Vec::new();
        for step in &config.step_adjustments {
            let Ok(scaling_adjustment) = i32::try_from(step.scaling_adjustment) else {
                return decide(
                    self,
                    format!(
                        "ScalingAdjustment {} is out of range",
                        step.scaling_adjustment
                    ),
                );
            };
            steps.push(StepAdjustmentSpec {
                metric_interval_lower_bound: step.metric_interval_lower_bound,
                metric_interval_upper_bound: step.metric_interval_upper_bound,
                scaling_adjustment,
            });
        }
        let (Ok(cooldown), Ok(min_adjustment_magnitude)) = (
            u32::try_from(cooldown),
            config
                .min_adjustment_magnitude
                .map(u32::try_from)
                .transpose(),
        ) else {
            return decide(
                self,
                "Cooldown or MinAdjustmentMagnitude is negative or above 4294967295".to_owned(),
            );
        };
        let row = self.report.rows.len();
        let InvokingAlarms {
            found: alarms,
            deleted,
        } = match self.resolve_alarms(policy) {
            Ok(alarms) => alarms,
            Err(why) => {
                return decide(
                    self,
                    format!(
                        "{why}; import again with the alarms (describe-alarms.json, or \
                         cloudwatch:DescribeAlarms permission)"
                    ),
                );
            }
        };
        if alarms.is_empty() && !deleted.is_empty() {
            self.report.push(
                setting,
                format!(
                    "not translated: its alarm(s) {} no longer exist (not in describe-alarms), so \
                     nothing invokes it and ECS never runs it",
                    quoted(&deleted)
                ),
                Status::Exact,
            );
            return;
        }
        if alarms.is_empty() {
            self.report.push(
                setting,
                "not translated: no alarm invokes it, so it never runs on ECS",
                Status::Exact,
            );
            return;
        }
        let mut written = Vec::new();
        let mut problems = Vec::new();
        let mut disabled = Vec::new();
        for alarm in &alarms {
            if alarm.actions_enabled == Some(false) {
                disabled.push(format!("`{}`", alarm.alarm_name));
                continue;
            }
            match self.alarm(alarm) {
                Ok(alarm_key) => {
                    let policy_name = if written.is_empty() {
                        name.clone()
                    } else {
                        format!("{name}-{alarm_key}")
                    };
                    self.policies.push(PolicySpec {
                        policy_name: policy_name.clone(),
                        target_tracking: None,
                        step_scaling: Some(StepScalingSpec {
                            alarm: alarm_key.clone(),
                            adjustment_type,
                            step_adjustments: steps.clone(),
                            min_adjustment_magnitude,
                            cooldown,
                            metric_aggregation_type,
                        }),
                    });
                    written.push(format!("`{policy_name}` on alarm `{alarm_key}`"));
                }
                Err(why) => problems.push(format!(
                    "alarm `{}` cannot be evaluated by the scaler: {why}",
                    alarm.alarm_name
                )),
            }
        }
        let mut became = if written.is_empty() {
            "not translated".to_owned()
        } else {
            format!("spec.policies {}", written.join(", "))
        };
        if !deleted.is_empty() {
            let _ = write!(
                became,
                "; alarm(s) {} not translated: they no longer exist (not in describe-alarms), so \
                 they never invoke it on ECS",
                quoted(&deleted)
            );
        }
        if !disabled.is_empty() {
            let _ = write!(
                became,
                "; alarm(s) {} not translated: their actions are disabled, so they never invoke \
                 it on ECS",
                disabled.join(", ")
            );
        }
        let status = if !problems.is_empty() {
            Status::Decide(problems.join("; "))
        } else if written.len() > 1 {
            Status::Approximate(format!(
                "{} alarms invoke it: one policy per alarm, sharing the target's cooldowns \
                 (cooldownScope PerTarget)",
                written.len()
            ))
        } else {
            Status::Exact
        };
        self.report.push(setting, became, status);
        // The policy before the alarms it added.
        let policy_row = self.report.rows.pop().expect("just pushed");
        self.report.rows.insert(row, policy_row);
    }
}
