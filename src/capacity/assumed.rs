//! The assumed capacity: the scaler's own last decision.
//!
//! Without a cluster to read from, the scaler assumes that what it decided happened: the HPA,
//! configured to pass the decision through, sets the replicas to D. It starts from the policy
//! set's minimum capacity, or from `--initial-capacity`.

use std::sync::atomic::{AtomicU32, Ordering};

use super::{CapacityObservation, CapacityView};

/// Capacity equal to the last decision.
#[derive(Debug)]
pub struct AssumedCapacity {
    current: AtomicU32,
}

impl AssumedCapacity {
    /// Starts at `initial`.
    pub fn new(initial: u32) -> Self {
        Self {
            current: AtomicU32::new(initial),
        }
    }
}

impl CapacityView for AssumedCapacity {
    fn observe(&self) -> Option<CapacityObservation> {
        Some(CapacityObservation {
            current: self.current.load(Ordering::Relaxed),
            rollout_in_progress: false,
        })
    }

    fn record_decision(&self, desired: u32) {
        self.current.store(desired, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_capacity_follows_the_last_decision() {
        let view = AssumedCapacity::new(3);
        assert_eq!(view.observe().map(|o| o.current), Some(3));
        view.record_decision(7);
        assert_eq!(
            view.observe(),
            Some(CapacityObservation {
                current: 7,
                rollout_in_progress: false
            })
        );
    }
}
