//! Before a cross-node run: waits until the subscribers' interest has reached the publishers'
//! node (it travels asynchronously, through the cluster's interest bucket), by publishing
//! probes there until each subscriber has received the latest probe on its topic. Messages of
//! one publisher on one topic keep their order across nodes, so once the latest has arrived no
//! earlier probe is still on its way to be counted as load.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use amqtt_core::codec::{ProtocolVersion, QoS};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::Result;
use crate::wire::{Conn, PUBLISH, PublishTemplate, STAMP_LEN, puback};

/// How long a probe may go unanswered before the next one is sent on its topic.
const RESEND: Duration = Duration::from_millis(50);
/// Longest the interest may take to reach the publishers' node.
const LIMIT: Duration = Duration::from_secs(30);

/// A subscriber's connection and the topic to probe it with.
pub(crate) struct Probed {
    /// The subscriber's client id, for messages.
    pub(crate) id: String,
    /// Its connection, subscribed.
    pub(crate) conn: Conn,
    /// A topic its filter matches.
    pub(crate) topic: String,
}

/// A probed topic.
struct Topic {
    /// Its probes, encoded once.
    template: PublishTemplate,
    /// The latest probe number each of its subscribers has received.
    seen_by: Vec<Arc<AtomicU64>>,
    /// The number of its latest probe (0: none yet).
    last: u64,
    /// When that was sent.
    sent_at: Option<Instant>,
}

/// Probes the subscribers from a client on `addr` at `qos` (its probes carry a sequence number
/// where the load carries its send time); returns their connections, in order, once each has
/// received the latest probe of its topic and acknowledged the probes of QoS 1.
pub(crate) async fn interest_reached(
    addr: SocketAddr,
    protocol: ProtocolVersion,
    qos: QoS,
    subscribers: Vec<Probed>,
) -> Result<Vec<Conn>> {
    let (stop, stopped) = watch::channel(false);
    let mut readers = Vec::new();
    let mut topics: Vec<(String, Topic)> = Vec::new();
    let mut ids = Vec::new();
    for Probed { id, conn, topic } in subscribers {
        let seen = Arc::new(AtomicU64::new(0));
        readers.push(tokio::spawn(read_probes(
            conn,
            seen.clone(),
            stopped.clone(),
        )));
        let at = match topics.iter().position(|(name, _)| *name == topic) {
            Some(at) => at,
            None => {
                let template = PublishTemplate::new(&topic, qos, STAMP_LEN, protocol);
                let probed = Topic {
                    template,
                    seen_by: Vec::new(),
                    last: 0,
                    sent_at: None,
                };
                topics.push((topic, probed));
                topics.len() - 1
            }
        };
        topics[at].1.seen_by.push(seen.clone());
        ids.push((id, seen, at));
    }
    let (mut prober, _) = Conn::open(addr, "pl-probe", true, protocol).await?;
    let started = Instant::now();
    let mut sequence = 0u64;
    let mut out = Vec::new();
    loop {
        let mut waiting = false;
        for (_, topic) in &mut topics {
            let last = topic.last;
            if last > 0 && topic.seen_by.iter().all(|seen| seen.load(Relaxed) == last) {
                continue;
            }
            waiting = true;
            if topic.sent_at.is_none_or(|at| at.elapsed() >= RESEND) {
                sequence += 1;
                let pid = u16::try_from(sequence % 65_535 + 1).unwrap_or(1);
                topic.template.append(&mut out, pid, sequence);
                (topic.last, topic.sent_at) = (sequence, Some(Instant::now()));
            }
        }
        if !waiting {
            break;
        }
        if started.elapsed() > LIMIT {
            let late: Vec<&str> = ids
                .iter()
                .filter(|(_, seen, at)| seen.load(Relaxed) != topics[*at].1.last)
                .map(|(id, ..)| id.as_str())
                .collect();
            return Err(format!(
                "the interest of {late:?} did not reach the publishers' node within {LIMIT:?}"
            )
            .into());
        }
        if !out.is_empty() {
            prober.stream.write_all(&out).await?;
            out.clear();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The prober's PUBACKs (QoS 1) are not read: the probes that count have arrived.
    prober.close().await;
    let _ = stop.send(true);
    let mut conns = Vec::new();
    for reader in readers {
        conns.push(reader.await??);
    }
    Ok(conns)
}

/// Reads probes on a subscriber's connection, acknowledging those of QoS 1 and storing the
/// latest sequence number in `seen`, until `stop` changes; returns the connection.
async fn read_probes(
    mut conn: Conn,
    seen: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Result<Conn> {
    let mut out = Vec::new();
    loop {
        while let Some(frame) = conn.next()? {
            if frame.kind != PUBLISH {
                return Err(format!("unexpected packet type {} among probes", frame.kind).into());
            }
            if let Some(pid) = frame.packet_id() {
                puback(&mut out, pid);
            }
            seen.store(frame.stamp(conn.protocol)?, Relaxed);
        }
        if !out.is_empty() {
            conn.stream.write_all(&out).await?;
            out.clear();
        }
        tokio::select! {
            biased;
            _ = stop.changed() => return Ok(conn),
            open = conn.fill() => if !open? {
                return Err("the broker closed the connection while probing".into());
            }
        }
    }
}
