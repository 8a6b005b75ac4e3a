//! A connection's outbound queue and the writer that drains it.
//!
//! Producers (the connection's own reader, and any publisher routing a message here) push packets
//! under a `std::sync::Mutex`: nothing awaits while it is held, so a blocking mutex is cheaper than
//! an async one. The writer takes everything queued at once, encodes it into one [`WriteBatch`]
//! (large payloads shared, not copied) and writes it with vectored writes, so a burst of messages
//! costs one syscall (one per 64 slices).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use super::journal::Journal;
use super::message_expiry;
use super::problem_info;
use super::stats::Stats;
use super::trigger::Trigger;
use super::v5_writer::V5Writer;
use super::write_batch::WriteBatch;
use crate::codec::{Packet, ProtocolVersion, ReasonBody, ReasonCode};
use crate::plugin::{Hooks, Plugin, SessionInfo};

/// The hold of a packet queued by [`Outbox::push_pending`] and not settled yet: above any
/// journal sequence number, so it is never committed.
const UNSETTLED: u64 = u64::MAX;

/// The outbound queue of one connection.
#[derive(Debug)]
pub(crate) struct Outbox {
    queue: Mutex<OutQueue>,
    /// Wakes the writer when packets are queued or the outbox is closed.
    wake_writer: Notify,
    /// Wakes everyone held back by this queue (its own reader, and publishers feeding it) when
    /// the writer has drained it, when it is marked stalled, and on close.
    drained: Notify,
    /// Fired once the connection must end (taken over, write failed, or the reader finished).
    closed: Trigger,
    /// Packets held for this connection before publishers are held back (and, once stalled,
    /// before QoS 0 messages are dropped).
    capacity: usize,
    /// Set when a publisher gave up waiting for this queue to drain (`backpressure_timeout`):
    /// publishers no longer wait for it and overflow is dropped. Cleared once it drains to half.
    stalled: AtomicBool,
    /// Set when a new connection took the session over and continues it: this connection ends
    /// without its will (the client is back, not gone).
    taken_over: AtomicBool,
}

/// A packet queued held on an outbox ([`Outbox::push_held_by`]), to settle once.
#[derive(Debug)]
pub(crate) struct HeldOutbox {
    outbox: Arc<Outbox>,
    position: u64,
}

impl HeldOutbox {
    /// Sends the packet: with `Some(seq)` once the journal has committed up to `seq`.
    pub(crate) fn settle(self, hold: Option<u64>) {
        self.outbox.settle(self.position, hold);
    }
}

#[derive(Debug)]
struct OutQueue {
    packets: VecDeque<Packet>,
    /// Packets that wait for the store: (their position, counted in packets ever pushed; the
    /// journal sequence number that must be committed first), in push order. The writer sends
    /// nothing from the first such packet on until its batch has committed, so acknowledgements
    /// leave in the order they were queued.
    held: VecDeque<(u64, u64)>,
    /// Packets ever pushed.
    pushed: u64,
    /// Packets ever taken by the writer.
    taken: u64,
    /// Set once a server DISCONNECT is queued: it is the last packet the client gets, and
    /// nothing pushed after it is sent.
    sealed: bool,
    /// The client as the packet-sent hook shows it: as its CONNECT, or its last
    /// re-authentication since, describes it.
    session: Arc<SessionInfo>,
    /// A PINGRESP owed while packets are held: it goes out at once, ahead of them (nothing
    /// orders a PINGRESP; a client would take a long hold for a dead broker).
    ping_owed: bool,
}

impl Outbox {
    pub(crate) fn new(capacity: usize, session: Arc<SessionInfo>) -> Outbox {
        Outbox {
            queue: Mutex::new(OutQueue {
                packets: VecDeque::new(),
                held: VecDeque::new(),
                pushed: 0,
                taken: 0,
                sealed: false,
                session,
                ping_owed: false,
            }),
            wake_writer: Notify::new(),
            drained: Notify::new(),
            closed: Trigger::default(),
            capacity,
            stalled: AtomicBool::new(false),
            taken_over: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutQueue> {
        // A panic while holding this lock cannot leave the queue inconsistent (push/drain only).
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a control packet (ack, CONNACK, SUBACK, ...): never dropped.
    pub(crate) fn push(&self, packet: Packet) {
        self.push_held(packet, None);
    }

    /// Queues a packet that, with `Some(seq)`, is sent only once the store has committed the
    /// journal up to `seq` (and so is everything queued after it).
    pub(crate) fn push_held(&self, packet: Packet, hold: Option<u64>) {
        let mut queue = self.lock();
        if queue.sealed {
            return;
        }
        if let Some(seq) = hold {
            let position = queue.pushed;
            queue.held.push_back((position, seq));
        }
        queue.packets.push_back(packet);
        queue.pushed += 1;
        drop(queue);
        self.wake_writer.notify_one();
    }

    /// Queues an acknowledgement ahead of what its packet's handling will queue (the copies of a
    /// message routed back to this connection), held until [`Outbox::settle`] says what the
    /// store must commit first; returns its position for that call.
    pub(crate) fn push_pending(&self, packet: Packet) -> u64 {
        let mut queue = self.lock();
        let position = queue.pushed;
        if queue.sealed {
            return position;
        }
        queue.held.push_back((position, UNSETTLED));
        queue.packets.push_back(packet);
        queue.pushed += 1;
        position
    }

    /// Answers a PINGREQ: queued like any packet, or, while packets are held, sent ahead of
    /// them.
    pub(crate) fn push_ping_response(&self) {
        let mut queue = self.lock();
        if queue.held.is_empty() {
            drop(queue);
            return self.push(Packet::PingResp);
        }
        queue.ping_owed = true;
        drop(queue);
        self.wake_writer.notify_one();
    }

    /// Queues an acknowledgement ahead of the copies of its message, held until the returned
    /// handle settles it: for one that another party (the cluster) releases.
    pub(crate) fn push_held_by(self: &Arc<Self>, packet: Packet) -> HeldOutbox {
        HeldOutbox {
            position: self.push_pending(packet),
            outbox: self.clone(),
        }
    }

    /// Settles the packet [`Outbox::push_pending`] queued at `position`: with `Some(seq)` it is
    /// sent once the journal is committed up to `seq`, with `None` at once.
    pub(crate) fn settle(&self, position: u64, hold: Option<u64>) {
        let mut queue = self.lock();
        // Only this connection's reader queues held packets, and it settles one before it
        // queues the next: the pending one is the last.
        if let Some(index) = queue.held.iter().rposition(|&(p, _)| p == position) {
            match hold {
                Some(seq) => queue.held[index].1 = seq,
                None => {
                    queue.held.remove(index);
                }
            }
        }
        drop(queue);
        self.wake_writer.notify_one();
    }

    /// Queues a message and returns the queue's new length; with `capped`, a queue already at
    /// capacity refuses it (`None`).
    pub(crate) fn push_message(&self, packet: Packet, capped: bool) -> Option<usize> {
        let mut queue = self.lock();
        if capped && queue.packets.len() >= self.capacity {
            return None;
        }
        if queue.sealed {
            return Some(queue.packets.len());
        }
        queue.packets.push_back(packet);
        queue.pushed += 1;
        let len = queue.packets.len();
        drop(queue);
        self.wake_writer.notify_one();
        Some(len)
    }

    /// Queues a server DISCONNECT with `reason` for an MQTT 5.0 client (3.1.1 has none: the
    /// connection just closes), as the last packet it gets: nothing pushed after it is sent.
    /// The caller closes the connection; the writer sends what is queued before the socket
    /// closes.
    pub(crate) fn push_disconnect(&self, protocol: ProtocolVersion, reason: ReasonCode) {
        self.push_disconnect_body(protocol, ReasonBody::new(reason));
    }

    /// [`Outbox::push_disconnect`] with properties (a reason string).
    pub(crate) fn push_disconnect_body(&self, protocol: ProtocolVersion, body: ReasonBody) {
        if !protocol.is_v5() {
            return;
        }
        let mut queue = self.lock();
        if queue.sealed {
            return; // the client was already told why
        }
        queue.packets.push_back(Packet::Disconnect(body));
        queue.pushed += 1;
        queue.sealed = true;
        drop(queue);
        self.wake_writer.notify_one();
    }

    /// Whether a server DISCONNECT was queued ([`Outbox::push_disconnect`]).
    pub(crate) fn is_sealed(&self) -> bool {
        self.lock().sealed
    }

    /// Packets queued now.
    pub(crate) fn len(&self) -> usize {
        self.lock().packets.len()
    }

    /// Packets held before publishers are held back.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether publishers have given up waiting for this queue (see [`Outbox::stall`]).
    pub(crate) fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Relaxed)
    }

    /// Marks the queue stalled: publishers waiting for it are released and no longer wait, and
    /// overflow is dropped. Returns whether it was newly marked.
    pub(crate) fn stall(&self) -> bool {
        let newly = !self.stalled.swap(true, Ordering::Relaxed);
        self.drained.notify_waiters();
        newly
    }

    /// Clears the stalled mark once the queue has drained.
    pub(crate) fn unstall(&self) {
        self.stalled.store(false, Ordering::Relaxed);
    }

    /// A future completing at the next drain, stall or close; enable it before checking the
    /// condition it waits for, so a wake-up in between is not lost.
    pub(crate) fn drained(&self) -> tokio::sync::futures::Notified<'_> {
        self.drained.notified()
    }

    /// Asks the connection to end; its reader and writer stop.
    pub(crate) fn close(&self) {
        self.closed.fire();
        self.wake_writer.notify_one();
        self.drained.notify_waiters();
    }

    /// Asks the connection to end because a new connection continues its session: it ends
    /// without publishing its will.
    pub(crate) fn close_taken_over(&self) {
        self.taken_over.store(true, Ordering::Relaxed);
        self.close();
    }

    /// Shows the packet-sent hook the client as a re-authentication describes it from now on.
    pub(crate) fn set_session_info(&self, session: Arc<SessionInfo>) {
        self.lock().session = session;
    }

    /// Whether the connection was closed by [`Outbox::close_taken_over`].
    pub(crate) fn was_taken_over(&self) -> bool {
        self.taken_over.load(Ordering::Relaxed)
    }

    /// Whether [`Outbox::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_fired()
    }

    /// Completes once the outbox is closed.
    pub(crate) async fn closed(&self) {
        self.closed.fired().await;
    }

    /// Whether the queue is at or under its capacity (see [`Outbox::room`]).
    pub(crate) fn has_room(&self) -> bool {
        self.lock().packets.len() <= self.capacity
    }

    /// Completes once the queue is at or under its capacity (or the outbox is closed): the reader
    /// waits here, so a client that does not read its acks cannot grow this queue without bound.
    pub(crate) async fn room(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() || self.has_room() {
                return;
            }
            notified.await;
        }
    }

    /// Frees the queue's storage if it is empty (an idle connection holds none).
    fn release_queue(&self) {
        let mut queue = self.lock();
        if queue.packets.is_empty() {
            queue.packets = VecDeque::new();
            queue.held = VecDeque::new();
        }
    }

    /// Drains the queue into `batch`, encoded for `client.0` (without problem information when
    /// `client.1`, see `problem_info.rs`; for MQTT 5.0, adapted to the client by `v5`), up to
    /// the first packet still waiting for the
    /// store (everything up to `committed` is on disk), and a PINGRESP owed ahead of them;
    /// returns how many packets were taken and whether one is left waiting. With `sent_hook`, the packet-sent hook runs here, under the
    /// queue's lock: it is synchronous and must not block.
    fn drain_into<P: Plugin>(
        &self,
        batch: &mut WriteBatch,
        stats: &Stats,
        sent_hook: Option<&P>,
        committed: u64,
        (protocol, quiet): (ProtocolVersion, bool),
        v5: &mut Option<Box<V5Writer>>,
    ) -> (usize, bool) {
        let mut guard = self.lock();
        let queue = &mut *guard;
        while queue.held.front().is_some_and(|&(_, seq)| seq <= committed) {
            queue.held.pop_front();
        }
        let count = match queue.held.front() {
            // Positions count every packet pushed, so this is how many are ahead of it.
            Some(&(position, _)) => usize::try_from(position - queue.taken).unwrap_or(usize::MAX),
            None => queue.packets.len(),
        };
        let waiting = count < queue.packets.len();
        queue.taken += count as u64;
        let mut messages = [0; 3];
        let mut dropped = 0;
        let mut now = None;
        let ping = std::mem::take(&mut queue.ping_owed).then_some(Packet::PingResp);
        let pinged = usize::from(ping.is_some());
        for mut packet in ping.into_iter().chain(queue.packets.drain(..count)) {
            if quiet {
                problem_info::strip(&mut packet);
            }
            if let Some(plugins) = sent_hook {
                plugins.on_mqtt_packet_sent(&packet, Some(&queue.session));
            }
            match v5.as_deref_mut() {
                None if message_expiry::expired_qos0(&packet, &mut now) => {
                    stats.messages_expired.increment();
                    dropped += 1;
                    continue;
                }
                None => batch.push_packet(&packet, protocol),
                Some(v5) => {
                    // Expired or too large for the client: not sent (see `v5_writer.rs`).
                    if !v5.encode(&packet, batch, stats, &mut now) {
                        dropped += 1;
                        continue;
                    }
                }
            }
            if let Packet::Publish(publish) = &packet {
                messages[publish.qos as usize] += 1;
            }
        }
        drop(guard);
        stats.packets_sent.add((count + pinged - dropped) as u64);
        stats.messages_sent.add_by_level(messages);
        (count + pinged, waiting)
    }

    /// The writer, run by the connection's own task (`connection/writer_side.rs`): writes
    /// queued packets until the outbox is closed and drained, or the peer stops accepting bytes,
    /// encoded as the client's CONNECT asks. Packets held for the store wait for `journal`'s
    /// commits.
    pub(crate) async fn run_writer<W: AsyncWrite + Unpin, P: Plugin>(
        &self,
        mut writer: W,
        stats: &Stats,
        plugins: &P,
        journal: Option<&Journal>,
    ) {
        let hooked = P::HOOKS.contains(Hooks::PACKET_SENT)
            && plugins.active_hooks().contains(Hooks::PACKET_SENT);
        let sent_hook = hooked.then_some(plugins);
        let session = self.lock().session.clone();
        let quiet = !problem_info::requested(&session);
        let mut batch = WriteBatch::default();
        let mut v5 = V5Writer::for_client(&session);
        loop {
            let notified = self.wake_writer.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Without a journal everything is committed, but what is not settled yet.
            let committed = journal.map_or(UNSETTLED - 1, Journal::committed);
            let (count, waiting) = self.drain_into(
                &mut batch,
                stats,
                sent_hook,
                committed,
                (session.protocol, quiet),
                &mut v5,
            );
            if count == 0 {
                if let (true, Some(journal)) = (waiting, journal) {
                    // The next packet waits for the store: for its commit, then drain again. Or
                    // for its settling (a hold the cluster releases) or a PINGRESP owed.
                    let commit = journal.next_commit();
                    tokio::pin!(commit);
                    commit.as_mut().enable();
                    if journal.committed() == committed {
                        tokio::select! {
                            () = commit => {}
                            () = notified => {}
                        }
                    }
                    continue;
                }
                if self.is_closed() {
                    break;
                }
                // Idle: hold no buffers while waiting.
                self.release_queue();
                batch.release();
                notified.await;
                continue;
            }
            self.drained.notify_waiters();
            stats.bytes_sent.add(batch.len() as u64);
            if batch.write_to(&mut writer).await.is_err() || writer.flush().await.is_err() {
                self.close();
                return;
            }
        }
        // Bounded: a peer that stopped reading must not keep the task alive.
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
    }
}
