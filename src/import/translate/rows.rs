//! Report rows about the HPA that passes the scaler's decisions through, and the text helpers
//! the rows share.
//!
//! Input: the policy set written for a service, its capacity envelope and the cluster's
//! Kubernetes and KEDA versions. Output: the `HPA tolerance` row (`tolerance: 0` where both
//! take it, [`tolerance_field`]: from Kubernetes 1.33, with the feature gate on 1.33-1.34, and
//! KEDA 2.18) and, where the 10% tolerance still applies, the step changes it would swallow
//! ([`swallowed_steps`], the HPA model of `simulate` with the version's [`ToleranceRule`]). No
//! errors: an envelope that fits no capacity gives no losses (the policy set check reports it).

use super::ServiceBuilder;
use crate::import::report::Status;
use crate::import::scaled_object::{TOLERANCE_SETTING, swallowed_steps, tolerance_field};
use crate::policy::document::Spec;
use crate::simulate::hpa::{Cluster, FIRST_BAND_VERSION, ToleranceRule};

/// A number as AWS prints it: `70`, `70.5`.
pub(super) fn num(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

impl ServiceBuilder<'_> {
    /// The `tolerance` the ScaledObject takes: 0 where the cluster's Kubernetes and KEDA both
    /// have the field ([`tolerance_field`]).
    pub(super) fn tolerance(&self) -> Option<u32> {
        tolerance_field(self.options.kubernetes_version, self.options.keda_version)
    }

    /// Reports the HPA tolerance; the tolerance to write ([`ServiceBuilder::tolerance`]).
    pub(super) fn tolerance_row(&mut self, spec: &Spec, low: u32, high: u32) -> Option<u32> {
        let kubernetes = self.options.kubernetes_version;
        let keda = self.options.keda_version;
        let tolerance = self.tolerance();
        let cluster = Cluster::new(kubernetes);
        if tolerance.is_some() && cluster.keeps_tolerance_field() {
            self.report.push(
                TOLERANCE_SETTING,
                format!("tolerance: 0 on scaleUp and scaleDown (Kubernetes {kubernetes})"),
                Status::Exact,
            );
            return tolerance;
        }
        // Where the cluster's 10% may apply: what it holds back, by the version's test.
        let rule = cluster.rule();
        let mut losses = Vec::new();
        let lost = swallowed_steps(spec, low, high, rule);
        if !lost.is_empty() {
            losses.push(format!("step changes lost: {}", lost.join("; ")));
        }
        if spec.policies.iter().any(|p| p.target_tracking.is_some())
            || !spec.scheduled_actions.is_empty()
        {
            losses.push(format!(
                "any target tracking or scheduled change of D {} 10% of the current replicas",
                match rule {
                    ToleranceRule::Distance => "within",
                    ToleranceRule::Band => "within (and exactly at)",
                }
            ));
        }
        let status = |why: String| {
            if losses.is_empty() {
                Status::Exact
            } else {
                Status::Approximate(format!("{why}: {}", losses.join("; ")))
            }
        };
        let (became, status) = if !keda.has_tolerance() {
            (
                format!(
                    "not set: KEDA {keda}'s ScaledObject has no `tolerance`; the cluster's 10% \
                     tolerance applies to the scaler's decision"
                ),
                status(format!(
                    "KEDA {keda} has no `tolerance` (KEDA 2.18+), so the cluster's 10% tolerance \
                     applies (Kubernetes {kubernetes})"
                )),
            )
        } else if kubernetes < FIRST_BAND_VERSION {
            (
                "not set: the cluster's 10% tolerance applies to the scaler's decision".to_owned(),
                status(format!(
                    "Kubernetes {kubernetes} has no per-HPA tolerance (1.33+)"
                )),
            )
        } else {
            (
                format!(
                    "tolerance: 0 on scaleUp and scaleDown (Kubernetes {kubernetes}: only with \
                     the HPAConfigurableTolerance feature gate)"
                ),
                status(format!(
                    "on Kubernetes {kubernetes} `tolerance` needs the HPAConfigurableTolerance \
                     feature gate (alpha, off by default; managed control planes such as EKS do \
                     not let you turn it on); without it the 10% tolerance applies"
                )),
            )
        };
        self.report.push(TOLERANCE_SETTING, became, status);
        tolerance
    }
}
