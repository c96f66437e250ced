//! Target tracking policies (spec B.3).
//!
//! Input: a `TargetTrackingScaling` policy (target value, predefined or customized metric,
//! cooldowns, `DisableScaleIn`) and, when `describe-alarms` has them, the two alarms AAS
//! created for it. Output, by metric:
//! - a `cloudwatch` metric (customized metric, metric math, `ALBRequestCountPerTarget` of the
//!   target group given with `--target-group-map`), or an `sqs` metric with `perTask` for the
//!   SQS backlog-per-task math, tracked by a `spec.policies` entry;
//! - a KEDA `cpu` / `memory` trigger for ECS's CPU and memory utilization;
//! - the implicit alarms' shape (`spec.behavior`) read from the alarms AAS created.
//!
//! Errors become the policy's row (`decide`): no metric, a predefined metric that is not ECS's,
//! `ALBRequestCountPerTarget` without a mapping, metric math the scaler cannot read, a cooldown
//! out of range.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::metrics::{
    cloudwatch_source, describe_stat, dimensions_json, inline, math_fields, resolve_math,
    simple_statistic, split_top_level_division,
};
use super::options::target_group_part;
use super::rows::num;
use super::{DEFAULT_COOLDOWN, ServiceBuilder, dns_label};
use crate::import::aws::{
    CustomizedMetric, Metric, MetricAlarm, MetricQuery, MetricStat, PredefinedMetric,
    ScalingPolicy, TargetTrackingConfiguration,
};
use crate::import::report::{Row, Status};
use crate::import::scaled_object::Trigger;
use crate::policy::document::{
    BehaviorSpec, ImplicitAlarmSpec, MetricSpec, PolicySpec, SqsSpec, Statistic, TargetTrackingSpec,
};
use crate::policy::validate::is_valid_period;

/// The SQS backlog-per-task pattern of a target tracking policy.
struct SqsBacklog {
    queue: String,
    in_flight: bool,
    delayed: bool,
    description: String,
}

/// What a translated target tracking metric is.
enum TrackedMetric {
    /// A metric the scaler reads.
    Source {
        source: Box<MetricSpec>,
        statistic: Statistic,
        per_task: bool,
        description: String,
        status: Status,
    },
    /// A KEDA `cpu` or `memory` trigger.
    Resource { resource: &'static str },
    /// Not translated.
    Impossible(String),
}

/// The alarms Application Auto Scaling created for a target tracking policy that are gone from
/// `describe-alarms` (deleted).
///
/// AAS creates and manages these two alarms itself, and its user guide asks users not to
/// create, edit or delete them (considerations of "Target tracking scaling policies for
/// Application Auto Scaling",
/// <https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking.html>);
/// what the policy does once one is deleted is not documented. The alarms are what invoke it,
/// AlarmHigh to scale out and AlarmLow to scale in (spec B.3), so:
/// - without AlarmLow it never scales in: written with `disableScaleIn: true`;
/// - without AlarmHigh it never scales out, which a policy set cannot express (target tracking
///   for scale-in only): written as it is, and the user decides;
/// - without both (or without AlarmHigh and with `DisableScaleIn`) it never runs: not written.
///
/// The alarm that is left still gives the implicit alarms' shape.
#[derive(Debug, Default)]
struct DeletedAlarms {
    /// The AlarmHigh, when deleted.
    high: Option<String>,
    /// The AlarmLow, when deleted.
    low: Option<String>,
}

impl DeletedAlarms {
    /// Which alarms are gone, for a policy that never runs without them.
    fn describe(&self, disable_scale_in: bool) -> String {
        match (&self.high, &self.low) {
            (Some(high), Some(low)) => format!(
                "its AlarmHigh `{high}` and AlarmLow `{low}` no longer exist (not in \
                 describe-alarms)"
            ),
            (Some(high), None) if disable_scale_in => format!(
                "its AlarmHigh `{high}` no longer exists (not in describe-alarms) and \
                 DisableScaleIn is true"
            ),
            _ => "its alarms no longer exist".to_owned(),
        }
    }

    /// Adds to the policy's row what became of it without the alarm that is gone.
    fn amend(&self, row: &mut Row, disable_scale_in: bool) {
        if let Some(low) = &self.low
            && !disable_scale_in
        {
            let _ = write!(
                row.became,
                "; scale-in disabled (disableScaleIn), as on ECS: its AlarmLow `{low}` no longer \
                 exists (not in describe-alarms), so nothing invokes its scale-in"
            );
        }
        if let Some(high) = &self.high {
            let _ = write!(
                row.became,
                "; written as it is, although its AlarmHigh `{high}` no longer exists (not in \
                 describe-alarms)"
            );
            let decision = "on ECS it never scales out without its AlarmHigh, the scaler's \
                            policy does (a policy set cannot track a target for scale-in only): \
                            keep it to scale out on this metric again, or delete it and its \
                            scale-in";
            row.status = match std::mem::replace(&mut row.status, Status::Exact) {
                Status::Decide(other) => Status::Decide(format!("{other}; {decision}")),
                _ => Status::Decide(decision.to_owned()),
            };
        }
    }
}

/// The shape of the alarms AAS created for a target tracking policy.
struct ImplicitShape {
    high: Option<(ImplicitAlarmSpec, Option<i64>)>,
    low: Option<ImplicitAlarmSpec>,
}

impl<'a> ServiceBuilder<'a> {
    pub(super) fn target_tracking_policy(
        &mut self,
        policy: &ScalingPolicy,
        config: &TargetTrackingConfiguration,
    ) {
        let name = &policy.policy_name;
        let scale_out = config.scale_out_cooldown.unwrap_or(DEFAULT_COOLDOWN);
        let scale_in = config.scale_in_cooldown.unwrap_or(DEFAULT_COOLDOWN);
        let disable_scale_in = config.disable_scale_in.unwrap_or(false);
        let metric_text = match (
            &config.predefined_metric_specification,
            &config.customized_metric_specification,
        ) {
            (Some(predefined), _) => predefined.predefined_metric_type.clone(),
            (None, Some(custom)) if custom.metrics.is_empty() => "a customized metric".to_owned(),
            (None, Some(_)) => "customized metric math".to_owned(),
            (None, None) => "no metric".to_owned(),
        };
        let setting = format!(
            "policy `{name}` (TargetTracking: {metric_text} at {}, ScaleOutCooldown {scale_out} s, \
             ScaleInCooldown {scale_in} s, DisableScaleIn {disable_scale_in})",
            num(config.target_value)
        );
        let (Ok(scale_out_cooldown), Ok(scale_in_cooldown)) =
            (u32::try_from(scale_out), u32::try_from(scale_in))
        else {
            self.report.push(
                setting,
                "not translated",
                Status::Decide("a cooldown is negative or above 4294967295".to_owned()),
            );
            return;
        };
        let deleted = self.deleted_implicit_alarms(policy);
        let scales_out = deleted.high.is_none();
        let scales_in = !disable_scale_in && deleted.low.is_none();
        if !scales_out && !scales_in {
            self.report.push(
                setting,
                format!(
                    "not translated: {}, so ECS never runs it",
                    deleted.describe(disable_scale_in)
                ),
                Status::Exact,
            );
            return;
        }
        // What ECS does: nothing invokes the scale-in of a policy without its AlarmLow.
        let disable_scale_in = !scales_in;
        let row = self.report.rows.len();
        self.tracked_policy(
            policy,
            config,
            setting,
            scale_out_cooldown,
            scale_in_cooldown,
            disable_scale_in,
        );
        if let Some(row) = self.report.rows.get_mut(row) {
            deleted.amend(row, config.disable_scale_in.unwrap_or(false));
        }
    }

    /// Writes a target tracking policy whose cooldowns are valid and which runs on ECS, and its
    /// row.
    fn tracked_policy(
        &mut self,
        policy: &ScalingPolicy,
        config: &TargetTrackingConfiguration,
        setting: String,
        scale_out_cooldown: u32,
        scale_in_cooldown: u32,
        disable_scale_in: bool,
    ) {
        let name = &policy.policy_name;
        let shape = self.implicit_shape(policy);
        let high_period = shape
            .as_ref()
            .and_then(|s| s.high.as_ref())
            .and_then(|(_, period)| *period)
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| is_valid_period(*p));
        let tracked = match (
            &config.predefined_metric_specification,
            &config.customized_metric_specification,
        ) {
            (Some(predefined), _) => self.predefined(predefined),
            (None, Some(custom)) => self.customized(custom, high_period.unwrap_or(60)),
            (None, None) => TrackedMetric::Impossible(
                "it has neither a predefined nor a customized metric".to_owned(),
            ),
        };
        match tracked {
            TrackedMetric::Impossible(why) => {
                self.report
                    .push(setting, "not translated", Status::Decide(why));
            }
            TrackedMetric::Resource { resource } => {
                self.resource_trigger(setting, name, resource, config, disable_scale_in);
            }
            TrackedMetric::Source {
                source,
                statistic,
                per_task,
                description,
                status,
            } => {
                let metric = self.add_metric(name, *source);
                self.policies.push(PolicySpec {
                    policy_name: name.clone(),
                    target_tracking: Some(TargetTrackingSpec {
                        metric: metric.clone(),
                        target_value: config.target_value,
                        per_task,
                        statistic,
                        scale_out_cooldown,
                        scale_in_cooldown,
                        disable_scale_in,
                    }),
                    step_scaling: None,
                });
                let (alarm_text, alarm_status) = self.apply_shape(name, shape);
                let status = match (status, alarm_status) {
                    (Status::Decide(a), _) => Status::Decide(a),
                    (_, Status::Decide(b)) => Status::Decide(b),
                    (Status::Approximate(a), Status::Approximate(b)) => {
                        Status::Approximate(format!("{a}; {b}"))
                    }
                    (Status::Approximate(a), Status::Exact) => Status::Approximate(a),
                    (Status::Exact, other) => other,
                };
                self.report.push(
                    setting,
                    format!(
                        "spec.policies `{name}` tracking spec.metrics.{metric} ({description}); \
                         {alarm_text}"
                    ),
                    status,
                );
            }
        }
    }

    fn predefined(&self, predefined: &PredefinedMetric) -> TrackedMetric {
        match predefined.predefined_metric_type.as_str() {
            "ECSServiceAverageCPUUtilization" | "ECSServiceAverageCPUUtilizationHighResolution" => {
                TrackedMetric::Resource { resource: "cpu" }
            }
            "ECSServiceAverageMemoryUtilization"
            | "ECSServiceAverageMemoryUtilizationHighResolution" => {
                TrackedMetric::Resource { resource: "memory" }
            }
            "ALBRequestCountPerTarget" => self.alb(predefined.resource_label.as_deref()),
            other => TrackedMetric::Impossible(format!(
                "predefined metric `{other}` is not one of ECS's (ECSServiceAverageCPUUtilization, \
                 ECSServiceAverageMemoryUtilization, ALBRequestCountPerTarget)"
            )),
        }
    }

    fn alb(&self, label: Option<&str>) -> TrackedMetric {
        let Some(label) = label else {
            return TrackedMetric::Impossible(
                "ALBRequestCountPerTarget without a ResourceLabel".to_owned(),
            );
        };
        let old_group = target_group_part(label);
        let mapping = self.options.target_group_map.iter().find(|m| {
            m.old == label || (old_group.is_some() && target_group_part(&m.old) == old_group)
        });
        let Some(mapping) = mapping else {
            return TrackedMetric::Impossible(format!(
                "it counts requests per target of the ECS service's target group `{label}`, which \
                 the EKS workload does not use: give the target group that serves it on EKS with \
                 --target-group-map {}=<new target group or resource label>",
                old_group.unwrap_or(label)
            ));
        };
        let new_group = target_group_part(&mapping.new).unwrap_or(&mapping.new);
        let mut dimensions = serde_json::Map::new();
        dimensions.insert("TargetGroup".to_owned(), json!(new_group));
        let load_balancer =
            mapping.new[..mapping.new.len() - new_group.len()].trim_end_matches('/');
        if !load_balancer.is_empty() {
            dimensions.insert("LoadBalancer".to_owned(), json!(load_balancer));
        }
        let fields = self.with_region(json!({
            "namespace": "AWS/ApplicationELB",
            "metricName": "RequestCountPerTarget",
            "dimensions": Value::Object(dimensions),
            "stat": "Sum",
            "period": 60,
        }));
        match cloudwatch_source(fields) {
            Ok(source) => TrackedMetric::Source {
                source: Box::new(MetricSpec::CloudWatch(Box::new(source))),
                statistic: Statistic::Sum,
                per_task: false,
                description: format!(
                    "AWS/ApplicationELB RequestCountPerTarget Sum of `{}` instead of `{label}`",
                    mapping.new
                ),
                status: Status::Exact,
            },
            Err(why) => TrackedMetric::Impossible(why),
        }
    }

    fn customized(&self, custom: &CustomizedMetric, period: u32) -> TrackedMetric {
        if custom.metrics.is_empty() {
            let (Some(namespace), Some(metric_name)) = (&custom.namespace, &custom.metric_name)
            else {
                return TrackedMetric::Impossible(
                    "its customized metric has no Namespace or MetricName".to_owned(),
                );
            };
            let stat = custom
                .statistic
                .clone()
                .unwrap_or_else(|| "Average".to_owned());
            let mut fields = json!({
                "namespace": namespace,
                "metricName": metric_name,
                "stat": stat,
                "period": period,
            });
            if !custom.dimensions.is_empty() {
                fields["dimensions"] = dimensions_json(&custom.dimensions);
            }
            if let Some(unit) = &custom.unit {
                fields["unit"] = json!(unit);
            }
            let stat_view = MetricStat {
                metric: Metric {
                    namespace: Some(namespace.clone()),
                    metric_name: Some(metric_name.clone()),
                    dimensions: custom.dimensions.clone(),
                },
                stat: stat.clone(),
                unit: custom.unit.clone(),
                period: None,
            };
            let status = match self.ecs_metric_warning(std::iter::once(&stat_view)) {
                Some(warning) => Status::Decide(warning),
                None => Status::Exact,
            };
            return match cloudwatch_source(self.with_region(fields)) {
                Ok(source) => TrackedMetric::Source {
                    source: Box::new(MetricSpec::CloudWatch(Box::new(source))),
                    statistic: simple_statistic(&stat),
                    per_task: false,
                    description: format!("cloudwatch {}", describe_stat(&stat_view)),
                    status,
                },
                Err(why) => TrackedMetric::Impossible(why),
            };
        }
        if let Some(backlog) = self.sqs_backlog(&custom.metrics) {
            let mut fields = json!({
                "queueURL": backlog.queue,
                "scaleOnInFlight": backlog.in_flight,
                "scaleOnDelayed": backlog.delayed,
                "period": 60,
            });
            if let Some(region) = &self.region {
                fields["awsRegion"] = json!(region);
            }
            return match serde_json::from_value::<SqsSpec>(fields) {
                Ok(source) => TrackedMetric::Source {
                    source: Box::new(MetricSpec::Sqs(Box::new(source))),
                    statistic: Statistic::Average,
                    per_task: true,
                    description: format!("sqs queue depth per task: {}", backlog.description),
                    status: Status::Approximate(
                        "the queue depth is read with SQS GetQueueAttributes every 15 s (averaged \
                         per minute) instead of CloudWatch's once-a-minute SQS metric, and \
                         divided by the workload's replicas instead of ECS's RunningTaskCount"
                            .to_owned(),
                    ),
                },
                Err(e) => TrackedMetric::Impossible(format!("cannot build the SQS source: {e}")),
            };
        }
        let (queries, per_task, tasks) = match self.per_task_split(&custom.metrics) {
            Some((_, tasks, rewritten)) => (rewritten, true, Some(describe_stat(tasks))),
            None => (custom.metrics.clone(), false, None),
        };
        let math = match resolve_math(&queries) {
            Ok(math) => math,
            Err(why) => return TrackedMetric::Impossible(why),
        };
        let (mut fields, description, statistic) = math_fields(&math);
        fields["period"] = json!(
            math.period
                .and_then(|p| u32::try_from(p).ok())
                .filter(|p| is_valid_period(*p))
                .unwrap_or(period)
        );
        let status = match (self.ecs_metric_warning(math.inputs.values()), &tasks) {
            (Some(warning), _) => Status::Decide(warning),
            (None, Some(tasks)) => Status::Approximate(format!(
                "divided by the workload's replicas (perTask) instead of ECS's {tasks}"
            )),
            (None, None) => Status::Exact,
        };
        let description = match &tasks {
            Some(tasks) => format!("cloudwatch {description}, per task instead of / {tasks}"),
            None => format!("cloudwatch {description}"),
        };
        match cloudwatch_source(self.with_region(fields)) {
            Ok(source) => TrackedMetric::Source {
                source: Box::new(MetricSpec::CloudWatch(Box::new(source))),
                statistic,
                per_task,
                description,
                status,
            },
            Err(why) => TrackedMetric::Impossible(why),
        }
    }

    /// Splits metric math of the form `NUMERATOR / TASKS`, where TASKS is this service's ECS
    /// running task count (`ECS/ContainerInsights` `RunningTaskCount`): the numerator, the task
    /// count, and the queries with the numerator as the result.
    fn per_task_split<'q>(
        &self,
        queries: &'q [MetricQuery],
    ) -> Option<(String, &'q MetricStat, Vec<MetricQuery>)> {
        let results: Vec<&MetricQuery> = queries
            .iter()
            .filter(|q| q.return_data.unwrap_or(true))
            .collect();
        let [result] = results.as_slice() else {
            return None;
        };
        let expression = result.expression.as_deref()?;
        let (numerator, denominator) = split_top_level_division(expression)?;
        let denominator = denominator
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim();
        let tasks_query = queries.iter().find(|q| q.id == denominator)?;
        let tasks = tasks_query.metric_stat.as_ref()?;
        let is_task_count = tasks.metric.namespace.as_deref() == Some("ECS/ContainerInsights")
            && tasks.metric.metric_name.as_deref() == Some("RunningTaskCount")
            && self.ecs_service_metric(&tasks.metric.dimensions, Some("ECS/ContainerInsights"));
        let numerator = numerator.trim().to_owned();
        let mentions_tasks = {
            let ids = BTreeMap::from([(denominator, tasks_query)]);
            let mut seen = BTreeMap::new();
            inline(&numerator, &ids, &mut seen, 0).is_err() || !seen.is_empty()
        };
        if !is_task_count || mentions_tasks || numerator.is_empty() {
            return None;
        }
        let rewritten = queries
            .iter()
            .map(|q| {
                let mut q = q.clone();
                if q.id == result.id {
                    q.expression = Some(numerator.clone());
                }
                q
            })
            .collect();
        Some((numerator, tasks, rewritten))
    }

    /// Recognizes AWS's "backlog per task" metric math: the SQS queue depth (visible, plus
    /// optionally in flight and delayed) divided by this service's running task count.
    fn sqs_backlog(&self, queries: &[MetricQuery]) -> Option<SqsBacklog> {
        let (numerator, tasks, _) = self.per_task_split(queries)?;
        let numerator: String = numerator.chars().filter(|c| !c.is_whitespace()).collect();
        let numerator = numerator
            .strip_prefix('(')
            .and_then(|n| n.strip_suffix(')'))
            .unwrap_or(&numerator);
        let stat_of = |id: &str| {
            queries
                .iter()
                .find(|q| q.id == id)
                .and_then(|q| q.metric_stat.as_ref())
        };
        let mut queue = None;
        let mut seen = BTreeSet::new();
        let mut parts = Vec::new();
        for id in numerator.split('+') {
            let stat = stat_of(id)?;
            if stat.metric.namespace.as_deref() != Some("AWS/SQS") {
                return None;
            }
            let name = stat.metric.metric_name.as_deref()?;
            if !matches!(
                name,
                "ApproximateNumberOfMessagesVisible"
                    | "ApproximateNumberOfMessagesNotVisible"
                    | "ApproximateNumberOfMessagesDelayed"
            ) || !seen.insert(name)
            {
                return None;
            }
            let [dimension] = stat.metric.dimensions.as_slice() else {
                return None;
            };
            if dimension.name != "QueueName"
                || queue.get_or_insert(&dimension.value) != &&dimension.value
            {
                return None;
            }
            parts.push(describe_stat(stat));
        }
        if !seen.contains("ApproximateNumberOfMessagesVisible") {
            return None;
        }
        let queue = queue?.clone();
        let url = match (&self.region, &self.account) {
            (Some(region), Some(account)) => {
                format!("https://sqs.{region}.amazonaws.com/{account}/{queue}")
            }
            _ => queue,
        };
        Some(SqsBacklog {
            queue: url,
            in_flight: seen.contains("ApproximateNumberOfMessagesNotVisible"),
            delayed: seen.contains("ApproximateNumberOfMessagesDelayed"),
            description: if parts.len() == 1 {
                format!("{} / {}", parts[0], describe_stat(tasks))
            } else {
                format!("({}) / {}", parts.join(" + "), describe_stat(tasks))
            },
        })
    }

    fn resource_trigger(
        &mut self,
        setting: String,
        policy_name: &str,
        resource: &'static str,
        config: &TargetTrackingConfiguration,
        disable_scale_in: bool,
    ) {
        let target = config.target_value.round().clamp(1.0, f64::from(i32::MAX));
        let value = num(target);
        let name = format!("{resource}-{}", dns_label(policy_name));
        self.triggers.push(Trigger {
            kind: resource.to_owned(),
            name: Some(name.clone()),
            metric_type: "Utilization".to_owned(),
            metadata: BTreeMap::from([("value".to_owned(), value.clone())]),
        });
        let mut why = format!(
            "the HPA computes it, not ecs-scaler: ceil(replicas x average {resource} utilization / \
             {value}%) over the pods' {resource} requests (ECS: the task's reserved {resource}), \
             every 15 s with no alarm (ECS: 3 minutes above the target to scale out, 15 below 90% \
             of it to scale in) and no cooldowns; the behavior that passes the scaler's decisions \
             through also applies to it (no stabilization{}); the HPA takes the larger of its \
             proposal and the scaler's decision, so the scaler's policies never scale below what \
             {resource} needs; the containers need {resource} requests",
            if self.tolerance().is_some() {
                ", tolerance 0"
            } else {
                ""
            }
        );
        if target != config.target_value {
            let _ = write!(
                why,
                "; the HPA takes whole percents: {} became {value}",
                num(config.target_value)
            );
        }
        if disable_scale_in {
            let _ = write!(
                why,
                "; DisableScaleIn cannot be expressed for one HPA metric: this trigger also \
                 scales in"
            );
        }
        self.report.push(
            setting,
            format!("ScaledObject trigger `{name}` ({resource}, Utilization {value})"),
            Status::Approximate(why),
        );
    }

    /// The implicit alarms `policy` lists that `describe-alarms` does not have.
    fn deleted_implicit_alarms(&self, policy: &ScalingPolicy) -> DeletedAlarms {
        let mut deleted = DeletedAlarms::default();
        if let Ok(alarms) = self.resolve_alarms(policy) {
            for name in alarms.deleted {
                if name.contains("-AlarmHigh-") {
                    deleted.high.get_or_insert(name);
                } else if name.contains("-AlarmLow-") {
                    deleted.low.get_or_insert(name);
                }
            }
        }
        deleted
    }

    /// The alarms AAS created for `policy`, when describe-alarms has them.
    fn implicit_shape(&self, policy: &ScalingPolicy) -> Option<ImplicitShape> {
        let alarms = self.resolve_alarms(policy).ok()?.found;
        let target = policy
            .target_tracking_scaling_policy_configuration
            .as_ref()?
            .target_value;
        let shape = |alarm: &MetricAlarm| {
            let n = u32::try_from(alarm.evaluation_periods?).ok()?;
            let m = alarm
                .datapoints_to_alarm
                .map_or(Some(n), |m| u32::try_from(m).ok())?;
            let ratio = alarm.threshold? / target;
            Some(ImplicitAlarmSpec {
                evaluation_periods: n,
                datapoints_to_alarm: m,
                threshold_ratio: (ratio * 1e6).round() / 1e6,
            })
        };
        let high = alarms
            .iter()
            .find(|a| a.alarm_name.contains("-AlarmHigh-"))
            .and_then(|a| shape(a).map(|s| (s, a.period)));
        let low = alarms
            .iter()
            .find(|a| a.alarm_name.contains("-AlarmLow-"))
            .and_then(|a| shape(a));
        (high.is_some() || low.is_some()).then_some(ImplicitShape { high, low })
    }

    /// Checks the alarms AAS created against the policy set's implicit alarm shape (adopting
    /// them when they are the first seen); a description and a status.
    fn apply_shape(&mut self, policy: &str, shape: Option<ImplicitShape>) -> (String, Status) {
        let describe = |b: &BehaviorSpec| {
            format!(
                "implicit alarms {} of {} periods above {}x the target, {} of {} below {}x",
                b.target_tracking_high_alarm.datapoints_to_alarm,
                b.target_tracking_high_alarm.evaluation_periods,
                num(b.target_tracking_high_alarm.threshold_ratio),
                b.target_tracking_low_alarm.datapoints_to_alarm,
                b.target_tracking_low_alarm.evaluation_periods,
                num(b.target_tracking_low_alarm.threshold_ratio),
            )
        };
        let Some(shape) = shape else {
            return (
                format!(
                    "{} (AWS's documented shape; its alarms were not read)",
                    describe(&self.behavior)
                ),
                Status::Exact,
            );
        };
        let mut wanted = self.behavior.clone();
        let mut odd = Vec::new();
        if let Some((high, _)) = shape.high {
            if (high.threshold_ratio - 1.0).abs() > 1e-6 {
                odd.push(format!(
                    "its high alarm's threshold is {}x the target, not 1x",
                    num(high.threshold_ratio)
                ));
            } else if high.datapoints_to_alarm <= high.evaluation_periods {
                wanted.target_tracking_high_alarm = high;
            }
        }
        if let Some(low) = shape.low {
            if low.threshold_ratio <= 0.0 || low.threshold_ratio > 1.0 {
                odd.push(format!(
                    "its low alarm's threshold is {}x the target",
                    num(low.threshold_ratio)
                ));
            } else if low.datapoints_to_alarm <= low.evaluation_periods {
                wanted.target_tracking_low_alarm = low;
            }
        }
        if !odd.is_empty() {
            return (
                format!(
                    "{} (kept: the alarms AAS created look different)",
                    describe(&self.behavior)
                ),
                Status::Approximate(format!(
                    "{}; the scaler uses one implicit alarm shape for every target tracking \
                     policy (spec.behavior)",
                    odd.join("; ")
                )),
            );
        }
        if wanted == self.behavior {
            return (
                format!("{} (as the alarms AAS created)", describe(&self.behavior)),
                Status::Exact,
            );
        }
        match &self.behavior_from {
            None => {
                self.behavior = wanted;
                self.behavior_from = Some(policy.to_owned());
                (
                    format!(
                        "{} (read from the alarms AAS created; spec.behavior)",
                        describe(&self.behavior)
                    ),
                    Status::Exact,
                )
            }
            Some(first) => (
                describe(&self.behavior),
                Status::Approximate(format!(
                    "AAS created its alarms as {}, but the policy set has one shape for every \
                     target tracking policy, taken from `{first}`",
                    describe(&wanted)
                )),
            ),
        }
    }
}
