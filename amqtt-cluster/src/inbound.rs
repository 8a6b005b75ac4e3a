//! Receiving what other nodes forward to this one: QoS 0 on this node's subject, QoS 1/2 from
//! this node's stream through a durable consumer. A QoS 1/2 message is acknowledged to the
//! stream once this node's subscribers have it, and its store too when the broker has one that
//! holds acknowledgements (`sync: always`): one still unacknowledged when the node stops is
//! delivered again when it comes back.

use std::time::Duration;

use amqtt_core::cluster::{ClusterLink, Delivered};
use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::names::Names;
use crate::tasks::{or_stop, serve_subject};
use crate::wire;

/// QoS 0 messages from other nodes waiting to be routed here.
const DIRECT_QUEUE: usize = 65_536;

/// Messages routed and waiting for their acknowledgement to the stream.
const ACKS_IN_FLIGHT: usize = 4096;

/// The most a node's stream holds of messages it has not routed yet (1 GiB).
const MAX_STREAM_BYTES: i64 = 1 << 30;

/// How long a message may wait routed-but-unacknowledged before the stream sends it again.
/// Long: this node acknowledges every message it was given once routed (routing can wait out
/// congested subscribers), and what a stopped run left unacknowledged comes again at once,
/// since each start makes the consumer anew; a short wait would only send messages twice.
const ACK_WAIT: Duration = Duration::from_secs(300);

/// Subscribes to this node's QoS 0 subject and routes what arrives. Messages are taken from
/// the NATS client as fast as they come into a queue of this node's (a full one drops them,
/// counted, where the client would drop them uncounted), routed from there in order.
pub(crate) async fn receive_direct(
    client: &async_nats::Client,
    subject: String,
    link: ClusterLink,
) -> Result<(), async_nats::SubscribeError> {
    let (queue, mut queued) = mpsc::channel::<Bytes>(DIRECT_QUEUE);
    let counted = link.clone();
    serve_subject(client, subject, link.clone(), move |message| {
        if queue.try_send(message.payload).is_err() {
            counted.stats().cluster_received.increment();
            counted.stats().dropped_cluster.increment();
        }
        std::future::ready(())
    })
    .await?;
    tokio::spawn(async move {
        loop {
            let Some(Some(payload)) = or_stop(&link, queued.recv()).await else {
                return;
            };
            deliver(&link, payload, None).await;
        }
    });
    Ok(())
}

/// Creates this node's stream and its consumer, and routes what the stream holds for it.
pub(crate) async fn receive_queued(
    js: &jetstream::Context,
    names: &Names,
    node: &str,
    link: ClusterLink,
) -> Result<(), String> {
    let stream = js
        .get_or_create_stream(stream::Config {
            name: names.stream(node),
            subjects: vec![names.queued(node)],
            // A message leaves the stream once this node acknowledges it.
            retention: stream::RetentionPolicy::WorkQueue,
            // Full (the node gone, or slower than its publishers for long): new copies are
            // refused, so their publishers' acknowledgements wait and they are held back.
            max_bytes: MAX_STREAM_BYTES,
            discard: stream::DiscardPolicy::New,
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot create this node's stream: {e}"))?;
    // A consumer left by this node's previous run holds the messages it was given and had
    // not acknowledged until their ack wait runs out: a new one gets them at once.
    if let Err(e) = stream.delete_consumer("router").await {
        tracing::debug!(error = %e, "cluster: no consumer of an earlier run to delete");
    }
    let consumer = stream
        .get_or_create_consumer(
            "router",
            consumer::pull::Config {
                durable_name: Some("router".into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: 10_000,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("cannot create this node's consumer: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| format!("cannot read this node's stream: {e}"))?;
    let (routed, to_ack) = mpsc::channel(ACKS_IN_FLIGHT);
    tokio::spawn(acknowledge(to_ack));
    tokio::spawn(async move {
        loop {
            let Some(message) = or_stop(&link, messages.next()).await else {
                return;
            };
            let message = match message {
                Some(Ok(message)) => message,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "cluster: reading this node's stream failed");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
                None => return,
            };
            let (done, delivered) = oneshot::channel();
            deliver(&link, message.payload.clone(), Some(done)).await;
            if routed.send((delivered, message)).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// Acknowledges each message to the stream once it is routed and stored, in order.
async fn acknowledge(
    mut routed: mpsc::Receiver<(oneshot::Receiver<Delivered>, jetstream::Message)>,
) {
    while let Some((delivered, message)) = routed.recv().await {
        let Ok(delivered) = delivered.await else {
            // The broker stopped before routing it: it stays in the stream.
            continue;
        };
        delivered.durable().await;
        if let Err(e) = message.ack().await {
            tracing::debug!(error = %e, "cluster: acknowledgement to the stream failed");
        }
    }
}

/// Hands one forwarded message to the broker.
async fn deliver(link: &ClusterLink, payload: Bytes, routed: Option<oneshot::Sender<Delivered>>) {
    link.stats().cluster_received.increment();
    match wire::decode(payload) {
        Ok((origin, message)) => link.deliver(origin, message, routed).await,
        Err(e) => {
            tracing::warn!(error = %e, "cluster: message from another node skipped");
            if let Some(routed) = routed {
                // Nothing to route: acknowledged, so the stream does not send it again.
                let _ = routed.send(Delivered::default());
            }
        }
    }
}
