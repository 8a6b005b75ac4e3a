//! Which node a client id is connected to: the owners bucket maps each client id's key to the
//! node that last admitted it. A node that admits a client writes itself there (compare and
//! set on the entry's revision, so two nodes admitting the same client at once both learn of
//! each other) and asks the previous owner to close its connection; the previous owner answers
//! with the client's persistent session, if it kept one, which this node then continues. A
//! previous owner that does not answer (it is gone) leaves the session as the cluster kept it
//! (`sessions.rs`), with the messages stranded in its stream (`stranded.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amqtt_core::cluster::{ClusterError, ClusterLink, Handoff};
use async_nats::jetstream;
use async_nats::jetstream::kv::{CreateErrorKind, Store, UpdateErrorKind};
use bytes::Bytes;

use crate::interest;
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
    pub(crate) interest: Store,
    /// Clients taken over and not adopted yet.
    pub(crate) moving: Mutex<HashMap<String, Moving>>,
}

/// A client taken over and not adopted yet.
pub(crate) struct Moving {
    /// The node it came from.
    from: String,
    /// Its filters, when its session came from the cluster's copy (the node did not answer).
    filters: Option<Vec<Box<str>>>,
}

/// The filters of `handoff`'s subscriptions.
fn filters_of(handoff: &Handoff) -> Vec<Box<str>> {
    handoff
        .subscriptions()
        .iter()
        .map(|(filter, _)| filter.clone())
        .collect()
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
    /// when it does not answer with one, as the cluster kept it for `node`.
    async fn take_over(
        &self,
        node: &str,
        client_id: &str,
    ) -> Result<Option<Handoff>, ClusterError> {
        let (handoff, kept) = match self.ask_to_release(node, client_id).await {
            Some(handoff) => (handoff, false),
            None => {
                let kept = self.sessions.load(node, client_id).await.map_err(|e| {
                    ClusterError::Unavailable(format!(
                        "the session node {node} kept cannot be read: {e}"
                    ))
                })?;
                let Some(handoff) = kept else {
                    return Ok(None);
                };
                tracing::info!(
                    client_id,
                    node,
                    "cluster: session continued from what the cluster kept of it"
                );
                (handoff, true)
            }
        };
        let moving = Moving {
            from: node.to_owned(),
            filters: kept.then(|| filters_of(&handoff)),
        };
        self.moving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(client_id.to_owned(), moving);
        Ok(Some(handoff))
    }

    /// The session of `client_id` is adopted and kept under this node: what was on its way to
    /// the node it came from, if that node is gone, is routed to it, and the cluster's copy of
    /// it under that node goes.
    pub(crate) async fn adopted(&self, client_id: &str, link: &ClusterLink) {
        let moving = self
            .moving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(client_id);
        let Some(Moving { from, filters }) = moving else {
            return;
        };
        if let Some(filters) = filters {
            let clients = Arc::new(HashSet::from([Box::from(client_id)]));
            self.rescue(&from, &filters, clients, link).await;
        }
        if let Err(e) = self.sessions.forget(&from, client_id).await {
            tracing::warn!(client_id, node = %from, error = %e, "cluster: the copy of a session that moved here not deleted");
        }
    }

    /// Routes to the sessions of `clients`, continued here from `gone`, what was on its way to
    /// `gone` for them: once this node's interest in their `filters` is written, so that other
    /// nodes send what comes next here.
    async fn rescue(
        &self,
        gone: &str,
        filters: &[Box<str>],
        clients: Arc<HashSet<Box<str>>>,
        link: &ClusterLink,
    ) {
        if let Err(e) = interest::add(&self.interest, &self.node, filters).await {
            tracing::warn!(node = gone, error = %e, "cluster: interest of continued sessions not written ahead");
        }
        let read = stranded::rescue(&self.js, &self.names, gone, clients, link).await;
        tracing::debug!(node = gone, read, "cluster: stranded messages routed");
    }

    /// Continues here every session of `gone`, a node taken for gone, that it still owns:
    /// each becomes this node's (compare and set, so a client claimed meanwhile by another node
    /// stays there); then what was on its way to `gone` for them is routed to them and `gone`'s
    /// interest is withdrawn. Returns how many.
    pub(crate) async fn continue_node(
        &self,
        gone: &str,
        link: &ClusterLink,
    ) -> Result<usize, String> {
        let mut taken = Vec::new();
        for handoff in self.sessions.load_node(gone).await? {
            if self.take_from(gone, handoff.client_id()).await? {
                taken.push(handoff);
            }
        }
        let count = taken.len();
        let mut clients = HashSet::new();
        let mut filters = Vec::new();
        for handoff in taken {
            clients.insert(Box::from(handoff.client_id()));
            filters.extend(filters_of(&handoff));
            link.adopt(handoff).await;
        }
        filters.sort_unstable();
        filters.dedup();
        let clients = Arc::new(clients);
        self.rescue(gone, &filters, clients.clone(), link).await;
        interest::withdraw(&self.interest, gone).await?;
        for client_id in clients.iter() {
            if let Err(e) = self.sessions.forget(gone, client_id).await {
                tracing::warn!(client_id = %client_id, node = gone, error = %e, "cluster: the copy of a session continued here not deleted");
            }
        }
        tracing::info!(
            node = gone,
            sessions = count,
            "cluster: sessions of a gone node continued here"
        );
        Ok(count)
    }

    /// Puts back the sessions the cluster kept for this node that it still owns (a restart);
    /// returns each one's client id and its messages' entries. Each is owned anew (compare
    /// and set), so that a node continuing this one's sessions at the same moment
    /// ([`Owners::continue_node`]) gets each or leaves it.
    pub(crate) async fn restore_own(
        &self,
        link: &ClusterLink,
    ) -> Result<Vec<(String, Vec<u64>)>, String> {
        let mut restored = Vec::new();
        for handoff in self.sessions.load_node(&self.node).await? {
            if self.take_from(&self.node, handoff.client_id()).await? {
                let entries = handoff.message_entries().collect();
                restored.push((handoff.client_id().to_owned(), entries));
                link.restore(handoff);
            }
        }
        Ok(restored)
    }

    /// Makes this node the owner of `client_id` if `node` owns it now (compare and set);
    /// returns whether it did.
    async fn take_from(&self, node: &str, client_id: &str) -> Result<bool, String> {
        let key = names::key(client_id);
        let Some(entry) = self.bucket.entry(&key).await.map_err(|e| e.to_string())? else {
            return Ok(false);
        };
        if &entry.value[..] != node.as_bytes() {
            return Ok(false);
        }
        let mine = self.node.clone().into_bytes().into();
        Ok(self.bucket.update(&key, mine, entry.revision).await.is_ok())
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
