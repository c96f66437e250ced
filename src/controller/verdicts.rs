//! Where a policy set's verdicts are published and read.
//!
//! Every request reads the latest verdict; only a `StreamIsActive` stream (or a test) waits for
//! the next one. A tokio watch channel per policy set would serve both, but holds nine wait
//! lists (about 350 bytes) whether anyone waits or not; with 10,000 policy sets that is 3.4 MB
//! for mostly idle channels. Here the latest verdict sits behind a mutex, and the watch channel
//! is created for the first subscriber and dropped once no subscriber is left.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use super::Verdict;

/// A verdict cell: the publishing end and the reading end.
pub fn channel(initial: Verdict) -> (VerdictPublisher, Verdicts) {
    let cell = Arc::new(Cell(Mutex::new(State {
        latest: Arc::new(initial),
        subscribers: None,
        closed: false,
    })));
    (VerdictPublisher(cell.clone()), Verdicts(cell))
}

struct Cell(Mutex<State>);

struct State {
    latest: Arc<Verdict>,
    /// The channel of the current subscribers, if any.
    subscribers: Option<watch::Sender<Arc<Verdict>>>,
    /// The publisher is gone: no verdict will follow.
    closed: bool,
}

impl Cell {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The reading end of a policy set's verdicts; clones share it.
#[derive(Clone)]
pub struct Verdicts(Arc<Cell>);

impl Verdicts {
    /// The latest verdict.
    pub fn latest(&self) -> Arc<Verdict> {
        self.0.state().latest.clone()
    }

    /// A receiver that holds the latest verdict and sees each one published after it; it sees
    /// the channel closed once the publisher is gone (the policy set was replaced or removed).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Verdict>> {
        let mut state = self.0.state();
        if let Some(subscribers) = &state.subscribers {
            return subscribers.subscribe();
        }
        let (sender, receiver) = watch::channel(state.latest.clone());
        if !state.closed {
            state.subscribers = Some(sender);
        }
        receiver
    }

    /// Whether a subscriber (a `StreamIsActive` stream) holds a receiver.
    pub fn watched(&self) -> bool {
        self.0
            .state()
            .subscribers
            .as_ref()
            .is_some_and(|subscribers| subscribers.receiver_count() > 0)
    }
}

impl std::fmt::Debug for Verdicts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Verdicts").field(&self.latest()).finish()
    }
}

/// The publishing end; dropping it closes the subscribers' channel.
pub struct VerdictPublisher(Arc<Cell>);

impl VerdictPublisher {
    /// Publishes `verdict`; returns the one it replaces.
    pub fn publish(&self, verdict: Arc<Verdict>) -> Arc<Verdict> {
        let mut state = self.0.state();
        if let Some(subscribers) = &state.subscribers {
            if subscribers.receiver_count() == 0 {
                state.subscribers = None;
            } else {
                subscribers.send_replace(verdict.clone());
            }
        }
        std::mem::replace(&mut state.latest, verdict)
    }
}

impl Drop for VerdictPublisher {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.closed = true;
        state.subscribers = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(desired: u32) -> Arc<Verdict> {
        Arc::new(Verdict::Decided(crate::engine::Decision {
            at: chrono::DateTime::UNIX_EPOCH,
            capacity: 1,
            desired,
            min: 1,
            max: 10,
            scheduled: None,
            reasons: Vec::new(),
        }))
    }

    #[tokio::test]
    async fn subscribers_see_the_latest_verdict_then_each_new_one() {
        let (publisher, verdicts) = channel(Verdict::Pending);
        let mut first = verdicts.subscribe();
        assert_eq!(**first.borrow_and_update(), Verdict::Pending);
        publisher.publish(decided(3));
        first.changed().await.unwrap();
        assert_eq!(first.borrow_and_update().clone(), decided(3));
        // A later subscriber starts from the latest verdict, on the same channel.
        let mut second = verdicts.subscribe();
        assert_eq!(second.borrow_and_update().clone(), decided(3));
        let previous = publisher.publish(decided(4));
        assert_eq!(previous, decided(3));
        second.changed().await.unwrap();
        first.changed().await.unwrap();
        assert_eq!(verdicts.latest(), decided(4));
    }

    #[tokio::test]
    async fn the_channel_goes_with_its_last_subscriber_and_comes_back_for_the_next() {
        let (publisher, verdicts) = channel(Verdict::Pending);
        drop(verdicts.subscribe());
        publisher.publish(decided(2));
        assert!(
            verdicts.0.state().subscribers.is_none(),
            "no channel is kept for nobody"
        );
        let mut receiver = verdicts.subscribe();
        assert_eq!(receiver.borrow_and_update().clone(), decided(2));
        publisher.publish(decided(5));
        receiver.changed().await.unwrap();
        assert_eq!(receiver.borrow().clone(), decided(5));
    }

    #[tokio::test]
    async fn subscribers_see_the_channel_closed_when_the_publisher_goes() {
        let (publisher, verdicts) = channel(Verdict::Pending);
        let mut before = verdicts.subscribe();
        publisher.publish(decided(2));
        drop(publisher);
        assert!(before.changed().await.is_ok(), "the last verdict is seen");
        assert!(before.changed().await.is_err());
        // Subscribing after the publisher went: the last verdict, then closed.
        let mut after = verdicts.subscribe();
        assert_eq!(after.borrow_and_update().clone(), decided(2));
        assert!(after.changed().await.is_err());
        assert_eq!(verdicts.latest(), decided(2));
    }
}
