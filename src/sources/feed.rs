//! The channel between a source and the controllers that read it.
//!
//! Controllers never wait on a feed: their driver looks at each feed's version every
//! [`INPUT_CHECK_INTERVAL`](crate::controller::driver::INPUT_CHECK_INTERVAL). So a feed is its
//! state behind a lock and a version number, and the only thing awaited is the last receiver
//! leaving (the hub then stops the source). A tokio watch channel would also keep nine wait
//! lists per feed (about 340 bytes), and a pushed metric has a feed of its own in every policy
//! set.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use tokio::sync::Notify;

use super::FeedState;

/// A feed holding `initial`: its sending end (cloneable) and a first receiver.
pub fn channel(initial: FeedState) -> (FeedSender, FeedReceiver) {
    let sender = FeedSender(Arc::new(Shared {
        state: RwLock::new(initial),
        version: AtomicU64::new(0),
        receivers: AtomicUsize::new(0),
        receivers_gone: Notify::new(),
    }));
    let receiver = sender.subscribe();
    (sender, receiver)
}

struct Shared {
    state: RwLock<FeedState>,
    /// Incremented by every change, while the state is locked for writing.
    version: AtomicU64,
    receivers: AtomicUsize,
    receivers_gone: Notify,
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, FeedState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending end of a feed, held by its source (and the hub); clones share the feed.
#[derive(Clone)]
pub struct FeedSender(Arc<Shared>);

impl FeedSender {
    /// Changes the state in place; receivers see a new version.
    pub fn send_modify(&self, change: impl FnOnce(&mut FeedState)) {
        let mut state = self.0.state.write().unwrap_or_else(PoisonError::into_inner);
        change(&mut state);
        self.0.version.fetch_add(1, Ordering::Release);
    }

    /// A new receiver; the current state counts as seen.
    pub fn subscribe(&self) -> FeedReceiver {
        self.0.receivers.fetch_add(1, Ordering::AcqRel);
        FeedReceiver {
            seen: self.0.version.load(Ordering::Acquire),
            shared: self.0.clone(),
        }
    }

    /// The current state.
    pub fn borrow(&self) -> RwLockReadGuard<'_, FeedState> {
        self.0.read()
    }

    /// How many receivers the feed has.
    pub fn receiver_count(&self) -> usize {
        self.0.receivers.load(Ordering::Acquire)
    }

    /// Completes once the feed has no receiver (at once if it has none now).
    pub async fn closed(&self) {
        loop {
            let gone = self.0.receivers_gone.notified();
            tokio::pin!(gone);
            gone.as_mut().enable();
            if self.receiver_count() == 0 {
                return;
            }
            gone.await;
        }
    }

    /// Whether both senders feed the same channel.
    pub fn same_channel(&self, other: &FeedSender) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The receiving end of a feed: reads its state and tells whether it changed since it last
/// looked.
pub struct FeedReceiver {
    shared: Arc<Shared>,
    seen: u64,
}

impl FeedReceiver {
    /// The current state.
    pub fn borrow(&self) -> RwLockReadGuard<'_, FeedState> {
        self.shared.read()
    }

    /// The current state, marked seen.
    pub fn borrow_and_update(&mut self) -> RwLockReadGuard<'_, FeedState> {
        let state = self.shared.read();
        // Read under the lock: the version of exactly this state.
        self.seen = self.shared.version.load(Ordering::Acquire);
        state
    }

    /// Whether the state changed since it was last marked seen; marks it seen.
    pub fn take_change(&mut self) -> bool {
        let version = self.shared.version.load(Ordering::Acquire);
        std::mem::replace(&mut self.seen, version) != version
    }
}

impl Drop for FeedReceiver {
    fn drop(&mut self) {
        if self.shared.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.receivers_gone.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;

    use super::*;

    #[test]
    fn a_receiver_sees_each_change_once() {
        let (sender, mut receiver) = channel(FeedState::default());
        assert!(!receiver.take_change(), "the initial state counts as seen");
        sender.send_modify(|state| state.push(Utc::now(), 4.0, Utc::now()));
        let mut late = sender.subscribe();
        assert!(!late.take_change(), "subscribed after the change");
        assert!(receiver.take_change());
        assert!(!receiver.take_change());
        sender.send_modify(|state| state.push(Utc::now(), 5.0, Utc::now()));
        assert_eq!(late.borrow_and_update().datapoints.len(), 2);
        assert!(!late.take_change(), "borrow_and_update marked it seen");
        assert!(receiver.take_change());
        assert_eq!(
            sender.borrow().datapoints.back().map(|d| d.value),
            Some(5.0)
        );
    }

    #[tokio::test]
    async fn closed_completes_when_the_last_receiver_goes() {
        let (sender, receiver) = channel(FeedState::default());
        let other = sender.subscribe();
        assert_eq!(sender.receiver_count(), 2);
        let closed = tokio::spawn({
            let sender = sender.clone();
            async move { sender.closed().await }
        });
        drop(receiver);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!closed.is_finished(), "one receiver is left");
        drop(other);
        tokio::time::timeout(Duration::from_secs(5), closed)
            .await
            .expect("closed() completes")
            .unwrap();
        assert_eq!(sender.receiver_count(), 0);
        sender.closed().await; // no receiver now: at once
        assert!(sender.same_channel(&sender.clone()));
        assert!(!sender.same_channel(&channel(FeedState::default()).0));
    }
}
