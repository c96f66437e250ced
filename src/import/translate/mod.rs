//! From what AWS says about an ECS service to a `ScalingPolicySet`, a `ScaledObject` and a
//! report (spec A, C.2 and D).
//!
//! The translation is a pure function of the AWS input ([`AwsInput`]) and the [`Options`], so
//! the file path and the live path give the same output for the same data. [`translate`] picks
//! the ECS services (scalable targets of `ecs:service:DesiredCount`), names them, and builds
//! each with a `ServiceBuilder`, one file per ECS concept:
//!
//! - `scalable_target`: `MinCapacity`, `MaxCapacity`, `SuspendedState`, the workload and the
//!   capacity envelope of the ScaledObject.
//! - `step_scaling` and `alarms`: step policies, one per CloudWatch alarm that invokes them.
//! - `target_tracking`: target tracking policies, their metric and the implicit alarms.
//! - `metrics`: CloudWatch metrics and metric math as `cloudwatch` sources.
//! - `schedules`: scheduled actions.
//! - `rows`: the report rows about the HPA (its tolerance) and the texts the rows share.
//!
//! Errors: only options that cannot apply (one `--scale-target-name` for several services, a
//! service that is not imported) fail the translation; whatever is wrong with the AWS data
//! becomes a report row (`decide: ...`) or a note, never a panic.

mod alarms;
mod metrics;
mod options;
mod rows;
mod scalable_target;
mod schedules;
mod step_scaling;
mod target_tracking;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::aws::{AwsInput, Dimension, MetricStat, ScalableTarget, ScalingPolicy, ScheduledAction};
use super::report::{Report, Status};
use super::scaled_object::{EXTERNAL_TRIGGER_NAME, ScaleTargetRef, ScaledObject, Trigger};
use crate::policy::document::{
    API_VERSION, AlarmSpec, BehaviorSpec, KIND, Metadata, MetricSpec, PolicySpec,
    ScalableTarget as TargetSpec, ScaleTargetRef as PolicyTargetRef, ScalingPolicySet,
    ScheduledActionSpec, Spec, SuspendedState,
};

pub use options::{
    Assignment, DEFAULT_SCALER_ADDRESS, KubernetesVersion, Options, TargetGroupMapping,
};
pub use scalable_target::envelope;
use scalable_target::split_kind;

/// The scalable dimension of ECS services.
pub const ECS_DIMENSION: &str = "ecs:service:DesiredCount";
/// AWS's default cooldown, in seconds.
const DEFAULT_COOLDOWN: i64 = 300;

/// One imported service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceImport {
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// Name of the policy set and of the ScaledObject.
    pub name: String,
    /// The policy set.
    pub policy_set: ScalingPolicySet,
    /// The ScaledObject.
    pub scaled_object: ScaledObject,
    /// What became of each setting.
    pub report: Report,
}

/// The result of a translation.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// One entry per ECS service, by resource id.
    pub services: Vec<ServiceImport>,
    /// What concerns the whole import (skipped input, unreadable alarms).
    pub notes: Vec<String>,
}

/// `(cluster, service)` of an ECS resource id `service/<cluster>/<service>`.
pub fn parse_resource_id(resource_id: &str) -> Option<(&str, &str)> {
    let rest = resource_id.strip_prefix("service/")?;
    let (cluster, service) = rest.split_once('/')?;
    (!cluster.is_empty() && !service.is_empty() && !service.contains('/'))
        .then_some((cluster, service))
}

fn is_ecs_service(namespace: &str, dimension: Option<&str>, resource_id: &str) -> bool {
    namespace == "ecs"
        && dimension.is_none_or(|d| d == ECS_DIMENSION)
        && parse_resource_id(resource_id).is_some()
}

/// Translates every ECS service of `input`.
///
/// Fails (bad input) only when the options cannot apply, e.g. one `--scale-target-name` for
/// several services; everything about the AWS data itself goes into the reports and notes.
pub fn translate(input: &AwsInput, options: &Options) -> Result<Translation, String> {
    let mut notes = Vec::new();
    let mut targets: BTreeMap<&str, &ScalableTarget> = BTreeMap::new();
    let mut skipped = 0;
    for target in &input.scalable_targets {
        if is_ecs_service(
            &target.service_namespace,
            Some(&target.scalable_dimension),
            &target.resource_id,
        ) {
            targets.entry(&target.resource_id).or_insert(target);
        } else {
            skipped += 1;
        }
    }
    if skipped > 0 {
        notes.push(format!(
            "{skipped} scalable target(s) that are not ECS services (`{ECS_DIMENSION}` of \
             `service/<cluster>/<service>`) were skipped"
        ));
    }
    let mut orphans = BTreeSet::new();
    for policy in &input.scaling_policies {
        if is_ecs_service(
            &policy.service_namespace,
            Some(&policy.scalable_dimension),
            &policy.resource_id,
        ) && !targets.contains_key(policy.resource_id.as_str())
        {
            orphans.insert(format!(
                "scaling policy `{}` of {}",
                policy.policy_name, policy.resource_id
            ));
        }
    }
    for action in &input.scheduled_actions {
        if is_ecs_service(
            &action.service_namespace,
            action.scalable_dimension.as_deref(),
            &action.resource_id,
        ) && !targets.contains_key(action.resource_id.as_str())
        {
            orphans.insert(format!(
                "scheduled action `{}` of {}",
                action.scheduled_action_name, action.resource_id
            ));
        }
    }
    for orphan in orphans {
        notes.push(format!(
            "{orphan} ignored: that service has no scalable target"
        ));
    }
    if let Err(reason) = &input.alarms {
        notes.push(format!(
            "CloudWatch alarms unresolved: {reason}; step scaling policies cannot be translated \
             without them, and target tracking policies keep AWS's documented alarm shape"
        ));
    }

    let names = names(targets.keys().copied());
    let unqualified_name = options
        .scale_target_name
        .iter()
        .find(|a| a.service.is_none());
    if unqualified_name.is_some() && targets.len() > 1 {
        return Err(format!(
            "--scale-target-name {} names one workload for {} services: use SERVICE=NAME",
            unqualified_name
                .map(|a| a.value.as_str())
                .unwrap_or_default(),
            targets.len()
        ));
    }
    for assignment in options
        .scale_target_name
        .iter()
        .chain(&options.scale_target_kind)
    {
        if let Some(service) = &assignment.service
            && !targets
                .keys()
                .any(|id| parse_resource_id(id).is_some_and(|(_, s)| s == service))
        {
            return Err(format!(
                "`{service}={}`: no imported ECS service is named `{service}`",
                assignment.value
            ));
        }
    }

    let services = targets
        .values()
        .map(|target| {
            let name = names[target.resource_id.as_str()].clone();
            ServiceBuilder::new(input, options, target, name).build()
        })
        .collect();
    Ok(Translation { services, notes })
}

/// Kubernetes names for the services: the service's name made a DNS label, or
/// `<cluster>-<service>` where two clusters have a service of the same name.
fn names<'a>(resource_ids: impl Iterator<Item = &'a str>) -> BTreeMap<&'a str, String> {
    let ids: Vec<&str> = resource_ids.collect();
    let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
    for id in &ids {
        if let Some((_, service)) = parse_resource_id(id) {
            *by_name.entry(dns_label(service)).or_default() += 1;
        }
    }
    ids.into_iter()
        .filter_map(|id| {
            let (cluster, service) = parse_resource_id(id)?;
            let plain = dns_label(service);
            let name = if by_name[&plain] > 1 {
                dns_label(&format!("{cluster}-{service}"))
            } else {
                plain
            };
            Some((id, name))
        })
        .collect()
}

/// `text` as a Kubernetes name: lower case, `-` for anything else, at most 63 characters.
pub fn dns_label(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(63).collect();
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "service".to_owned()
    } else {
        out
    }
}

/// `text` as a key of `spec.metrics` / `spec.alarms`: letters, digits, `.`, `_` and `-`.
fn key(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-').to_owned();
    if out.is_empty() {
        "metric".to_owned()
    } else {
        out
    }
}

/// `(region, account)` of an ARN.
fn arn_region_account(arn: &str) -> Option<(String, String)> {
    let mut parts = arn.split(':');
    if parts.next()? != "arn" {
        return None;
    }
    let _partition = parts.next()?;
    let _service = parts.next()?;
    let region = parts.next()?;
    let account = parts.next()?;
    (!region.is_empty() && !account.is_empty()).then(|| (region.to_owned(), account.to_owned()))
}

struct ServiceBuilder<'a> {
    input: &'a AwsInput,
    options: &'a Options,
    target: &'a ScalableTarget,
    cluster: &'a str,
    service: &'a str,
    name: String,
    region: Option<String>,
    account: Option<String>,
    metrics: BTreeMap<String, MetricSpec>,
    alarms: BTreeMap<String, AlarmSpec>,
    alarm_keys: BTreeMap<String, String>,
    policies: Vec<PolicySpec>,
    scheduled_actions: Vec<ScheduledActionSpec>,
    behavior: BehaviorSpec,
    behavior_from: Option<String>,
    triggers: Vec<Trigger>,
    report: Report,
}

impl<'a> ServiceBuilder<'a> {
    fn new(
        input: &'a AwsInput,
        options: &'a Options,
        target: &'a ScalableTarget,
        name: String,
    ) -> Self {
        let (cluster, service) = parse_resource_id(&target.resource_id).unwrap_or_default();
        let arns = input
            .scaling_policies
            .iter()
            .filter(|p| p.resource_id == target.resource_id)
            .map(|p| p.policy_arn.as_str())
            .chain(target.scalable_target_arn.as_deref());
        let (region, account) = arns
            .filter_map(arn_region_account)
            .next()
            .map_or((options.default_region.clone(), None), |(r, a)| {
                (Some(r), Some(a))
            });
        let report = Report::new(
            &target.resource_id,
            &format!("{}/{}", options.namespace, name),
        );
        Self {
            input,
            options,
            target,
            cluster,
            service,
            name,
            region,
            account,
            metrics: BTreeMap::new(),
            alarms: BTreeMap::new(),
            alarm_keys: BTreeMap::new(),
            policies: Vec::new(),
            scheduled_actions: Vec::new(),
            behavior: BehaviorSpec::default(),
            behavior_from: None,
            triggers: Vec::new(),
            report,
        }
    }

    fn assignment(&self, assignments: &[Assignment]) -> Option<String> {
        assignments
            .iter()
            .find(|a| a.service.as_deref() == Some(self.service))
            .or_else(|| assignments.iter().find(|a| a.service.is_none()))
            .map(|a| a.value.clone())
    }

    /// A key not yet in `taken`, from `base`.
    fn unique_key<V>(taken: &BTreeMap<String, V>, base: &str) -> String {
        let base = key(base);
        if !taken.contains_key(&base) {
            return base;
        }
        (2..)
            .map(|n| format!("{base}-{n}"))
            .find(|k| !taken.contains_key(k))
            .unwrap_or(base)
    }

    /// Adds a metric source under a key made of `preferred`, or returns the key of an
    /// identical source already added (alarms on the same metric share it).
    fn add_metric(&mut self, preferred: &str, source: MetricSpec) -> String {
        if let Some((key, _)) = self
            .metrics
            .iter()
            .find(|(_, existing)| **existing == source)
        {
            return key.clone();
        }
        let key = Self::unique_key(&self.metrics, preferred);
        self.metrics.insert(key.clone(), source);
        key
    }

    fn with_region(&self, mut fields: Value) -> Value {
        if let Some(region) = &self.region {
            fields["awsRegion"] = json!(region);
        }
        fields
    }

    /// Metrics of this ECS service itself, which stop when the service is gone.
    fn ecs_service_metric(&self, dimensions: &[Dimension], namespace: Option<&str>) -> bool {
        let is_ecs = matches!(namespace, Some("AWS/ECS" | "ECS/ContainerInsights"));
        let has = |name: &str, value: &str| {
            dimensions
                .iter()
                .any(|d| d.name == name && d.value == value)
        };
        is_ecs && has("ClusterName", self.cluster) && has("ServiceName", self.service)
    }

    fn ecs_metric_warning<'s>(
        &self,
        stats: impl Iterator<Item = &'s MetricStat>,
    ) -> Option<String> {
        let names: Vec<String> = stats
            .filter(|s| {
                self.ecs_service_metric(&s.metric.dimensions, s.metric.namespace.as_deref())
            })
            .map(|s| {
                format!(
                    "{} {}",
                    s.metric.namespace.as_deref().unwrap_or_default(),
                    s.metric.metric_name.as_deref().unwrap_or_default()
                )
            })
            .collect();
        (!names.is_empty()).then(|| {
            format!(
                "it reads {} of the ECS service {}, which stops being published once the service \
                 is gone: point the metric at the workload on EKS (e.g. a Container Insights or \
                 Prometheus metric of its pods)",
                names.join(", "),
                self.target.resource_id
            )
        })
    }

    fn build(mut self) -> ServiceImport {
        self.names_row();
        let (min, max) = self.capacity_rows();
        let mut policies: Vec<&ScalingPolicy> = self
            .input
            .scaling_policies
            .iter()
            .filter(|p| p.resource_id == self.target.resource_id)
            .filter(|p| p.service_namespace == "ecs" && p.scalable_dimension == ECS_DIMENSION)
            .collect();
        policies.sort_by(|a, b| a.policy_name.cmp(&b.policy_name));
        policies.dedup_by(|a, b| a.policy_name == b.policy_name);
        for policy in policies {
            self.policy(policy);
        }
        let mut actions: Vec<&ScheduledAction> = self
            .input
            .scheduled_actions
            .iter()
            .filter(|a| a.resource_id == self.target.resource_id && a.service_namespace == "ecs")
            .filter(|a| {
                a.scalable_dimension
                    .as_deref()
                    .is_none_or(|d| d == ECS_DIMENSION)
            })
            .collect();
        actions.sort_by(|a, b| a.scheduled_action_name.cmp(&b.scheduled_action_name));
        actions.dedup_by(|a, b| a.scheduled_action_name == b.scheduled_action_name);
        for action in actions {
            self.scheduled_action(action);
        }

        let suspended = self.target.suspended_state.unwrap_or_default();
        let suspended_state = SuspendedState {
            dynamic_scaling_in_suspended: suspended.dynamic_scaling_in_suspended.unwrap_or(false),
            dynamic_scaling_out_suspended: suspended.dynamic_scaling_out_suspended.unwrap_or(false),
            scheduled_scaling_suspended: suspended.scheduled_scaling_suspended.unwrap_or(false),
        };
        self.suspended_row(&suspended_state);

        let kind = self
            .assignment(&self.options.scale_target_kind)
            .unwrap_or_else(|| "Deployment".to_owned());
        let (api_version, kind) = split_kind(&kind);
        let workload = self
            .assignment(&self.options.scale_target_name)
            .unwrap_or_else(|| self.name.clone());
        let document = ScalingPolicySet {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            metadata: Metadata {
                name: self.name.clone(),
                namespace: Some(self.options.namespace.clone()),
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
            },
            spec: Spec {
                scalable_target: TargetSpec {
                    resource_id: Some(self.target.resource_id.clone()),
                    min_capacity: min,
                    max_capacity: max,
                    suspended_state,
                },
                scale_target_ref: Some(PolicyTargetRef {
                    api_version: api_version.clone(),
                    kind: Some(kind.clone()),
                    name: workload.clone(),
                }),
                metrics: std::mem::take(&mut self.metrics),
                alarms: std::mem::take(&mut self.alarms)
                    .into_iter()
                    .map(|(k, a)| (k, a.into()))
                    .collect(),
                policies: std::mem::take(&mut self.policies),
                scheduled_actions: std::mem::take(&mut self.scheduled_actions),
                behavior: self.behavior.clone(),
            },
        };
        let (low, high) = envelope(&document.spec);
        self.report.push(
            "capacity envelope (MinCapacity, MaxCapacity and every scheduled action)",
            format!("ScaledObject minReplicaCount {low}, maxReplicaCount {high}"),
            Status::Exact,
        );
        if low == 0 {
            self.report.push(
                "MinCapacity 0",
                "minReplicaCount 0, cooldownPeriod 0: KEDA scales 0 <-> 1 when the scaler's \
                 decision D becomes 0 or leaves it (IsActive is D > 0)",
                Status::Exact,
            );
        }
        self.report.push(
            "workload",
            format!(
                "scaleTargetRef {}{kind} `{workload}` (the current capacity is its replica count)",
                api_version
                    .as_deref()
                    .map(|v| format!("{v} "))
                    .unwrap_or_default()
            ),
            Status::Exact,
        );
        self.report.push(
            "cooldowns, alarms, step and target tracking arithmetic",
            format!(
                "computed by ecs-scaler; the HPA passes its decision through (trigger \
                 `{EXTERNAL_TRIGGER_NAME}`, AverageValue 1, stabilization 0 s, rate limits \
                 above any decision)"
            ),
            Status::Exact,
        );
        let tolerance = self.tolerance_row(&document.spec, low, high);

        if let Err(errors) = crate::policy::compile(&document) {
            for error in errors.0 {
                self.report.push(
                    format!("policy set check: {}", error.path),
                    "written as is",
                    Status::Decide(format!(
                        "`ecs-scaler validate` rejects it: {}; fix the field",
                        error.message
                    )),
                );
            }
        }

        // What `simulate --compare` replays for this policy set, with the workload and the
        // `cpu` / `memory` triggers, which only the ScaledObject carries.
        let scaled_object = ScaledObject::pass_through(
            &self.name,
            &self.options.namespace,
            &self.options.scaler_address,
            (low, high),
            tolerance,
        )
        .with_scale_target(ScaleTargetRef {
            api_version: if kind == "Deployment" {
                None
            } else {
                api_version
            },
            kind: (kind != "Deployment").then_some(kind),
            name: workload,
        })
        .with_triggers(std::mem::take(&mut self.triggers));
        ServiceImport {
            resource_id: self.target.resource_id.clone(),
            name: self.name,
            policy_set: document,
            scaled_object,
            report: self.report,
        }
    }

    fn policy(&mut self, policy: &ScalingPolicy) {
        match policy.policy_type.as_str() {
            "StepScaling" => match &policy.step_scaling_policy_configuration {
                Some(config) => self.step_policy(policy, config),
                None => self.report.push(
                    format!("policy `{}` (StepScaling)", policy.policy_name),
                    "not translated",
                    Status::Decide("it has no StepScalingPolicyConfiguration".to_owned()),
                ),
            },
            "TargetTrackingScaling" => match &policy.target_tracking_scaling_policy_configuration {
                Some(config) => self.target_tracking_policy(policy, config),
                None => self.report.push(
                    format!("policy `{}` (TargetTrackingScaling)", policy.policy_name),
                    "not translated",
                    Status::Decide("it has no TargetTrackingScalingPolicyConfiguration".to_owned()),
                ),
            },
            "PredictiveScaling" => {
                let mode = policy
                    .predictive_scaling_policy_configuration
                    .as_ref()
                    .and_then(|c| c.mode.clone())
                    .unwrap_or_else(|| "ForecastOnly".to_owned());
                let setting = format!(
                    "policy `{}` (PredictiveScaling, {mode})",
                    policy.policy_name
                );
                if mode == "ForecastOnly" {
                    self.report.push(
                        setting,
                        "not translated: in ForecastOnly mode it only forecasts and never scales",
                        Status::Exact,
                    );
                } else {
                    self.report.push(
                        setting,
                        "not translated: predictive scaling has no equivalent in ecs-scaler",
                        Status::Decide(
                            "it raised the capacity ahead of forecast load; replace it with \
                             scheduled actions (raise MinCapacity before the daily peaks) or a \
                             higher minimum"
                                .to_owned(),
                        ),
                    );
                }
            }
            other => self.report.push(
                format!("policy `{}` ({other})", policy.policy_name),
                "not translated",
                Status::Decide(format!("unknown policy type `{other}`")),
            ),
        }
    }
}

#[cfg(test)]
mod tests;
