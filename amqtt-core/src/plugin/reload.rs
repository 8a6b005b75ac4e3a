//! What a plugin re-read for a hot reload, put in place only once every part of the reload
//! succeeded ([`Plugin::reload`](super::Plugin::reload)), and state that a reload replaces.

use std::sync::{Arc, PoisonError, RwLock};

use crate::broker::thread_shard::{Padded, SHARDS, shard};

/// The changes a plugin staged in [`Plugin::reload`](super::Plugin::reload): functions that
/// put what it re-read in place. The broker runs them only when every plugin and every TLS
/// listener reloaded without error, so a bad new file leaves the old configuration running
/// everywhere.
///
/// # Examples
///
/// ```
/// use std::sync::RwLock;
/// use amqtt_core::plugin::Reload;
///
/// let words = RwLock::new(vec!["old"]);
/// let staged = Reload::with(|| *words.write().unwrap() = vec!["new"]);
/// assert_eq!(*words.read().unwrap(), ["old"]);
/// staged.commit();
/// assert_eq!(*words.read().unwrap(), ["new"]);
/// ```
#[derive(Default)]
#[must_use = "a staged reload does nothing until committed"]
pub struct Reload<'a> {
    commits: Vec<Box<dyn FnOnce() + Send + 'a>>,
}

impl<'a> Reload<'a> {
    /// Nothing to change.
    pub fn none() -> Reload<'a> {
        Reload::default()
    }

    /// A change that `commit` makes.
    pub fn with(commit: impl FnOnce() + Send + 'a) -> Reload<'a> {
        Reload {
            commits: vec![Box::new(commit)],
        }
    }

    /// This reload's changes, then `other`'s.
    pub fn and(mut self, other: Reload<'a>) -> Reload<'a> {
        self.commits.extend(other.commits);
        self
    }

    /// Puts every staged change in place, in order.
    pub fn commit(self) {
        for commit in self.commits {
            commit();
        }
    }

    /// How many changes are staged.
    pub fn len(&self) -> usize {
        self.commits.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }
}

impl std::fmt::Debug for Reload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reload")
            .field("changes", &self.commits.len())
            .finish()
    }
}

/// A plugin's state that a reload replaces whole (a password table, an ACL): readers take the
/// value in force, a reload stages the new one with [`Swappable::stage`].
///
/// The value is held once per thread shard, each behind its own lock on its own cache line,
/// so a check on the per-message path (an ACL) reads a lock no other core writes; a
/// replacement writes every shard, one after the other.
///
/// # Examples
///
/// ```
/// use amqtt_core::plugin::Swappable;
///
/// let users = Swappable::new(vec!["alice"]);
/// let staged = users.stage(vec!["alice", "bob"]);
/// assert_eq!(users.current().len(), 1);
/// staged.commit();
/// assert_eq!(users.current().len(), 2);
/// ```
#[derive(Debug)]
pub struct Swappable<T> {
    shards: [Padded<RwLock<Arc<T>>>; SHARDS],
}

impl<T: Default + Send + Sync> Default for Swappable<T> {
    fn default() -> Self {
        Swappable::new(T::default())
    }
}

impl<T: Send + Sync> Swappable<T> {
    /// State holding `value`.
    pub fn new(value: T) -> Swappable<T> {
        let value = Arc::new(value);
        Swappable {
            shards: std::array::from_fn(|_| Padded(RwLock::new(value.clone()))),
        }
    }

    /// This thread's copy.
    fn local(&self) -> &RwLock<Arc<T>> {
        &self.shards[shard()].0
    }

    /// The value in force (a read lock held only to clone the `Arc`).
    pub fn current(&self) -> Arc<T> {
        self.local()
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `read` applied to the value in force, under a read lock (for a check on a hot path: no
    /// `Arc` clone).
    pub fn with<R>(&self, read: impl FnOnce(&T) -> R) -> R {
        read(&self.local().read().unwrap_or_else(PoisonError::into_inner))
    }

    /// A change that puts `value` in force when the reload commits.
    pub fn stage(&self, value: T) -> Reload<'_> {
        Reload::with(move || self.replace(value))
    }

    /// Puts `value` in force now.
    pub fn replace(&self, value: T) {
        let value = Arc::new(value);
        for shard in &self.shards {
            *shard.0.write().unwrap_or_else(PoisonError::into_inner) = value.clone();
        }
    }
}
