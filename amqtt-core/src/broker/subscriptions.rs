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

use super::index::{Freed, Index};
use super::outbox::Outbox;
use super::routing::Routed;
use super::session::{Ended, Session, SessionState};
use super::sharded_lock::ShardedWriteGuard;
use super::shared::Core;
use crate::codec::{ByteString, ReasonCode};
use crate::store::{Grant, StoreOp};

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

/// Ends a slice of index work: hands the lock to the publishers waiting for it, then frees what
/// the slice's removals released (freeing a large table can take milliseconds in the allocator,
/// which must not happen while the lock is held).
fn end_slice(index: ShardedWriteGuard<'_, Index>, freed: Freed) {
    ShardedWriteGuard::unlock_fair(index);
    drop(freed);
}

impl Core {
    /// Subscribes `session` to `filters` (valid, permitted) with their grants for the
    /// connection with `outbox`, replacing the grant of a filter it had (its identifier too,
    /// removed when the new one has none), and says for each whether it had it (for MQTT 5.0's
    /// Retain Handling 1). `None` as soon as that connection no longer owns the session (taken
    /// over, or its clean session ended): the filters not yet added are then not added.
    pub(crate) async fn subscribe(
        &self,
        session: &Arc<Session>,
        outbox: &Arc<Outbox>,
        filters: &[(ByteString, Grant)],
    ) -> Option<Vec<bool>> {
        let mut existed = Vec::with_capacity(filters.len());
        let owned = self
            .change_owned(
                session,
                outbox,
                filters,
                |state, index, (filter, grant), _| {
                    let old = state.subscriptions.insert(Box::from(&**filter), *grant);
                    existed.push(old.is_some());
                    state.journal_op(|client_id| StoreOp::Subscribe {
                        client_id,
                        filter: filter.clone(),
                        grant: *grant,
                    });
                    index.insert(filter, session, *grant);
                },
            )
            .await;
        owned.then_some(existed)
    }

    /// Unsubscribes `session` from those of `filters` it has, for the connection with `outbox`,
    /// and says for each whether it had it (MQTT 5.0's UNSUBACK codes: Success or 0x11 No
    /// subscription existed). `None` as soon as that connection no longer owns the session: a
    /// connection that was taken over must not undo what the new one subscribed to.
    pub(crate) async fn unsubscribe(
        &self,
        session: &Session,
        outbox: &Arc<Outbox>,
        filters: &[ByteString],
    ) -> Option<Vec<ReasonCode>> {
        let mut codes = Vec::with_capacity(filters.len());
        let owned = self
            .change_owned(session, outbox, filters, |state, index, filter, freed| {
                if state.subscriptions.remove(&**filter).is_some() {
                    state.journal_op(|client_id| StoreOp::Unsubscribe {
                        client_id,
                        filter: filter.clone(),
                    });
                    index.remove(filter, session.key, freed);
                    codes.push(ReasonCode::Success);
                } else {
                    codes.push(ReasonCode::NoSubscriptionExisted);
                }
            })
            .await;
        owned.then_some(codes)
    }

    /// Applies `change` to each of `filters`, a slice at a time, each slice under the session's
    /// lock and the index's write lock, while the connection with `outbox` owns the session.
    /// Returns `false` as soon as it does not (nothing more is changed).
    async fn change_owned<T>(
        &self,
        session: &Session,
        outbox: &Arc<Outbox>,
        filters: &[T],
        mut change: impl FnMut(&mut SessionState, &mut Index, &T, &mut Freed),
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
            let mut freed = Freed::default();
            for filter in slice {
                change(&mut state, &mut index, filter, &mut freed);
            }
            end_slice(index, freed);
        }
        true
    }

    /// Clears up after a session that ended (what `SessionState::end` returned): removes its
    /// subscriptions from the index, then hands the messages of shared subscriptions it had not
    /// completed to the routing task, which offers each to another member of its group (the
    /// ended session is no longer one). Messages it cannot take (the broker is stopping) and the
    /// QoS 2 messages the session had sent are counted as lost.
    pub(crate) async fn retire(&self, session_key: u64, ended: Ended) {
        self.remove_subscriptions(session_key, ended.subscriptions)
            .await;
        let lost = &self.stats.dropped_shared;
        lost.add(ended.lost as u64);
        for (share, message) in ended.orphans {
            let orphan = Routed::Orphan { share, message };
            if self.to_route.send(orphan).await.is_err() {
                lost.increment();
            }
        }
    }

    /// Removes from the index the subscriptions an ended session had, a slice at a time.
    async fn remove_subscriptions(&self, session_key: u64, filters: HashMap<Box<str>, Grant>) {
        let mut filters = filters.into_keys().peekable();
        while filters.peek().is_some() {
            {
                let mut index = self.router.index_mut();
                let mut freed = Freed::default();
                for filter in filters.by_ref().take(SLICE) {
                    index.remove(&filter, session_key, &mut freed);
                }
                end_slice(index, freed);
            }
            if filters.peek().is_some() {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Checks that the index and the sessions agree: every live session's subscriptions are in
    /// the index under its key with the same grant (its shared ones as members of their groups),
    /// no session in the registry has ended, and the index holds nothing else (as many ordinary
    /// subscriptions and group members as the sessions list, and no group without members).
    /// Meant for tests and diagnostics, when no client is changing subscriptions: a session
    /// ending at the time of the call can show as a difference for as long as its removal takes.
    pub(crate) fn check_consistency(&self) -> Result<(), String> {
        let sessions = self.all_sessions();
        let mut listed = Vec::new();
        for session in &sessions {
            let state = session.lock();
            if state.ended {
                return Err(format!(
                    "session `{}` is in the registry but has ended",
                    session.client_id()
                ));
            }
            listed.push((session.clone(), state.subscriptions.clone()));
        }
        self.router.index().check(&listed)
    }
}
