//! Retained messages across the cluster: every node writes the ones set on it into the
//! retained bucket (key: the topic's key, value: the message as a PUBLISH, an empty payload
//! for a cleared one) and applies every entry of the bucket, its own included, in the
//! bucket's order, so all nodes end with the last one written.

use std::time::Duration;

use amqtt_core::cluster::{ClusterLink, decode_message};
use async_nats::jetstream::kv::{Operation, Store};
use futures_util::StreamExt;

/// Applies the bucket's retained messages to this node: all of them at first, then each change.
pub(crate) async fn watch(bucket: Store, link: ClusterLink) {
    loop {
        match bucket.watch_with_history(">").await {
            Ok(mut entries) => loop {
                let entry = tokio::select! {
                    entry = entries.next() => entry,
                    () = link.stopping() => return,
                };
                let entry = match entry {
                    Some(Ok(entry)) => entry,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "cluster: retained-message watch failed");
                        break;
                    }
                    None => break,
                };
                if entry.operation != Operation::Put {
                    continue;
                }
                match decode_message(entry.value) {
                    Ok(message) => link.retain(&message),
                    Err(e) => {
                        tracing::warn!(key = %entry.key, error = %e, "cluster: retained message skipped")
                    }
                }
            },
            Err(e) => tracing::warn!(error = %e, "cluster: cannot watch the retained bucket"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
