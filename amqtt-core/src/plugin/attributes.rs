//! [`SessionAttributes`]: values plugins attach to a client's connection (aMQTT's plugins set
//! attributes on the session object for the same purpose).

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// One attribute's value.
type Value = Arc<dyn Any + Send + Sync>;

/// The attributes, allocated when the first is set.
type Values = Option<Box<HashMap<Box<str>, Value>>>;

/// Values plugins attach to a connected client, shared by every hook that is given its
/// [`SessionInfo`](super::SessionInfo): what an auth plugin learned at CONNECT (a token's claims,
/// a superuser flag, a certificate's identity) for a topic plugin to read later, without asking
/// its backend again.
///
/// They live as long as the connection: set from `authenticate` on, gone when the client
/// disconnects (a reconnect starts with none, and they are not stored with a persistent
/// session). Keys are strings, by convention prefixed with the plugin's name (`jwt.claims`);
/// values are of any `Send + Sync` type and are read back by that type. Empty until a plugin
/// inserts something: no allocation per connection otherwise.
#[derive(Default)]
pub struct SessionAttributes {
    values: Mutex<Values>,
}

impl SessionAttributes {
    /// Sets `key` to `value`, replacing what it held.
    pub fn insert<T: Any + Send + Sync>(&self, key: &str, value: T) {
        self.lock()
            .get_or_insert_with(Box::default)
            .insert(key.into(), Arc::new(value));
    }

    /// The value of `key`, if it is set and of type `T`.
    pub fn get<T: Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        let value = self.lock().as_ref()?.get(key)?.clone();
        value.downcast::<T>().ok()
    }

    /// Whether `key` is set (to a value of any type).
    pub fn contains(&self, key: &str) -> bool {
        self.lock().as_ref().is_some_and(|v| v.contains_key(key))
    }

    /// Unsets `key`; returns whether it was set.
    pub fn remove(&self, key: &str) -> bool {
        self.lock()
            .as_mut()
            .is_some_and(|v| v.remove(key).is_some())
    }

    /// The keys that are set, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .lock()
            .as_ref()
            .map(|v| v.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        keys
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Values> {
        self.values.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A copy holds the same values (shared, not deep-copied); later changes to either are not seen
/// by the other.
impl Clone for SessionAttributes {
    fn clone(&self) -> SessionAttributes {
        SessionAttributes {
            values: Mutex::new(self.lock().clone()),
        }
    }
}

/// Equal when the same keys are set to the same values (the same shared value, not an equal
/// one: values need not be comparable).
impl PartialEq for SessionAttributes {
    fn eq(&self, other: &SessionAttributes) -> bool {
        if std::ptr::eq(self, other) {
            return true;
        }
        let (a, b) = (self.lock().clone(), other.lock());
        let empty = HashMap::new();
        let (a, b) = (
            a.as_deref().unwrap_or(&empty),
            b.as_deref().unwrap_or(&empty),
        );
        a.len() == b.len()
            && a.iter()
                .all(|(k, v)| b.get(k).is_some_and(|w| Arc::ptr_eq(v, w)))
    }
}

impl Eq for SessionAttributes {}

impl fmt::Debug for SessionAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::SessionAttributes;

    #[test]
    fn values_are_read_back_by_their_type() {
        let attributes = SessionAttributes::default();
        assert!(!attributes.contains("a.superuser"));
        attributes.insert("a.superuser", true);
        attributes.insert("a.topics", vec!["x/#".to_owned()]);
        assert_eq!(
            attributes.get::<bool>("a.superuser").as_deref(),
            Some(&true)
        );
        assert_eq!(attributes.get::<u32>("a.superuser"), None);
        assert_eq!(
            attributes.get::<Vec<String>>("a.topics").as_deref(),
            Some(&vec!["x/#".to_owned()])
        );
        assert_eq!(attributes.keys(), ["a.superuser", "a.topics"]);
        assert!(attributes.remove("a.superuser"));
        assert!(!attributes.remove("a.superuser"));
        assert_eq!(format!("{attributes:?}"), r#"{"a.topics"}"#);
    }

    #[test]
    fn copies_share_values_but_not_later_changes() {
        let a = SessionAttributes::default();
        a.insert("k", 1u8);
        let b = a.clone();
        assert_eq!(a, b);
        b.insert("k", 2u8);
        assert_ne!(a, b);
        assert_eq!(a.get::<u8>("k").as_deref(), Some(&1));
        assert_eq!(SessionAttributes::default(), SessionAttributes::default());
    }
}
