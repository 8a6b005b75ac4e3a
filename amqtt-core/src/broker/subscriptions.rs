//! Subscriptions entering and leaving the router's index, kept in step with the sessions.
//!
//! Two rules keep the index free of subscriptions that belong to no live session, whatever the
//! interleaving of SUBSCRIBE, takeover, detach and expiry:
//!
//! - An entry enters the index only while its session is locked and still owned by the
//!   connection that asked (`SessionState::owned_by`): not ended, not taken over. The session's
//!   own list and the index change together, under that lock.
//! - A session leaves the registry only through `SessionState::end`, which under the same lock
//!   marks it ended and takes its list; the caller then removes exactly those entries
//!   ([`Core::remove_subscriptions`]). Nothing can be added after the mark, and everything added
//!   before it is in the list taken.
//!
//! Index work runs in slices of [`SLICE`] filters. Each slice ends with a fair unlock, which hands
//! the index to the publishers waiting for it before the next slice can take it back, and the
//! task yields to the runtime between slices; so a client subscribing to 10 000 filters or a
//! session ending with 300 000 holds up other clients' routing for one slice at a time, not for
//! the whole batch.
//!
//! Lock order: a session, then the index (the reverse never happens: routing releases the
//! index before it locks a session).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLockWriteGuard;

use super::outbox::Outbox;
use super::router::Subscriber;
use super::session::{Session, SessionState};
use super::shared::Core;
use crate::codec::{ByteString, QoS};
use crate::store::StoreOp;
use crate::topic::{Released, TopicTrie};

/// Filters handled per hold of the index's write lock. A trie insert or removal takes well
/// under a microsecond, so a slice holds the lock for a small fraction of a millisecond.
pub(crate) const SLICE: usize = 256;

/// Yields to the runtime once every [`SLICE`] calls: for loops over a client's filters that run
/// plugin hooks or retained-message lookups per filter, so a long list does not hold up the
/// other tasks of its worker thread.
#[derive(Default)]
pub(crate) struct SliceYield(usize);

impl SliceYield {
    /// Counts one filter; every [`SLICE`]th call yields.
    pub(crate) async fn tick(&mut self) {
        self.0 += 1;
        if self.0.is_multiple_of(SLICE) {
            tokio::task::yield_now().await;
        }
    }
}

/// The index as the router holds it.
type Index = TopicTrie<u64, Subscriber>;

/// Keeps what a removal released, if anything, to free after the slice.
fn keep_released(kept: &mut Vec<Released<u64, Subscriber>>, released: Released<u64, Subscriber>) {
    if !released.is_empty() {
        kept.push(released);
    }
}

/// Ends a slice of index work: hands the lock to the publishers waiting for it, then frees what
/// the slice's removals released (freeing a large table can take milliseconds in the allocator,
/// which must not happen while the lock is held).
fn end_slice(index: RwLockWriteGuard<'_, Index>, released: Vec<Released<u64, Subscriber>>) {
    RwLockWriteGuard::unlock_fair(index);
    drop(released);
}

impl Core {
    /// Subscribes `session` to `filters` (valid, permitted) for the connection with `outbox`.
    /// Returns `false` as soon as that connection no longer owns the session (taken over, or
    /// its clean session ended): the filters not yet added are then not added.
    pub(crate) async fn subscribe(
        &self,
        session: &Arc<Session>,
        outbox: &Arc<Outbox>,
        filters: &[(ByteString, QoS)],
    ) -> bool {
        self.change_owned(
            session,
            outbox,
            filters,
            |state, index, (filter, qos), _| {
                state.subscriptions.insert(Box::from(&**filter), *qos);
                state.journal_op(|client_id| StoreOp::Subscribe {
                    client_id,
                    filter: filter.clone(),
                    qos: *qos,
                });
                let subscriber = Subscriber {
                    session: session.clone(),
                    qos: *qos,
                };
                index.insert(filter, session.key, subscriber);
            },
        )
        .await
    }

    /// Unsubscribes `session` from those of `filters` it has, for the connection with `outbox`.
    /// Returns `false` as soon as that connection no longer owns the session: a connection that
    /// was taken over must not undo what the new one subscribed to.
    pub(crate) async fn unsubscribe(
        &self,
        session: &Session,
        outbox: &Arc<Outbox>,
        filters: &[ByteString],
    ) -> bool {
        self.change_owned(
            session,
            outbox,
            filters,
            |state, index, filter, released| {
                if state.subscriptions.remove(&**filter).is_some() {
                    state.journal_op(|client_id| StoreOp::Unsubscribe {
                        client_id,
                        filter: filter.clone(),
                    });
                    keep_released(released, index.remove_deferred(filter, &session.key).1);
                }
            },
        )
        .await
    }

    /// Applies `change` to each of `filters`, a slice at a time, each slice under the session's
    /// lock and the index's write lock, while the connection with `outbox` owns the session.
    /// Returns `false` as soon as it does not (nothing more is changed).
    async fn change_owned<T>(
        &self,
        session: &Session,
        outbox: &Arc<Outbox>,
        filters: &[T],
        mut change: impl FnMut(&mut SessionState, &mut Index, &T, &mut Vec<Released<u64, Subscriber>>),
    ) -> bool {
        for (n, slice) in filters.chunks(SLICE).enumerate() {
            if n > 0 {
                tokio::task::yield_now().await;
            }
            let mut state = session.lock();
            if !state.owned_by(outbox) {
                return false;
            }
            let mut index = self.router.index_mut();
            let mut released = Vec::new();
            for filter in slice {
                change(&mut state, &mut index, filter, &mut released);
            }
            end_slice(index, released);
        }
        true
    }

    /// Removes from the index the subscriptions an ended session had (what
    /// `SessionState::end` returned), a slice at a time.
    pub(crate) async fn remove_subscriptions(
        &self,
        session_key: u64,
        filters: HashMap<Box<str>, QoS>,
    ) {
        let mut filters = filters.into_keys().peekable();
        while filters.peek().is_some() {
            {
                let mut index = self.router.index_mut();
                let mut released = Vec::new();
                for filter in filters.by_ref().take(SLICE) {
                    keep_released(
                        &mut released,
                        index.remove_deferred(&filter, &session_key).1,
                    );
                }
                end_slice(index, released);
            }
            if filters.peek().is_some() {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Checks that the index and the sessions agree: every live session's subscriptions are in
    /// the index under its key with the same QoS, no session in the registry has ended, and the
    /// index holds nothing else (its size is the sum of the sessions' subscriptions). Meant for
    /// tests and diagnostics, when no client is changing subscriptions: a session ending at the
    /// time of the call can show as a difference for as long as its removal takes.
    pub(crate) fn check_consistency(&self) -> Result<(), String> {
        let sessions = self.all_sessions();
        let mut expected = 0;
        let mut listed = Vec::new();
        for session in &sessions {
            let state = session.lock();
            if state.ended {
                return Err(format!(
                    "session `{}` is in the registry but has ended",
                    session.client_id()
                ));
            }
            expected += state.subscriptions.len();
            listed.push((session.clone(), state.subscriptions.clone()));
        }
        let index = self.router.index();
        for (session, filters) in &listed {
            for (filter, qos) in filters {
                match index.get(filter, &session.key) {
                    Some(entry) if Arc::ptr_eq(&entry.session, session) && entry.qos == *qos => {}
                    Some(entry) => {
                        return Err(format!(
                            "index entry for `{filter}` of `{}` is {:?} of another session object, expected {qos:?}",
                            session.client_id(),
                            entry.qos
                        ));
                    }
                    None => {
                        return Err(format!(
                            "subscription `{filter}` of `{}` is missing from the index",
                            session.client_id()
                        ));
                    }
                }
            }
        }
        if index.len() != expected {
            return Err(format!(
                "the index holds {} subscriptions, the {} live sessions {expected}: {} belong to no live session",
                index.len(),
                sessions.len(),
                index.len().saturating_sub(expected)
            ));
        }
        Ok(())
    }
}
