//! Sending what this node's publishers publish to the other nodes, off the publishers' tasks:
//! QoS 0 over core NATS to each interested node's subject (lost if NATS is unreachable, as QoS
//! 0 may be); QoS 1/2 into each interested node's JetStream stream, with a message id so a
//! retry after a lost acknowledgement is stored once, and the publisher's PUBACK/PUBREC held
//! until every stream has it. Retained messages go to the retained bucket, in order with the
//! messages.
//!
//! One task sends everything in publish order; each QoS 1/2 message then has a task of its own
//! that waits for its copies to be stored (sending again what failed) and releases its
//! acknowledgement, so one slow or failing copy holds back its own publisher only (whose
//! connection keeps its acknowledgements in order), never the others'.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use amqtt_core::cluster::{ClusterLink, HeldAck, encode_message};
use amqtt_core::codec::{Publish, QoS};
use async_nats::Subject;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, kv::Store};
use bytes::{Bytes, BytesMut};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};

use crate::names::{self, Names};
use crate::plan::Plan;
use crate::wire;

/// QoS 0 messages waiting to be sent, beyond which new ones are dropped (NATS unreachable, or
/// slower than the publishers for longer than they wait). QoS 1/2 messages are not bounded
/// here: each holds its publisher's acknowledgement, so the publishers' in-flight windows bound
/// them.
const MAX_QUEUED_QOS0: usize = 8192;

/// QoS 0 messages waiting from which publishers are held back, and to which the queue must
/// drain before they go on.
const CONGESTED_QOS0: usize = MAX_QUEUED_QOS0 / 4;
const RELIEVED_QOS0: usize = MAX_QUEUED_QOS0 / 16;

/// QoS 1/2 copies sent and not yet confirmed: below the JetStream context's 5000 acks in
/// flight, so that sending a copy again always finds room.
const MAX_COPIES_IN_FLIGHT: usize = 4096;

/// How long a failed QoS 1/2 send first waits before it is tried again (doubling up to
/// [`RETRY_MAX`]).
const RETRY: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Room left in a NATS message for the headers (the message id) beside the payload.
const HEADER_ROOM: usize = 256;

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
    /// Told each time the sending task has sent a batch.
    sent: Arc<Notify>,
    /// Work queued or not yet confirmed, for [`Forwarder::flush`].
    unfinished: Arc<AtomicUsize>,
    /// Where a QoS 0 message dropped for a full queue is counted.
    link: ClusterLink,
}

impl Forwarder {
    /// Queues `outgoing`; a QoS 0 message is dropped (and counted) when too many wait.
    /// Returns whether the publisher should wait ([`Forwarder::relieved`]).
    pub(crate) fn send(&self, outgoing: Outgoing) -> bool {
        let mut congested = false;
        if let Outgoing::Message { message, .. } = &outgoing
            && message.qos == QoS::AtMostOnce
        {
            let queued = self.queued_qos0.load(Ordering::Relaxed);
            if queued >= MAX_QUEUED_QOS0 {
                self.link.stats().dropped_cluster.increment();
                return true;
            }
            self.queued_qos0.fetch_add(1, Ordering::Relaxed);
            congested = queued + 1 >= CONGESTED_QOS0;
        }
        self.unfinished.fetch_add(1, Ordering::AcqRel);
        let _ = self.queue.send(outgoing);
        congested
    }

    /// Waits until the QoS 0 messages waiting are few again, at most `timeout`.
    pub(crate) async fn relieved(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let sent = self.sent.notified();
            tokio::pin!(sent);
            sent.as_mut().enable();
            if self.queued_qos0.load(Ordering::Relaxed) <= RELIEVED_QOS0 {
                return;
            }
            if tokio::time::timeout_at(deadline, sent).await.is_err() {
                return;
            }
        }
    }

    /// Waits up to `limit` for everything queued to be sent and confirmed; returns how much
    /// was left.
    pub(crate) async fn flush(&self, limit: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let left = self.unfinished.load(Ordering::Acquire);
            if left == 0 || tokio::time::Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Starts the forwarder's task.
pub(crate) fn start(
    client: async_nats::Client,
    js: jetstream::Context,
    retained: Store,
    names: Names,
    node: &str,
    link: ClusterLink,
) -> Forwarder {
    let (queue, received) = mpsc::unbounded_channel();
    let queued_qos0 = Arc::new(AtomicUsize::new(0));
    let unfinished = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(Notify::new());
    let sender = Sender {
        link: link.clone(),
        client,
        js,
        retained,
        names,
        queued_qos0: queued_qos0.clone(),
        unfinished: unfinished.clone(),
        sent: sent.clone(),
        copies: Arc::new(Semaphore::new(MAX_COPIES_IN_FLIGHT)),
        subjects: HashMap::new(),
        id_prefix: format!("{node}-{:x}", epoch()),
        next_id: 0,
    };
    tokio::spawn(sender.run(received));
    Forwarder {
        queue,
        queued_qos0,
        sent,
        unfinished,
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
    unfinished: Arc<AtomicUsize>,
    sent: Arc<Notify>,
    copies: Arc<Semaphore>,
    /// Each destination node's subjects, made once.
    subjects: HashMap<Arc<str>, NodeSubjects>,
    id_prefix: String,
    next_id: u64,
}

/// Where a node receives QoS 0 messages and where its stream takes QoS 1/2 copies.
struct NodeSubjects {
    direct: Subject,
    queued: Subject,
}

/// One QoS 1/2 copy on its way into a node's stream.
struct Copy {
    subject: Subject,
    id: String,
    bytes: Bytes,
}

/// What became of one attempt to send a copy.
enum Sent {
    /// Sent: its acknowledgement from the stream is awaited.
    Awaiting(PublishAckFuture),
    /// Larger than NATS takes: it can never be sent.
    TooLarge,
    /// Not sent (NATS away, the stream missing): to try again.
    Failed,
}

impl Sender {
    /// `node`'s subjects (cheap to clone: one allocation each, made the first time).
    fn subjects(&mut self, node: &Arc<str>) -> &NodeSubjects {
        let names = &self.names;
        self.subjects
            .entry(node.clone())
            .or_insert_with(|| NodeSubjects {
                direct: names.direct(node).into(),
                queued: names.queued(node).into(),
            })
    }

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
                    Outgoing::Retained(message) => {
                        self.retained(&message).await;
                        self.unfinished.fetch_sub(1, Ordering::AcqRel);
                    }
                }
            }
            self.sent.notify_waiters();
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
        let bytes = |groups: &[Box<str>]| {
            if groups.is_empty() {
                plain.clone()
            } else {
                wire::encode(sender, groups, message)
            }
        };
        if message.qos == QoS::AtMostOnce {
            self.queued_qos0.fetch_sub(1, Ordering::Relaxed);
            let max_payload = self.client.max_payload();
            for (node, groups) in &plan.nodes {
                let bytes = bytes(groups);
                if bytes.len() > max_payload {
                    too_large(&message.topic, bytes.len());
                    self.link.stats().dropped_cluster.increment();
                    continue;
                }
                let subject = self.subjects(node).direct.clone();
                match self.client.publish(subject, bytes).await {
                    Ok(()) => self.link.stats().cluster_sent.increment(),
                    Err(e) => {
                        tracing::debug!(error = %e, "cluster: QoS 0 message not sent");
                        self.link.stats().dropped_cluster.increment();
                    }
                }
            }
            self.unfinished.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let mut copies = Vec::with_capacity(plan.nodes.len());
        for (node, groups) in &plan.nodes {
            let Ok(permit) = self.copies.clone().acquire_owned().await else {
                return;
            };
            self.next_id += 1;
            let copy = Copy {
                subject: self.subjects(node).queued.clone(),
                id: format!("{}-{}", self.id_prefix, self.next_id),
                bytes: bytes(groups),
            };
            // The first attempt here, in publish order: each node's stream gets the messages in
            // the order they were published.
            let sent = send_copy(&self.js, &copy, &message.topic).await;
            match sent {
                Sent::TooLarge => self.link.stats().dropped_cluster.increment(),
                // A failed first attempt is retried until it is stored.
                _ => self.link.stats().cluster_sent.increment(),
            }
            copies.push((copy, sent, permit));
        }
        let (js, unfinished) = (self.js.clone(), self.unfinished.clone());
        let topic = message.topic.clone();
        tokio::spawn(async move {
            for (copy, sent, permit) in copies {
                confirm(&js, copy, sent, permit, &topic).await;
            }
            if let Some(ack) = ack {
                ack.release();
            }
            unfinished.fetch_sub(1, Ordering::AcqRel);
        });
    }

    async fn retained(&mut self, message: &Publish) {
        let mut buf = BytesMut::new();
        encode_message(message, &mut buf);
        let key = names::key(&message.topic);
        let value = buf.freeze();
        if value.len() + HEADER_ROOM > self.client.max_payload() {
            too_large(&message.topic, value.len());
            return;
        }
        let mut wait = RETRY;
        while let Err(e) = self.retained.put(&key, value.clone()).await {
            tracing::warn!(topic = %message.topic, error = %e, "cluster: retained message not stored; retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
    }
}

/// Logs a message that cannot cross to the other nodes: NATS takes no message this large.
fn too_large(topic: &str, size: usize) {
    tracing::warn!(
        topic,
        size,
        "cluster: message larger than NATS's max_payload; delivered on this node only"
    );
}

/// Sends one copy into its stream.
async fn send_copy(js: &jetstream::Context, copy: &Copy, topic: &str) -> Sent {
    let publish = PublishMessage::build()
        .payload(copy.bytes.clone())
        .message_id(copy.id.as_str());
    match js.send_publish(copy.subject.clone(), publish).await {
        Ok(ack) => Sent::Awaiting(ack),
        Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
            too_large(topic, copy.bytes.len());
            Sent::TooLarge
        }
        Err(e) => {
            tracing::debug!(subject = %copy.subject, error = %e, "cluster: QoS 1/2 copy not sent");
            Sent::Failed
        }
    }
}

/// Waits until `copy` is stored in its stream, sending it again (same message id: stored
/// once) after a failure, with growing pauses; then gives its room back.
async fn confirm(
    js: &jetstream::Context,
    copy: Copy,
    mut sent: Sent,
    permit: OwnedSemaphorePermit,
    topic: &str,
) {
    let mut wait = RETRY;
    loop {
        match sent {
            Sent::Awaiting(ack) => match ack.await {
                Ok(_) => break,
                Err(e) => {
                    tracing::debug!(subject = %copy.subject, error = %e, "cluster: QoS 1/2 copy not confirmed; sending again");
                }
            },
            Sent::TooLarge => break,
            Sent::Failed => {}
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RETRY_MAX);
        sent = send_copy(js, &copy, topic).await;
    }
    drop(permit);
}
