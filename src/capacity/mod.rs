//! The current capacity of a scale target, as the engine needs it (spec D.2).
//!
//! ECS computes from the running task count; on Kubernetes that is the workload's replicas.
//! A [`CapacityView`] answers "how many now, and is a rollout in progress". The embedded default
//! is [`assumed::AssumedCapacity`]: the capacity is taken to be the last decision, as if the HPA
//! applied every decision at once. A view that watches the workload replaces it in a cluster.

pub mod assumed;
pub mod kube;

/// The capacity of a scale target at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityObservation {
    /// Current replicas.
    pub current: u32,
    /// A rollout is in progress: scale-in waits, as ECS does during a deployment.
    pub rollout_in_progress: bool,
}

/// Where a policy set's current capacity comes from.
pub trait CapacityView: Send + Sync + 'static {
    /// The current capacity, or `None` while it is unknown (the scaler then cannot decide).
    fn observe(&self) -> Option<CapacityObservation>;

    /// Called with every decision the scaler publishes.
    fn record_decision(&self, desired: u32);

    /// Whether the view observes the scale target itself; cooldowns then start when a decided
    /// change of its replicas is observed, not when it is decided.
    fn observes_target(&self) -> bool {
        false
    }

    /// A receiver that sees every change of the observed target, for a view that observes
    /// one: the scaler then decides as soon as a change shows, not at its next tick.
    fn changes(&self) -> Option<CapacityChanges> {
        None
    }
}

/// Changes of an observed scale target.
pub type CapacityChanges = tokio::sync::watch::Receiver<Option<kube::TargetState>>;

/// Where a served policy set's [`CapacityView`] comes from (in a cluster: its scale target).
pub trait CapacitySource: Send + Sync + 'static {
    /// The view of `set`'s scale target, or `None` to assume the last decision.
    fn view(
        &self,
        set: &crate::policy::CompiledPolicySet,
    ) -> Option<std::sync::Arc<dyn CapacityView>>;
}
