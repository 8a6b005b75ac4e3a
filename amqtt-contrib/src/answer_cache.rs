//! A time-limited cache of a backend's answers (database, HTTP, LDAP), so that a reconnect storm
//! or a busy topic does not send one query per check to the backend.
//!
//! Off unless configured: every auth plugin that asks a backend takes
//!
//! ```yaml
//! cache_ttl: 30        # seconds an answer is reused; 0 or absent: no cache (aMQTT has none)
//! cache_size: 10000    # answers held at most (default 10 000)
//! ```
//!
//! A cached login is keyed by the user name and a salted SHA-256 of the password (the salt is
//! random per process), never by the password itself. A cached answer outlives a change in the
//! backend by at most `cache_ttl`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Default for [`CacheConfig::cache_size`].
pub const DEFAULT_CACHE_SIZE: usize = 10_000;

/// The cache keys of a plugin's configuration. Plugins declare `cache_ttl` and `cache_size` as
/// fields of their own config (serde cannot flatten into a `deny_unknown_fields` struct) and
/// pass them to [`AnswerCache::configured`].
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    /// Seconds an answer is reused; 0 turns the cache off.
    pub cache_ttl: f64,
    /// Answers held at most.
    pub cache_size: usize,
}

impl Default for CacheConfig {
    fn default() -> CacheConfig {
        CacheConfig {
            cache_ttl: 0.0,
            cache_size: DEFAULT_CACHE_SIZE,
        }
    }
}

impl CacheConfig {
    /// Checks the values; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !self.cache_ttl.is_finite() || self.cache_ttl < 0.0 {
            return Err(format!(
                "`cache_ttl`: expected a number of seconds >= 0, got {}",
                self.cache_ttl
            ));
        }
        if self.cache_ttl > 0.0 && self.cache_size == 0 {
            return Err("`cache_size`: expected at least 1 when `cache_ttl` is set".to_owned());
        }
        Ok(())
    }
}

/// Answers of type `V` keyed by `K`, each reused for a fixed time. Bounded: when full, expired
/// answers are dropped, and if none had expired, all are.
#[derive(Debug)]
pub struct AnswerCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Hash + Eq, V: Clone> AnswerCache<K, V> {
    /// The cache a plugin's `cache_ttl` and `cache_size` keys configure: `None` when they turn
    /// it off; an error naming the key when a value is out of range.
    pub fn configured(
        cache_ttl: f64,
        cache_size: usize,
    ) -> Result<Option<AnswerCache<K, V>>, String> {
        let config = CacheConfig {
            cache_ttl,
            cache_size,
        };
        config.validate()?;
        Ok(AnswerCache::from_config(&config))
    }

    /// A cache as configured, or `None` when the configuration turns it off.
    pub fn from_config(config: &CacheConfig) -> Option<AnswerCache<K, V>> {
        (config.cache_ttl > 0.0 && config.cache_size > 0)
            .then(|| AnswerCache::new(Duration::from_secs_f64(config.cache_ttl), config.cache_size))
    }

    /// A cache reusing answers for `ttl`, holding at most `capacity`.
    pub fn new(ttl: Duration, capacity: usize) -> AnswerCache<K, V> {
        AnswerCache {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The answer stored for `key`, if it has not expired.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(stored, _)| stored.elapsed() < self.ttl)
            .map(|(_, answer)| answer.clone())
    }

    /// Stores `answer` for `key`.
    pub fn insert(&self, key: K, answer: V) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (stored, _)| now.duration_since(*stored) < self.ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (now, answer));
    }

    /// Drops every answer.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Number of answers held (expired ones included until they are dropped).
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no answer is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The key of a login in a cache: the user name and a salted SHA-256 of the password.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoginKey {
    username: Box<str>,
    password_digest: [u8; 32],
}

impl LoginKey {
    /// The key of `username` logging in with `password`.
    pub fn new(username: &str, password: &[u8]) -> LoginKey {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        context.update(process_salt());
        context.update(password);
        let mut password_digest = [0u8; 32];
        password_digest.copy_from_slice(context.finish().as_ref());
        LoginKey {
            username: username.into(),
            password_digest,
        }
    }
}

/// A random salt drawn once per process.
fn process_salt() -> &'static [u8; 32] {
    static SALT: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    SALT.get_or_init(|| {
        let mut salt = [0u8; 32];
        // Without randomness the salt stays zero: the digest still never holds the password.
        if aws_lc_rs::rand::fill(&mut salt).is_err() {
            tracing::warn!("no random salt for the auth cache keys");
        }
        salt
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire() {
        let cache = AnswerCache::new(Duration::from_millis(30), 10);
        cache.insert("a", true);
        assert_eq!(cache.get(&"a"), Some(true));
        assert_eq!(cache.get(&"b"), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"a"), None);
    }

    #[test]
    fn the_cache_stays_within_its_size() {
        let cache = AnswerCache::new(Duration::from_secs(60), 3);
        for i in 0..10 {
            cache.insert(i, i);
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.get(&9), Some(9));
    }

    #[test]
    fn off_unless_configured() {
        assert!(AnswerCache::<u8, u8>::from_config(&CacheConfig::default()).is_none());
        let on = CacheConfig {
            cache_ttl: 1.5,
            ..CacheConfig::default()
        };
        assert!(AnswerCache::<u8, u8>::from_config(&on).is_some());
        assert!(
            CacheConfig {
                cache_ttl: -1.0,
                ..on
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn login_keys_tell_passwords_apart() {
        assert_eq!(LoginKey::new("u", b"pw"), LoginKey::new("u", b"pw"));
        assert_ne!(LoginKey::new("u", b"pw"), LoginKey::new("u", b"pw2"));
        assert_ne!(LoginKey::new("u", b"pw"), LoginKey::new("v", b"pw"));
    }
}
