//! The options of a translation: what `import` needs besides the AWS data.
//!
//! Parsed from the command line (`FromStr`): `--scale-target-kind` / `--scale-target-name`
//! ([`Assignment`]: `SERVICE=VALUE` or `VALUE`), `--target-group-map` ([`TargetGroupMapping`]:
//! `OLD=NEW` target groups or resource labels) and `--kubernetes-version`
//! ([`KubernetesVersion`]). A malformed value is refused with a message that names the expected
//! form (clap turns it into exit 2).

use std::str::FromStr;

use crate::import::scaled_object::{FIRST_KEDA_WITH_TOLERANCE, KedaVersion};

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
pub(super) fn target_group_part(text: &str) -> Option<&str> {
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
    /// The cluster's Kubernetes version: `tolerance: 0` from 1.33, and the tolerance test.
    pub kubernetes_version: KubernetesVersion,
    /// The cluster's KEDA version: `tolerance` from 2.18.
    pub keda_version: KedaVersion,
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
            // `--keda-version`'s default: the newest behaviour.
            keda_version: FIRST_KEDA_WITH_TOLERANCE,
            target_group_map: Vec::new(),
            default_region: None,
        }
    }
}

/// Where KEDA reaches the scaler when `--scaler-address` is not given.
pub const DEFAULT_SCALER_ADDRESS: &str = "ecs-scaler.ecs-scaler.svc:9090";
