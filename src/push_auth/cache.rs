//! A bounded map whose entries expire: what remembers review answers.
//!
//! Time is a parameter (`now`), so the rules are tested as plain tables. When the map is full,
//! expired entries go first, then the one that would expire soonest: a flood of new tokens can
//! evict answers early (they are asked again), never grow memory.

use std::collections::HashMap;
use std::hash::Hash;

use tokio::time::Instant;

/// Entries that expire, at most `capacity` of them.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: HashMap<K, (V, Instant)>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// An empty cache of at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The value of `key` if it has not expired at `now` (an expired one is removed).
    pub fn get(&mut self, key: &K, now: Instant) -> Option<V> {
        match self.entries.get(key) {
            Some((value, expires)) if now < *expires => Some(value.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `value` for `key` until `expires`, making room if the cache is full.
    pub fn insert(&mut self, key: K, value: V, expires: Instant, now: Instant) {
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.entries.retain(|_, (_, at)| now < *at);
            if self.entries.len() >= self.capacity
                && let Some(soonest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
            {
                self.entries.remove(&soonest);
            }
        }
        self.entries.insert(key, (value, expires));
    }

    /// Entries held, expired ones included until they are seen or evicted.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn an_entry_is_served_until_it_expires() {
        let t0 = Instant::now();
        let mut cache = TtlCache::new(4);
        cache.insert("a", 1, at(t0, 10), t0);
        assert_eq!(cache.get(&"a", at(t0, 9)), Some(1));
        assert_eq!(cache.get(&"a", at(t0, 10)), None, "expired at its deadline");
        assert!(cache.is_empty(), "an expired entry seen is removed");
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first() {
        let t0 = Instant::now();
        let mut cache = TtlCache::new(2);
        cache.insert("old", 1, at(t0, 5), t0);
        cache.insert("long", 2, at(t0, 100), t0);
        cache.insert("new", 3, at(t0, 50), at(t0, 6));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&"long", at(t0, 7)), Some(2));
        assert_eq!(cache.get(&"new", at(t0, 7)), Some(3));
    }

    #[test]
    fn a_full_cache_of_live_entries_drops_the_soonest_to_expire() {
        let t0 = Instant::now();
        let mut cache = TtlCache::new(2);
        cache.insert("soon", 1, at(t0, 10), t0);
        cache.insert("late", 2, at(t0, 100), t0);
        cache.insert("new", 3, at(t0, 50), at(t0, 1));
        assert_eq!(cache.len(), 2, "never more than the capacity");
        assert_eq!(cache.get(&"soon", at(t0, 2)), None);
        assert_eq!(cache.get(&"late", at(t0, 2)), Some(2));
    }

    #[test]
    fn replacing_a_key_of_a_full_cache_evicts_nothing() {
        let t0 = Instant::now();
        let mut cache = TtlCache::new(2);
        cache.insert("a", 1, at(t0, 10), t0);
        cache.insert("b", 2, at(t0, 10), t0);
        cache.insert("a", 3, at(t0, 20), t0);
        assert_eq!(cache.get(&"a", t0), Some(3));
        assert_eq!(cache.get(&"b", t0), Some(2));
    }
}
