//! Running in a cluster: the `ScalingPolicySet` custom resource, its status, and the watches
//! that feed the same [`crate::registry::Registry`] and [`crate::capacity`] views as files do.
//!
//! Everything here talks to the API server through a [`kube::Client`], so the tests put a
//! `tower_test::mock` service behind a real client and play the API calls in order.

pub mod crd;
pub mod lease;
pub mod policies;
pub mod reviews;
pub mod status;
#[cfg(test)]
pub(crate) mod testing;

pub use crate::policy::document::ScalingPolicySetResource;
pub use crd::{Condition, LastDecision, ScalingPolicySetStatus};

/// How long one request to the API server (a GET, a write; not a watch) may take.
pub const API_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `call`, abandoned with an error after [`API_CALL_TIMEOUT`]: a stalled API server must not
/// stall the loop that made the call (the client itself bounds only connecting and writing).
pub async fn bounded<T>(call: impl Future<Output = kube::Result<T>>) -> kube::Result<T> {
    tokio::time::timeout(API_CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|elapsed| Err(kube::Error::Service(Box::new(elapsed))))
}
