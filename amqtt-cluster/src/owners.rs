//! Which node a client id is connected to: the owners bucket maps each client id's key to the
//! node that last admitted it. A node that admits a client writes itself there (compare and
//! set on the entry's revision, so two nodes admitting the same client at once both learn of
//! each other) and asks the previous owner to close its connection.

use std::time::Duration;

use amqtt_core::cluster::{ClusterError, ClusterLink};
use async_nats::jetstream::kv::{CreateErrorKind, Store, UpdateErrorKind};
use futures_util::StreamExt;

use crate::names::{self, Names};

/// How often a claim retries when other nodes change the entry meanwhile.
const CLAIM_ATTEMPTS: usize = 8;

/// The owners bucket as one node uses it.
pub(crate) struct Owners {
    pub(crate) bucket: Store,
    pub(crate) client: async_nats::Client,
    pub(crate) names: Names,
    pub(crate) node: String,
    pub(crate) takeover_timeout: Duration,
}

impl Owners {
    /// Makes this node the owner of `client_id`; the previous owner, if another node, is asked
    /// to close its connection and end its session of the client (a node that does not answer
    /// in time, or is gone, is not waited for).
    pub(crate) async fn claim(&self, client_id: &str) -> Result<(), ClusterError> {
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
                    Ok(_) => return Ok(()),
                    Err(e) if e.kind() == CreateErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(unavailable(&e)),
                },
                Some(entry) => {
                    let owner = String::from_utf8_lossy(&entry.value).into_owned();
                    if owner == self.node {
                        return Ok(());
                    }
                    match self.bucket.update(&key, value, entry.revision).await {
                        Ok(_) => owner,
                        Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue,
                        Err(e) => return Err(unavailable(&e)),
                    }
                }
            };
            if !previous_node.is_empty() {
                self.ask_to_release(&previous_node, client_id).await;
            }
            return Ok(());
        }
        Err(ClusterError::Unavailable(format!(
            "client id {client_id:?} is being claimed by other nodes at the same time"
        )))
    }

    /// Asks `node` to close its connection of `client_id`, waiting up to the takeover timeout.
    async fn ask_to_release(&self, node: &str, client_id: &str) {
        let request = self.client.request(
            self.names.control(node),
            client_id.as_bytes().to_vec().into(),
        );
        match tokio::time::timeout(self.takeover_timeout, request).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(node, client_id, error = %e, "cluster: previous owner did not answer")
            }
            Err(_) => tracing::info!(
                node,
                client_id,
                "cluster: previous owner did not answer in time"
            ),
        }
    }
}

/// Answers the other nodes' requests to close a client's connection here.
pub(crate) async fn serve_control(
    client: async_nats::Client,
    subject: String,
    link: ClusterLink,
) -> Result<(), async_nats::SubscribeError> {
    let mut requests = client.subscribe(subject).await?;
    tokio::spawn(async move {
        loop {
            let request = tokio::select! {
                request = requests.next() => request,
                () = link.stopping() => return,
            };
            let Some(request) = request else { return };
            let client_id = String::from_utf8_lossy(&request.payload).into_owned();
            let had = link.release_client(&client_id).await;
            if let Some(reply) = request.reply {
                let answer: &'static [u8] = if had { b"released" } else { b"none" };
                let _ = client.publish(reply, answer.into()).await;
            }
        }
    });
    Ok(())
}
