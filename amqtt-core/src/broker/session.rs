//! A client session: subscriptions, in-flight and queued messages, and its current connection.
//!
//! All of a session's state sits behind one `std::sync::Mutex`. It is held only to move a
//! message between the queues and the connection's outbox, never across an `.await`, so a
//! blocking mutex is both correct and cheaper than an async one. Each release of the lock
//! publishes the session's [`Presence`] in an atomic, which routing reads to pick a member of a
//! shared subscription without locking the session.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::index::Share;
use super::journal::Journal;
use super::message_expiry;
use super::outbox::Outbox;
use super::packet_ids::PacketIds;
use super::pending::{Pending, Queued, QueuedBytes};
use super::session_totals::SessionLevels;
use super::stats::Stats;
use super::will_delay::PendingWill;
use crate::codec::{ByteString, Packet, PacketId, ProtocolVersion, Publish, QoS};
use crate::plugin::SessionInfo;
use crate::store::{Grant, MessageState, StoreOp, StoredMessage, StoredSession};

mod guard;
mod handoff;

/// A message sent to the client and not yet fully acknowledged.
#[derive(Debug)]
struct InflightEntry {
    id: PacketId,
    /// Its entry number in the session (the key of its stored copy).
    entry: u64,
    state: Inflight,
    /// The shared subscription it came through, if any.
    share: Option<Arc<Share>>,
}

/// Whether a session can take a message of a shared subscription now, as routing sees it when
/// it picks a member of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Presence {
    /// No connection (an offline persistent session), or the session has ended.
    Offline = 0,
    /// Connected, but behind: QoS 1/2 messages wait for room in its in-flight window (the
    /// client is slow to acknowledge), or its outbox is stalled.
    Congested = 1,
    /// Connected and keeping up.
    Ready = 2,
}

/// What a session that ended leaves behind.
#[derive(Debug, Default)]
pub(crate) struct Ended {
    /// Its subscriptions, which the caller removes from the index ([`Core::retire`](super::Core)).
    pub(crate) subscriptions: HashMap<Box<str>, Grant>,
    /// QoS 1/2 messages it had from shared subscriptions and never completed: queued ones, and
    /// QoS 1 ones sent and not acknowledged, for another member of their group (with the RETAIN
    /// flag they were published with, which their [`Share`] records).
    pub(crate) orphans: Vec<(Arc<Share>, Publish)>,
    /// QoS 2 messages of shared subscriptions it had sent and not completed: lost, since no other
    /// member may have them [MQTT-4.8.2-5].
    pub(crate) lost: usize,
}

/// Where an in-flight message stands.
#[derive(Debug)]
enum Inflight {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    Unacked(Publish),
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    Unreceived(Publish),
    /// PUBREL sent, waiting for PUBCOMP.
    Released,
}

/// What became of a message offered to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Queued on the client's connection.
    Sent,
    /// Queued in the session (the in-flight window is full) while the client is connected.
    Queued,
    /// Queued in the session while the client is offline.
    QueuedOffline,
    /// Dropped: a full queue, or QoS 0 for an offline client.
    Dropped,
    /// Dropped: the session has ended (it was routed to just before it left the index).
    Ended,
}

/// Who offers a message to a session, which decides what a full queue does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Producer {
    /// A publisher that waits for congested sessions before it reads its next packet: a
    /// connected session takes its message past the limits until it is stalled.
    Waits,
    /// A producer that cannot wait (retained messages for a new subscription, a will): a full
    /// queue drops its message.
    Capped,
}

/// One client session, shared by the registry, the subscription index and its connection.
#[derive(Debug)]
pub(crate) struct Session {
    /// Broker-unique key of this session object (a new session for the same client id gets a new key).
    pub(crate) key: u64,
    /// The client identifier.
    client_id: ByteString,
    state: Mutex<SessionState>,
    /// The session's [`Presence`], written whenever its lock is released (`SessionGuard`).
    presence: AtomicU8,
    /// The broker's totals, which this session's [`Footprint`] is part of.
    levels: Arc<SessionLevels>,
}

#[derive(Debug)]
pub(crate) struct SessionState {
    /// Whether the session ends with its connection.
    pub(crate) clean: bool,
    /// The client as its latest CONNECT described it (what plugins are shown).
    pub(crate) info: Arc<SessionInfo>,
    /// The client's subscriptions: filter -> grant (QoS, options, identifier). Every entry is in
    /// the router's index under this session's key, and nothing else of this session is (see
    /// `subscriptions.rs`).
    pub(crate) subscriptions: HashMap<Box<str>, Grant>,
    /// Set once the session has left the registry (clean session closed or replaced, expired):
    /// no subscription may enter the index for it any more, and nothing is queued for it.
    pub(crate) ended: bool,
    /// Messages sent and not yet acknowledged, in the order they were sent.
    inflight: VecDeque<InflightEntry>,
    /// QoS 1/2 messages waiting for a connection or for room in the in-flight window.
    pending: Pending,
    /// The entry number of the next message queued.
    next_entry: u64,
    /// The store's journal, for a persistent session of a broker with a store: every change
    /// to what the store keeps is appended here, under this session's lock.
    journal: Option<Arc<Journal>>,
    /// Ids of QoS 2 messages received from the client and released by PUBREC, awaiting PUBREL.
    pub(crate) incoming_qos2: HashSet<u16>,
    /// The packet ids of the messages sent.
    packet_ids: PacketIds,
    /// The connection currently attached, if the client is online.
    pub(crate) outbox: Option<Arc<Outbox>>,
    /// When the client went offline (for `expiry`).
    pub(crate) disconnected_at: Option<Instant>,
    /// How long the session outlives its connection; `None`: until the broker stops (see
    /// `expiry.rs`).
    pub(crate) expiry: Option<Duration>,
    /// The earliest deadline this session has in the expiry schedule, if any: a later one is
    /// not pushed (that entry re-schedules it when it falls due), so a client that reconnects
    /// often does not fill the schedule with stale entries.
    pub(crate) expiry_due: Option<Instant>,
    /// The will of the connection that went away, waiting for its delay: published when the
    /// session ends first, cancelled when a connection resumes the session (see `will_delay.rs`).
    pub(crate) pending_will: Option<Arc<PendingWill>>,
    /// Whether the last message offered was dropped for a full queue (logs once per episode).
    overflowing: bool,
}

/// Limits that bound a session's memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionLimits {
    pub(crate) max_inflight: usize,
    pub(crate) max_queued: usize,
}

impl Session {
    /// A new session for `info`; `journal` (the broker's, if it has a store) is kept only when
    /// the session is persistent (outlives its connection: 3.1.1's clean session 0, 5.0's
    /// non-zero session expiry interval); its pending queue counts against `budget`, if any,
    /// and its footprint is part of `levels`.
    pub(crate) fn new(
        key: u64,
        info: Arc<SessionInfo>,
        journal: Option<&Arc<Journal>>,
        budget: Option<&Arc<QueuedBytes>>,
        levels: &Arc<SessionLevels>,
    ) -> Session {
        let clean = info.ends_at_disconnect();
        Session {
            key,
            client_id: info.client_id.clone(),
            state: Mutex::new(SessionState {
                clean,
                journal: journal.filter(|_| !clean).cloned(),
                info,
                subscriptions: HashMap::new(),
                ended: false,
                inflight: VecDeque::new(),
                pending: Pending::new(budget.cloned()),
                next_entry: 0,
                incoming_qos2: HashSet::new(),
                packet_ids: PacketIds::default(),
                outbox: None,
                disconnected_at: None,
                expiry: None,
                expiry_due: None,
                pending_will: None,
                overflowing: false,
            }),
            presence: AtomicU8::new(Presence::Offline as u8),
            levels: levels.clone(),
        }
    }

    /// The session's presence as of the last release of its lock: for picking a member of a
    /// shared subscription without taking the lock.
    pub(crate) fn presence(&self) -> Presence {
        const READY: u8 = Presence::Ready as u8;
        const CONGESTED: u8 = Presence::Congested as u8;
        match self.presence.load(Ordering::Relaxed) {
            READY => Presence::Ready,
            CONGESTED => Presence::Congested,
            _ => Presence::Offline,
        }
    }

    /// The client identifier.
    pub(crate) fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client as plugins see it.
    pub(crate) fn info(&self) -> Arc<SessionInfo> {
        self.lock().info.clone()
    }

    /// Delivers a routed message at `qos` (already the minimum of published and granted QoS);
    /// `share` is the shared subscription it came through, if any. The flag is `true` when the
    /// session's connection is congested and a producer that [`Producer::Waits`] must wait for
    /// it ([`Session::relieved`]) before it reads on.
    #[inline]
    pub(crate) fn deliver(
        &self,
        message: &Publish,
        qos: QoS,
        share: Option<&Arc<Share>>,
        limits: SessionLimits,
        stats: &Stats,
        producer: Producer,
    ) -> (Delivery, bool) {
        let message = Publish {
            qos,
            dup: false,
            packet_id: None,
            ..message.clone()
        };
        let mut state = self.lock();
        if state.ended {
            // Routed just before the session left the index: nobody will ever read it.
            return (Delivery::Ended, false);
        }
        if let Some(max) = state.max_packet_size()
            && message.encoded_len_as(ProtocolVersion::V5) > max
        {
            // MQTT 5.0 (3.1.2.11.4): larger than the client accepts, so never sent; a QoS 1/2
            // message is done with as if it had been sent and acknowledged.
            stats.dropped_too_large.increment();
            return (Delivery::Dropped, false);
        }
        // A producer that waits may overfill a connected, unstalled session by its one message:
        // every such producer then waits, so the overshoot is bounded by their number.
        let may_overfill =
            producer == Producer::Waits && state.outbox.as_ref().is_some_and(|o| !o.is_stalled());
        if qos == QoS::AtMostOnce {
            // QoS 0 is not queued for offline clients.
            let Some(outbox) = &state.outbox else {
                return (Delivery::Dropped, false);
            };
            return match outbox.push_message(Packet::Publish(message), !may_overfill) {
                Some(queued) => (
                    Delivery::Sent,
                    state.congested(queued, limits, may_overfill),
                ),
                None => {
                    stats.dropped_qos0.increment();
                    (Delivery::Dropped, false)
                }
            };
        }
        if state.pending.len() >= limits.max_queued && !may_overfill && !state.overflowing {
            // Expired messages make room first (only MQTT 5.0 messages can expire). Once per
            // overflow episode: a scan that frees nothing is not repeated for every drop.
            state.purge_expired(stats);
        }
        let queue_full = state.pending.len() >= limits.max_queued;
        if (queue_full || state.pending.over_budget()) && !may_overfill {
            let counter = if queue_full {
                &stats.dropped_queue_full
            } else {
                &stats.dropped_queued_bytes
            };
            counter.increment();
            // One line per overflow episode, not per message: the counter has the total.
            if !state.overflowing {
                state.overflowing = true;
                tracing::warn!(client_id = %self.client_id, max_queued = limits.max_queued, queue_full, "session queue full, or the broker's queues at max_queued_bytes: dropping QoS 1/2 messages until it drains");
            }
            return (Delivery::Dropped, false);
        }
        state.overflowing = false;
        let message = match state.outbox {
            Some(_) => message,
            // Queued for an offline client, possibly for long: a copy, not a view that would
            // keep the publisher's whole read buffer alive.
            None => message.detached(),
        };
        let entry = state.next_entry;
        state.next_entry += 1;
        state.journal_message(entry, MessageState::Queued, None, &message);
        state.pending.push_back(Queued {
            entry,
            message,
            share: share.cloned(),
        });
        state.pump(limits, stats);
        let delivery = match (&state.outbox, state.pending.is_empty()) {
            (None, _) => Delivery::QueuedOffline,
            (Some(_), true) => Delivery::Sent,
            (Some(_), false) => Delivery::Queued,
        };
        let congested = match &state.outbox {
            Some(outbox) => state.congested(outbox.len(), limits, may_overfill),
            None => false,
        };
        (delivery, congested)
    }

    /// Waits until this session's connection has drained to half its limits, is gone, closed or
    /// stalled. At `deadline` it marks the connection stalled, so publishers stop waiting for it.
    pub(crate) async fn relieved(&self, limits: SessionLimits, deadline: tokio::time::Instant) {
        loop {
            let Some(outbox) = self.lock().outbox.clone() else {
                return;
            };
            let drained = outbox.drained();
            tokio::pin!(drained);
            drained.as_mut().enable();
            {
                let state = self.lock();
                let current = state
                    .outbox
                    .as_ref()
                    .is_some_and(|o| Arc::ptr_eq(o, &outbox));
                if !current
                    || outbox.is_closed()
                    || outbox.is_stalled()
                    || state.drained(outbox.len(), limits)
                {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, drained).await.is_err() {
                if outbox.stall() {
                    tracing::warn!(client_id = %self.client_id, "subscriber congested past backpressure_timeout: no longer holding publishers back, dropping its overflow until it drains");
                }
                return;
            }
        }
    }

    /// Handles PUBACK (QoS 1) or PUBCOMP (QoS 2) for `id`, or a PUBREC with a failure code
    /// (which ends the exchange); frees an in-flight slot.
    pub(crate) fn complete(&self, id: PacketId, limits: SessionLimits, stats: &Stats) {
        let mut state = self.lock();
        if let Some(pos) = state.inflight.iter().position(|e| e.id == id) {
            if let Some(done) = state.inflight.remove(pos) {
                state.journal_op(|client_id| StoreOp::MessageDone {
                    client_id,
                    entry: done.entry,
                });
            }
            state.pump(limits, stats);
        }
    }

    /// Handles PUBREC for `id`: the message is now only a PUBREL/PUBCOMP exchange.
    pub(crate) fn received(&self, id: PacketId) {
        let mut state = self.lock();
        if let Some(inflight) = state.inflight.iter_mut().find(|e| e.id == id)
            && !matches!(inflight.state, Inflight::Released)
        {
            inflight.state = Inflight::Released;
            let entry = inflight.entry;
            state.journal_op(|client_id| StoreOp::MessageReleased { client_id, entry });
        }
        if let Some(outbox) = &state.outbox {
            outbox.push(Packet::PubRel(id.into()));
        }
    }
}

impl SessionState {
    /// Whether the connection with `outbox` still owns this live session: it may change the
    /// session's subscriptions. A connection that was taken over, or whose clean session
    /// ended, may not.
    pub(crate) fn owned_by(&self, outbox: &Arc<Outbox>) -> bool {
        !self.ended && self.outbox.as_ref().is_some_and(|o| Arc::ptr_eq(o, outbox))
    }

    /// Ends the session (it has left the registry, or is about to): marks it so no
    /// subscription enters the index for it any more, and returns the subscriptions the caller
    /// must remove from the index and the messages of shared subscriptions it had not completed
    /// ([`Core::retire`](super::Core)). A will waiting for its delay is released to be published
    /// now.
    pub(crate) fn end(&mut self) -> Ended {
        self.journal_op(|client_id| StoreOp::SessionGone { client_id });
        self.end_here()
    }

    /// [`SessionState::end`] for a session that lives on in another node of the cluster:
    /// nothing is journaled (what this node's mirror keeps of it goes once the other node has
    /// written it as its own).
    pub(crate) fn end_here(&mut self) -> Ended {
        self.ended = true;
        if let Some(will) = self.pending_will.take() {
            will.settle(true);
        }
        let mut ended = Ended {
            subscriptions: std::mem::take(&mut self.subscriptions),
            ..Ended::default()
        };
        for inflight in std::mem::take(&mut self.inflight) {
            let Some(share) = inflight.share else {
                continue;
            };
            match inflight.state {
                Inflight::Unacked(message) => ended.orphans.push((share, message)),
                Inflight::Unreceived(_) => ended.lost += 1,
                // Received by the client: only the PUBREL/PUBCOMP exchange was left.
                Inflight::Released => {}
            }
        }
        for queued in self.pending.take_all() {
            if let Some(share) = queued.share {
                ended.orphans.push((share, queued.message));
            }
        }
        // Handed on as published: the next member's options make its copy.
        for (share, message) in &mut ended.orphans {
            message.dup = false;
            message.packet_id = None;
            message.retain = share.published_retain();
        }
        ended
    }

    /// Whether this session's changes are journaled (a persistent session of a broker with a
    /// store).
    pub(crate) fn is_stored(&self) -> bool {
        self.journal.is_some()
    }

    /// Appends the op `make` builds from the client id, if this session is stored; returns its
    /// journal sequence number.
    pub(crate) fn journal_op(&self, make: impl FnOnce(ByteString) -> StoreOp) -> Option<u64> {
        let journal = self.journal.as_ref()?;
        Some(journal.append(make(self.info.client_id.clone())))
    }

    /// Shows the plugins (and the store) the client as its CONNECT, or a re-authentication
    /// since, describes it.
    pub(crate) fn set_info(&mut self, info: Arc<SessionInfo>) {
        self.info = info;
        self.journal_session(None);
    }

    /// Journals the session itself (created, connected, or gone offline at `disconnected_at`).
    pub(crate) fn journal_session(&self, disconnected_at: Option<std::time::SystemTime>) {
        self.journal_op(|client_id| {
            StoreOp::Session(StoredSession {
                client_id,
                username: self.info.username.clone(),
                keep_alive: self.info.keep_alive,
                will: self.info.will.clone(),
                disconnected_at,
                protocol: self.info.protocol,
                properties: self.info.properties.clone(),
            })
        });
    }

    /// Journals a message of this session in `state`.
    fn journal_message(
        &self,
        entry: u64,
        state: MessageState,
        packet_id: Option<PacketId>,
        message: &Publish,
    ) -> Option<u64> {
        self.journal_op(|client_id| StoreOp::Message {
            client_id,
            message: StoredMessage {
                entry,
                state,
                packet_id,
                message: message.clone(),
            },
        })
    }

    /// Puts back a message read from the store: in flight (with its packet id) or queued.
    /// Returns `false` when the queue is full (`max_queued`) and the message was not kept.
    pub(crate) fn restore_message(&mut self, stored: StoredMessage, limits: SessionLimits) -> bool {
        self.next_entry = self.next_entry.max(stored.entry.saturating_add(1));
        let state = match (stored.state, stored.packet_id) {
            (MessageState::Released, Some(_)) => Inflight::Released,
            (MessageState::Sent, Some(_)) if stored.message.qos == QoS::ExactlyOnce => {
                Inflight::Unreceived(stored.message)
            }
            (MessageState::Sent, Some(_)) => Inflight::Unacked(stored.message),
            _ => {
                if self.pending.len() >= limits.max_queued {
                    return false;
                }
                self.pending.push_back(Queued {
                    entry: stored.entry,
                    message: stored.message,
                    share: None,
                });
                return true;
            }
        };
        let id = stored.packet_id.expect("matched Some above");
        if self.inflight.iter().any(|e| e.id == id) {
            return false;
        }
        self.packet_ids.taken();
        self.inflight.push_back(InflightEntry {
            id,
            entry: stored.entry,
            state,
            share: None,
        });
        true
    }

    /// Whether a producer that may overfill must now wait for this connected session, whose
    /// outbox holds `queued` packets. Clears a stalled mark once the session has drained.
    fn congested(&self, queued: usize, limits: SessionLimits, may_overfill: bool) -> bool {
        let Some(outbox) = &self.outbox else {
            return false;
        };
        if outbox.is_stalled() {
            if self.drained(queued, limits) {
                outbox.unstall();
            }
            return false;
        }
        may_overfill
            && (self.pending.len() >= limits.max_queued
                || self.pending.over_budget()
                || queued >= outbox.capacity())
    }

    /// Whether the queues are at or under half their limits, and the broker's queues together
    /// under `max_queued_bytes`, where held-back publishers resume.
    fn drained(&self, queued: usize, limits: SessionLimits) -> bool {
        let capacity = self.outbox.as_ref().map_or(0, |o| o.capacity());
        self.pending.len() <= limits.max_queued / 2
            && queued <= capacity / 2
            && !self.pending.over_budget()
    }

    /// Attaches a new connection: re-sends everything in flight (PUBLISH with DUP, or PUBREL),
    /// then moves queued messages into the in-flight window. A will waiting for its delay is
    /// cancelled: the client is back.
    pub(crate) fn attach(&mut self, outbox: Arc<Outbox>, limits: SessionLimits, stats: &Stats) {
        if let Some(max) = self.max_packet_size() {
            self.drop_too_large_inflight(max, stats);
        }
        // A QoS 2 message goes out only once its stored copy is durable (see `pump`).
        let hold = self.journal.as_ref().and_then(|j| j.hold_mark());
        for entry in &self.inflight {
            let id = entry.id;
            match &entry.state {
                Inflight::Unacked(p) | Inflight::Unreceived(p) => {
                    let mut p = p.clone();
                    p.dup = true;
                    p.packet_id = Some(id);
                    let qos2 = p.qos == QoS::ExactlyOnce;
                    outbox.push_held(Packet::Publish(p), hold.filter(|_| qos2));
                }
                Inflight::Released => outbox.push(Packet::PubRel(id.into())),
            }
        }
        self.outbox = Some(outbox);
        self.disconnected_at = None;
        if let Some(will) = self.pending_will.take() {
            will.settle(false);
        }
        self.pump(limits, stats);
    }

    /// The in-flight window: `max_inflight`, or the client's Receive Maximum if that is smaller
    /// (MQTT 5.0, 3.3.4).
    fn window(&self, limits: SessionLimits) -> usize {
        match self
            .info
            .properties
            .as_deref()
            .and_then(|p| p.receive_maximum)
        {
            Some(receive_maximum) => limits.max_inflight.min(usize::from(receive_maximum.get())),
            None => limits.max_inflight,
        }
    }

    /// The largest packet an MQTT 5.0 client accepts, if it set one.
    fn max_packet_size(&self) -> Option<usize> {
        let max = self.info.properties.as_deref()?.maximum_packet_size?;
        usize::try_from(max.get()).ok()
    }

    /// Drops the messages in flight that are larger than `max`, the Maximum Packet Size of the
    /// client now attached: done with as if acknowledged (3.1.2.11.4), counted.
    fn drop_too_large_inflight(&mut self, max: usize, stats: &Stats) {
        let mut done = Vec::new();
        self.inflight.retain(|e| {
            let too_large = match &e.state {
                Inflight::Unacked(p) | Inflight::Unreceived(p) => {
                    p.encoded_len_as(ProtocolVersion::V5) > max
                }
                Inflight::Released => false,
            };
            if too_large {
                done.push(e.entry);
            }
            !too_large
        });
        stats.dropped_too_large.add(done.len() as u64);
        for entry in done {
            self.journal_op(|client_id| StoreOp::MessageDone { client_id, entry });
        }
    }

    /// Drops the queued messages whose expiry interval has passed (counted).
    fn purge_expired(&mut self, stats: &Stats) {
        let now = Instant::now();
        let mut expired = Vec::new();
        self.pending.retain(|queued| {
            let keep = !message_expiry::expired(&queued.message, now);
            if !keep {
                expired.push(queued.entry);
            }
            keep
        });
        stats.messages_expired.add(expired.len() as u64);
        for entry in expired {
            self.journal_op(|client_id| StoreOp::MessageDone { client_id, entry });
        }
    }

    /// Moves pending messages into flight while the in-flight window has room (dropping those
    /// expired or too large for the client). The window, not the outbox's capacity, bounds
    /// them: a message held back for a full outbox would have no event left to release it once
    /// the outbox drained.
    fn pump(&mut self, limits: SessionLimits, stats: &Stats) {
        let Some(outbox) = self.outbox.clone() else {
            return;
        };
        let window = self.window(limits);
        let max_packet_size = self.max_packet_size();
        let mut now = None;
        while self.inflight.len() < window {
            let Some(Queued {
                entry,
                mut message,
                share,
            }) = self.pending.pop_front()
            else {
                return;
            };
            // MQTT 5.0: a message whose expiry interval passed while it waited is not sent, nor
            // one larger than the client now accepts (queued before it reconnected).
            let expired = message.properties.is_some()
                && message_expiry::expired(&message, *now.get_or_insert_with(Instant::now));
            let too_large = max_packet_size
                .is_some_and(|max| message.encoded_len_as(ProtocolVersion::V5) > max);
            if expired || too_large {
                if expired {
                    stats.messages_expired.increment();
                } else {
                    stats.dropped_too_large.increment();
                }
                self.journal_op(|client_id| StoreOp::MessageDone { client_id, entry });
                continue;
            }
            let id = self.packet_ids.allocate(self.inflight.iter().map(|e| e.id));
            message.packet_id = Some(id);
            let seq = self.journal_op(|client_id| StoreOp::MessageSent {
                client_id,
                entry,
                packet_id: id,
            });
            // A QoS 2 message of a stored session goes out only once the store has it: a
            // client that received it before a crash would otherwise get it again after the
            // restart, when the publisher retransmits it (its PUBREC was never sent).
            let hold = match message.qos {
                QoS::ExactlyOnce => {
                    seq.filter(|_| self.journal.as_ref().is_some_and(|j| j.holds_acks()))
                }
                _ => None,
            };
            outbox.push_held(Packet::Publish(message.clone()), hold);
            let state = match message.qos {
                QoS::ExactlyOnce => Inflight::Unreceived(message),
                _ => Inflight::Unacked(message),
            };
            self.inflight.push_back(InflightEntry {
                id,
                entry,
                state,
                share,
            });
        }
    }
}
