//! From what AWS says about an ECS service to a `ScalingPolicySet`, a `ScaledObject` and a
//! report (spec A, C.2 and D).
//!
//! The translation is a pure function of the AWS input and the options, so the file path and
//! the live path give the same output for the same data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::str::FromStr;

use serde_json::{Value, json};

use super::aws::{
    AwsInput, CustomizedMetric, Dimension, MetricAlarm, MetricQuery, MetricStat, PredefinedMetric,
    ScalableTarget, ScalingPolicy, ScheduledAction, StepScalingConfiguration,
    TargetTrackingConfiguration,
};
use super::report::{Report, Status};
use super::scaled_object::{
    Advanced, Behavior, EXTERNAL_TRIGGER_NAME, HpaConfig, ObjectMeta, ScaleTargetRef, ScaledObject,
    ScaledObjectSpec, Trigger,
};
use crate::policy::document::{
    API_VERSION, AdjustmentType, AlarmSpec, BehaviorSpec, CloudWatchSpec, ComparisonOperator,
    ImplicitAlarmSpec, KIND, Metadata, MetricAggregationType, MetricSpec, PolicySpec,
    ScalableTarget as TargetSpec, ScalableTargetAction, ScaleTargetRef as PolicyTargetRef,
    ScalingPolicySet, ScheduledActionSpec, Spec, SqsSpec, Statistic, StepAdjustmentSpec,
    StepScalingSpec, SuspendedState, TargetTrackingSpec, TreatMissingData,
};
use crate::policy::validate::is_valid_period;
use crate::sources::cloudwatch::{is_valid_id, scan_identifiers};

/// The scalable dimension of ECS services.
pub const ECS_DIMENSION: &str = "ecs:service:DesiredCount";
/// AWS's default cooldown, in seconds.
const DEFAULT_COOLDOWN: i64 = 300;

/// `SERVICE=VALUE` (for one ECS service) or `VALUE` (for every service, or the only one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The ECS service name, when given.
    pub service: Option<String>,
    /// The value.
    pub value: String,
}

impl FromStr for Assignment {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (service, value) = match text.split_once('=') {
            Some((service, value)) => (Some(service.trim().to_owned()), value.trim()),
            None => (None, text.trim()),
        };
        if value.is_empty() || service.as_deref() == Some("") {
            return Err(format!("`{text}`: expected VALUE or SERVICE=VALUE"));
        }
        Ok(Self {
            service,
            value: value.to_owned(),
        })
    }
}

/// `OLD=NEW`: an ECS target group (resource label or `targetgroup/<name>/<id>`) and the one
/// that serves the workload on EKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupMapping {
    /// The ECS service's target group.
    pub old: String,
    /// The EKS workload's target group.
    pub new: String,
}

impl FromStr for TargetGroupMapping {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let Some((old, new)) = text.split_once('=') else {
            return Err(format!("`{text}`: expected OLD=NEW"));
        };
        let (old, new) = (old.trim(), new.trim());
        for side in [old, new] {
            if target_group_part(side).is_none() {
                return Err(format!(
                    "`{side}`: expected a target group as `targetgroup/<name>/<id>` or a \
                     resource label `app/<lb>/<lb-id>/targetgroup/<name>/<id>`"
                ));
            }
        }
        Ok(Self {
            old: old.to_owned(),
            new: new.to_owned(),
        })
    }
}

/// `targetgroup/<name>/<id>` out of a resource label or a target group.
fn target_group_part(text: &str) -> Option<&str> {
    let at = text.find("targetgroup/")?;
    let part = &text[at..];
    (part.split('/').filter(|s| !s.is_empty()).count() == 3).then_some(part)
}

/// A Kubernetes minor version, e.g. `1.33` (a `v` prefix and a patch level are accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubernetesVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl FromStr for KubernetesVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim().trim_start_matches('v');
        let mut parts = trimmed.split('.');
        let number = |part: Option<&str>| {
            part.and_then(|p| {
                p.trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse::<u32>()
                    .ok()
            })
        };
        match (number(parts.next()), number(parts.next())) {
            (Some(major), Some(minor)) => Ok(Self { major, minor }),
            _ => Err(format!("`{text}`: expected a version such as 1.33")),
        }
    }
}

impl std::fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What the translation needs besides the AWS data.
#[derive(Debug, Clone)]
pub struct Options {
    /// Namespace of the policy sets and ScaledObjects.
    pub namespace: String,
    /// `host:port` of the scaler, as KEDA reaches it.
    pub scaler_address: String,
    /// Workload kinds (`Deployment` when none applies).
    pub scale_target_kind: Vec<Assignment>,
    /// Workload names (the service's name when none applies).
    pub scale_target_name: Vec<Assignment>,
    /// The cluster's Kubernetes version: `tolerance: 0` from 1.33.
    pub kubernetes_version: KubernetesVersion,
    /// ECS target groups and their EKS replacements.
    pub target_group_map: Vec<TargetGroupMapping>,
    /// Region of the sources when no ARN names one.
    pub default_region: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            namespace: "default".to_owned(),
            scaler_address: DEFAULT_SCALER_ADDRESS.to_owned(),
            scale_target_kind: Vec::new(),
            scale_target_name: Vec::new(),
            kubernetes_version: KubernetesVersion {
                major: 1,
                minor: 35,
            },
            target_group_map: Vec::new(),
            default_region: None,
        }
    }
}

/// Where KEDA reaches the scaler when `--scaler-address` is not given.
pub const DEFAULT_SCALER_ADDRESS: &str = "ecs-scaler.ecs-scaler.svc:9090";

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

/// A number as AWS prints it: `70`, `70.5`.
fn num(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
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

fn dimensions_json(dimensions: &[Dimension]) -> Value {
    Value::Object(
        dimensions
            .iter()
            .map(|d| (d.name.clone(), Value::String(d.value.clone())))
            .collect(),
    )
}

fn describe_dimensions(dimensions: &[Dimension]) -> String {
    if dimensions.is_empty() {
        return String::new();
    }
    let list: Vec<String> = dimensions
        .iter()
        .map(|d| format!("{}={}", d.name, d.value))
        .collect();
    format!("{{{}}}", list.join(","))
}

/// The simple statistic `stat` names, for a policy's or an alarm's `statistic` (a CloudWatch
/// source delivers one value per period, so any statistic of it is that value).
fn simple_statistic(stat: &str) -> Statistic {
    match stat {
        "Sum" => Statistic::Sum,
        "Minimum" => Statistic::Minimum,
        "Maximum" => Statistic::Maximum,
        "SampleCount" => Statistic::SampleCount,
        _ => Statistic::Average,
    }
}

/// A CloudWatch source from its JSON fields (defaults for the rest).
fn cloudwatch_source(fields: Value) -> Result<CloudWatchSpec, String> {
    serde_json::from_value(fields).map_err(|e| format!("cannot build the CloudWatch source: {e}"))
}

/// The result of resolving a metric math query list.
#[derive(Debug)]
struct Math {
    /// The expression, with intermediate expressions inlined; `None` for a single metric.
    expression: Option<String>,
    /// The metrics it reads, by id (the single metric under its own id).
    inputs: BTreeMap<String, MetricStat>,
    /// The period of the returned query or of its inputs.
    period: Option<i64>,
}

fn resolve_math(queries: &[MetricQuery]) -> Result<Math, String> {
    let results: Vec<&MetricQuery> = queries
        .iter()
        .filter(|q| q.return_data.unwrap_or(true))
        .collect();
    let [result] = results.as_slice() else {
        return Err(format!(
            "{} of its metric math queries return data; exactly one must",
            results.len()
        ));
    };
    if let Some(query) = queries.iter().find(|q| q.account_id.is_some()) {
        return Err(format!(
            "query `{}` reads account {}: cross-account metric math has no equivalent in the \
             cloudwatch source (give the metric a `roleArn` in that account instead)",
            query.id,
            query.account_id.as_deref().unwrap_or_default()
        ));
    }
    let by_id: BTreeMap<&str, &MetricQuery> = queries.iter().map(|q| (q.id.as_str(), q)).collect();
    let mut inputs = BTreeMap::new();
    let expression = match (&result.expression, &result.metric_stat) {
        (Some(expression), _) => Some(inline(expression, &by_id, &mut inputs, 0)?),
        (None, Some(stat)) => {
            inputs.insert(result.id.clone(), stat.clone());
            None
        }
        (None, None) => {
            return Err(format!(
                "query `{}` has neither an Expression nor a MetricStat",
                result.id
            ));
        }
    };
    // `e1 = m1`: the metric itself.
    let expression = match expression {
        Some(text) if inputs.len() == 1 && inputs.contains_key(text.trim()) => None,
        other => other,
    };
    for id in inputs.keys() {
        if !is_valid_id(id) {
            return Err(format!("`{id}` is not a valid metric math id"));
        }
    }
    let period = result
        .period
        .or_else(|| inputs.values().find_map(|stat| stat.period));
    Ok(Math {
        expression,
        inputs,
        period,
    })
}

/// CloudWatch's longest metric math expression, in bytes.
const MAX_EXPRESSION_BYTES: usize = 2048;

/// `expression` with every reference to another expression replaced by that expression in
/// parentheses; the metrics it reads are added to `inputs`. An inlined expression longer than
/// CloudWatch takes is refused as soon as it grows past it: expressions that reference each
/// other many times over (`e1 = e2 + e2 + ...`, `e2 = e3 + e3 + ...`) would otherwise grow
/// exponentially with their depth.
fn inline(
    expression: &str,
    by_id: &BTreeMap<&str, &MetricQuery>,
    inputs: &mut BTreeMap<String, MetricStat>,
    depth: usize,
) -> Result<String, String> {
    if depth > 10 {
        return Err("its metric math expressions nest more than 10 deep".to_owned());
    }
    let too_long = || {
        format!(
            "its metric math, with the expressions it references written out, is longer than \
             CloudWatch's {MAX_EXPRESSION_BYTES} characters"
        )
    };
    let mut failure = None;
    let mut inlined = 0usize;
    let out = scan_identifiers(expression, |identifier, _| {
        if failure.is_some() {
            return None;
        }
        let query = by_id.get(identifier)?;
        match (&query.expression, &query.metric_stat) {
            (Some(inner), _) => match inline(inner, by_id, inputs, depth + 1) {
                Ok(inner) => {
                    let inner = if is_atomic(&inner) {
                        inner
                    } else {
                        format!("({inner})")
                    };
                    inlined += inner.len();
                    if inlined > MAX_EXPRESSION_BYTES {
                        failure = Some(too_long());
                        return None;
                    }
                    Some(inner)
                }
                Err(error) => {
                    failure = Some(error);
                    None
                }
            },
            (None, Some(stat)) => {
                inputs.insert(identifier.to_owned(), stat.clone());
                None
            }
            (None, None) => None,
        }
    });
    match failure {
        Some(error) => Err(error),
        None if out.len() > MAX_EXPRESSION_BYTES => Err(too_long()),
        None => Ok(out),
    }
}

/// Whether `expression` is one identifier or one function call, which need no parentheses.
fn is_atomic(expression: &str) -> bool {
    let name_end = expression
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(expression.len());
    if name_end == 0 {
        return false;
    }
    let rest = &expression[name_end..];
    if rest.is_empty() {
        return true;
    }
    if !rest.starts_with('(') || !rest.ends_with(')') {
        return false;
    }
    // The call's parenthesis must close at the very end.
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i == rest.len() - 1;
                }
            }
            '\'' | '"' => return false,
            _ => {}
        }
    }
    false
}

fn metric_stat_json(stat: &MetricStat) -> Value {
    let mut fields = json!({
        "namespace": stat.metric.namespace.clone().unwrap_or_default(),
        "metricName": stat.metric.metric_name.clone().unwrap_or_default(),
        "stat": stat.stat,
    });
    if !stat.metric.dimensions.is_empty() {
        fields["dimensions"] = dimensions_json(&stat.metric.dimensions);
    }
    if let Some(unit) = &stat.unit {
        fields["unit"] = json!(unit);
    }
    fields
}

fn describe_stat(stat: &MetricStat) -> String {
    format!(
        "{} {}{} {}",
        stat.metric.namespace.as_deref().unwrap_or("?"),
        stat.metric.metric_name.as_deref().unwrap_or("?"),
        describe_dimensions(&stat.metric.dimensions),
        stat.stat
    )
}

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

/// The shape of the alarms AAS created for a target tracking policy.
struct ImplicitShape {
    high: Option<(ImplicitAlarmSpec, Option<i64>)>,
    low: Option<ImplicitAlarmSpec>,
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

        let mut triggers = vec![Trigger {
            kind: "external".to_owned(),
            name: Some(EXTERNAL_TRIGGER_NAME.to_owned()),
            metric_type: "AverageValue".to_owned(),
            metadata: BTreeMap::from([
                (
                    "scalerAddress".to_owned(),
                    self.options.scaler_address.clone(),
                ),
                ("policy".to_owned(), self.name.clone()),
            ]),
        }];
        triggers.append(&mut self.triggers);
        let scaled_object = ScaledObject {
            api_version: "keda.sh/v1alpha1".to_owned(),
            kind: "ScaledObject".to_owned(),
            metadata: ObjectMeta {
                name: self.name.clone(),
                namespace: self.options.namespace.clone(),
            },
            spec: ScaledObjectSpec {
                scale_target_ref: ScaleTargetRef {
                    api_version: if kind == "Deployment" {
                        None
                    } else {
                        api_version
                    },
                    kind: (kind != "Deployment").then_some(kind),
                    name: workload,
                },
                polling_interval: 15,
                cooldown_period: (low == 0).then_some(0),
                min_replica_count: low,
                max_replica_count: high,
                advanced: Advanced {
                    horizontal_pod_autoscaler_config: HpaConfig {
                        behavior: Behavior::pass_through(high, tolerance),
                    },
                },
                triggers,
            },
        };
        ServiceImport {
            resource_id: self.target.resource_id.clone(),
            name: self.name,
            policy_set: document,
            scaled_object,
            report: self.report,
        }
    }

    fn names_row(&mut self) {
        let became = if self.name == self.service {
            format!("ScalingPolicySet and ScaledObject `{}`", self.name)
        } else {
            format!(
                "ScalingPolicySet and ScaledObject `{}` (Kubernetes names are lower-case DNS \
                 labels)",
                self.name
            )
        };
        self.report.push(
            format!("service `{}` of cluster `{}`", self.service, self.cluster),
            became,
            Status::Exact,
        );
    }

    fn capacity_rows(&mut self) -> (u32, u32) {
        let min = u32::try_from(self.target.min_capacity);
        let max = u32::try_from(self.target.max_capacity);
        match (min, max) {
            (Ok(min), Ok(max)) => {
                self.report.push(
                    format!("MinCapacity {min}, MaxCapacity {max}"),
                    "spec.scalableTarget minCapacity, maxCapacity",
                    Status::Exact,
                );
                (min, max)
            }
            _ => {
                self.report.push(
                    format!(
                        "MinCapacity {}, MaxCapacity {}",
                        self.target.min_capacity, self.target.max_capacity
                    ),
                    "spec.scalableTarget minCapacity 0, maxCapacity 0",
                    Status::Decide(
                        "a capacity is negative or above 4294967295: set them".to_owned(),
                    ),
                );
                (0, 0)
            }
        }
    }

    fn suspended_row(&mut self, state: &SuspendedState) {
        let flags = [
            (
                "DynamicScalingInSuspended",
                state.dynamic_scaling_in_suspended,
            ),
            (
                "DynamicScalingOutSuspended",
                state.dynamic_scaling_out_suspended,
            ),
            (
                "ScheduledScalingSuspended",
                state.scheduled_scaling_suspended,
            ),
        ];
        let text: Vec<String> = flags.iter().map(|(n, v)| format!("{n} {v}")).collect();
        self.report.push(
            format!("SuspendedState: {}", text.join(", ")),
            "spec.scalableTarget.suspendedState (the scaler holds its decision as ECS would)",
            Status::Exact,
        );
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

    /// The alarms that invoke `policy`: those it lists, else those whose actions name it.
    fn resolve_alarms(&self, policy: &ScalingPolicy) -> Result<Vec<&'a MetricAlarm>, String> {
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
        if !listed.is_empty() {
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for name in &listed {
                match all.iter().find(|a| a.alarm_name == *name) {
                    Some(alarm) => found.push(alarm),
                    None => missing.push(*name),
                }
            }
            if !missing.is_empty() {
                return Err(format!(
                    "its alarm(s) `{}` are not in describe-alarms",
                    missing.join("`, `")
                ));
            }
            return Ok(found);
        }
        if policy.policy_arn.is_empty() {
            return Ok(Vec::new());
        }
        Ok(all
            .iter()
            .filter(|alarm| {
                alarm
                    .alarm_actions
                    .iter()
                    .any(|action| invokes(action, &policy.policy_arn))
            })
            .collect())
    }

    fn step_policy(&mut self, policy: &ScalingPolicy, config: &StepScalingConfiguration) {
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
        let alarms = match self.resolve_alarms(policy) {
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

    /// Adds `alarm` and its metric (once) and reports it; its key in `spec.alarms`.
    fn alarm(&mut self, alarm: &MetricAlarm) -> Result<String, String> {
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
                        metric: super::aws::Metric {
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

    fn target_tracking_policy(
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
                metric: super::aws::Metric {
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
            if self.options.kubernetes_version
                >= (KubernetesVersion {
                    major: 1,
                    minor: 33
                })
            {
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

    /// The alarms AAS created for `policy`, when describe-alarms has them.
    fn implicit_shape(&self, policy: &ScalingPolicy) -> Option<ImplicitShape> {
        let alarms = self.resolve_alarms(policy).ok()?;
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

    fn scheduled_action(&mut self, action: &ScheduledAction) {
        let bounds = action.scalable_target_action.unwrap_or_default();
        let mut setting = format!(
            "scheduled action `{}` ({}",
            action.scheduled_action_name, action.schedule
        );
        if let Some(zone) = &action.timezone {
            let _ = write!(setting, " {zone}");
        }
        if let Some(min) = bounds.min_capacity {
            let _ = write!(setting, ", MinCapacity {min}");
        }
        if let Some(max) = bounds.max_capacity {
            let _ = write!(setting, ", MaxCapacity {max}");
        }
        if let Some(start) = action.start_time {
            let _ = write!(setting, ", from {start}");
        }
        if let Some(end) = action.end_time {
            let _ = write!(setting, ", until {end}");
        }
        setting.push(')');
        let convert = |v: Option<i64>| v.map(u32::try_from).transpose();
        let (Ok(min_capacity), Ok(max_capacity)) =
            (convert(bounds.min_capacity), convert(bounds.max_capacity))
        else {
            self.report.push(
                setting,
                "not translated",
                Status::Decide("a capacity is negative or above 4294967295".to_owned()),
            );
            return;
        };
        let zone = action.timezone.as_deref().unwrap_or("UTC");
        let checked = zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| format!("`{zone}` is not an IANA time zone"))
            .and_then(|tz| {
                crate::engine::schedule::Schedule::parse(
                    &action.schedule,
                    tz,
                    action.start_time.map(|t| t.0),
                    action.end_time.map(|t| t.0),
                )
            });
        if let Err(why) = checked {
            self.report.push(
                setting,
                "not translated",
                Status::Decide(format!("the scaler cannot run this schedule: {why}")),
            );
            return;
        }
        self.scheduled_actions.push(ScheduledActionSpec {
            scheduled_action_name: action.scheduled_action_name.clone(),
            schedule: action.schedule.clone(),
            timezone: action.timezone.clone(),
            start_time: action.start_time.map(|t| t.0),
            end_time: action.end_time.map(|t| t.0),
            scalable_target_action: ScalableTargetAction {
                min_capacity,
                max_capacity,
            },
        });
        self.report.push(
            setting,
            format!(
                "spec.scheduledActions `{}` (run by the scaler, which clamps its decision to \
                 the bounds in force)",
                action.scheduled_action_name
            ),
            Status::Exact,
        );
    }

    /// Reports the HPA tolerance; the tolerance to write.
    fn tolerance_row(&mut self, spec: &Spec, low: u32, high: u32) -> Option<u32> {
        let version = self.options.kubernetes_version;
        let v133 = KubernetesVersion {
            major: 1,
            minor: 33,
        };
        let v135 = KubernetesVersion {
            major: 1,
            minor: 35,
        };
        let lost = swallowed_steps(spec, low, high);
        let other_changes = spec.policies.iter().any(|p| p.target_tracking.is_some())
            || !spec.scheduled_actions.is_empty();
        let mut losses = Vec::new();
        if !lost.is_empty() {
            losses.push(format!("step changes lost: {}", lost.join("; ")));
        }
        if other_changes {
            losses.push(
                "any target tracking or scheduled change of D within 10% of the current replicas"
                    .to_owned(),
            );
        }
        let nothing_lost = losses.is_empty();
        let losses = if nothing_lost {
            "no step of this service is small enough to be lost".to_owned()
        } else {
            losses.join("; ")
        };
        if version >= v135 {
            self.report.push(
                "HPA tolerance (10% by default)",
                format!("tolerance: 0 on scaleUp and scaleDown (Kubernetes {version})"),
                Status::Exact,
            );
            Some(0)
        } else if version >= v133 {
            let status = if nothing_lost {
                Status::Exact
            } else {
                Status::Approximate(format!(
                    "on Kubernetes {version} `tolerance` needs the HPAConfigurableTolerance \
                     feature gate (alpha, off by default; managed control planes such as EKS do \
                     not let you turn it on); without it the 10% tolerance applies: {losses}"
                ))
            };
            self.report.push(
                "HPA tolerance (10% by default)",
                format!(
                    "tolerance: 0 on scaleUp and scaleDown (Kubernetes {version}: only with the \
                     HPAConfigurableTolerance feature gate)"
                ),
                status,
            );
            Some(0)
        } else {
            let status = if nothing_lost {
                Status::Exact
            } else {
                Status::Approximate(format!(
                    "Kubernetes {version} has no per-HPA tolerance (1.33+): {losses}"
                ))
            };
            self.report.push(
                "HPA tolerance (10% by default)",
                "not set: the cluster's 10% tolerance applies to the scaler's decision",
                status,
            );
            None
        }
    }
}

/// Whether an alarm action invokes the policy `policy_arn` (target tracking alarms add
/// `:createdBy/<uuid>`).
fn invokes(action: &str, policy_arn: &str) -> bool {
    action == policy_arn
        || action
            .strip_prefix(policy_arn)
            .is_some_and(|rest| rest.starts_with(':'))
}

/// `A / B` split at its last division outside parentheses and string literals.
fn split_top_level_division(expression: &str) -> Option<(&str, &str)> {
    let mut depth = 0i32;
    let mut quote = None;
    let mut last = None;
    for (i, c) in expression.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, '/') if depth == 0 => last = Some(i),
            _ => {}
        }
    }
    let at = last?;
    Some((&expression[..at], &expression[at + 1..]))
}

/// `apps/v1/Deployment` or `Deployment` into `(apiVersion, kind)`.
fn split_kind(kind: &str) -> (Option<String>, String) {
    match kind.rsplit_once('/') {
        Some((api_version, kind)) => (Some(api_version.to_owned()), kind.to_owned()),
        None => {
            let api_version = matches!(kind, "Deployment" | "StatefulSet" | "ReplicaSet")
                .then(|| "apps/v1".to_owned());
            (api_version, kind.to_owned())
        }
    }
}

fn operator_symbol(operator: ComparisonOperator) -> &'static str {
    match operator {
        ComparisonOperator::GreaterThanOrEqualToThreshold => ">=",
        ComparisonOperator::GreaterThanThreshold => ">",
        ComparisonOperator::LessThanThreshold => "<",
        ComparisonOperator::LessThanOrEqualToThreshold => "<=",
    }
}

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

/// The cloudwatch source fields of resolved metric math, its description and the statistic for
/// the policy or alarm.
fn math_fields(math: &Math) -> (Value, String, Statistic) {
    match &math.expression {
        None => {
            let stat = math.inputs.values().next().cloned();
            match stat {
                Some(stat) => (
                    metric_stat_json(&stat),
                    describe_stat(&stat),
                    simple_statistic(&stat.stat),
                ),
                None => (json!({}), String::new(), Statistic::Average),
            }
        }
        Some(expression) => {
            let inputs: serde_json::Map<String, Value> = math
                .inputs
                .iter()
                .map(|(id, stat)| (id.clone(), metric_stat_json(stat)))
                .collect();
            let described: Vec<String> = math
                .inputs
                .iter()
                .map(|(id, stat)| format!("{id} = {}", describe_stat(stat)))
                .collect();
            (
                json!({"expression": expression, "metrics": Value::Object(inputs)}),
                format!("{expression} with {}", described.join(", ")),
                Statistic::Average,
            )
        }
    }
}

/// The lowest minimum and the highest maximum over the target and its scheduled actions.
pub fn envelope(spec: &Spec) -> (u32, u32) {
    spec.scheduled_actions.iter().fold(
        (
            spec.scalable_target.min_capacity,
            spec.scalable_target.max_capacity,
        ),
        |(low, high), action| {
            let bounds = action.scalable_target_action;
            (
                bounds.min_capacity.map_or(low, |m| low.min(m)),
                bounds.max_capacity.map_or(high, |m| high.max(m)),
            )
        },
    )
}

/// How many capacities [`swallowed_steps`] checks per step, from the lowest: twice ECS's quota
/// of tasks per service (5,000). A `MaxCapacity` in the millions or billions (AWS takes any
/// `int`) would otherwise take minutes or hours; the report then says where it stopped.
pub const SWALLOWED_STEPS_SCAN: u32 = 10_000;

/// For each step of each step policy, the capacities in `[low, high]` at which the HPA's
/// default 10% tolerance would swallow the change it makes (only the lowest
/// [`SWALLOWED_STEPS_SCAN`] capacities are checked).
pub fn swallowed_steps(spec: &Spec, low: u32, high: u32) -> Vec<String> {
    use crate::simulate::hpa::{DEFAULT_TOLERANCE, Hpa, MetricReading, Rules};
    if low > high {
        // No capacity fits (the policy set does not compile, and the report says so).
        return Vec::new();
    }
    let hpa = Hpa::new(
        low.max(1),
        high.max(1),
        Rules::scale_up(None, DEFAULT_TOLERANCE),
        Rules::scale_down(None, DEFAULT_TOLERANCE),
    );
    let magnitude_on_scale_in = spec.behavior.min_adjustment_magnitude_on_scale_in;
    let first = low.max(1);
    let last = high
        .max(1)
        .min(first.saturating_add(SWALLOWED_STEPS_SCAN - 1));
    let unchecked = if last < high {
        format!(" (checked up to {last} replicas)")
    } else {
        String::new()
    };
    let mut out = Vec::new();
    for policy in &spec.policies {
        let Some(step) = &policy.step_scaling else {
            continue;
        };
        for adjustment in &step.step_adjustments {
            let mut lost: Vec<u32> = Vec::new();
            for current in first..=last {
                let wanted = crate::engine::step::adjusted_capacity(
                    step.adjustment_type,
                    adjustment.scaling_adjustment,
                    i64::from(current),
                    step.min_adjustment_magnitude.unwrap_or(0),
                    magnitude_on_scale_in,
                )
                .clamp(i64::from(low), i64::from(high));
                if wanted == i64::from(current) {
                    continue;
                }
                let (proposed, swallowed) = hpa.propose(
                    current,
                    MetricReading::AverageValue {
                        total: wanted as f64,
                        target: 1.0,
                    },
                );
                if swallowed && proposed == current {
                    lost.push(current);
                }
            }
            if lost.is_empty() {
                continue;
            }
            let change = match step.adjustment_type {
                AdjustmentType::ChangeInCapacity => format!("{:+}", adjustment.scaling_adjustment),
                AdjustmentType::PercentChangeInCapacity => {
                    format!("{:+}%", adjustment.scaling_adjustment)
                }
                AdjustmentType::ExactCapacity => format!("={}", adjustment.scaling_adjustment),
            };
            out.push(format!(
                "`{}` {change} at {} replicas{unchecked}",
                policy.policy_name,
                ranges(&lost)
            ));
        }
    }
    out
}

/// `1, 2, 3, 7` as `1-3, 7`.
fn ranges(values: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut iter = values.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while let Some(next) = end.checked_add(1)
            && iter.peek() == Some(&next)
        {
            end = next;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests;
