//! Messages stranded in a gone node's stream: QoS 1/2 copies other nodes forwarded to it (and
//! acknowledged to their publishers) that it never routed. A node continuing its sessions reads
//! them once its own interest in their subscriptions is written (so that other nodes send it
//! what comes next), without taking them from the stream, and routes them to those sessions.

use std::collections::HashSet;
use std::sync::Arc;

use amqtt_core::cluster::ClusterLink;
use async_nats::jetstream;
use futures_util::StreamExt;

use crate::names::Names;
use crate::wire;

/// The most messages read from a gone node's stream at once.
const MAX_READ: u64 = 1_000_000;

/// Reads in flight at once.
const READS_IN_FLIGHT: usize = 64;

/// Routes the messages in `node`'s stream to the sessions of `clients` (continued here), in
/// stream order; returns how many were read. A stream that cannot be read gives none (logged).
pub(crate) async fn rescue(
    js: &jetstream::Context,
    names: &Names,
    node: &str,
    clients: Arc<HashSet<Box<str>>>,
    link: &ClusterLink,
) -> u64 {
    let mut stream = match js.get_stream(names.stream(node)).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::debug!(node, error = %e, "cluster: no stream of the gone node to read");
            return 0;
        }
    };
    let state = match stream.info().await {
        Ok(info) => info.state.clone(),
        Err(e) => {
            tracing::warn!(node, error = %e, "cluster: the gone node's stream cannot be read");
            return 0;
        }
    };
    if state.messages == 0 {
        return 0;
    }
    let last = state.last_sequence.min(state.first_sequence + MAX_READ - 1);
    if last < state.last_sequence {
        tracing::warn!(
            node,
            left = state.last_sequence - last,
            "cluster: the gone node's stream holds more than is read"
        );
    }
    let stream = &stream;
    let mut reads = futures_util::stream::iter(state.first_sequence..=last)
        .map(|sequence| async move { stream.get_raw_message(sequence).await })
        .buffered(READS_IN_FLIGHT);
    let mut read = 0;
    while let Some(message) = reads.next().await {
        // A sequence the node acknowledged (or a retry deduplicated) is gone: skipped.
        let Ok(message) = message else { continue };
        match wire::decode(message.payload) {
            Ok((origin, message)) => {
                read += 1;
                link.deliver_stranded(clients.clone(), origin.sender, message)
                    .await;
            }
            Err(e) => tracing::debug!(node, error = %e, "cluster: stranded message skipped"),
        }
    }
    read
}
