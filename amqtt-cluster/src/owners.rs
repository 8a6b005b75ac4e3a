//! Which node a client id is connected to: the owners bucket maps each client id's key to the
//! node that last admitted it. A node that admits a client writes itself there (compare and
//! set on the entry's revision, so two nodes admitting the same client at once both learn of
//! each other) and asks the previous owner to close its connection; the previous owner answers
//! with the client's persistent session, if it kept one, which this node then continues. A
//! previous owner that does not answer (it is gone) leaves the session as the cluster kept it
//! (`sessions.rs`), with the messages stranded in its stream (`stranded.rs`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use amqtt_core::cluster::{ClusterError, ClusterLink, Handoff};
use async_nats::jetstream;
use async_nats::jetstream::kv::{CreateErrorKind, Store, UpdateErrorKind};
use bytes::Bytes;

use crate::names::{self, Names};
use crate::sessions::SessionKeeper;
use crate::stranded;
use crate::tasks::serve_subject;

/// How often a claim retries when other nodes change the entry meanwhile.
const CLAIM_ATTEMPTS: usize = 8;

/// The owners bucket as one node uses it.
pub(crate) struct Owners {
    pub(crate) bucket: Store,
    pub(crate) client: async_nats::Client,
    pub(crate) names: Names,
    pub(crate) node: String,
    pub(crate) takeover_timeout: Duration,
    pub(crate) sessions: SessionKeeper,
    pub(crate) js: jetstream::Context,
    /// Clients taken over and not adopted yet -> the node each came from.
    pub(crate) moving: Mutex<HashMap<String, String>>,
}

impl Owners {
    /// Makes this node the owner of `client_id`; the previous owner, if another node, is asked
    /// to close its connection and hand over its session of the client (a node that does not
    /// answer in time, or is gone, is not waited for).
    pub(crate) async fn claim(&self, client_id: &str) -> Result<Option<Handoff>, ClusterError> {
        let key = names::key(client_id);
        let unavailable = |e: &dyn std::fmt::Display| {
            ClusterError::Unavailable(format!("client-id ownership cannot be settled: {e}"))
        };
        for _ in 0..CLAIM_ATTEMPTS {
            let previous = match self.bucket.entry(&key).await {
                Ok(entry) => entry,
                Err(e) => return Err(unavailable(&e)),
            };
            let value = self.node.clone().into_bytes().into();
            let previous_node = match previous {
                None => match self.bucket.create(&key, value).await {
                    Ok(_) => return Ok(None),
                    Err(e) if e.kind() == CreateErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(unavailable(&e)),
                },
                Some(entry) => {
                    let owner = String::from_utf8_lossy(&entry.value).into_owned();
                    if owner == self.node {
                        return Ok(None);
                    }
                    match self.bucket.update(&key, value, entry.revision).await {
                        Ok(_) => owner,
                        Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue,
                        Err(e) => return Err(unavailable(&e)),
                    }
                }
            };
            return self.take_over(&previous_node, client_id).await;
        }
        Err(ClusterError::Unavailable(format!(
            "client id {client_id:?} is being claimed by other nodes at the same time"
        )))
    }

    /// The session of `client_id` from `node`, its previous owner: handed over by `node`, or,
    /// when it does not answer with one, as the cluster kept it for `node` with the messages
    /// that were on their way to `node` for it.
    async fn take_over(
        &self,
        node: &str,
        client_id: &str,
    ) -> Result<Option<Handoff>, ClusterError> {
        let handoff = match self.ask_to_release(node, client_id).await {
            Some(handoff) => handoff,
            None => {
                let kept = self.sessions.load(node, client_id).await.map_err(|e| {
                    ClusterError::Unavailable(format!(
                        "the session node {node} kept cannot be read: {e}"
                    ))
                })?;
                let Some(mut handoff) = kept else {
                    return Ok(None);
                };
                let stranded =
                    stranded::queue_stranded(&self.js, &self.names, node, &mut handoff).await;
                tracing::info!(
                    client_id,
                    node,
                    stranded,
                    "cluster: session continued from what the cluster kept of it"
                );
                handoff
            }
        };
        self.moving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(client_id.to_owned(), node.to_owned());
        Ok(Some(handoff))
    }

    /// The session of `client_id` is adopted and kept under this node: what the cluster kept
    /// of it under the node it came from goes.
    pub(crate) async fn adopted(&self, client_id: &str) {
        let from = self
            .moving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(client_id);
        let Some(from) = from else { return };
        if let Err(e) = self.sessions.forget(&from, client_id).await {
            tracing::warn!(client_id, node = %from, error = %e, "cluster: the copy of a session that moved here not deleted");
        }
    }

    /// Puts back the sessions the cluster kept for this node that it still owns (a restart);
    /// returns how many.
    pub(crate) async fn restore_own(&self, link: &ClusterLink) -> Result<usize, String> {
        let mut restored = 0;
        for handoff in self.sessions.load_node(&self.node).await? {
            let key = names::key(handoff.client_id());
            let owner = self.bucket.get(&key).await.map_err(|e| e.to_string())?;
            // A session another node took over meanwhile is that node's to delete.
            if owner.as_deref() == Some(self.node.as_bytes()) {
                link.restore(handoff);
                restored += 1;
            }
        }
        Ok(restored)
    }

    /// Asks `node` to close its connection of `client_id`, waiting up to the takeover timeout;
    /// returns the session it hands over.
    async fn ask_to_release(&self, node: &str, client_id: &str) -> Option<Handoff> {
        let request = self.client.request(
            self.names.control(node),
            client_id.as_bytes().to_vec().into(),
        );
        let reply = match tokio::time::timeout(self.takeover_timeout, request).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => {
                tracing::debug!(node, client_id, error = %e, "cluster: previous owner did not answer");
                return None;
            }
            Err(_) => {
                tracing::info!(
                    node,
                    client_id,
                    "cluster: previous owner did not answer in time"
                );
                return None;
            }
        };
        if reply.payload.is_empty() {
            return None;
        }
        match Handoff::decode(reply.payload) {
            Ok(handoff) => Some(handoff),
            Err(e) => {
                tracing::warn!(node, client_id, error = %e, "cluster: the session handed over does not decode");
                None
            }
        }
    }
}

/// Answers the other nodes' requests to close a client's connection here.
pub(crate) async fn serve_control(
    client: async_nats::Client,
    subject: String,
    link: ClusterLink,
) -> Result<(), async_nats::SubscribeError> {
    let (answering, release_with) = (client.clone(), link.clone());
    serve_subject(&client, subject, link, move |request| {
        // Each on its own: a storm of reconnecting clients is not answered one by one.
        tokio::spawn(release(answering.clone(), release_with.clone(), request));
        std::future::ready(())
    })
    .await
}

/// Closes the connection a request names and answers with its session, if persistent (empty:
/// none). A session larger than NATS takes in one message loses its newest queued messages
/// (counted as dropped for a full queue, logged).
async fn release(client: async_nats::Client, link: ClusterLink, request: async_nats::Message) {
    let client_id = String::from_utf8_lossy(&request.payload).into_owned();
    let handoff = link.release_client(&client_id).await;
    let Some(reply) = request.reply else { return };
    let answer = match handoff {
        None => Bytes::new(),
        Some(handoff) => {
            let (bytes, left_out) = handoff.encode_within(client.max_payload());
            if left_out > 0 {
                link.stats().dropped_queue_full.add(left_out as u64);
                tracing::warn!(
                    client_id,
                    left_out,
                    "cluster: session too large to hand over whole; its newest messages dropped"
                );
            }
            bytes
        }
    };
    if let Err(e) = client.publish(reply, answer).await {
        tracing::warn!(client_id, error = %e, "cluster: session not handed over");
    }
}
