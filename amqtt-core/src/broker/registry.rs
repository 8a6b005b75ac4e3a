//! The session registry: attaching a connection to its session (takeover, resume, discard),
//! detaching it, sessions created by plugins or restored from the store, and session expiry.
//!
//! Lock order, where more than one is taken: session registry, then a session, then the
//! subscription index or an outbox. Routing never holds the index while it locks a session (it
//! collects its targets and releases the index before delivering).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::{Instant, SystemTime};

use super::expiry::session_expiry;
use super::outbox::Outbox;
use super::restore::{RestoreCounts, Restorer};
use super::session::{Ended, Session};
use super::shared::Core;
use super::will_delay::PendingWill;
use crate::cluster::Handoff;
use crate::codec::{ByteString, ConnAck, Packet, Properties, ReasonCode};
use crate::plugin::{SessionInfo, SessionSummary, SessionTotals};
use crate::store::{Grant, StoreOp};

impl Core {
    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn session_count(&self) -> usize {
        self.sessions().len()
    }

    /// Totals over every session, read from the kept levels: no session is visited.
    pub(crate) fn session_totals(&self) -> SessionTotals {
        self.session_levels.totals(self.session_count())
    }

    /// A new session for `info`, with the broker's journal, queued-bytes budget and totals.
    fn new_session(&self, info: Arc<SessionInfo>) -> Session {
        Session::new(
            self.new_session_key(),
            info,
            self.journal.as_ref(),
            self.queued_bytes.as_ref(),
            &self.session_levels,
        )
    }

    /// Snapshots of every session, or of the one with `client_id`.
    pub(crate) fn session_summaries(&self, client_id: Option<&str>) -> Vec<SessionSummary> {
        let sessions: Vec<Arc<Session>> = match client_id {
            Some(id) => self.sessions().get(id).cloned().into_iter().collect(),
            None => self.all_sessions(),
        };
        let mut summaries: Vec<SessionSummary> = sessions.iter().map(|s| s.summary()).collect();
        summaries.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        summaries
    }

    fn new_session_key(&self) -> u64 {
        self.next_session_key.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh client id for a client that sent an empty one with clean session 1.
    pub(crate) fn generate_client_id(&self) -> ByteString {
        let n = self.new_session_key();
        ByteString::from(format!(
            "amqtt-{:012x}-{n}",
            self.id_seed & 0xffff_ffff_ffff
        ))
    }

    /// Binds a connection to the session of `info.client_id`, taking over any connection that
    /// has it. Queues the CONNACK (with `connack_properties` for an MQTT 5.0 client), then everything the resumed session had in flight and queued.
    /// Returns the session and whether it was resumed (CONNACK's session-present flag). A
    /// session it replaced has ended; its subscriptions leave the index before this returns,
    /// and what it had of shared subscriptions goes to other members ([`Core::retire`]).
    pub(crate) async fn attach(
        &self,
        info: &Arc<SessionInfo>,
        outbox: &Arc<Outbox>,
        connack_properties: Option<Box<Properties>>,
    ) -> (Arc<Session>, bool) {
        let (session, present, discarded) = self.bind(info, outbox, connack_properties);
        if let Some((key, ended)) = discarded {
            self.retire(key, ended).await;
        }
        (session, present)
    }

    /// Ends the session of `client_id` because the client connected to another node of the
    /// cluster: its connection, if any, gets DISCONNECT 0x8E (MQTT 5.0) and closes without its
    /// will (the client is not gone; a will waiting for its delay is cancelled). Returns a
    /// persistent session for the other node to continue.
    pub(crate) async fn release_to_cluster(&self, client_id: &str) -> Option<Handoff> {
        let (key, ended, handoff) = {
            let mut sessions = self.sessions();
            let old = sessions.remove(client_id)?;
            let mut state = old.lock();
            if let Some(previous) = state.outbox.take() {
                tracing::info!(
                    client_id,
                    "client connected to another node; connection closed"
                );
                previous.push_disconnect(state.info.protocol, ReasonCode::SessionTakenOver);
                previous.close_taken_over();
            }
            if let Some(will) = state.pending_will.take() {
                will.settle(false);
            }
            let handoff = (!state.clean).then(|| state.hand_off());
            (old.key, state.end_here(), handoff)
        };
        self.retire(key, ended).await;
        // What the session journaled before is committed before another node writes it.
        self.journal_committed().await;
        handoff
    }

    /// Puts a persistent session another node handed over into the registry (offline, its
    /// subscriptions in the index, its messages queued), in place of any this node still had
    /// of that client (left from before the client moved away: the handed-over one is newer).
    /// Journaled whole, in one batch, in place of anything journaled of the client before;
    /// returns once that is committed.
    pub(crate) async fn adopt(&self, handoff: Handoff) {
        if self.release_to_cluster(handoff.client_id()).await.is_some() {
            tracing::info!(
                client_id = handoff.client_id(),
                "an older session of the client here replaced by the one handed over"
            );
        }
        let client_id = handoff.client_id().to_owned();
        let group = self.journal.as_ref().map(|journal| journal.group());
        let counts = self.restore_handoff(handoff);
        tracing::info!(
            client_id,
            subscriptions = counts.subscriptions,
            messages = counts.messages,
            "session taken over from another node"
        );
        if let Some(session) = self.sessions().get(&client_id) {
            let state = session.lock();
            state.journal_op(|client_id| StoreOp::SessionGone { client_id });
            state.journal_whole();
        }
        drop(group);
        self.journal_committed().await;
    }

    /// Waits until everything journaled so far is committed (at once without a journal).
    async fn journal_committed(&self) {
        if let Some(journal) = &self.journal {
            journal.committed_to(journal.appended()).await;
        }
    }

    /// Releases every session to the cluster ([`Core::release_to_cluster`]): this node was
    /// taken for gone and other nodes continue its sessions. Returns how many there were.
    pub(crate) async fn release_all(&self) -> usize {
        let sessions = self.all_sessions();
        for session in &sessions {
            self.release_to_cluster(session.client_id()).await;
        }
        sessions.len()
    }

    /// Puts a persistent session into the registry as [`Core::adopt`] does, without
    /// journaling it: a session of this node the cluster kept, back after a restart. Messages
    /// over the session's queue limit are dropped (and that is journaled).
    pub(crate) fn restore_handoff(&self, handoff: Handoff) -> RestoreCounts {
        let mut restorer = Restorer::new(self);
        handoff.restore_into(&mut restorer);
        let (counts, cleanup) = restorer.finish();
        if let Some(journal) = &self.journal {
            for op in cleanup {
                journal.append(op);
            }
        }
        counts
    }

    /// The locked part of [`Core::attach`]: also returns the key of a session it ended and what
    /// that session left.
    fn bind(
        &self,
        info: &Arc<SessionInfo>,
        outbox: &Arc<Outbox>,
        connack_properties: Option<Box<Properties>>,
    ) -> (Arc<Session>, bool, Option<(u64, Ended)>) {
        let client_id = &info.client_id;
        // Clean start discards the old session; whether the new one ends at disconnect is
        // `ends_at_disconnect` (the same flag in 3.1.1, the session expiry interval in 5.0).
        let clean = info.clean_session;
        let mut sessions = self.sessions();
        let mut discarded = None;
        let resumed = match sessions.get(&**client_id).cloned() {
            Some(old) => {
                let mut state = old.lock();
                let continued = !clean && !state.clean;
                if let Some(previous) = state.outbox.take() {
                    tracing::info!(client_id = %client_id, "session taken over by a new connection");
                    previous.push_disconnect(state.info.protocol, ReasonCode::SessionTakenOver);
                    if continued {
                        previous.close_taken_over();
                    } else {
                        previous.close();
                    }
                }
                if continued {
                    drop(state);
                    Some(old)
                } else {
                    discarded = Some((old.key, state.end()));
                    drop(state);
                    sessions.remove(&**client_id);
                    None
                }
            }
            None => None,
        };
        let present = resumed.is_some();
        let session = resumed.unwrap_or_else(|| {
            let session = Arc::new(self.new_session(info.clone()));
            sessions.insert(client_id.to_string(), session.clone());
            session
        });
        {
            let mut state = session.lock();
            state.clean = info.ends_at_disconnect();
            state.expiry = session_expiry(info, &self.config);
            state.set_info(info.clone());
            outbox.push(Packet::ConnAck(ConnAck {
                session_present: present,
                code: ReasonCode::Success,
                properties: connack_properties,
            }));
            state.attach(outbox.clone(), self.limits, &self.stats);
        }
        drop(sessions);
        (session, present, discarded)
    }

    /// Fires `shutdown` and closes every attached connection (their readers then end without
    /// publishing wills; an MQTT 5.0 client is sent DISCONNECT 0x8B first). A connection attaching concurrently checks `shutdown` after it is
    /// registered, so none is missed.
    pub(crate) fn shut_down(&self) {
        self.shutdown.fire();
        let sessions = self.all_sessions();
        for session in sessions {
            let state = session.lock();
            if let Some(outbox) = &state.outbox {
                outbox.push_disconnect(state.info.protocol, ReasonCode::ServerShuttingDown);
                outbox.close();
            }
        }
    }

    /// Unbinds a connection from its session. A clean session ends here (its subscriptions
    /// leave the index before this returns, and the messages of shared subscriptions it had not
    /// completed go to other members: [`Core::retire`]); a persistent one stays, queueing QoS 1/2
    /// messages, until the client returns or the session expires, and keeps `will` (a will
    /// waiting for its delay) until then. Returns whether it stayed.
    pub(crate) async fn detach(
        &self,
        session: &Arc<Session>,
        outbox: &Arc<Outbox>,
        will: Option<Arc<PendingWill>>,
    ) -> bool {
        let ended = {
            let mut sessions = self.sessions();
            let mut state = session.lock();
            if !state
                .outbox
                .as_ref()
                .is_some_and(|o| Arc::ptr_eq(o, outbox))
            {
                return false; // taken over: the session belongs to the new connection now
            }
            state.outbox = None;
            if !state.clean {
                state.disconnected_at = Some(Instant::now());
                state.pending_will = will;
                state.journal_session(Some(SystemTime::now()));
                self.schedule_expiry(session, &mut state);
                return true;
            }
            let ended = state.end();
            drop(state);
            if sessions
                .get(session.client_id())
                .is_some_and(|s| Arc::ptr_eq(s, session))
            {
                sessions.remove(session.client_id());
            }
            ended
        };
        self.retire(session.key, ended).await;
        false
    }

    /// Subscribes `client_id` to `filter` (a valid filter) with `grant` (valid options) for a
    /// plugin, creating an offline persistent session if there is none.
    pub(crate) fn add_subscription(&self, client_id: &str, filter: &str, grant: Grant) {
        // The registry stays locked until the session is: a session ends only under its own lock
        // (`SessionState::end`), so it cannot end between being found and being subscribed. The
        // registry is released before the index is waited for (lock order: registry, session,
        // index).
        let mut sessions = self.sessions();
        let session = sessions
            .entry(client_id.to_owned())
            .or_insert_with(|| {
                let info = Arc::new(SessionInfo::new(client_id));
                let session = self.new_session(info);
                let mut state = session.lock();
                state.disconnected_at = Some(Instant::now());
                state.expiry = self.config.session_expiry_interval;
                state.journal_session(Some(SystemTime::now()));
                self.schedule_expiry(&session, &mut state);
                drop(state);
                Arc::new(session)
            })
            .clone();
        let mut state = session.lock();
        drop(sessions);
        state.subscriptions.insert(Box::from(filter), grant);
        state.journal_op(|client_id| StoreOp::Subscribe {
            client_id,
            filter: ByteString::from(filter),
            grant,
        });
        self.router.index_mut().insert(filter, &session, grant);
    }

    /// Registers a persistent session read from the store (or handed over by another node),
    /// offline since `disconnected_at`; `None` when the client has a session here already.
    pub(crate) fn restore_session(
        &self,
        info: Arc<SessionInfo>,
        disconnected_at: Instant,
    ) -> Option<Arc<Session>> {
        let mut sessions = self.sessions();
        // Only a session handed over from another node can meet one here: a connection of the
        // same client that attached meanwhile keeps its own.
        if sessions.contains_key(&*info.client_id) {
            return None;
        }
        // A 5.0 session keeps the expiry its CONNECT asked for (stored with it).
        let expiry = session_expiry(&info, &self.config);
        let session = Arc::new(self.new_session(info));
        let mut state = session.lock();
        state.disconnected_at = Some(disconnected_at);
        state.expiry = expiry;
        self.schedule_expiry(&session, &mut state);
        drop(state);
        sessions.insert(session.client_id().to_owned(), session.clone());
        Some(session)
    }

    /// Every session in the registry.
    pub(super) fn all_sessions(&self) -> Vec<Arc<Session>> {
        self.sessions().values().cloned().collect()
    }
}
