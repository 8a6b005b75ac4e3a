//! The round-trip probe client: QoS 1 publishes to itself, each timed until delivered back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use amqtt_core::codec::{ByteString, Packet, PacketId, Publish, QoS, Subscribe};
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::raw::{Client, packet_id, read_packet};
use crate::{BoxError, Result};

/// Probe publish interval.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(5);
/// Most probe messages in flight; beyond it the probe waits (stays below both brokers' queues).
const PROBE_MAX_OUTSTANDING: usize = 400;

/// One probe round trip.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// When the PUBLISH was sent.
    pub(crate) sent: Instant,
    /// Until it came back; for a message never delivered, until the probe stopped.
    pub(crate) rtt: Duration,
}

impl Sample {
    /// Whether the round trip overlaps `[start, end]`.
    pub(crate) fn overlaps(&self, start: Instant, end: Instant) -> bool {
        self.sent <= end && self.sent + self.rtt >= start
    }
}

/// State the probe's writer and reader share.
#[derive(Default)]
struct ProbeState {
    /// Send time of every message not yet delivered back, by sequence number.
    outstanding: HashMap<u64, Instant>,
    /// Completed round trips.
    samples: Vec<Sample>,
    /// Messages the broker never delivered (counted at stop).
    lost: usize,
}

/// The probe: QoS 1 publishes to its own topic every [`PROBE_INTERVAL`], open loop.
pub(crate) struct Probe {
    /// Shared state.
    state: Arc<Mutex<ProbeState>>,
    /// Set to stop the writer.
    stop: Arc<AtomicBool>,
    /// Writer task.
    writer: JoinHandle<Result<()>>,
    /// Reader task.
    reader: JoinHandle<Result<()>>,
}

/// Locks the probe state (a panic in the other task is fatal anyway).
fn lock(state: &Mutex<ProbeState>) -> MutexGuard<'_, ProbeState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Probe {
    /// Connects, subscribes at QoS 1 to `probe/<id>` and starts publishing.
    pub(crate) async fn start(addr: SocketAddr) -> Result<Probe> {
        let id = format!("sub-stall-probe-{}", std::process::id());
        let topic = ByteString::from(format!("probe/{id}"));
        let mut client = Client::connect(addr, &id).await?;
        let sub_id = packet_id(1);
        client
            .send(&Packet::Subscribe(Subscribe {
                packet_id: sub_id,
                filters: vec![(topic.clone(), QoS::AtLeastOnce.into())],
                properties: None,
            }))
            .await?;
        client.expect_suback(sub_id, 1).await?;
        let Client { stream, mut buf } = client;
        let (mut read, write) = stream.into_split();
        let state = Arc::new(Mutex::new(ProbeState::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(probe_writer(
            write,
            topic,
            Arc::clone(&state),
            Arc::clone(&stop),
            ack_rx,
        ));
        let reader_state = Arc::clone(&state);
        let reader = tokio::spawn(async move {
            while let Some(packet) = read_packet(&mut read, &mut buf).await? {
                if let Packet::Publish(p) = packet {
                    let received = Instant::now();
                    let seq_bytes: [u8; 8] = p
                        .payload
                        .get(..8)
                        .and_then(|b| b.try_into().ok())
                        .ok_or("probe payload shorter than 8 bytes")?;
                    let seq = u64::from_be_bytes(seq_bytes);
                    {
                        let mut state = lock(&reader_state);
                        if let Some(sent) = state.outstanding.remove(&seq) {
                            state.samples.push(Sample {
                                sent,
                                rtt: received - sent,
                            });
                        }
                    }
                    if let Some(id) = p.packet_id {
                        // The writer is gone only when the probe stops.
                        let _ = ack_tx.send(id);
                    }
                }
            }
            Err::<(), BoxError>("the broker closed the probe connection".into())
        });
        Ok(Probe {
            state,
            stop,
            writer,
            reader,
        })
    }

    /// Messages currently in flight and the age of the oldest.
    fn backlog(&self) -> (usize, Duration) {
        let state = lock(&self.state);
        let oldest = state.outstanding.values().min().map(Instant::elapsed);
        (state.outstanding.len(), oldest.unwrap_or_default())
    }

    /// Waits until the probe has caught up: nothing in flight older than 50 ms (after at most
    /// `limit`); returns when that was.
    pub(crate) async fn wait_caught_up(&self, limit: Duration) -> Instant {
        let until = Instant::now() + limit;
        loop {
            let (_, oldest) = self.backlog();
            if oldest < Duration::from_millis(50) || Instant::now() > until {
                return Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops publishing, waits up to 5 s for messages in flight and returns all round trips
    /// (undelivered ones counted as lost, with their time until now) and the count lost.
    pub(crate) async fn stop(self) -> Result<(Vec<Sample>, usize)> {
        self.stop.store(true, Ordering::Relaxed);
        self.wait_caught_up(Duration::from_secs(5)).await;
        self.writer.abort();
        if self.reader.is_finished() {
            if let Ok(Err(e)) = self.reader.await {
                return Err(e);
            }
        } else {
            self.reader.abort();
        }
        let now = Instant::now();
        let mut state = lock(&self.state);
        let pending: Vec<Instant> = state.outstanding.drain().map(|(_, sent)| sent).collect();
        state.lost += pending.len();
        for sent in pending {
            state.samples.push(Sample {
                sent,
                rtt: now - sent,
            });
        }
        state.samples.sort_by_key(|s| s.sent);
        Ok((std::mem::take(&mut state.samples), state.lost))
    }
}

/// The probe's writer: a PUBLISH every tick (while fewer than [`PROBE_MAX_OUTSTANDING`] are in
/// flight) and a PUBACK for every message delivered.
async fn probe_writer(
    mut write: OwnedWriteHalf,
    topic: ByteString,
    state: Arc<Mutex<ProbeState>>,
    stop: Arc<AtomicBool>,
    mut acks: mpsc::UnboundedReceiver<PacketId>,
) -> Result<()> {
    let mut tick = tokio::time::interval(PROBE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    let mut out = BytesMut::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if stop.load(Ordering::Relaxed) {
                    continue;
                }
                {
                    let mut state = lock(&state);
                    if state.outstanding.len() >= PROBE_MAX_OUTSTANDING {
                        continue;
                    }
                    seq += 1;
                    state.outstanding.insert(seq, Instant::now());
                }
                Packet::Publish(Publish {
                    dup: false,
                    qos: QoS::AtLeastOnce,
                    retain: false,
                    topic: topic.clone(),
                    packet_id: Some(packet_id(seq)),
                    payload: Bytes::copy_from_slice(&seq.to_be_bytes()),
                    properties: None,
                })
                .encode(&mut out);
            }
            Some(id) = acks.recv() => Packet::PubAck(id.into()).encode(&mut out),
        }
        write.write_all(&out).await?;
        out.clear();
    }
}
