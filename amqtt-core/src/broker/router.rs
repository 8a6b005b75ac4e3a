//! The subscription index and the retained-message store, shared by every connection.
//!
//! A publishing connection routes its own messages: it takes the index's read lock, collects the
//! matching sessions, releases the lock and only then delivers. Both locks are blocking locks
//! because nothing awaits while they are held; publishes take the read side and run in parallel
//! (the index's read side per thread shard, `sharded_lock.rs`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use super::index::{Groups, Index, Targets, merge};
use super::journal::Journal;
use super::message_expiry;
use super::session::Session;
use super::sharded_lock::{ShardedReadGuard, ShardedRwLock, ShardedWriteGuard};
use crate::cluster::Interest;
use crate::codec::Publish;
use crate::store::{Grant, StoreOp};
use crate::topic::filter_matches;

/// Subscriptions and retained messages.
#[derive(Default)]
pub(crate) struct Router {
    /// Read-locked per thread shard, so that routing on two cores does not bounce one lock
    /// word between them; its fair unlock lets publishers waiting for the index in before the
    /// next slice of a large index change (see `sharded_lock.rs`, `subscriptions.rs`).
    subscriptions: ShardedRwLock<Index>,
    retained: RwLock<HashMap<String, Publish>>,
}

impl Router {
    /// A router whose index keeps `interest` (this node's filters, for its cluster) up to date.
    pub(crate) fn with_interest(interest: Arc<Interest>) -> Router {
        let router = Router::default();
        router.index_mut().interest = Some(interest);
        router
    }

    /// The index, to change. Held for one slice of work at a time (see `subscriptions.rs`).
    pub(crate) fn index_mut(&self) -> ShardedWriteGuard<'_, Index> {
        self.subscriptions.write()
    }

    /// The index, to read.
    pub(crate) fn index(&self) -> ShardedReadGuard<'_, Index> {
        self.subscriptions.read()
    }

    /// The sessions that should receive a message on `topic` published by the client `sender`
    /// (empty for the broker's and plugins' messages) with the RETAIN flag `retain`: each
    /// session with matching subscriptions once, at the highest QoS among them, leaving out
    /// `sender`'s own subscriptions with No Local; and one member of every matching
    /// shared-subscription group that `groups` includes (its [`Share`](super::index::Share) records `retain`). The index
    /// is read-locked only while they are collected.
    pub(crate) fn targets(
        &self,
        topic: &str,
        sender: &str,
        retain: bool,
        groups: Groups<'_>,
    ) -> Targets {
        let mut targets = Targets::new();
        let overlapping = self
            .index()
            .collect(topic, sender, retain, groups, &mut targets);
        if overlapping {
            merge(&mut targets);
        }
        targets
    }

    /// A member of the shared subscription `share` (`$share/<group>/<filter>`) other than the
    /// sessions `skip` (by key), picked as for a new message; `None` when the group has no
    /// other member.
    pub(crate) fn pick(&self, share: &str, skip: &[u64]) -> Option<(Arc<Session>, Grant)> {
        let index = self.index();
        let member = index.group(share)?.pick(skip)?;
        Some((member.session.clone(), member.grant))
    }

    /// Stores, replaces or (with an empty payload) deletes the retained message of `message.topic`;
    /// journals the change when a `journal` is given (under the lock, so that the store ends with
    /// the same message as memory when two publishers race on one topic). `$` topics (`$SYS`)
    /// are the broker's own and not journaled.
    pub(crate) fn retain(&self, message: &Publish, journal: Option<&Journal>) -> Option<u64> {
        let mut retained = self.retained.write().unwrap_or_else(|e| e.into_inner());
        let seq = journal
            .filter(|_| !message.topic.starts_with('$'))
            .map(|journal| {
                journal.append(StoreOp::Retained {
                    topic: message.topic.clone(),
                    message: (!message.payload.is_empty()).then(|| message.clone()),
                })
            });
        if message.payload.is_empty() {
            retained.remove(&*message.topic);
        } else {
            // A copy, not a view of the frame it came in: a view would keep that frame's whole
            // read buffer alive for as long as the message is retained.
            let stored = Publish {
                dup: false,
                packet_id: None,
                ..message.detached()
            };
            retained.insert(message.topic.to_string(), stored);
        }
        seq
    }

    /// The retained messages whose topics match `filter`. Expired ones (MQTT 5.0 message
    /// expiry) are left out and removed, from the store too when a `journal` is given.
    pub(crate) fn retained_matching(
        &self,
        filter: &str,
        journal: Option<&Journal>,
    ) -> Vec<Publish> {
        let now = Instant::now();
        let mut expired = false;
        let mut live = |message: &Publish| {
            let gone = message_expiry::expired(message, now);
            expired |= gone;
            !gone
        };
        let matching = {
            let retained = self.retained.read().unwrap_or_else(|e| e.into_inner());
            if filter.contains(['+', '#']) {
                retained
                    .iter()
                    .filter(|(topic, message)| filter_matches(filter, topic) && live(message))
                    .map(|(_, message)| message.clone())
                    .collect()
            } else {
                // A filter without wildcards matches one topic name: a lookup, not a scan, so a
                // SUBSCRIBE of many plain filters costs no scan of the store per filter.
                retained
                    .get(filter)
                    .filter(|m| live(m))
                    .cloned()
                    .into_iter()
                    .collect()
            }
        };
        if expired {
            self.remove_expired(now, journal);
        }
        matching
    }

    /// Removes the retained messages expired at `now` (a scan, run only once one was found).
    fn remove_expired(&self, now: Instant, journal: Option<&Journal>) {
        let mut retained = self.retained.write().unwrap_or_else(|e| e.into_inner());
        retained.retain(|topic, message| {
            if !message_expiry::expired(message, now) {
                return true;
            }
            if let Some(journal) = journal.filter(|_| !topic.starts_with('$')) {
                journal.append(StoreOp::Retained {
                    topic: message.topic.clone(),
                    message: None,
                });
            }
            false
        });
    }

    /// Number of subscriptions (filter and session pairs).
    pub(crate) fn subscription_count(&self) -> usize {
        self.index().len()
    }

    /// Number of retained messages.
    pub(crate) fn retained_count(&self) -> usize {
        self.retained
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}
