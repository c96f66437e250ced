//! Trigger metadata: a reference to a policy set, or a simple policy written inline.
//!
//! KEDA forwards a trigger's whole `metadata` map to the scaler. Two forms are accepted:
//! - `policy: <name>` (+ optional `policyNamespace`, default: the ScaledObject's namespace):
//!   a `ScalingPolicySet` loaded by the scaler;
//! - inline: one target tracking policy on one metric, with KEDA-style keys
//!   (`targetValue`, `metricName`, `perTask`, `minCapacity`, `maxCapacity`, `scaleOutCooldown`,
//!   `scaleInCooldown`, `disableScaleIn`, `metricPeriod`, `staleAfterSeconds`), compiled into a
//!   policy set named like the ScaledObject. Its metric is pushed to
//!   `/v1/namespaces/{namespace}/policysets/{scaledObject}/metrics/{metricName}`.
//!
//! Keys KEDA itself reads (`scalerAddress`, `enableTLS`, `unsafeSsl`, ...) are accepted and
//! ignored; any other key is an error naming it, so a typo never silently changes behaviour.

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
        if INLINE_KEYS.contains(&key) {
            inline_key = Some(key);
        } else if !KEDA_KEYS.contains(&key) && !REFERENCE_KEYS.contains(&key) {
            return Err(error(
                key,
                format!(
                    "unknown key; expected `policy` (+ `policyNamespace`) to reference a \
                     ScalingPolicySet, or inline keys {INLINE_KEYS:?}"
                ),
            ));
        }
    }
    match (metadata.get("policy"), inline_key) {
        (Some(_), Some(key)) => Err(error(
            key,
            "cannot be combined with `policy`: put the setting in the referenced ScalingPolicySet",
        )),
        (Some(name), None) if name.trim().is_empty() => {
            Err(error("policy", "must name a ScalingPolicySet"))
        }
        (Some(name), None) => Ok(TriggerPolicy::Reference {
            namespace: metadata
                .get("policyNamespace")
                .map(String::as_str)
                .filter(|n| !n.is_empty())
                .or(Some(namespace).filter(|n| !n.is_empty()))
                .unwrap_or(DEFAULT_NAMESPACE),
            name,
        }),
        (None, _) if metadata.contains_key("policyNamespace") => Err(error(
            "policyNamespace",
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

fn parse<T: FromStr>(
    metadata: &HashMap<String, String>,
    key: &str,
    expected: &str,
) -> Result<Option<T>, MetadataError> {
    metadata
        .get(key)
        .map(|raw| {
            raw.trim()
                .parse::<T>()
                .map_err(|_| error(key, format!("expected {expected}, found `{raw}`")))
        })
        .transpose()
}

/// Builds the policy set document of an inline trigger of ScaledObject `id`.
///
/// Value checks (positive target, min <= max, valid period) are left to validation, whose
/// errors name the document fields; type errors are reported here with the metadata key.
pub fn inline_document(
    metadata: &HashMap<String, String>,
    id: &PolicySetId,
) -> Result<ScalingPolicySet, MetadataError> {
    let target_value: f64 = parse(metadata, "targetValue", "a positive number")?
        .ok_or_else(|| error("targetValue", "missing: the value the metric is kept at"))?;
    let metric = metadata
        .get("metricName")
        .cloned()
        .unwrap_or_else(|| "value".to_owned());
    let boolean = "true or false";
    let count = "a whole number of seconds or tasks";
    let min_capacity = parse(metadata, "minCapacity", count)?.unwrap_or(1);
    let max_capacity = parse(metadata, "maxCapacity", count)?.unwrap_or(100);
    let period = parse(metadata, "metricPeriod", count)?.unwrap_or(60);
    let stale_after_seconds = parse(metadata, "staleAfterSeconds", count)?;
    let policy = TargetTrackingSpec {
        metric: metric.clone(),
        target_value,
        per_task: parse(metadata, "perTask", boolean)?.unwrap_or(false),
        statistic: Statistic::Average,
        scale_out_cooldown: parse(metadata, "scaleOutCooldown", count)?.unwrap_or(300),
        scale_in_cooldown: parse(metadata, "scaleInCooldown", count)?.unwrap_or(300),
        disable_scale_in: parse(metadata, "disableScaleIn", boolean)?.unwrap_or(false),
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
}
