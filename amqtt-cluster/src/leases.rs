//! Which nodes are members: each node holds a lease in the nodes bucket (key: its id, value
//! `up`), renewed five times a lease with compare and set on its own last revision. A node
//! whose lease went unrenewed for a whole lease is taken for gone by the first node that marks
//! it so (compare and set, value `gone <by>`): that node continues its sessions and withdraws
//! its interest, so that messages are no longer sent to it. A node that finds itself marked gone (it was cut off for longer
//! than its lease, and its sessions now live elsewhere) releases its sessions and connections,
//! whose clients reconnect and find their sessions where they went, and takes a new lease.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amqtt_core::cluster::ClusterLink;
use async_nats::jetstream::kv::{Operation, Store, UpdateErrorKind};
use bytes::Bytes;
use tokio::time::Instant;

use crate::owners::Owners;
use crate::tasks::{or_stop, watch_bucket};

/// Renewals per lease.
const RENEWALS: u32 = 5;

/// The value of a live node's key.
const UP: &[u8] = b"up";

/// What this node knows of another's lease.
struct Seen {
    /// When its key last changed, as seen here.
    at: Instant,
    /// Its key's revision then.
    revision: u64,
    /// Whether it is up (not marked gone).
    up: bool,
}

/// Takes this node's lease, then keeps it renewed, watches the others' and continues the
/// sessions of those that go, each in a task of its own until the broker stops.
pub(crate) async fn start(
    bucket: Store,
    lease: Duration,
    owners: Arc<Owners>,
    link: ClusterLink,
) -> Result<(), String> {
    let node = owners.node.clone();
    let revision = take_lease(&bucket, &node).await?;
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let watched = seen.clone();
    let own = node.clone();
    tokio::spawn(watch_bucket(
        bucket.clone(),
        "nodes",
        link.clone(),
        move |entry| {
            if entry.key == own {
                return;
            }
            let up = entry.operation == Operation::Put && &entry.value[..] == UP;
            let mut seen = watched.lock().unwrap_or_else(|e| e.into_inner());
            if entry.operation == Operation::Put {
                let at = Instant::now();
                let revision = entry.revision;
                seen.insert(entry.key, Seen { at, revision, up });
            } else {
                seen.remove(&entry.key);
            }
        },
    ));
    let renewed = Arc::new(Renewed::default());
    tokio::spawn(renew(
        bucket.clone(),
        node,
        revision,
        lease,
        renewed.clone(),
        link.clone(),
    ));
    tokio::spawn(look_for_gone(bucket, lease, seen, renewed, owners, link));
    Ok(())
}

/// How this node's own renewals go: a node that could not reach NATS could not see the
/// others renew either, so it judges them only a whole lease after it is back.
struct Renewed {
    /// Whether the last renewal failed for want of NATS.
    failing: AtomicBool,
    /// Since when the others' silence counts: this node's start, or its last renewal after
    /// failing ones.
    judged_from: Mutex<Instant>,
}

impl Default for Renewed {
    fn default() -> Self {
        Renewed {
            failing: AtomicBool::new(false),
            judged_from: Mutex::new(Instant::now()),
        }
    }
}

impl Renewed {
    /// Notes a renewal that reached NATS (`true`) or not.
    fn record(&self, reached: bool) {
        let was_failing = self.failing.swap(!reached, Ordering::Relaxed);
        if reached && was_failing {
            *self.judged_from.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
    }

    /// Whether another node last heard from `at` has been silent for longer than `lease`.
    fn silent_past(&self, at: Instant, lease: Duration) -> bool {
        let from = *self.judged_from.lock().unwrap_or_else(|e| e.into_inner());
        !self.failing.load(Ordering::Relaxed) && at.max(from).elapsed() > lease
    }
}

/// Writes this node's key as up; returns its revision.
async fn take_lease(bucket: &Store, node: &str) -> Result<u64, String> {
    bucket
        .put(node, Bytes::from_static(UP))
        .await
        .map_err(|e| format!("cannot take this node's lease: {e}"))
}

/// Renews this node's lease until the broker stops; releases everything if it was lost.
async fn renew(
    bucket: Store,
    node: String,
    mut revision: u64,
    lease: Duration,
    renewed: Arc<Renewed>,
    link: ClusterLink,
) {
    loop {
        if or_stop(&link, tokio::time::sleep(lease / RENEWALS))
            .await
            .is_none()
        {
            return;
        }
        let renewal = bucket.update(&node, Bytes::from_static(UP), revision).await;
        let error = match renewal {
            Ok(next) => {
                revision = next;
                renewed.record(true);
                continue;
            }
            Err(e) => e,
        };
        renewed.record(error.kind() == UpdateErrorKind::WrongLastRevision);
        if error.kind() != UpdateErrorKind::WrongLastRevision {
            // NATS away: renewed once it is back, if the lease still holds.
            tracing::debug!(error = %error, "cluster: lease not renewed");
            continue;
        }
        match bucket.entry(&node).await {
            // A renewal whose answer was lost: still ours.
            Ok(Some(entry)) if &entry.value[..] == UP => revision = entry.revision,
            Ok(_) => {
                tracing::warn!(
                    "cluster: this node was taken for gone (cut off for longer than its lease); \
                     its sessions continue on other nodes, its connections are closed"
                );
                let released = link.release_all().await;
                tracing::info!(released, "cluster: sessions released; taking a new lease");
                match take_lease(&bucket, &node).await {
                    Ok(next) => revision = next,
                    Err(e) => tracing::warn!(error = %e, "cluster: retrying"),
                }
            }
            Err(e) => tracing::debug!(error = %e, "cluster: lease not read"),
        }
    }
}

/// Takes for gone each node whose lease went unrenewed for a whole lease, and continues its
/// sessions when this node is the one that marked it.
async fn look_for_gone(
    bucket: Store,
    lease: Duration,
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    renewed: Arc<Renewed>,
    owners: Arc<Owners>,
    link: ClusterLink,
) {
    let gone_by = Bytes::from(format!("gone {}", owners.node));
    loop {
        if or_stop(&link, tokio::time::sleep(lease / RENEWALS))
            .await
            .is_none()
        {
            return;
        }
        let silent: Vec<(String, u64)> = seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, seen)| seen.up && renewed.silent_past(seen.at, lease))
            .map(|(node, seen)| (node.clone(), seen.revision))
            .collect();
        for (node, revision) in silent {
            // Fails when the node renewed meanwhile or another node marked it first.
            if bucket
                .update(&node, gone_by.clone(), revision)
                .await
                .is_err()
            {
                continue;
            }
            tracing::warn!(node, "cluster: node taken for gone (its lease ran out)");
            if let Err(e) = owners.continue_node(&node, &link).await {
                tracing::error!(node, error = %e, "cluster: the gone node's sessions not continued");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn others_are_judged_only_a_lease_after_this_node_reaches_nats_again() {
        let lease = Duration::from_secs(1);
        let long_ago = Instant::now() - Duration::from_secs(100);
        let renewed = Renewed::default();
        assert!(
            !renewed.silent_past(long_ago, lease),
            "judged before a lease passed"
        );
        *renewed.judged_from.lock().expect("lock") = long_ago;
        assert!(renewed.silent_past(long_ago, lease));
        renewed.record(false);
        assert!(
            !renewed.silent_past(long_ago, lease),
            "judged while cut off"
        );
        renewed.record(true);
        assert!(
            !renewed.silent_past(long_ago, lease),
            "judged right after coming back"
        );
    }
}
