//! The load's clients: a QoS 1 publisher keeping a window of unacknowledged PUBLISHes (timing
//! each from its send to its PUBACK) and a subscriber acknowledging every message it receives.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::Result;
use crate::wire::{Conn, PUBACK, PUBLISH, PublishTemplate, puback};

/// Longest a publisher waits for its outstanding PUBACKs once it has stopped sending.
const DRAIN: Duration = Duration::from_secs(30);

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

/// Publishes to `topic` until `deadline` or `count` messages, then waits for the outstanding
/// PUBACKs; returns the send-to-PUBACK latencies in microseconds. Failures go to `shared`.
pub(crate) async fn publisher(
    mut conn: Conn,
    topic: String,
    window: usize,
    payload: usize,
    deadline: Instant,
    count: u64,
    shared: std::sync::Arc<Shared>,
) -> Vec<u32> {
    let template = PublishTemplate::new(&topic, payload);
    let mut latencies = Vec::new();
    let result = publish(
        &mut conn,
        &template,
        window,
        deadline,
        count,
        &shared,
        &mut latencies,
    );
    if let Err(e) = result.await {
        shared.error(format!("publisher {topic}: {e}"));
    }
    conn.close().await;
    latencies
}

/// The publisher's loop: fills the window, writes, reads PUBACKs.
async fn publish(
    conn: &mut Conn,
    template: &PublishTemplate,
    window: usize,
    deadline: Instant,
    count: u64,
    shared: &Shared,
    latencies: &mut Vec<u32>,
) -> Result<()> {
    let mut sent_at: Vec<Option<Instant>> = vec![None; 65_536];
    let mut out = Vec::with_capacity(64 * 1024);
    let (mut pid, mut sent, mut inflight) = (0u16, 0u64, 0usize);
    let mut drain_until = None;
    loop {
        let now = Instant::now();
        let sending = now < deadline && sent < count;
        if !sending && inflight == 0 {
            return Ok(());
        }
        let mut batch = 0;
        while sending && inflight < window && sent < count {
            pid = pid % 65_535 + 1;
            template.append(&mut out, pid);
            sent_at[usize::from(pid)] = Some(now);
            inflight += 1;
            sent += 1;
            batch += 1;
        }
        if !out.is_empty() {
            conn.stream.write_all(&out).await?;
            out.clear();
            shared.sent.fetch_add(batch, Relaxed);
        }
        let limit = if sending {
            deadline
        } else {
            *drain_until.get_or_insert(now + DRAIN)
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

/// Receives and acknowledges PUBLISHes until `stop` changes; failures go to `shared`.
pub(crate) async fn subscriber(
    mut conn: Conn,
    name: String,
    shared: std::sync::Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    if let Err(e) = receive(&mut conn, &shared, &mut stop).await {
        shared.error(format!("subscriber {name}: {e}"));
    }
    conn.close().await;
}

/// The subscriber's loop.
async fn receive(conn: &mut Conn, shared: &Shared, stop: &mut watch::Receiver<bool>) -> Result<()> {
    let mut out = Vec::with_capacity(16 * 1024);
    loop {
        // Frames first: what came with the CONNACK (a resumed session's queue) is buffered.
        let mut received = 0;
        while let Some(frame) = conn.next()? {
            if frame.kind != PUBLISH {
                return Err(format!("unexpected packet type {}", frame.kind).into());
            }
            let pid = frame
                .packet_id()
                .ok_or("a QoS 0 delivery of a QoS 1 message")?;
            puback(&mut out, pid);
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
