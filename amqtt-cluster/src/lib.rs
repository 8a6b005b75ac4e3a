//! A cluster of amqtt brokers over NATS JetStream.
//!
//! Brokers started with the same `cluster:` section (`nats:` the NATS server's URL, `name:` the
//! cluster's name, `node:` this node's id) behave as one broker: a message published on any
//! node reaches the matching subscribers on every node, retained messages are seen from every
//! node, and a client id connected on one node is closed there when it connects to another.
//! Only messages some other node has a subscriber for cross the network; local traffic never
//! waits for NATS. See the README's "Cluster" section for the guarantees.
//!
//! ```yaml
//! cluster:
//!   nats: nats://127.0.0.1:4222
//!   name: plant-1
//!   node: a
//! ```
//!
//! [`NatsCluster`] is a [`Cluster`]: `Broker<P, S, Option<NatsCluster>>` is a broker that joins
//! a cluster when its configuration has the section.

mod config;
mod forward;
mod inbound;
mod interest;
mod leases;
mod mirror;
mod names;
mod owners;
mod plan;
mod retained;
mod sessions;
mod stranded;
mod tasks;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use amqtt_core::cluster::{Cluster, ClusterError, ClusterLink, Handoff, HeldAck};
use amqtt_core::codec::Publish;
use async_nats::jetstream::{self, kv, stream};

pub use config::ClusterConfig;
use forward::{Forwarder, Outgoing};
use interest::RemoteInterest;
pub use mirror::NatsMirror;
use names::Names;
use owners::Owners;
pub use plan::Plan;
use plan::Planner;
use sessions::SessionKeeper;

/// How long joining waits for the NATS server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long shutdown waits for the messages still on their way to other nodes.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(3);

/// A node of a cluster of brokers over NATS JetStream.
pub struct NatsCluster {
    remote: Arc<RemoteInterest>,
    planner: Planner,
    link: ClusterLink,
    forwarder: Forwarder,
    owners: Arc<Owners>,
    sessions: SessionKeeper,
    /// The sessions taken back at start, with their messages' entries, for the mirror.
    restored: std::sync::Mutex<Vec<(String, Vec<u64>)>>,
    client: async_nats::Client,
    node: String,
}

impl Cluster for NatsCluster {
    const ENABLED: bool = true;
    type Config = ClusterConfig;

    fn check(config: &ClusterConfig) -> Result<(), ClusterError> {
        config.check().map(drop)
    }

    async fn open(config: Option<ClusterConfig>, link: ClusterLink) -> Result<Self, ClusterError> {
        let config = config.unwrap_or_default();
        let timings = config.check()?;
        let names = Names::new(&config.name);
        let node = config.node.clone();
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            ClusterError::Unavailable(format!("{what} (NATS at {}): {e}", config.nats))
        };
        let client = async_nats::ConnectOptions::new()
            .name(format!("amqtt {}/{node}", config.name))
            .connection_timeout(CONNECT_TIMEOUT)
            .max_reconnects(None)
            .event_callback(|event| async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("cluster: connected to NATS"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("cluster: disconnected from NATS; reconnecting")
                    }
                    other => tracing::debug!(event = %other, "cluster: NATS event"),
                }
            })
            .connect(&config.nats)
            .await
            .map_err(|e| unavailable("cannot connect", &e))?;
        let js = jetstream::new(client.clone());
        let interest_bucket = bucket(&js, &names.bucket("interest"))
            .await
            .map_err(|e| unavailable("cannot open the interest bucket", &e))?;
        let retained_bucket = bucket(&js, &names.bucket("retained"))
            .await
            .map_err(|e| unavailable("cannot open the retained bucket", &e))?;
        let owners_bucket = bucket(&js, &names.bucket("owners"))
            .await
            .map_err(|e| unavailable("cannot open the owners bucket", &e))?;
        let sessions = SessionKeeper::open(&js, &names.bucket("sessions"))
            .await
            .map_err(|e| unavailable("cannot open the sessions bucket", &e))?;
        let nodes_bucket = bucket(&js, &names.bucket("nodes"))
            .await
            .map_err(|e| unavailable("cannot open the nodes bucket", &e))?;
        let owners = Arc::new(Owners {
            bucket: owners_bucket,
            client: client.clone(),
            names: names.clone(),
            node: node.clone(),
            takeover_timeout: timings.takeover_timeout,
            sessions: sessions.clone(),
            interest: interest_bucket.clone(),
            js: js.clone(),
            moving: Default::default(),
        });
        // Before this node's stream is read: what waits there for its sessions finds them.
        let restored = owners
            .restore_own(&link)
            .await
            .map_err(|e| unavailable("cannot read this node's sessions", &e))?;
        inbound::receive_queued(&js, &names, &node, link.clone())
            .await
            .map_err(|e| unavailable("cannot receive", &e))?;
        inbound::receive_direct(&client, names.direct(&node), link.clone())
            .await
            .map_err(|e| unavailable("cannot subscribe", &e))?;
        owners::serve_control(client.clone(), names.control(&node), link.clone())
            .await
            .map_err(|e| unavailable("cannot subscribe", &e))?;
        let remote = Arc::new(RemoteInterest::default());
        tokio::spawn(interest::watch_remote(
            interest_bucket.clone(),
            node.clone(),
            remote.clone(),
            link.clone(),
        ));
        tokio::spawn(interest::publish_own(
            interest_bucket.clone(),
            node.clone(),
            link.clone(),
        ));
        tokio::spawn(retained::watch(retained_bucket.clone(), link.clone()));
        leases::start(nodes_bucket, timings.lease, owners.clone(), link.clone())
            .await
            .map_err(|e| unavailable("cannot join", &e))?;
        let forwarder = forward::start(
            client.clone(),
            js,
            retained_bucket,
            names.clone(),
            &node,
            link.clone(),
        );
        tracing::info!(cluster = %config.name, node = %node, nats = %config.nats, sessions = restored.len(), "cluster: joined");
        Ok(NatsCluster {
            remote,
            planner: Planner::default(),
            link,
            forwarder,
            owners,
            sessions,
            restored: std::sync::Mutex::new(restored),
            client,
            node,
        })
    }

    type Plan = Plan;

    #[inline]
    fn plan(&self, topic: &str) -> Option<Plan> {
        self.planner.plan(topic, &self.remote, self.link.interest())
    }

    fn elsewhere(plan: &Plan) -> &[Box<str>] {
        &plan.elsewhere
    }

    fn forward(&self, sender: &str, message: &Publish, plan: Plan, ack: Option<HeldAck>) -> bool {
        self.forwarder.send(Outgoing::Message {
            sender: sender.into(),
            message: message.clone(),
            plan,
            ack,
        })
    }

    async fn relieved(&self, timeout: Duration) {
        self.forwarder.relieved(timeout).await;
    }

    fn retain(&self, message: &Publish) {
        self.forwarder.send(Outgoing::Retained(message.clone()));
    }

    async fn claim(&self, client_id: &str) -> Result<Option<Handoff>, ClusterError> {
        // Refused at once rather than after a request's timeout.
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(ClusterError::Unavailable(
                "not connected to NATS: client-id ownership cannot be settled".into(),
            ));
        }
        self.owners.claim(client_id).await
    }

    async fn adopted(&self, client_id: &str) {
        self.owners.adopted(client_id, &self.link).await;
    }

    type Mirror = NatsMirror;

    fn mirror(&self) -> Option<NatsMirror> {
        let restored =
            std::mem::take(&mut *self.restored.lock().unwrap_or_else(|e| e.into_inner()));
        Some(NatsMirror::new(self.sessions.clone(), &self.node, restored))
    }

    async fn shutdown(&self) {
        let left = self.forwarder.flush(SHUTDOWN_FLUSH).await;
        if left > 0 {
            tracing::warn!(
                left,
                "cluster: messages for other nodes not sent before shutdown"
            );
        }
        let dropped = self.link.stats().dropped_cluster.get();
        if dropped > 0 {
            tracing::info!(
                dropped,
                "cluster: QoS 0 messages for other nodes dropped (more queued than could be sent)"
            );
        }
        let _ = self.client.flush().await;
    }
}

/// The key-value bucket `name`, created if it does not exist. Created as its stream directly:
/// `create_key_value` asks the server for account details that NATS 2.9 does not give.
pub(crate) async fn bucket(js: &jetstream::Context, name: &str) -> Result<kv::Store, String> {
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    let created = js
        .create_stream(stream::Config {
            name: format!("KV_{name}"),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            storage: stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await;
    if let Err(e) = created {
        // Another node may have created it first.
        tracing::debug!(bucket = name, error = %e, "cluster: bucket not created here");
    }
    js.get_key_value(name).await.map_err(|e| e.to_string())
}
