//! Running in a cluster: the `ScalingPolicySet` custom resource, its status, and the watches
//! that feed the same [`crate::registry::Registry`] and [`crate::capacity`] views as files do.
//!
//! Everything here talks to the API server through a [`kube::Client`], so the tests put a
//! `tower_test::mock` service behind a real client and play the API calls in order.

pub mod crd;
pub mod lease;
pub mod policies;
pub mod status;
#[cfg(test)]
pub(crate) mod testing;

pub use crate::policy::document::ScalingPolicySetResource;
pub use crd::{Condition, LastDecision, ScalingPolicySetStatus};
