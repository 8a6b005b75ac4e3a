//! Sending what this node's publishers publish to the other nodes, off the publishers' tasks:
//! QoS 0 over core NATS to each interested node's subject (lost if NATS is unreachable, as QoS
//! 0 may be); QoS 1/2 into each interested node's JetStream stream, with a message id so a
//! retry after a lost acknowledgement is stored once, and the publisher's PUBACK/PUBREC held
//! until every stream has it. Retained messages go to the retained bucket, in order with the
//! messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use amqtt_core::cluster::{ClusterLink, HeldAck, encode_message};
use amqtt_core::codec::{Publish, QoS};
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, kv::Store};
use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use crate::names::{self, Names};
use crate::plan::Plan;
use crate::wire;

/// QoS 0 messages waiting to be sent, beyond which new ones are dropped (NATS unreachable, or
/// slower than the publishers). QoS 1/2 messages are not bounded here: each holds its
/// publisher's acknowledgement, so the publishers' in-flight windows bound them.
const MAX_QUEUED_QOS0: usize = 8192;

/// How long a failed QoS 1/2 send waits before it is tried again.
const RETRY: Duration = Duration::from_millis(250);

/// What the forwarder sends.
pub(crate) enum Outgoing {
    /// A message for the nodes of `plan`.
    Message {
        sender: Box<str>,
        message: Publish,
        plan: Plan,
        ack: Option<HeldAck>,
    },
    /// A retained message set or cleared on this node.
    Retained(Publish),
}

/// The publishers' side of the forwarder.
pub(crate) struct Forwarder {
    queue: mpsc::UnboundedSender<Outgoing>,
    queued_qos0: Arc<AtomicUsize>,
    /// Where a QoS 0 message dropped for a full queue is counted.
    link: ClusterLink,
}

impl Forwarder {
    /// Queues `outgoing`; a QoS 0 message is dropped (and counted) when too many wait.
    pub(crate) fn send(&self, outgoing: Outgoing) {
        if let Outgoing::Message { message, .. } = &outgoing
            && message.qos == QoS::AtMostOnce
        {
            if self.queued_qos0.load(Ordering::Relaxed) >= MAX_QUEUED_QOS0 {
                self.link.stats().dropped_cluster.increment();
                return;
            }
            self.queued_qos0.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self.queue.send(outgoing);
    }
}

/// One QoS 1/2 copy on its way into a node's stream.
struct Stored {
    subject: String,
    id: String,
    bytes: Bytes,
    ack: Option<PublishAckFuture>,
}

/// A QoS 1/2 message's copies and the acknowledgement they hold.
struct Pending {
    copies: Vec<Stored>,
    ack: Option<HeldAck>,
}

/// Starts the forwarder's tasks.
pub(crate) fn start(
    client: async_nats::Client,
    js: jetstream::Context,
    retained: Store,
    names: Names,
    node: &str,
    link: ClusterLink,
) -> Forwarder {
    let (queue, received) = mpsc::unbounded_channel();
    let (pending, to_confirm) = mpsc::unbounded_channel();
    let queued_qos0 = Arc::new(AtomicUsize::new(0));
    let sender = Sender {
        link: link.clone(),
        client,
        js: js.clone(),
        retained,
        names,
        queued_qos0: queued_qos0.clone(),
        pending,
        id_prefix: format!("{node}-{:x}", epoch()),
        next_id: 0,
    };
    tokio::spawn(sender.run(received));
    tokio::spawn(confirm(js, to_confirm));
    Forwarder {
        queue,
        queued_qos0,
        link,
    }
}

/// A number that differs between two runs of a node, so message ids do not repeat.
fn epoch() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

struct Sender {
    link: ClusterLink,
    client: async_nats::Client,
    js: jetstream::Context,
    retained: Store,
    names: Names,
    queued_qos0: Arc<AtomicUsize>,
    pending: mpsc::UnboundedSender<Pending>,
    id_prefix: String,
    next_id: u64,
}

impl Sender {
    async fn run(mut self, mut received: mpsc::UnboundedReceiver<Outgoing>) {
        let mut batch = Vec::with_capacity(256);
        while received.recv_many(&mut batch, 256).await > 0 {
            for outgoing in batch.drain(..) {
                match outgoing {
                    Outgoing::Message {
                        sender,
                        message,
                        plan,
                        ack,
                    } => self.message(&sender, &message, &plan, ack).await,
                    Outgoing::Retained(message) => self.retained(&message).await,
                }
            }
        }
    }

    async fn message(
        &mut self,
        sender: &str,
        message: &Publish,
        plan: &Plan,
        ack: Option<HeldAck>,
    ) {
        // One encoding for the nodes given no group, one per node given some.
        let plain = wire::encode(sender, &[], message);
        if plain.len() > self.client.server_info().max_payload {
            tracing::warn!(topic = %message.topic, size = plain.len(), "cluster: message larger than NATS's max_payload; delivered on this node only");
            if message.qos == QoS::AtMostOnce {
                self.queued_qos0.fetch_sub(1, Ordering::Relaxed);
            }
            if let Some(ack) = ack {
                ack.release();
            }
            return;
        }
        let bytes = |groups: &[Box<str>]| {
            if groups.is_empty() {
                plain.clone()
            } else {
                wire::encode(sender, groups, message)
            }
        };
        self.link.stats().cluster_sent.add(plan.nodes.len() as u64);
        if message.qos == QoS::AtMostOnce {
            self.queued_qos0.fetch_sub(1, Ordering::Relaxed);
            for (node, groups) in &plan.nodes {
                let subject = self.names.direct(node);
                if let Err(e) = self.client.publish(subject, bytes(groups)).await {
                    tracing::debug!(error = %e, "cluster: QoS 0 message not sent");
                }
            }
            return;
        }
        let mut copies = Vec::with_capacity(plan.nodes.len());
        for (node, groups) in &plan.nodes {
            self.next_id += 1;
            let mut copy = Stored {
                subject: self.names.queued(node),
                id: format!("{}-{}", self.id_prefix, self.next_id),
                bytes: bytes(groups),
                ack: None,
            };
            copy.ack = send_copy(&self.js, &copy).await;
            copies.push(copy);
        }
        let _ = self.pending.send(Pending { copies, ack });
    }

    async fn retained(&mut self, message: &Publish) {
        let mut buf = BytesMut::new();
        encode_message(message, &mut buf);
        let key = names::key(&message.topic);
        let value = buf.freeze();
        while let Err(e) = self.retained.put(&key, value.clone()).await {
            tracing::warn!(topic = %message.topic, error = %e, "cluster: retained message not stored; retrying");
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// Sends one copy into its stream; `None` when it could not even be sent.
async fn send_copy(js: &jetstream::Context, copy: &Stored) -> Option<PublishAckFuture> {
    let publish = PublishMessage::build()
        .payload(copy.bytes.clone())
        .message_id(copy.id.as_str());
    match js.send_publish(copy.subject.clone(), publish).await {
        Ok(ack) => Some(ack),
        Err(e) => {
            tracing::debug!(subject = %copy.subject, error = %e, "cluster: QoS 1/2 copy not sent");
            None
        }
    }
}

/// Waits, in order, for each message's copies to be stored, sending again (same message id,
/// so a copy stored twice is stored once) whatever failed, then releases its acknowledgement.
async fn confirm(js: jetstream::Context, mut pending: mpsc::UnboundedReceiver<Pending>) {
    while let Some(Pending { copies, ack }) = pending.recv().await {
        for mut copy in copies {
            loop {
                if let Some(sent) = copy.ack.take() {
                    match sent.await {
                        Ok(_) => break,
                        Err(e) => {
                            tracing::debug!(subject = %copy.subject, error = %e, "cluster: QoS 1/2 copy not confirmed; sending again")
                        }
                    }
                }
                tokio::time::sleep(RETRY).await;
                copy.ack = send_copy(&js, &copy).await;
            }
        }
        if let Some(ack) = ack {
            ack.release();
        }
    }
}
