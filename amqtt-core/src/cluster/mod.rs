//! The cluster's interface: what the broker tells a cluster of brokers ([`Cluster`]) and what
//! a cluster does to the broker it is part of ([`ClusterLink`]).
//!
//! A broker is generic over its cluster, `Broker<P, S, C>`, as it is over its plugins and its
//! store. `()` is no cluster: `C::ENABLED` is `false`, so every call site compiles away and a
//! single-node broker carries none of it. The NATS JetStream implementation lives in the
//! `amqtt-cluster` crate; `Option<C>` is a cluster that is on only when the configuration has a
//! top-level `cluster:` section.

mod handoff;
mod link;

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::codec::Publish;
pub use handoff::{Handoff, WireError, decode_message, encode_message};
pub use link::{ClusterLink, Delivered, HeldAck, Interest, InterestChange, RemoteOrigin};

/// Why a cluster cannot start, or cannot admit a client now.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// The `cluster:` section names something unusable.
    #[error("{0}")]
    Config(String),
    /// The cluster's engine (NATS) refused or could not be reached.
    #[error("{0}")]
    Unavailable(String),
}

/// How many other nodes take a message, as far as this node knows: none, or some.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// No other node has a matching subscription: nothing crosses the network.
    Local,
    /// At least one other node has a matching subscription.
    Remote,
}

/// A cluster of brokers this one is a node of.
///
/// The per-message methods ([`Cluster::reach`], [`Cluster::forward`]) run on the publisher's
/// task and must not block: an implementation queues the work for tasks of its own.
pub trait Cluster: Sized + Send + Sync + 'static {
    /// Whether this is a cluster at all (`false` for `()`): the broker tests this constant
    /// before every call, so a broker without a cluster compiles none of them.
    const ENABLED: bool;
    /// Its configuration, the top-level `cluster:` section.
    type Config: DeserializeOwned + Serialize + Default + Send;

    /// Joins the cluster `config` describes (`None`: the configuration has no `cluster:`
    /// section); `link` is how the cluster reaches this broker.
    fn open(
        config: Option<Self::Config>,
        link: ClusterLink,
    ) -> impl Future<Output = Result<Self, ClusterError>> + Send;

    /// Whether another node wants a message published on `topic`.
    fn reach(&self, topic: &str) -> Reach;

    /// Sends a message published on this node to the other nodes that want it. For a QoS 1/2
    /// message `ack` is the publisher's acknowledgement, held until every node it went to has
    /// it durably ([`HeldAck::release`]).
    fn forward(&self, sender: &str, message: &Publish, ack: Option<HeldAck>);

    /// A retained message was set (or, with an empty payload, cleared) on this node.
    fn retain(&self, message: &Publish);

    /// Makes this node the owner of `client_id` before a connection attaches to its session:
    /// a connection of the same client on another node is closed, and that node's session of
    /// it, when the client keeps one, comes back ([`Handoff`]) to be resumed here. `Err` when
    /// ownership cannot be settled (the cluster's engine is unreachable): the client is refused.
    fn claim(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<Handoff>, ClusterError>> + Send;

    /// Leaves the cluster: queued work is flushed, this node's interest withdrawn.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}

/// No cluster.
impl Cluster for () {
    const ENABLED: bool = false;
    type Config = ();
    async fn open(_: Option<()>, _: ClusterLink) -> Result<(), ClusterError> {
        Ok(())
    }
    fn reach(&self, _: &str) -> Reach {
        Reach::Local
    }
    fn forward(&self, _: &str, _: &Publish, _: Option<HeldAck>) {}
    fn retain(&self, _: &Publish) {}
    async fn claim(&self, _: &str) -> Result<Option<Handoff>, ClusterError> {
        Ok(None)
    }
    async fn shutdown(&self) {}
}

/// A cluster that is on when the configuration has a `cluster:` section.
impl<C: Cluster> Cluster for Option<C> {
    const ENABLED: bool = C::ENABLED;
    type Config = C::Config;
    async fn open(config: Option<C::Config>, link: ClusterLink) -> Result<Option<C>, ClusterError> {
        match config {
            Some(config) => Ok(Some(C::open(Some(config), link).await?)),
            None => Ok(None),
        }
    }
    #[inline]
    fn reach(&self, topic: &str) -> Reach {
        match self {
            Some(cluster) => cluster.reach(topic),
            None => Reach::Local,
        }
    }
    fn forward(&self, sender: &str, message: &Publish, ack: Option<HeldAck>) {
        if let Some(cluster) = self {
            cluster.forward(sender, message, ack);
        }
    }
    fn retain(&self, message: &Publish) {
        if let Some(cluster) = self {
            cluster.retain(message);
        }
    }
    async fn claim(&self, client_id: &str) -> Result<Option<Handoff>, ClusterError> {
        match self {
            Some(cluster) => cluster.claim(client_id).await,
            None => Ok(None),
        }
    }
    async fn shutdown(&self) {
        if let Some(cluster) = self {
            cluster.shutdown().await;
        }
    }
}
