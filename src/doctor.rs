//! Misconfiguration that only the cluster shows: a ScaledObject that would not make the HPA set
//! the replicas to the scaler's D. `ecs-scaler doctor FILE...` runs these checks on files (for
//! CI pipelines); `serve --kubernetes` runs them on the watched ScaledObjects and reports them
//! on each policy set as the condition `Configured`.
//!
//! The scaler reports D as one metric with target 1, and only `metricType: AverageValue` with
//! an HPA that follows at once turns that into D replicas:
//! - **`metricType`**: KEDA does not forward it to the scaler. With `Value` the HPA computes
//!   `ceil(current × D / 1)` replicas, not D.
//! - **HPA behaviour**: a stabilization window above 0 (the scale-down default is 300 s) holds
//!   D back behind older recommendations; rate policies that cannot take the largest step in
//!   one period (the scale-up default is 4 pods or 100% per 15 s) spread it over several; a
//!   `selectPolicy: Disabled` never applies it; a tolerance above 0 (default 10%) swallows the
//!   small steps. `tolerance: 0` is only flagged as missing where the cluster honours it
//!   (Kubernetes 1.35, where `HPAConfigurableTolerance` is on by default).
//! - **fallback**: KEDA's `fallback.replicas` replaces D while the scaler is unavailable; more
//!   than the policy set's `maxCapacity` scales beyond what the policy set allows.
//!
//! The checks are pure functions over the ScaledObject as JSON (KEDA's CRD is not ours).

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use crate::kubernetes::policies::trigger_policy_set;
use crate::policy::PolicySetId;
use crate::policy::inline::{INLINE_KEYS, REFERENCE_KEYS};

/// One reason a ScaledObject would not pass D through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `namespace/name` of the ScaledObject.
    pub scaled_object: String,
    /// The policy set of the trigger at fault; `None` for what concerns the whole ScaledObject
    /// (its HPA behaviour).
    pub policy_set: Option<PolicySetId>,
    /// The field at fault, e.g. `spec.triggers[0].metricType`.
    pub path: String,
    /// What goes wrong.
    pub problem: String,
    /// What to write instead.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}; fix: {}",
            self.scaled_object, self.path, self.problem, self.fix
        )
    }
}

/// Whether the cluster honours `behavior.*.tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerance {
    /// Kubernetes 1.35 and later.
    Honoured,
    /// 1.33-1.34: only with the `HPAConfigurableTolerance` feature gate, which the API does not
    /// tell; a missing tolerance is not flagged.
    FeatureGate,
    /// Before 1.33: the field is dropped.
    Ignored,
}

impl Tolerance {
    /// From the API server's version (`major`, `minor`, as `/version` gives them: `"1"`,
    /// `"35"` or `"35+"`); `FeatureGate` when it cannot be read.
    pub fn of_version(major: &str, minor: &str) -> Self {
        let number = |text: &str| {
            text.trim_end_matches('+')
                .parse::<u32>()
                .ok()
                .filter(|_| !text.is_empty())
        };
        match (number(major), number(minor)) {
            (Some(1), Some(minor)) if minor >= 35 => Self::Honoured,
            (Some(1), Some(minor)) if minor >= 33 => Self::FeatureGate,
            (Some(1), Some(_)) => Self::Ignored,
            (Some(major), Some(_)) if major > 1 => Self::Honoured,
            _ => Self::FeatureGate,
        }
    }
}

const BEHAVIOR: &str = "spec.advanced.horizontalPodAutoscalerConfig.behavior";

/// The triggers of a ScaledObject that ask this scaler: `external`/`external-push` with a
/// `policy` or inline keys (plain or `FromEnv`). Index, trigger, and the policy set it names
/// (`None` when it is resolved from the workload's environment).
fn scaler_triggers(object: &Value) -> Vec<(usize, &Value, Option<PolicySetId>)> {
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let Some(triggers) = object["spec"]["triggers"].as_array() else {
        return Vec::new();
    };
    triggers
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t["type"].as_str(), Some("external" | "external-push")))
        .filter(|(_, t)| {
            t["metadata"].as_object().is_some_and(|m| {
                m.keys().any(|k| {
                    let base = k.strip_suffix("FromEnv").unwrap_or(k);
                    INLINE_KEYS.contains(&base) || REFERENCE_KEYS.contains(&base)
                })
            })
        })
        .map(|(i, t)| (i, t, trigger_policy_set(namespace, name, &t["metadata"])))
        .collect()
}

/// The policy sets the ScaledObject's scaler triggers name.
pub fn policy_sets_of(object: &Value) -> Vec<PolicySetId> {
    scaler_triggers(object)
        .into_iter()
        .filter_map(|(_, _, id)| id)
        .collect()
}

/// Checks a ScaledObject: `max_of` gives a referenced policy set's `maxCapacity` when known
/// (an inline trigger's is read from its metadata). Nothing is found for a ScaledObject without
/// a trigger of this scaler.
pub fn check(
    object: &Value,
    max_of: impl Fn(&PolicySetId) -> Option<u32>,
    tolerance: Tolerance,
) -> Vec<Finding> {
    let scaled_object = format!(
        "{}/{}",
        object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default"),
        object["metadata"]["name"].as_str().unwrap_or_default()
    );
    let triggers = scaler_triggers(object);
    if triggers.is_empty() {
        return Vec::new();
    }
    let mut findings = Vec::new();
    let mut found = |policy_set: Option<&PolicySetId>, path: String, problem: String, fix: &str| {
        findings.push(Finding {
            scaled_object: scaled_object.clone(),
            policy_set: policy_set.cloned(),
            path,
            problem,
            fix: fix.to_owned(),
        });
    };
    let spec = &object["spec"];
    for (index, trigger, id) in &triggers {
        let metric_type = trigger["metricType"].as_str().unwrap_or("AverageValue");
        if metric_type != "AverageValue" {
            found(
                id.as_ref(),
                format!("spec.triggers[{index}].metricType"),
                format!(
                    "`{metric_type}`: KEDA does not forward the metric type to the scaler, and \
                     the HPA then sets ceil(current replicas x D) replicas instead of D"
                ),
                "`metricType: AverageValue`",
            );
        }
        let inline = trigger["metadata"]["policy"].is_null()
            && trigger["metadata"]["policyFromEnv"].is_null();
        let max = if inline {
            match trigger["metadata"]["maxCapacity"].as_str() {
                Some(text) => text.trim().parse().ok(),
                None if trigger["metadata"]["maxCapacityFromEnv"].is_null() => Some(100),
                None => None,
            }
        } else {
            id.as_ref().and_then(&max_of)
        };
        if let (Some(fallback), Some(max)) = (spec["fallback"]["replicas"].as_u64(), max)
            && fallback > u64::from(max)
        {
            let of = id
                .as_ref()
                .map_or_else(String::new, |id| format!(" of policy set {id}"));
            found(
                id.as_ref(),
                "spec.fallback.replicas".to_owned(),
                format!(
                    "{fallback} is above the maxCapacity {max}{of}: while the scaler is \
                     unavailable KEDA would scale beyond what the policy set allows"
                ),
                &format!("`fallback.replicas` at most {max}"),
            );
        }
    }
    let behavior = &spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"];
    let max_replicas = spec["maxReplicaCount"].as_u64().unwrap_or(100);
    let min_replicas = spec["minReplicaCount"].as_u64().unwrap_or(0);
    for direction in ["scaleUp", "scaleDown"] {
        let rules = &behavior[direction];
        let path = format!("{BEHAVIOR}.{direction}");
        let up = direction == "scaleUp";
        let default_window = if up { 0 } else { 300 };
        let window = rules["stabilizationWindowSeconds"]
            .as_u64()
            .unwrap_or(default_window);
        if window > 0 {
            let default = if rules["stabilizationWindowSeconds"].is_null() {
                " (the default)"
            } else {
                ""
            };
            found(
                None,
                format!("{path}.stabilizationWindowSeconds"),
                format!(
                    "{window} s{default}: the HPA applies the {} recommendation of the last \
                     {window} s, not D (the policy set has its own cooldowns)",
                    if up { "lowest" } else { "highest" }
                ),
                "`stabilizationWindowSeconds: 0`",
            );
        }
        let select = rules["selectPolicy"].as_str().unwrap_or("Max");
        if select == "Disabled" {
            found(
                None,
                format!("{path}.selectPolicy"),
                format!(
                    "`Disabled`: the HPA never scales {}, whatever D is",
                    if up { "out" } else { "in" }
                ),
                if up {
                    "`selectPolicy: Max` (the policy set decides when to scale out)"
                } else {
                    "`selectPolicy: Max`; to never scale in, set `disableScaleIn` in the policy set"
                },
            );
        } else if !passes_largest_step(rules, up, select, min_replicas, max_replicas) {
            let default = if rules["policies"].is_null() {
                " (the default: 4 pods or 100% per 15 s)"
            } else {
                ""
            };
            found(
                None,
                format!("{path}.policies"),
                format!(
                    "limit a change per period{default}: a step from {} to {max_replicas} \
                     replicas takes several periods, so the replicas lag D",
                    min_replicas.max(1)
                ),
                if up {
                    "`policies: [{type: Pods, value: 1000, periodSeconds: 15}]` with `selectPolicy: Max`"
                } else {
                    "`policies: [{type: Percent, value: 100, periodSeconds: 15}]` with `selectPolicy: Max`"
                },
            );
        }
        match rules["tolerance"].as_f64() {
            Some(tolerance) if tolerance > 0.0 => found(
                None,
                format!("{path}.tolerance"),
                format!(
                    "{tolerance}: the HPA ignores a D within {}% of the current replicas",
                    tolerance * 100.0
                ),
                "`tolerance: 0`",
            ),
            None if tolerance == Tolerance::Honoured && rules["tolerance"].is_null() => found(
                None,
                format!("{path}.tolerance"),
                "missing: the HPA's default 10% tolerance ignores a D within 10% of the current \
                 replicas (10 -> 9 is never applied)"
                    .to_owned(),
                "`tolerance: 0` (this cluster honours it)",
            ),
            _ => {}
        }
    }
    findings
}

/// Whether the rate policies let the HPA take the largest step, from `min` (at least 1) to
/// `max` or back, in one period.
fn passes_largest_step(rules: &Value, up: bool, select: &str, min: u64, max: u64) -> bool {
    let from = min.max(1);
    let step = max.saturating_sub(from);
    let default_up = serde_json::json!([
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ]);
    let default_down = serde_json::json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]);
    let policies = match rules["policies"].as_array() {
        Some(policies) => policies.clone(),
        None if up => default_up.as_array().cloned().unwrap_or_default(),
        None => default_down.as_array().cloned().unwrap_or_default(),
    };
    let allows = |policy: &Value| {
        let value = policy["value"].as_u64().unwrap_or(0);
        match policy["type"].as_str() {
            Some("Pods") => value >= step,
            // Scaling out from `from` by `value`% of it; scaling in by `value`% of `max`.
            Some("Percent") if up => value.saturating_mul(from) >= step.saturating_mul(100),
            Some("Percent") => value >= 100,
            _ => false,
        }
    };
    if policies.is_empty() {
        return false;
    }
    if select == "Min" {
        policies.iter().all(allows)
    } else {
        policies.iter().any(allows)
    }
}

/// `ecs-scaler doctor`: the checks on ScaledObject files.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// YAML or JSON files with ScaledObjects (several documents each, `---`-separated, or a
    /// `List`); ScalingPolicySets among them give their `maxCapacity` to the fallback check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The cluster's Kubernetes version: from 1.35 a missing `tolerance: 0` is a problem.
    #[arg(long, default_value = "1.35", value_name = "MAJOR.MINOR")]
    pub kubernetes_version: String,
}

/// Reads every object of the files (documents of `List`s flattened).
fn read_objects(files: &[PathBuf]) -> Result<Vec<Value>, String> {
    let mut objects = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let documents: Vec<Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| format!("{}: invalid YAML: {e}", path.display()))?;
        for document in documents {
            match document["kind"].as_str() {
                Some("List") => {
                    objects.extend(document["items"].as_array().cloned().unwrap_or_default())
                }
                _ if document.is_null() => {}
                _ => objects.push(document),
            }
        }
    }
    Ok(objects)
}

/// Runs `doctor`: one line per problem, then a summary; exit 0 when every ScaledObject passes
/// D through, 1 when one does not, 2 on bad input (unreadable file, no ScaledObject).
pub fn run(args: &DoctorArgs) -> ExitCode {
    let (major, minor) = args
        .kubernetes_version
        .split_once('.')
        .unwrap_or((args.kubernetes_version.as_str(), ""));
    if major.parse::<u32>().is_err() || minor.trim_end_matches('+').parse::<u32>().is_err() {
        eprintln!(
            "error: --kubernetes-version: expected MAJOR.MINOR (e.g. 1.35), found `{}`",
            args.kubernetes_version
        );
        return ExitCode::from(crate::cli::EXIT_BAD_INPUT);
    }
    let tolerance = Tolerance::of_version(major, minor);
    let objects = match read_objects(&args.files) {
        Ok(objects) => objects,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(crate::cli::EXIT_BAD_INPUT);
        }
    };
    let max_capacities: Vec<(PolicySetId, u32)> = objects
        .iter()
        .filter(|o| o["kind"].as_str() == Some("ScalingPolicySet"))
        .filter_map(|o| {
            let id = PolicySetId::new(
                o["metadata"]["namespace"].as_str().unwrap_or("default"),
                o["metadata"]["name"].as_str()?,
            );
            let max = o["spec"]["scalableTarget"]["maxCapacity"].as_u64()?;
            Some((id, u32::try_from(max).unwrap_or(u32::MAX)))
        })
        .collect();
    let max_of = |id: &PolicySetId| {
        max_capacities
            .iter()
            .find(|(known, _)| known == id)
            .map(|(_, max)| *max)
    };
    let scaled_objects: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"].as_str() == Some("ScaledObject"))
        .collect();
    if scaled_objects.is_empty() {
        eprintln!("error: no ScaledObject in {} file(s)", args.files.len());
        return ExitCode::from(crate::cli::EXIT_BAD_INPUT);
    }
    let mut failing = 0;
    let mut checked = 0;
    for object in &scaled_objects {
        let name = format!(
            "{}/{}",
            object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default"),
            object["metadata"]["name"].as_str().unwrap_or_default()
        );
        if scaler_triggers(object).is_empty() {
            println!("{name}: no trigger of ecs-scaler; skipped");
            continue;
        }
        checked += 1;
        let findings = check(object, max_of, tolerance);
        if findings.is_empty() {
            println!("{name}: ok, the HPA sets the replicas to D");
        } else {
            failing += 1;
            for finding in findings {
                println!("{finding}");
            }
        }
    }
    println!(
        "{failing} of {checked} ScaledObject(s) would not pass D through (Kubernetes {})",
        args.kubernetes_version
    );
    if failing > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests;
