//! Readings an adapter keeps per container for a short while: AWS's own request rates for
//! some reads (Service Quotas, SSM settings, Kinesis DescribeLimits) are low, and a storm of
//! throttles would otherwise spend them on the same answer.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a resource's tags are kept per container: an opt-out tag set by hand is honoured
/// within a minute, and a storm of incidents on one resource does not spend the tag APIs'
/// low rates (ListTagsOfResource 10 requests per second per account, ListTagsForStream 5) on
/// the same answer.
pub const TAGS_TTL: Duration = Duration::from_secs(60);

/// Each value kept for `ttl` after it was read, then read again.
pub struct Kept<K, V> {
    ttl: Duration,
    read: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Kept<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            read: Mutex::new(HashMap::new()),
        }
    }

    /// The value read for `key` less than `ttl` ago.
    pub fn get(&self, key: &K) -> Option<V> {
        self.lock()
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    pub fn keep(&self, key: K, value: V) {
        self.lock().insert(key, (Instant::now(), value));
    }

    /// Forgets `key`: after a change, the next read goes to AWS.
    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        // A panic while holding the map leaves it whole: keep using it.
        self.read.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_kept_for_its_ttl_and_forgotten_on_demand() {
        let kept = Kept::new(Duration::from_secs(60));
        assert_eq!(kept.get(&"a"), None);
        kept.keep("a", 1);
        assert_eq!(kept.get(&"a"), Some(1));
        kept.forget(&"a");
        assert_eq!(kept.get(&"a"), None);

        let expired = Kept::new(Duration::ZERO);
        expired.keep("a", 1);
        assert_eq!(expired.get(&"a"), None, "older than its ttl");
    }
}
