//! Retained messages across the cluster: every node writes the ones set on it into the
//! retained bucket (key: the topic's key, value: the message as a PUBLISH, an empty payload
//! for a cleared one) and applies every entry of the bucket, its own included, in the
//! bucket's order, so all nodes end with the last one written.

use amqtt_core::cluster::{ClusterLink, decode_message};
use async_nats::jetstream::kv::{Operation, Store};

use crate::tasks::watch_bucket;

/// Applies the bucket's retained messages to this node: all of them at first, then each change.
pub(crate) async fn watch(bucket: Store, link: ClusterLink) {
    let apply = link.clone();
    watch_bucket(bucket, "retained", link, |entry| {
        if entry.operation != Operation::Put {
            return;
        }
        match decode_message(entry.value) {
            Ok(message) => apply.retain(&message),
            Err(e) => {
                tracing::warn!(key = %entry.key, error = %e, "cluster: retained message skipped")
            }
        }
    })
    .await;
}
