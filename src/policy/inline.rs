//! Trigger metadata: a reference to a policy set, or a simple policy written inline.
//!
//! KEDA forwards a trigger's whole `metadata` map to the scaler. Two forms are accepted:
//! - `policy: <name>` (+ optional `policyNamespace`, default: the ScaledObject's namespace):
//!   a `ScalingPolicySet` loaded by the scaler;
//! - inline: one target tracking policy on one metric, with KEDA-style keys
//!   (`targetValue`, `metricName`, `perTask`, `minCapacity`, `maxCapacity`, `scaleOutCooldown`,
//!   `scaleInCooldown`, `disableScaleIn`, `metricPeriod`, `staleAfterSeconds`), compiled into a
//!   policy set of its own ([`inline_policy_set_name`]).
//!
//! KEDA forwards what it would read itself, in its own conventions, and this module reads the
//! metadata the same way:
//! - `<key>FromEnv`: KEDA replaces the value by the variable of that name in the workload's
//!   environment (and drops the key when the variable is unset or empty), so every key is also
//!   accepted as `<key>FromEnv`. A non-blank `<key>` wins over `<key>FromEnv`, as in KEDA's
//!   own scalers, where the metadata is read before the environment.
//! - Booleans as Go's `strconv.ParseBool`: `1 t T TRUE true True` and `0 f F FALSE false False`.
//! - A ScaledObject may have several triggers, each asking about the same ScaledObject name with
//!   its own metadata: the inline policy set is named after the ScaledObject *and* the trigger's
//!   `metricName`, so two inline triggers with different metrics never share a policy set.
//!
//! Keys KEDA itself reads (`scalerAddress`, `enableTLS`, `unsafeSsl`, ...) are accepted and
//! ignored; any other key is an error naming it, so a typo never silently changes behaviour.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use super::compiled::{DEFAULT_NAMESPACE, PolicySetId};
use super::document::{
    API_VERSION, BehaviorSpec, KIND, Metadata, MetricSpec, PolicySpec, PushSourceSpec,
    ScalableTarget, ScalingPolicySet, Spec, Statistic, SuspendedState, TargetTrackingSpec,
};

/// Keys that KEDA reads or forwards itself; the scaler ignores them.
pub const KEDA_KEYS: &[&str] = &[
    "scalerAddress",
    "enableTLS",
    "unsafeSsl",
    "caCert",
    "tlsClientCert",
    "tlsClientKey",
];

/// Keys of a reference to a policy set.
pub const REFERENCE_KEYS: &[&str] = &["policy", "policyNamespace"];

/// Keys of an inline target tracking policy.
pub const INLINE_KEYS: &[&str] = &[
    "targetValue",
    "metricName",
    "perTask",
    "minCapacity",
    "maxCapacity",
    "scaleOutCooldown",
    "scaleInCooldown",
    "disableScaleIn",
    "metricPeriod",
    "staleAfterSeconds",
];

/// The name of the policy an inline trigger compiles to.
pub const INLINE_POLICY_NAME: &str = "target-tracking";

/// The metric of an inline trigger without `metricName`.
pub const DEFAULT_INLINE_METRIC: &str = "value";

/// The suffix KEDA resolves from the workload's environment.
pub const FROM_ENV: &str = "FromEnv";

/// The largest capacity the HPA can hold: its replica counts are 32-bit signed integers.
pub const MAX_REPLICAS: u32 = i32::MAX as u32;

/// A problem with one trigger metadata key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trigger metadata `{key}`: {message}")]
pub struct MetadataError {
    /// The key.
    pub key: String,
    /// What is wrong and what is expected.
    pub message: String,
}

fn error(key: &str, message: impl Into<String>) -> MetadataError {
    MetadataError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// What trigger metadata points at.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerPolicy<'a> {
    /// A loaded policy set.
    Reference {
        /// Its namespace.
        namespace: &'a str,
        /// Its name.
        name: &'a str,
    },
    /// A policy written in the metadata itself.
    Inline,
}

/// The value of `key` in trigger metadata as KEDA forwards it: `key` itself when it is not
/// blank, else `<key>FromEnv` (the value KEDA resolved from the workload's environment), else
/// the blank `key`.
pub fn lookup<'a>(metadata: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    lookup_entry(metadata, key).map(|(_, value)| value)
}

/// [`lookup`], with the key the value was read from (`key` or `<key>FromEnv`).
fn lookup_entry<'a>(
    metadata: &'a HashMap<String, String>,
    key: &str,
) -> Option<(&'a str, &'a str)> {
    let literal = metadata.get_key_value(key);
    if let Some((k, v)) = literal.filter(|(_, v)| !v.trim().is_empty()) {
        return Some((k, v));
    }
    metadata
        .iter()
        .find(|(k, _)| k.strip_suffix(FROM_ENV) == Some(key))
        .or(literal)
        .map(|(k, v)| (k.as_str(), v.as_str()))
}

/// The key `key` stands for: `policy` for `policyFromEnv`, itself otherwise.
fn base_key(key: &str) -> &str {
    key.strip_suffix(FROM_ENV)
        .filter(|base| !base.is_empty())
        .unwrap_or(key)
}

/// Reads which policy a trigger uses, checking that every key is known.
///
/// `namespace` is the ScaledObject's namespace, the default for `policyNamespace`.
pub fn classify<'a>(
    metadata: &'a HashMap<String, String>,
    namespace: &'a str,
) -> Result<TriggerPolicy<'a>, MetadataError> {
    let mut inline_key = None;
    for key in metadata.keys() {
        let key = key.as_str();
        let base = base_key(key);
        if INLINE_KEYS.contains(&base) {
            inline_key = Some(key);
            continue;
        }
        if KEDA_KEYS.contains(&key) || REFERENCE_KEYS.contains(&base) {
            continue;
        }
        return Err(if KEDA_KEYS.contains(&base) {
            error(
                key,
                format!(
                    "KEDA reads `{base}` itself, from the trigger metadata only (certificates from \
                     a TriggerAuthentication), and does not resolve `{key}`: write `{base}`"
                ),
            )
        } else {
            error(
                key,
                format!(
                    "unknown key; expected `policy` (+ `policyNamespace`) to reference a \
                     ScalingPolicySet, or inline keys {INLINE_KEYS:?} (each also as \
                     `<key>FromEnv`)"
                ),
            )
        });
    }
    match (lookup(metadata, "policy"), inline_key) {
        (Some(_), Some(key)) => Err(error(
            key,
            "cannot be combined with `policy`: put the setting in the referenced ScalingPolicySet",
        )),
        (Some(name), None) if name.trim().is_empty() => {
            Err(error("policy", "must name a ScalingPolicySet"))
        }
        (Some(name), None) => Ok(TriggerPolicy::Reference {
            namespace: lookup(metadata, "policyNamespace")
                .filter(|n| !n.is_empty())
                .or(Some(namespace).filter(|n| !n.is_empty()))
                .unwrap_or(DEFAULT_NAMESPACE),
            name,
        }),
        (None, _) if lookup(metadata, "policyNamespace").is_some() => Err(error(
            lookup_entry(metadata, "policyNamespace").map_or("policyNamespace", |(key, _)| key),
            "needs `policy` naming the ScalingPolicySet",
        )),
        (None, Some(_)) => Ok(TriggerPolicy::Inline),
        (None, None) => Err(error(
            "policy",
            "missing: set `policy` to the name of a ScalingPolicySet, or `targetValue` (+ optional \
             inline keys) for a single target tracking policy",
        )),
    }
}

/// The name of the policy set of an inline trigger of ScaledObject (or ScaledJob)
/// `scaled_object` whose metric is `metric` (`metricName`, `None` when not set).
///
/// KEDA asks about every trigger of a ScaledObject under the ScaledObject's name; the metric
/// tells the triggers apart (each has its own push URL). The default metric (`value`) keeps the
/// ScaledObject's name; any other is appended after a dot, made a DNS label (lower case,
/// characters other than letters, digits and `-` replaced by `-`): `orders-api` with
/// `metricName: activeUsers` is `orders-api.activeusers`.
pub fn inline_policy_set_name<'a>(scaled_object: &'a str, metric: Option<&str>) -> Cow<'a, str> {
    let metric = metric.map(str::trim).unwrap_or(DEFAULT_INLINE_METRIC);
    if metric == DEFAULT_INLINE_METRIC || metric.is_empty() {
        return Cow::Borrowed(scaled_object);
    }
    let label: String = metric
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let label = label.trim_matches('-');
    let label = if label.is_empty() { "metric" } else { label };
    let mut name = format!("{scaled_object}.{label}");
    if name.len() > 253 {
        name.truncate(253);
        let kept = name
            .trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
            .len();
        name.truncate(kept);
    }
    Cow::Owned(name)
}

/// Go's `strconv.ParseBool`, which KEDA uses for its own booleans.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn parse<T: FromStr>(
    metadata: &HashMap<String, String>,
    key: &str,
    expected: &str,
) -> Result<Option<T>, MetadataError> {
    lookup_entry(metadata, key)
        .map(|(key, raw)| {
            raw.trim()
                .parse::<T>()
                .map_err(|_| error(key, format!("expected {expected}, found `{raw}`")))
        })
        .transpose()
}

fn parse_boolean(
    metadata: &HashMap<String, String>,
    key: &str,
) -> Result<Option<bool>, MetadataError> {
    lookup_entry(metadata, key)
        .map(|(key, raw)| {
            parse_bool(raw).ok_or_else(|| {
                error(
                    key,
                    format!(
                        "expected a boolean as KEDA reads them (true, false, 1, 0, t, f, TRUE, \
                         FALSE, True, False), found `{raw}`"
                    ),
                )
            })
        })
        .transpose()
}

/// The metric of an inline trigger: `metricName`, or `value`.
pub fn inline_metric(metadata: &HashMap<String, String>) -> &str {
    lookup(metadata, "metricName")
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or(DEFAULT_INLINE_METRIC)
}

/// Builds the policy set document `id` of an inline trigger.
///
/// Value checks (positive target, min <= max, valid period) are left to validation, whose
/// errors name the document fields; type errors and the HPA's replica limit are reported here
/// with the metadata key.
pub fn inline_document(
    metadata: &HashMap<String, String>,
    id: &PolicySetId,
) -> Result<ScalingPolicySet, MetadataError> {
    let target_value: f64 = parse(metadata, "targetValue", "a positive number")?
        .ok_or_else(|| error("targetValue", "missing: the value the metric is kept at"))?;
    let metric = inline_metric(metadata).to_owned();
    let count = "a whole number of seconds or tasks";
    let min_capacity = parse(metadata, "minCapacity", count)?.unwrap_or(1);
    let max_capacity = parse(metadata, "maxCapacity", count)?.unwrap_or(100);
    for (key, value) in [("minCapacity", min_capacity), ("maxCapacity", max_capacity)] {
        if value > MAX_REPLICAS {
            let key = lookup_entry(metadata, key).map_or(key, |(used, _)| used);
            return Err(error(
                key,
                format!(
                    "at most {MAX_REPLICAS} (the HPA's replica count is a 32-bit integer), found \
                     `{value}`"
                ),
            ));
        }
    }
    let period = parse(metadata, "metricPeriod", count)?.unwrap_or(60);
    let stale_after_seconds = parse(metadata, "staleAfterSeconds", count)?;
    let policy = TargetTrackingSpec {
        metric: metric.clone(),
        target_value,
        per_task: parse_boolean(metadata, "perTask")?.unwrap_or(false),
        statistic: Statistic::Average,
        scale_out_cooldown: parse(metadata, "scaleOutCooldown", count)?.unwrap_or(300),
        scale_in_cooldown: parse(metadata, "scaleInCooldown", count)?.unwrap_or(300),
        disable_scale_in: parse_boolean(metadata, "disableScaleIn")?.unwrap_or(false),
    };
    Ok(ScalingPolicySet {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        metadata: Metadata {
            name: id.name.clone(),
            namespace: Some(id.namespace.clone()),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        },
        spec: Spec {
            scalable_target: ScalableTarget {
                resource_id: None,
                min_capacity,
                max_capacity,
                suspended_state: SuspendedState::default(),
            },
            scale_target_ref: None,
            metrics: BTreeMap::from([(
                metric,
                MetricSpec::Push(PushSourceSpec {
                    period,
                    stale_after_seconds,
                }),
            )]),
            alarms: BTreeMap::new(),
            policies: vec![PolicySpec {
                policy_name: INLINE_POLICY_NAME.to_owned(),
                target_tracking: Some(policy),
                step_scaling: None,
            }],
            scheduled_actions: Vec::new(),
            behavior: BehaviorSpec::default(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::compile;

    fn metadata(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn policy_reference_defaults_to_the_scaled_object_namespace() {
        let m = metadata(&[("scalerAddress", "x:9090"), ("policy", "orders")]);
        assert_eq!(
            classify(&m, "shop"),
            Ok(TriggerPolicy::Reference {
                namespace: "shop",
                name: "orders"
            })
        );
        let m = metadata(&[("policy", "orders"), ("policyNamespace", "other")]);
        assert_eq!(
            classify(&m, "shop"),
            Ok(TriggerPolicy::Reference {
                namespace: "other",
                name: "orders"
            })
        );
        assert_eq!(
            classify(&metadata(&[("policy", "orders")]), ""),
            Ok(TriggerPolicy::Reference {
                namespace: "default",
                name: "orders"
            })
        );
    }

    #[test]
    fn unknown_metadata_keys_are_rejected_by_name() {
        let m = metadata(&[("policy", "orders"), ("targetVlaue", "5")]);
        assert_eq!(classify(&m, "shop").unwrap_err().key, "targetVlaue");
    }

    #[test]
    fn reference_and_inline_keys_do_not_mix() {
        let m = metadata(&[("policy", "orders"), ("targetValue", "5")]);
        let err = classify(&m, "shop").unwrap_err();
        assert_eq!(err.key, "targetValue");
        assert!(err.message.contains("cannot be combined"));
    }

    #[test]
    fn metadata_without_policy_or_target_names_what_is_missing() {
        let err = classify(&metadata(&[("scalerAddress", "x")]), "shop").unwrap_err();
        assert_eq!(err.key, "policy");
        assert!(err.to_string().contains("targetValue"));
    }

    #[test]
    fn inline_metadata_compiles_to_one_target_tracking_policy() {
        let m = metadata(&[
            ("targetValue", "500"),
            ("metricName", "activeUsers"),
            ("perTask", "true"),
            ("minCapacity", "2"),
            ("maxCapacity", "20"),
            ("scaleInCooldown", "600"),
        ]);
        assert_eq!(classify(&m, "shop"), Ok(TriggerPolicy::Inline));
        let id = PolicySetId::new("shop", "checkout");
        let set = compile(&inline_document(&m, &id).unwrap()).unwrap();
        assert_eq!(set.id, id);
        assert_eq!((set.min_capacity, set.max_capacity), (2, 20));
        assert_eq!(set.metrics[0].name, "activeUsers");
        let crate::policy::compiled::PolicyKind::TargetTracking(tt) = &set.policies[0].kind else {
            panic!("expected target tracking");
        };
        assert!(tt.per_task);
        assert_eq!(tt.target_value, 500.0);
        assert_eq!((tt.scale_out_cooldown, tt.scale_in_cooldown), (300, 600));
    }

    #[test]
    fn inline_metadata_type_errors_name_the_key() {
        let id = PolicySetId::new("shop", "checkout");
        for (key, value) in [
            ("targetValue", "lots"),
            ("perTask", "yes"),
            ("disableScaleIn", "on"),
            ("minCapacity", "-1"),
            ("scaleOutCooldown", "1m"),
        ] {
            let mut m = metadata(&[("targetValue", "5")]);
            m.insert(key.to_owned(), value.to_owned());
            let err = inline_document(&m, &id).unwrap_err();
            assert_eq!(err.key, key);
            assert!(err.message.contains(value), "{err}");
        }
    }

    #[test]
    fn inline_value_errors_come_from_validation() {
        let id = PolicySetId::new("shop", "checkout");
        let m = metadata(&[
            ("targetValue", "0"),
            ("minCapacity", "5"),
            ("maxCapacity", "2"),
        ]);
        let errors = compile(&inline_document(&m, &id).unwrap()).unwrap_err();
        let text = errors.to_string();
        assert!(text.contains("targetValue"), "{text}");
        assert!(
            text.contains("minCapacity 5 is greater than maxCapacity 2"),
            "{text}"
        );
    }

    #[test]
    fn booleans_are_read_as_go_parses_them() {
        let id = PolicySetId::new("shop", "checkout");
        for (raw, expected) in [
            ("1", true),
            ("t", true),
            ("T", true),
            ("TRUE", true),
            ("true", true),
            ("True", true),
            (" true ", true),
            ("0", false),
            ("f", false),
            ("F", false),
            ("FALSE", false),
            ("false", false),
            ("False", false),
        ] {
            let m = metadata(&[
                ("targetValue", "5"),
                ("perTask", raw),
                ("disableScaleIn", raw),
            ]);
            let document = inline_document(&m, &id).unwrap();
            let tt = document.spec.policies[0].target_tracking.as_ref().unwrap();
            assert_eq!(
                (tt.per_task, tt.disable_scale_in),
                (expected, expected),
                "{raw:?}"
            );
        }
        for raw in ["yes", "tRUE", "2", ""] {
            let m = metadata(&[("targetValue", "5"), ("perTask", raw)]);
            let err = inline_document(&m, &id).unwrap_err();
            assert_eq!(err.key, "perTask");
            assert!(err.message.contains("as KEDA reads them"), "{err}");
        }
    }

    #[test]
    fn every_key_is_accepted_from_the_environment() {
        let m = metadata(&[
            ("policyFromEnv", "orders"),
            ("policyNamespaceFromEnv", "ops"),
        ]);
        assert_eq!(
            classify(&m, "shop"),
            Ok(TriggerPolicy::Reference {
                namespace: "ops",
                name: "orders"
            })
        );
        let m = metadata(&[
            ("targetValueFromEnv", "50"),
            ("metricNameFromEnv", "backlog"),
            ("maxCapacityFromEnv", "7"),
            ("perTaskFromEnv", "1"),
        ]);
        assert_eq!(classify(&m, "shop"), Ok(TriggerPolicy::Inline));
        let document = inline_document(&m, &PolicySetId::new("shop", "x")).unwrap();
        assert_eq!(document.spec.scalable_target.max_capacity, 7);
        let tt = document.spec.policies[0].target_tracking.as_ref().unwrap();
        assert_eq!(
            (tt.metric.as_str(), tt.target_value, tt.per_task),
            ("backlog", 50.0, true)
        );
        // An error names the key the value came from.
        let m = metadata(&[("targetValue", "5"), ("perTaskFromEnv", "yes")]);
        let err = inline_document(&m, &PolicySetId::new("shop", "x")).unwrap_err();
        assert_eq!(err.key, "perTaskFromEnv");
        let m = metadata(&[("targetValue", "5"), ("maxCapacityFromEnv", "4294967295")]);
        let err = inline_document(&m, &PolicySetId::new("shop", "x")).unwrap_err();
        assert_eq!(err.key, "maxCapacityFromEnv");
    }

    #[test]
    fn the_key_itself_wins_over_its_environment_variable_unless_blank() {
        let m = metadata(&[("policy", "literal"), ("policyFromEnv", "from-env")]);
        assert!(matches!(
            classify(&m, "shop"),
            Ok(TriggerPolicy::Reference {
                name: "literal",
                ..
            })
        ));
        let m = metadata(&[("policy", " "), ("policyFromEnv", "from-env")]);
        assert!(matches!(
            classify(&m, "shop"),
            Ok(TriggerPolicy::Reference {
                name: "from-env",
                ..
            })
        ));
        // KEDA drops `<key>FromEnv` when the variable is unset: the key is then missing.
        let err = classify(&metadata(&[("scalerAddress", "x:9090")]), "shop").unwrap_err();
        assert_eq!(err.key, "policy");
    }

    #[test]
    fn keda_keys_from_the_environment_are_refused_naming_the_key_keda_reads() {
        let m = metadata(&[("policy", "orders"), ("enableTLSFromEnv", "true")]);
        let err = classify(&m, "shop").unwrap_err();
        assert_eq!(err.key, "enableTLSFromEnv");
        assert!(err.message.contains("write `enableTLS`"), "{err}");
        let err = classify(&metadata(&[("policy", "o"), ("FromEnv", "x")]), "shop").unwrap_err();
        assert_eq!(err.key, "FromEnv");
    }

    #[test]
    fn capacities_beyond_the_hpa_replica_count_are_refused() {
        let id = PolicySetId::new("shop", "checkout");
        let m = metadata(&[("targetValue", "5"), ("maxCapacity", "2147483647")]);
        assert_eq!(
            inline_document(&m, &id)
                .unwrap()
                .spec
                .scalable_target
                .max_capacity,
            2_147_483_647
        );
        for key in ["maxCapacity", "minCapacity"] {
            let m = metadata(&[("targetValue", "5"), (key, "2147483648")]);
            let err = inline_document(&m, &id).unwrap_err();
            assert_eq!(err.key, key);
            assert!(err.message.contains("32-bit"), "{err}");
        }
    }

    #[test]
    fn inline_policy_sets_are_named_after_the_scaled_object_and_the_metric() {
        assert_eq!(inline_policy_set_name("api", None), "api");
        assert_eq!(inline_policy_set_name("api", Some("value")), "api");
        assert_eq!(
            inline_policy_set_name("api", Some("backlog")),
            "api.backlog"
        );
        assert_eq!(
            inline_policy_set_name("api", Some("activeUsers")),
            "api.activeusers"
        );
        assert_eq!(
            inline_policy_set_name("api", Some("_queue depth_")),
            "api.queue-depth"
        );
        assert_eq!(inline_policy_set_name("api", Some("__")), "api.metric");
        let long = "a".repeat(250);
        let name = inline_policy_set_name(&long, Some("backlog"));
        assert!(name.len() == 253 && name.ends_with(".ba"), "{name}");
        for name in ["api.backlog", "api.activeusers", "api.queue-depth"] {
            let m = metadata(&[("targetValue", "5")]);
            let document = inline_document(&m, &PolicySetId::new("shop", name)).unwrap();
            compile(&document).unwrap();
        }
    }
}
