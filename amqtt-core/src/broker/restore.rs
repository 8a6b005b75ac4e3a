//! Startup: the stored sessions, subscriptions, messages and retained messages put back into the
//! broker, one record at a time as the store streams them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::expiry::session_expiry;
use super::session::Session;
use super::shared::Core;
use crate::codec::{ByteString, PacketId, Publish, QoS};
use crate::plugin::SessionInfo;
use crate::store::{Grant, MessageState, Restore, StoreOp, StoredMessage, StoredSession};
use crate::topic::{shared_filter, valid_subscription_filter, valid_topic_name};

/// What a restore read, kept and left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RestoreCounts {
    /// Sessions restored.
    pub sessions: usize,
    /// Sessions that had expired while the broker was down (deleted).
    pub expired: usize,
    /// Subscriptions restored.
    pub subscriptions: usize,
    /// Queued and in-flight messages restored.
    pub messages: usize,
    /// Messages over a session's `max_queued` (deleted, counted as dropped for a full queue).
    pub over_limit: usize,
    /// QoS 2 packet ids awaiting PUBREL restored.
    pub qos2_ids: usize,
    /// Retained messages restored.
    pub retained: usize,
    /// Records that did not decode, or belong to no stored session (skipped).
    pub skipped: usize,
}

/// The broker's [`Restore`]: puts each stored record back into the registry, the index and the
/// retained messages.
pub(crate) struct Restorer<'a> {
    core: &'a Core,
    /// Sessions restored so far, by client id.
    sessions: HashMap<ByteString, Arc<Session>>,
    /// Deletions to commit once loading is done (expired sessions, messages over the limit).
    cleanup: Vec<StoreOp>,
    /// Whether stored sessions are deleted instead of restored (a node of a cluster, which
    /// keeps them in the cluster).
    leave_sessions: bool,
    counts: RestoreCounts,
    now: Instant,
    wall_now: SystemTime,
}

impl<'a> Restorer<'a> {
    pub(crate) fn new(core: &'a Core) -> Restorer<'a> {
        Restorer {
            core,
            sessions: HashMap::new(),
            cleanup: Vec::new(),
            leave_sessions: false,
            counts: RestoreCounts::default(),
            now: Instant::now(),
            wall_now: SystemTime::now(),
        }
    }

    /// Deletes the sessions read instead of restoring them: their subscriptions, messages and
    /// QoS 2 ids are passed over.
    pub(crate) fn leave_sessions(&mut self) {
        self.leave_sessions = true;
    }

    /// The restored session of `client_id`; `None` (and a skipped record `what`, unless sessions
    /// are being left) when there is none.
    fn session_of(&mut self, client_id: &str, what: &str) -> Option<Arc<Session>> {
        let session = self.sessions.get(client_id).cloned();
        if session.is_none() && !self.leave_sessions {
            self.skipped(what);
        }
        session
    }

    /// The counts, and the deletions to commit.
    pub(crate) fn finish(self) -> (RestoreCounts, Vec<StoreOp>) {
        (self.counts, self.cleanup)
    }
}

impl Restore for Restorer<'_> {
    /// A persistent session. One that has been offline longer than its expiry (a 5.0 session's
    /// own, else `session_expiry_interval`)
    /// is deleted instead; one that was connected when the broker stopped counts as offline
    /// from now.
    fn session(&mut self, stored: StoredSession) {
        if self.leave_sessions {
            self.cleanup.push(StoreOp::SessionGone {
                client_id: stored.client_id,
            });
            return;
        }
        let offline_for = stored
            .disconnected_at
            .map(|t| self.wall_now.duration_since(t).unwrap_or_default())
            .unwrap_or_default();
        let mut info = SessionInfo::new(stored.client_id.clone());
        info.protocol = stored.protocol;
        info.properties = stored.properties;
        if session_expiry(&info, &self.core.config).is_some_and(|expiry| offline_for >= expiry) {
            self.counts.expired += 1;
            self.cleanup.push(StoreOp::SessionGone {
                client_id: stored.client_id,
            });
            return;
        }
        info.username = stored.username;
        info.keep_alive = stored.keep_alive;
        info.will = stored.will;
        let disconnected_at = self.now.checked_sub(offline_for).unwrap_or(self.now);
        let Some(session) = self.core.restore_session(Arc::new(info), disconnected_at) else {
            return self.skipped("a session of a client that has one already");
        };
        self.counts.sessions += 1;
        self.sessions.insert(stored.client_id, session);
    }

    /// A subscription of a session already restored, with its options and identifier.
    fn subscription(&mut self, client_id: &str, filter: &str, grant: Grant) {
        let Some(session) = self.session_of(client_id, "a subscription of no stored session")
        else {
            return;
        };
        if !valid_subscription_filter(filter) {
            return self.skipped("a subscription with an invalid topic filter");
        }
        if grant.no_local && shared_filter(filter).is_some() {
            return self.skipped("a shared subscription with No Local");
        }
        session
            .lock()
            .subscriptions
            .insert(Box::from(filter), grant);
        self.core.router.index_mut().insert(filter, &session, grant);
        self.counts.subscriptions += 1;
    }

    /// A queued or in-flight message of a session already restored; a session's messages come
    /// in entry order.
    fn message(&mut self, client_id: &str, stored: StoredMessage) {
        let Some(session) = self.session_of(client_id, "a message of no stored session") else {
            return;
        };
        // A released message is only its PUBREL/PUBCOMP exchange: its message is not used.
        let released = stored.state == MessageState::Released;
        if !released
            && (!valid_topic_name(&stored.message.topic) || stored.message.qos == QoS::AtMostOnce)
        {
            return self.skipped("a message with an invalid topic or QoS");
        }
        let entry = stored.entry;
        if session.lock().restore_message(stored, self.core.limits) {
            self.counts.messages += 1;
        } else {
            self.counts.over_limit += 1;
            self.core.stats.dropped_queue_full.increment();
            self.cleanup.push(StoreOp::MessageDone {
                client_id: ByteString::from(client_id),
                entry,
            });
        }
    }

    /// A QoS 2 packet id the session's client sent and that awaits PUBREL.
    fn qos2_received(&mut self, client_id: &str, packet_id: PacketId) {
        let Some(session) = self.session_of(client_id, "a QoS 2 id of no stored session") else {
            return;
        };
        session.lock().incoming_qos2.insert(packet_id.get());
        self.counts.qos2_ids += 1;
    }

    /// A retained message.
    fn retained(&mut self, message: Publish) {
        if !valid_topic_name(&message.topic) {
            return self.skipped("a retained message with an invalid topic");
        }
        self.core.router.retain(&message, None);
        self.counts.retained += 1;
    }

    /// A record that could not be decoded: skipped, counted, and logged (the first few).
    fn skipped(&mut self, what: &str) {
        self.counts.skipped += 1;
        if self.counts.skipped <= 10 {
            tracing::warn!(record = what, "persistent store: record skipped");
        }
    }
}
