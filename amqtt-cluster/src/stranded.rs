//! Messages stranded in a gone node's stream: QoS 1/2 copies other nodes forwarded to it (and
//! acknowledged to their publishers) that it never routed. A node continuing one of its
//! sessions reads them, without taking them from the stream, and queues those the session's
//! subscriptions match.

use amqtt_core::cluster::Handoff;
use async_nats::jetstream;
use futures_util::StreamExt;

use crate::names::Names;
use crate::wire;

/// The most messages read from a gone node's stream for one session.
const MAX_READ: u64 = 100_000;

/// Reads in flight at once.
const READS_IN_FLIGHT: usize = 64;

/// Queues into `handoff` the messages in `node`'s stream that its subscriptions match, in
/// stream order; returns how many. A stream that cannot be read queues none (logged).
pub(crate) async fn queue_stranded(
    js: &jetstream::Context,
    names: &Names,
    node: &str,
    handoff: &mut Handoff,
) -> usize {
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
            "cluster: the gone node's stream holds more than is read for one session"
        );
    }
    let stream = &stream;
    let mut reads = futures_util::stream::iter(state.first_sequence..=last)
        .map(|sequence| async move { stream.get_raw_message(sequence).await })
        .buffered(READS_IN_FLIGHT);
    let mut queued = 0;
    while let Some(read) = reads.next().await {
        // A sequence the node acknowledged (or a retry deduplicated) is gone: skipped.
        let Ok(message) = read else { continue };
        match wire::decode(message.payload) {
            Ok((origin, message)) => {
                if handoff.queue_published(&origin.sender, &message) {
                    queued += 1;
                }
            }
            Err(e) => tracing::debug!(node, error = %e, "cluster: stranded message skipped"),
        }
    }
    queued
}
