//! `simulate --compare`: the same trace through three pipelines, side by side.
//!
//! 1. **ECS**: the engine alone, each decision applied at once (the reference).
//! 2. **EKS with ecs-scaler**: the engine sees the workload's ready replicas; KEDA asks for D;
//!    the HPA ([`super::hpa`]) turns D into replicas every sync period, through its tolerance,
//!    stabilization and rate policies; KEDA activates from zero at its polling interval; new
//!    pods count as running only after the pod start delay.
//! 3. **Naive migration**: KEDA's built-in triggers with the same targets (one per target
//!    tracking policy: `AverageValue` for a per-task metric such as an SQS backlog, a ratio for
//!    a utilization) and the HPA's default behaviour. Step scaling and scheduled actions have no
//!    built-in equivalent and are left out of it.
//!
//! Time advances in steps of [`RESOLUTION_SECONDS`]; the engines evaluate every `step`
//! seconds, the HPAs sync every `sync_period`, half a period out of phase with the engines
//! (in a cluster the two clocks are independent), so a decision reaches the replicas with a
//! lag, as it would on EKS.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::TracePoint;
use super::hpa::{Activation, Behavior, Cluster, Hpa, MetricReading};
use crate::capacity::CapacityObservation;
use crate::controller::Runtime;
use crate::import::scaled_object::{self, KedaVersion, ScaledObject};
use crate::policy::CompiledPolicySet;
use crate::policy::compiled::PolicyKind;

/// Granularity of the simulated clock, in seconds.
pub const RESOLUTION_SECONDS: i64 = 5;

/// The KEDA and HPA settings of the EKS pipeline, read from a ScaledObject.
#[derive(Debug, Clone, PartialEq)]
pub struct EksSettings {
    /// `minReplicaCount` (the HPA's minimum is `max(it, 1)`).
    pub min_replica_count: u32,
    /// `maxReplicaCount`.
    pub max_replica_count: u32,
    /// `pollingInterval`, seconds.
    pub polling_interval: i64,
    /// `cooldownPeriod`, seconds.
    pub cooldown_period: i64,
    /// `advanced.horizontalPodAutoscalerConfig.behavior`, as KEDA passes it to the HPA.
    pub behavior: Behavior,
    /// The ScaledObject's `cpu` and `memory` triggers, which the HPA computes itself.
    pub resource_triggers: Vec<ResourceTrigger>,
    /// The cluster's HPA controller: its tolerance test and whether it keeps `tolerance`.
    pub cluster: Cluster,
    /// HPA sync period, seconds.
    pub sync_period: i64,
    /// Seconds before a new pod counts as running.
    pub pod_start_delay: i64,
    /// What of the ScaledObject the cluster or KEDA drops, or the comparison leaves out.
    pub notes: Vec<String>,
}

/// A KEDA `cpu` or `memory` trigger with a `Utilization` target: the HPA proposes
/// `ceil(replicas * utilization / value)`, reading the utilization from the trace metric named
/// like the resource (`cpu`, `memory`; percent of the pods' requests).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceTrigger {
    /// The trigger's name (or its type when it has none).
    pub name: String,
    /// `cpu` or `memory`: also the trace metric it reads.
    pub resource: String,
    /// `metadata.value`: the target utilization, percent.
    pub target: f64,
}

impl EksSettings {
    /// The ScaledObject `ecs-scaler import` writes for `set` on this cluster and KEDA version
    /// ([`ScaledObject::pass_through`]), read as `--scaled-object` reads a file.
    pub fn imported(
        set: &CompiledPolicySet,
        cluster: Cluster,
        keda: KedaVersion,
    ) -> Result<Self, String> {
        let object = ScaledObject::pass_through(
            &set.id.name,
            &set.id.namespace,
            crate::import::translate::DEFAULT_SCALER_ADDRESS,
            envelope(set),
            scaled_object::tolerance_field(cluster.version, keda),
        );
        let value = serde_json::to_value(&object).map_err(|e| e.to_string())?;
        Self::from_value(&value, cluster, keda)
    }

    /// Reads a ScaledObject (YAML or JSON); absent fields keep KEDA's defaults.
    pub fn from_scaled_object(
        text: &str,
        cluster: Cluster,
        keda: KedaVersion,
    ) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_saphyr::from_str(text).map_err(|e| format!("invalid ScaledObject YAML: {e}"))?;
        Self::from_value(&value, cluster, keda)
    }

    fn from_value(
        value: &serde_json::Value,
        cluster: Cluster,
        keda: KedaVersion,
    ) -> Result<Self, String> {
        if value.get("kind").and_then(|k| k.as_str()) != Some("ScaledObject") {
            return Err("kind: expected ScaledObject".to_owned());
        }
        let spec = value.get("spec").cloned().unwrap_or_default();
        let number = |path: &str, default: i64| -> Result<i64, String> {
            match spec.pointer(path) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(v) => v.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
                    format!(
                        "spec{}: expected a whole number, found {v}",
                        path.replace('/', ".")
                    )
                }),
            }
        };
        const BEHAVIOR: &str = "spec.advanced.horizontalPodAutoscalerConfig.behavior";
        let mut behavior = match spec.pointer("/advanced/horizontalPodAutoscalerConfig/behavior") {
            None | Some(serde_json::Value::Null) => Behavior::default(),
            Some(b) => serde_path_to_error::deserialize(b).map_err(|e| {
                let path = e.path().to_string();
                if path == "." {
                    format!("{BEHAVIOR}: {}", e.inner())
                } else {
                    format!("{BEHAVIOR}.{path}: {}", e.inner())
                }
            })?,
        };
        let mut notes = Vec::new();
        let has_tolerance = [&behavior.scale_up, &behavior.scale_down]
            .iter()
            .any(|rules| rules.as_ref().is_some_and(|r| r.tolerance.is_some()));
        if has_tolerance && !keda.has_tolerance() {
            notes.push(format!(
                "KEDA {keda}'s ScaledObject has no `tolerance` (KEDA 2.18+): the HPA applies the \
                 cluster's 10% tolerance"
            ));
            for rules in [&mut behavior.scale_up, &mut behavior.scale_down]
                .into_iter()
                .flatten()
            {
                rules.tolerance = None;
            }
        } else if has_tolerance && !cluster.keeps_tolerance_field() {
            notes.push(format!(
                "Kubernetes {} drops `tolerance` without the HPAConfigurableTolerance feature \
                 gate (from 1.33; on by default from 1.35): the HPA applies the cluster's 10% \
                 tolerance",
                cluster.version
            ));
        }
        let resource_triggers = resource_triggers(&spec, &mut notes)?;
        let to_u32 = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Self {
            min_replica_count: to_u32(number("/minReplicaCount", 0)?),
            max_replica_count: to_u32(number("/maxReplicaCount", 100)?),
            polling_interval: number("/pollingInterval", 30)?.max(1),
            cooldown_period: number("/cooldownPeriod", 300)?,
            behavior,
            resource_triggers,
            cluster,
            sync_period: 15,
            pod_start_delay: 0,
            notes,
        })
    }

    fn hpa(&self) -> Hpa {
        self.cluster.hpa(
            self.min_replica_count.max(1),
            self.max_replica_count,
            &self.behavior,
        )
    }

    /// The trace metrics the resource triggers read besides the policy set's: `cpu`, `memory`.
    pub fn extra_metrics(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for trigger in &self.resource_triggers {
            if !names.contains(&trigger.resource.as_str()) {
                names.push(&trigger.resource);
            }
        }
        names
    }
}

/// The `cpu` and `memory` triggers of a ScaledObject's `spec`; other triggers than the
/// scaler's (`external`, `external-push`) are noted as left out.
fn resource_triggers(
    spec: &serde_json::Value,
    notes: &mut Vec<String>,
) -> Result<Vec<ResourceTrigger>, String> {
    let mut out = Vec::new();
    let triggers = spec
        .get("triggers")
        .and_then(|t| t.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, trigger) in triggers.iter().enumerate() {
        let kind = trigger.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let name = trigger
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or(kind)
            .to_owned();
        match kind {
            "external" | "external-push" => {}
            "cpu" | "memory" => {
                let metric_type = trigger
                    .get("metricType")
                    .and_then(|t| t.as_str())
                    .unwrap_or("Utilization");
                if metric_type != "Utilization" {
                    notes.push(format!(
                        "trigger `{name}`: a {kind} target of type {metric_type} is left out \
                         (the trace gives utilization in percent)"
                    ));
                    continue;
                }
                let value = trigger.pointer("/metadata/value");
                let target = value
                    .and_then(|v| match v {
                        serde_json::Value::String(text) => text.trim().parse::<f64>().ok(),
                        other => other.as_f64(),
                    })
                    .filter(|t| t.is_finite() && *t > 0.0)
                    .ok_or_else(|| {
                        format!(
                            "spec.triggers[{i}].metadata.value: expected the target utilization \
                             in percent (a number > 0, such as \"70\"), found {}",
                            value.map_or_else(|| "nothing".to_owned(), ToString::to_string)
                        )
                    })?;
                out.push(ResourceTrigger {
                    name,
                    resource: kind.to_owned(),
                    target,
                });
            }
            other => notes.push(format!(
                "trigger `{name}` of type `{other}` is left out of the comparison"
            )),
        }
    }
    Ok(out)
}

/// The lowest minimum and highest maximum over the scalable target and its scheduled actions.
pub fn envelope(set: &CompiledPolicySet) -> (u32, u32) {
    set.scheduled_actions.iter().fold(
        (set.min_capacity, set.max_capacity),
        |(min, max), action| {
            (
                action.min_capacity.map_or(min, |m| min.min(m)),
                action.max_capacity.map_or(max, |m| max.max(m)),
            )
        },
    )
}

/// The three capacities at one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareRow {
    /// When.
    pub time: DateTime<Utc>,
    /// The ECS reference.
    pub ecs: u32,
    /// EKS with ecs-scaler (the workload's replicas).
    pub eks: u32,
    /// KEDA's built-in triggers with HPA defaults; `None` when no policy has an equivalent.
    pub naive: Option<u32>,
}

/// How one pipeline differs from the reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deviation {
    /// Largest absolute difference in replicas.
    pub max_abs_diff: u32,
    /// Replica-minutes above the reference.
    pub replica_minutes_over: f64,
    /// Replica-minutes below the reference.
    pub replica_minutes_under: f64,
    /// Seconds until each scale-out of the reference was reached (`None`: never).
    pub scale_out_lags_seconds: Vec<Option<i64>>,
    /// HPA syncs where the tolerance kept a change from happening.
    pub steps_lost_to_tolerance: u32,
    /// Those syncs: when, the replicas kept and the replicas asked for.
    pub steps_lost: Vec<LostStep>,
}

/// A change the HPA's tolerance held back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LostStep {
    /// The HPA sync.
    pub time: DateTime<Utc>,
    /// The replicas it kept.
    pub replicas: u32,
    /// The replicas the metric asked for.
    pub wanted: u32,
}

/// The result of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// One row per evaluation.
    pub rows: Vec<CompareRow>,
    /// EKS with ecs-scaler against ECS.
    pub eks: Deviation,
    /// The naive migration against ECS, when it applies.
    pub naive: Option<Deviation>,
    /// What of the ScaledObject the cluster or KEDA drops, or the comparison leaves out.
    pub notes: Vec<String>,
    /// One line: does EKS reproduce ECS?
    pub verdict: String,
}

/// The built-in KEDA trigger that a target tracking policy would naively become.
#[derive(Debug, Clone, Copy)]
struct NaiveTrigger {
    metric: usize,
    target: f64,
    per_task: bool,
}

fn naive_triggers(set: &CompiledPolicySet) -> Vec<NaiveTrigger> {
    set.policies
        .iter()
        .filter_map(|policy| match &policy.kind {
            PolicyKind::TargetTracking(tt) => Some(NaiveTrigger {
                metric: tt.metric,
                target: tt.target_value,
                per_task: tt.per_task,
            }),
            PolicyKind::StepScaling(_) => None,
        })
        .collect()
}

/// Replica counts over time, to find how many pods were running (started long enough ago).
struct ReplicaLog {
    entries: Vec<(i64, u32)>,
}

impl ReplicaLog {
    fn set(&mut self, t: i64, replicas: u32) {
        if self.entries.last().is_none_or(|(_, r)| *r != replicas) {
            self.entries.push((t, replicas));
        }
    }

    /// Pods running at `t`: the fewest replicas over `[t - delay, t]`.
    fn running(&self, t: i64, delay: i64) -> u32 {
        let from = t - delay;
        let mut running = u32::MAX;
        for (i, (since, replicas)) in self.entries.iter().enumerate() {
            let until = self.entries.get(i + 1).map_or(i64::MAX, |(next, _)| *next);
            if until > from && *since <= t {
                running = running.min(*replicas);
            }
        }
        if running == u32::MAX { 0 } else { running }
    }
}

/// Runs the three pipelines over `trace` from `start`, engines evaluating every `step_seconds`.
pub fn compare(
    set: Arc<CompiledPolicySet>,
    trace: &[TracePoint],
    start: DateTime<Utc>,
    step_seconds: u32,
    initial_capacity: Option<u32>,
    eks: &EksSettings,
) -> Comparison {
    let step = i64::from(step_seconds.max(1));
    let t0 = start.timestamp();
    let end = trace.last().map_or(t0, |p| p.at.timestamp().max(t0));
    let initial = initial_capacity.unwrap_or(set.min_capacity);
    let at = |t: i64| DateTime::from_timestamp(t, 0).unwrap_or(start);

    let mut ecs_runtime = Runtime::new(set.clone(), initial, start);
    let mut eks_runtime = Runtime::new(set.clone(), initial, start);
    let mut ecs = initial;
    let mut eks_replicas = initial;
    let mut eks_log = ReplicaLog {
        entries: vec![(t0, initial)],
    };
    let mut eks_desired = initial;
    let mut eks_hpa = eks.hpa();
    let extra = eks.extra_metrics();
    let resource_metrics: Vec<(usize, f64)> = eks
        .resource_triggers
        .iter()
        .filter_map(|trigger| {
            super::metric_index(&set, &extra, &trigger.resource).map(|i| (i, trigger.target))
        })
        .collect();
    let mut eks_keda = Activation::new(
        eks.min_replica_count,
        eks.polling_interval,
        eks.cooldown_period,
        t0,
    );

    let triggers = naive_triggers(&set);
    let naive_settings = EksSettings {
        behavior: Behavior::default(),
        resource_triggers: Vec::new(),
        min_replica_count: set.min_capacity,
        max_replica_count: set.max_capacity,
        polling_interval: 30,
        ..eks.clone()
    };
    let mut naive_hpa = naive_settings.hpa();
    let mut naive_keda = Activation::new(set.min_capacity, 30, 300, t0);
    let mut naive = initial;
    let mut latest: Vec<Option<f64>> = vec![None; set.metrics.len() + extra.len()];

    // The HPA's clock is independent of the scaler's: it syncs half a period out of phase.
    let hpa_phase = (eks.sync_period / 2 / RESOLUTION_SECONDS) * RESOLUTION_SECONDS;
    let mut next_point = 0;
    let mut rows = Vec::new();
    let mut eks_lost = Vec::new();
    let mut naive_lost = Vec::new();
    let mut samples: Vec<(u32, u32, u32)> = Vec::new();
    let mut t = t0;
    while t <= end {
        while let Some(point) = trace.get(next_point).filter(|p| p.at.timestamp() <= t) {
            if point.metric < set.metrics.len() {
                ecs_runtime.record(point.metric, point.at, point.value, ecs);
                let running = eks_log.running(t, eks.pod_start_delay);
                eks_runtime.record(point.metric, point.at, point.value, running);
            }
            if let Some(slot) = latest.get_mut(point.metric) {
                *slot = Some(point.value);
            }
            next_point += 1;
        }
        if (t - t0) % step == 0 {
            let observation = |current| CapacityObservation {
                current,
                rollout_in_progress: false,
            };
            ecs = ecs_runtime.evaluate(observation(ecs), at(t)).desired;
            let running = eks_log.running(t, eks.pod_start_delay);
            eks_desired = eks_runtime.evaluate(observation(running), at(t)).desired;
        }
        if (t - t0 - hpa_phase) % eks.sync_period == 0 {
            let decision = MetricReading::AverageValue {
                total: f64::from(eks_desired),
                target: 1.0,
            };
            let mut readings = vec![decision];
            readings.extend(resource_metrics.iter().map(|&(metric, target)| {
                latest[metric].map_or(MetricReading::Unavailable, |value| MetricReading::Ratio {
                    value,
                    target,
                })
            }));
            let sync = eks_hpa.sync(t, eks_replicas, &readings);
            // A step of the scaler's decision lost, not one of a resource trigger.
            let decision_held = eks_hpa.propose(eks_replicas, decision).1;
            if sync.lost_to_tolerance && decision_held {
                eks_lost.push(LostStep {
                    time: at(t),
                    replicas: eks_replicas,
                    wanted: eks_desired,
                });
            }
            eks_replicas = sync.replicas;
            if !triggers.is_empty() {
                let readings: Vec<MetricReading> = triggers
                    .iter()
                    .filter_map(|trigger| {
                        let value = latest[trigger.metric]?;
                        Some(if trigger.per_task {
                            MetricReading::AverageValue {
                                total: value,
                                target: trigger.target,
                            }
                        } else {
                            MetricReading::Ratio {
                                value,
                                target: trigger.target,
                            }
                        })
                    })
                    .collect();
                let sync = naive_hpa.sync(t, naive, &readings);
                if let Some(wanted) = sync.held_back {
                    naive_lost.push(LostStep {
                        time: at(t),
                        replicas: naive,
                        wanted,
                    });
                }
                naive = sync.replicas;
            }
        }
        eks_replicas = eks_keda.check(t, eks_desired > 0, eks_replicas, eks_hpa.min);
        if !triggers.is_empty() {
            let active = triggers
                .iter()
                .any(|trigger| latest[trigger.metric].is_some_and(|v| v > 0.0));
            naive = naive_keda.check(t, active, naive, naive_hpa.min);
        }
        eks_log.set(t, eks_replicas);
        samples.push((ecs, eks_replicas, naive));
        if (t - t0) % step == 0 {
            rows.push(CompareRow {
                time: at(t),
                ecs,
                eks: eks_replicas,
                naive: (!triggers.is_empty()).then_some(naive),
            });
        }
        t += RESOLUTION_SECONDS;
    }

    let eks_deviation = deviation(&samples, |s| s.1, eks_lost);
    let naive_deviation = (!triggers.is_empty()).then(|| deviation(&samples, |s| s.2, naive_lost));
    let verdict = verdict(&eks_deviation, eks);
    let mut notes = eks.notes.clone();
    for (trigger, (metric, _)) in eks.resource_triggers.iter().zip(&resource_metrics) {
        if !trace.iter().any(|p| p.metric == *metric) {
            notes.push(format!(
                "trigger `{}` reads the trace metric `{}`, which has no value: the HPA never \
                 scales down while a metric fails",
                trigger.name, trigger.resource
            ));
        }
    }
    Comparison {
        rows,
        eks: eks_deviation,
        naive: naive_deviation,
        notes,
        verdict,
    }
}

fn deviation(
    samples: &[(u32, u32, u32)],
    pick: impl Fn(&(u32, u32, u32)) -> u32,
    lost: Vec<LostStep>,
) -> Deviation {
    let minutes_per_sample = RESOLUTION_SECONDS as f64 / 60.0;
    let mut result = Deviation {
        max_abs_diff: 0,
        replica_minutes_over: 0.0,
        replica_minutes_under: 0.0,
        scale_out_lags_seconds: Vec::new(),
        steps_lost_to_tolerance: u32::try_from(lost.len()).unwrap_or(u32::MAX),
        steps_lost: lost,
    };
    for (i, sample) in samples.iter().enumerate() {
        let (reference, other) = (sample.0, pick(sample));
        result.max_abs_diff = result.max_abs_diff.max(reference.abs_diff(other));
        let difference = f64::from(other) - f64::from(reference);
        if difference > 0.0 {
            result.replica_minutes_over += difference * minutes_per_sample;
        } else {
            result.replica_minutes_under -= difference * minutes_per_sample;
        }
        let scaled_out = i > 0 && sample.0 > samples[i - 1].0;
        if scaled_out {
            let reached = samples[i..].iter().position(|s| pick(s) >= reference);
            result
                .scale_out_lags_seconds
                .push(reached.map(|k| k as i64 * RESOLUTION_SECONDS));
        }
    }
    result
}

fn verdict(eks: &Deviation, settings: &EksSettings) -> String {
    let allowed = settings.sync_period + settings.polling_interval;
    let worst = eks
        .scale_out_lags_seconds
        .iter()
        .map(|lag| lag.unwrap_or(i64::MAX))
        .max()
        .unwrap_or(0);
    if eks.steps_lost_to_tolerance > 0 {
        format!(
            "DEVIATES: the HPA tolerance swallowed {} step(s); set behavior tolerance 0 (Kubernetes >= 1.35, or 1.33-1.34 with the HPAConfigurableTolerance feature gate; KEDA >= 2.18)",
            eks.steps_lost_to_tolerance
        )
    } else if worst > allowed {
        if worst == i64::MAX {
            "DEVIATES: a scale-out of the ECS reference is never reached on EKS".to_owned()
        } else {
            format!(
                "DEVIATES: a scale-out is reached {worst} s late (more than one HPA sync and KEDA poll, {allowed} s)"
            )
        }
    } else {
        format!(
            "MATCHES: every ECS scale-out is reached within {worst} s (one HPA sync and KEDA poll: {allowed} s); max difference {} replicas",
            eks.max_abs_diff
        )
    }
}

/// Renders a comparison: rows and a summary (table), rows only (csv), or everything (json).
pub fn render(comparison: &Comparison, format: super::Format) -> String {
    use std::fmt::Write as _;
    let naive = |row: &CompareRow| row.naive.map_or_else(|| "-".to_owned(), |n| n.to_string());
    match format {
        super::Format::Json => serde_json::to_string_pretty(comparison).unwrap_or_default() + "\n",
        super::Format::Csv => {
            let mut text = String::from("time,ecs,eks,naive\n");
            for row in &comparison.rows {
                let _ = writeln!(
                    text,
                    "{},{},{},{}",
                    row.time.to_rfc3339(),
                    row.ecs,
                    row.eks,
                    naive(row)
                );
            }
            text
        }
        super::Format::Table => {
            let mut text = format!(
                "{:<20}  {:>5}  {:>5}  {:>5}\n",
                "time", "ecs", "eks", "naive"
            );
            for row in &comparison.rows {
                let _ = writeln!(
                    text,
                    "{:<20}  {:>5}  {:>5}  {:>5}",
                    row.time.format("%Y-%m-%dT%H:%M:%SZ"),
                    row.ecs,
                    row.eks,
                    naive(row)
                );
            }
            text.push('\n');
            text.push_str(&summary("EKS with ecs-scaler", &comparison.eks));
            match &comparison.naive {
                Some(deviation) => text.push_str(&summary("naive KEDA triggers", deviation)),
                None => text
                    .push_str("naive KEDA triggers: no built-in equivalent (step scaling only)\n"),
            }
            for note in &comparison.notes {
                let _ = writeln!(text, "note: {note}");
            }
            let _ = writeln!(text, "verdict: {}", comparison.verdict);
            text
        }
    }
}

/// One summary line of a pipeline's deviation from the reference.
pub fn summary(name: &str, deviation: &Deviation) -> String {
    let lags: Vec<String> = deviation
        .scale_out_lags_seconds
        .iter()
        .map(|lag| lag.map_or_else(|| "never".to_owned(), |s| format!("{s}s")))
        .collect();
    const LISTED: usize = 5;
    let mut held: Vec<String> = deviation
        .steps_lost
        .iter()
        .take(LISTED)
        .map(|step| {
            format!(
                "{} {} -> {}",
                step.time.format("%Y-%m-%dT%H:%M:%SZ"),
                step.replicas,
                step.wanted
            )
        })
        .collect();
    if deviation.steps_lost.len() > LISTED {
        held.push(format!("{} more", deviation.steps_lost.len() - LISTED));
    }
    let held = if held.is_empty() {
        String::new()
    } else {
        format!(" (held: {})", held.join(", "))
    };
    format!(
        "{name}: max diff {} replicas, {:.1} replica-minutes over, {:.1} under, scale-out lags [{}], {} step(s) lost to tolerance{held}\n",
        deviation.max_abs_diff,
        deviation.replica_minutes_over,
        deviation.replica_minutes_under,
        lags.join(", "),
        deviation.steps_lost_to_tolerance
    )
}

#[cfg(test)]
mod tests;
