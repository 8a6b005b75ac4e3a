//! The load's clients: a publisher (QoS 1: keeping a window of unacknowledged PUBLISHes and
//! timing each from its send to its PUBACK; QoS 0: writing batches; either flooding or at a
//! fixed rate) and a subscriber acknowledging every QoS 1 message it receives and, when asked,
//! timing each from its send (the time in its payload) to its receipt.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::time::Instant;

use amqtt_core::codec::QoS;

use crate::Result;
use crate::wire::{Conn, PUBACK, PUBLISH, PublishTemplate, puback};

/// Longest a publisher waits for its outstanding PUBACKs once it has stopped sending.
const DRAIN: Duration = Duration::from_secs(30);
/// Bytes of QoS 0 PUBLISHes a publisher writes at once (as the shared load tool).
const QOS0_WRITE: usize = 64 * 1024;

/// Counters shared by the clients of one run.
#[derive(Default)]
pub(crate) struct Shared {
    /// PUBLISHes sent by the publishers.
    pub(crate) sent: AtomicU64,
    /// PUBACKs the publishers received.
    pub(crate) acked: AtomicU64,
    /// PUBLISHes still unacknowledged when a publisher gave up waiting ([`DRAIN`]).
    pub(crate) unacked: AtomicU64,
    /// PUBLISHes the subscribers received.
    pub(crate) received: AtomicU64,
    /// Client failures (connection closed, protocol surprises).
    pub(crate) errors: Mutex<Vec<String>>,
}

impl Shared {
    /// Records a client failure.
    pub(crate) fn error(&self, e: String) {
        if let Ok(mut errors) = self.errors.lock() {
            errors.push(e);
        }
    }

    /// The failures recorded so far.
    pub(crate) fn errors(&self) -> Vec<String> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

/// What a publisher sends.
pub(crate) struct PublishPlan {
    /// Topic of every message.
    pub(crate) topic: String,
    /// QoS of every message (0 or 1).
    pub(crate) qos: QoS,
    /// Unacknowledged QoS 1 PUBLISHes kept in flight.
    pub(crate) window: usize,
    /// Payload bytes per message (at least [`crate::wire::STAMP_LEN`]).
    pub(crate) payload: usize,
    /// Messages per second, evenly spaced; `None` floods.
    pub(crate) rate: Option<f64>,
    /// When to stop sending.
    pub(crate) deadline: Instant,
    /// Most messages to send.
    pub(crate) count: u64,
}

/// When this tool started: send times are nanoseconds since then.
static CLOCK_ZERO: OnceLock<std::time::Instant> = OnceLock::new();

/// `at` in nanoseconds since [`CLOCK_ZERO`].
fn stamp(at: Instant) -> u64 {
    let zero = *CLOCK_ZERO.get_or_init(std::time::Instant::now);
    u64::try_from(at.into_std().saturating_duration_since(zero).as_nanos()).unwrap_or(u64::MAX)
}

/// Microseconds from `from` to `to` (both [`stamp`]s), saturated to `u32`.
fn micros(from: u64, to: u64) -> u32 {
    u32::try_from(to.saturating_sub(from) / 1000).unwrap_or(u32::MAX)
}

/// Publishes as `plan` says, then waits for the outstanding PUBACKs; returns the send-to-PUBACK
/// latencies in microseconds (none at QoS 0). Failures go to `shared`.
pub(crate) async fn publisher(mut conn: Conn, plan: PublishPlan, shared: Arc<Shared>) -> Vec<u32> {
    let template = PublishTemplate::new(&plan.topic, plan.qos, plan.payload, conn.protocol);
    let mut latencies = Vec::new();
    let result = publish(&mut conn, &template, &plan, &shared, &mut latencies);
    if let Err(e) = result.await {
        shared.error(format!("publisher {}: {e}", plan.topic));
    }
    conn.close().await;
    latencies
}

/// The publisher's loop: sends what the window (QoS 1), the batch (QoS 0) and the rate allow,
/// writes, reads PUBACKs.
async fn publish(
    conn: &mut Conn,
    template: &PublishTemplate,
    plan: &PublishPlan,
    shared: &Shared,
    latencies: &mut Vec<u32>,
) -> Result<()> {
    let acked_qos = plan.qos != QoS::AtMostOnce;
    if acked_qos && plan.window > usize::from(conn.receive_maximum) {
        return Err(format!("the broker's receive maximum is {}", conn.receive_maximum).into());
    }
    let mut sent_at: Vec<Option<Instant>> = vec![None; 65_536];
    let mut out = Vec::with_capacity(64 * 1024);
    let (mut pid, mut sent, mut inflight) = (0u16, 0u64, 0usize);
    let mut drain_until = None;
    let started = Instant::now();
    loop {
        let now = Instant::now();
        let sending = now < plan.deadline && sent < plan.count;
        if !sending && inflight == 0 {
            return Ok(());
        }
        let due = plan.rate.map_or(plan.count, |rate| {
            ((now - started).as_secs_f64() * rate) as u64 + 1
        });
        let room = if acked_qos {
            plan.window - inflight
        } else {
            (QOS0_WRITE / template.len()).max(1)
        };
        let batch = if sending {
            (room as u64).min(due.min(plan.count).saturating_sub(sent))
        } else {
            0
        };
        let at = stamp(now);
        for _ in 0..batch {
            pid = pid % 65_535 + 1;
            template.append(&mut out, pid, at);
            if acked_qos {
                sent_at[usize::from(pid)] = Some(now);
                inflight += 1;
            }
        }
        sent += batch;
        if !out.is_empty() {
            conn.stream.write_all(&out).await?;
            out.clear();
            shared.sent.fetch_add(batch, Relaxed);
        }
        if !acked_qos && plan.rate.is_none() {
            // A QoS 0 flood reads nothing: let the subscribers of this runtime run.
            tokio::task::yield_now().await;
            continue;
        }
        let limit = match (sending, plan.rate) {
            (true, Some(rate)) => plan
                .deadline
                .min(started + Duration::from_secs_f64(sent as f64 / rate)),
            (true, None) => plan.deadline,
            (false, _) => *drain_until.get_or_insert(now + DRAIN),
        };
        match tokio::time::timeout_at(limit, conn.fill()).await {
            Err(_) if sending => continue,
            Err(_) => {
                shared.unacked.fetch_add(inflight as u64, Relaxed);
                return Err(
                    format!("{inflight} PUBLISHes unacknowledged {DRAIN:?} after the run").into(),
                );
            }
            Ok(open) => {
                if !open? {
                    return Err("the broker closed the connection".into());
                }
            }
        }
        let at = Instant::now();
        let mut acked = 0;
        while let Some(frame) = conn.next()? {
            if frame.kind != PUBACK {
                return Err(format!("unexpected packet type {}", frame.kind).into());
            }
            if frame.reason() >= 0x80 {
                return Err(format!("PUBACK with reason code {:#04x}", frame.reason()).into());
            }
            let pid = frame.packet_id().ok_or("short PUBACK")?;
            let sent = sent_at[usize::from(pid)]
                .take()
                .ok_or_else(|| format!("PUBACK of packet id {pid}, which is not in flight"))?;
            latencies.push(u32::try_from((at - sent).as_micros()).unwrap_or(u32::MAX));
            inflight -= 1;
            acked += 1;
        }
        shared.acked.fetch_add(acked, Relaxed);
    }
}

/// Receives PUBLISHes (acknowledging those of QoS 1) until `stop` changes; returns the
/// end-to-end latencies (send time to receipt, microseconds) when `timed`, else none.
/// Failures go to `shared`.
pub(crate) async fn subscriber(
    mut conn: Conn,
    name: String,
    qos: QoS,
    timed: bool,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Vec<u32> {
    let mut latencies = Vec::new();
    let timings = timed.then_some(&mut latencies);
    if let Err(e) = receive(&mut conn, qos, timings, &shared, &mut stop).await {
        shared.error(format!("subscriber {name}: {e}"));
    }
    conn.close().await;
    latencies
}

/// The subscriber's loop; records end-to-end latencies into `timings` if given.
async fn receive(
    conn: &mut Conn,
    qos: QoS,
    mut timings: Option<&mut Vec<u32>>,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
) -> Result<()> {
    let mut out = Vec::with_capacity(16 * 1024);
    loop {
        // Frames first: what came with the CONNACK (a resumed session's queue) is buffered.
        let now = stamp(Instant::now());
        let mut received = 0;
        while let Some(frame) = conn.next()? {
            if frame.kind != PUBLISH {
                return Err(format!("unexpected packet type {}", frame.kind).into());
            }
            match (frame.packet_id(), qos) {
                (Some(pid), QoS::AtLeastOnce) => puback(&mut out, pid),
                (None, QoS::AtMostOnce) => {}
                (_, qos) => return Err(format!("a delivery not at QoS {qos:?}").into()),
            }
            if let Some(timings) = timings.as_deref_mut() {
                timings.push(micros(frame.stamp(conn.protocol)?, now));
            }
            received += 1;
        }
        shared.received.fetch_add(received, Relaxed);
        if !out.is_empty() {
            conn.stream.write_all(&out).await?;
            out.clear();
        }
        tokio::select! {
            biased;
            _ = stop.changed() => return Ok(()),
            open = conn.fill() => if !open? {
                return Err("the broker closed the connection".into());
            }
        }
    }
}

/// Waits until the subscribers have received `expected` messages, or none arrived for `quiet`.
pub(crate) async fn wait_received(shared: &Shared, expected: u64, quiet: Duration) -> u64 {
    let mut last = (Instant::now(), shared.received.load(Relaxed));
    loop {
        let now = shared.received.load(Relaxed);
        if now >= expected {
            return now;
        }
        if now != last.1 {
            last = (Instant::now(), now);
        } else if last.0.elapsed() > quiet {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
