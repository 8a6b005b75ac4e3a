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
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::codec::Publish;
use crate::store::StoreOp;
pub use handoff::{
    Handoff, WireError, decode_message, decode_session, decode_stored_message, decode_subscription,
    encode_message, encode_session, encode_stored_message, encode_subscription,
};
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

/// A cluster of brokers this one is a node of.
///
/// The per-message methods ([`Cluster::plan`], [`Cluster::forward`]) run on the publisher's
/// task and must not block: an implementation queues the work for tasks of its own.
pub trait Cluster: Sized + Send + Sync + 'static {
    /// Whether this is a cluster at all (`false` for `()`): the broker tests this constant
    /// before every call, so a broker without a cluster compiles none of them.
    const ENABLED: bool;
    /// Its configuration, the top-level `cluster:` section.
    type Config: DeserializeOwned + Serialize + Default + Send;

    /// Checks a configuration without joining (names, numbers): what `open` would refuse before
    /// it connects anywhere. Run by `Broker::check` (`amqtt --check-config`) and `Broker::bind`.
    fn check(_config: &Self::Config) -> Result<(), ClusterError> {
        Ok(())
    }

    /// Joins the cluster `config` describes (`None`: the configuration has no `cluster:`
    /// section); `link` is how the cluster reaches this broker.
    fn open(
        config: Option<Self::Config>,
        link: ClusterLink,
    ) -> impl Future<Output = Result<Self, ClusterError>> + Send;

    /// Where a message published here goes besides this node, decided before it is routed here.
    type Plan: Send;

    /// The other nodes a message published on `topic` goes to, and which shared-subscription
    /// groups they deliver it to instead of this node; `None` when no other node takes it
    /// (nothing crosses the network).
    fn plan(&self, topic: &str) -> Option<Self::Plan>;

    /// The groups (`$share/<group>/<filter>`) whose members on other nodes get the message
    /// under `plan`: this node's members of them do not.
    fn elsewhere(plan: &Self::Plan) -> &[Box<str>];

    /// Sends a message published on this node as `plan` says. For a QoS 1/2 message `ack` is
    /// the publisher's acknowledgement, held until every node it went to has it durably
    /// ([`HeldAck::release`]). Returns whether messages for other nodes queue faster than
    /// they leave: a publisher that can wait then waits for [`Cluster::relieved`] before it is
    /// read again, as for a congested subscriber.
    fn forward(
        &self,
        sender: &str,
        message: &Publish,
        plan: Self::Plan,
        ack: Option<HeldAck>,
    ) -> bool;

    /// Completes once messages for other nodes no longer queue faster than they leave, or
    /// after `timeout` (then new ones past the queue's bound are dropped and counted).
    fn relieved(&self, timeout: Duration) -> impl Future<Output = ()> + Send;

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

    /// The session `claim` returned for `client_id` has been adopted here and committed to
    /// this node's [`SessionMirror`]: what the cluster kept of it for its previous node can go.
    fn adopted(&self, _client_id: &str) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Where this node's persistent sessions are kept for other nodes to continue them.
    type Mirror: SessionMirror;

    /// This node's [`SessionMirror`], taken once at start by the thread that commits the
    /// journal; `None` when sessions are not kept in the cluster.
    fn mirror(&self) -> Option<Self::Mirror>;

    /// Leaves the cluster: queued work is flushed, this node's interest withdrawn.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}

/// A copy of this node's persistent sessions kept by the cluster, so that another node can
/// continue them when this one is gone: the journal's batches are committed to it after the
/// store (or alone, on a node without a store), and acknowledgements held for durability wait
/// for it too.
pub trait SessionMirror: Send + 'static {
    /// Applies `batch` (journaled changes, in order; retained messages are the cluster's
    /// business elsewhere) and returns once the cluster holds it durably. Runs on the journal's
    /// thread, which it may block.
    fn commit(&mut self, batch: &[StoreOp]) -> Result<(), ClusterError>;
}

/// No mirror.
impl SessionMirror for () {
    fn commit(&mut self, _: &[StoreOp]) -> Result<(), ClusterError> {
        Ok(())
    }
}

/// No cluster.
impl Cluster for () {
    const ENABLED: bool = false;
    type Config = ();
    async fn open(_: Option<()>, _: ClusterLink) -> Result<(), ClusterError> {
        Ok(())
    }
    type Plan = ();
    fn plan(&self, _: &str) -> Option<()> {
        None
    }
    fn elsewhere((): &()) -> &[Box<str>] {
        &[]
    }
    fn forward(&self, _: &str, _: &Publish, (): (), _: Option<HeldAck>) -> bool {
        false
    }
    async fn relieved(&self, _: Duration) {}
    fn retain(&self, _: &Publish) {}
    async fn claim(&self, _: &str) -> Result<Option<Handoff>, ClusterError> {
        Ok(None)
    }
    type Mirror = ();
    fn mirror(&self) -> Option<()> {
        None
    }
    async fn shutdown(&self) {}
}

/// A cluster that is on when the configuration has a `cluster:` section.
impl<C: Cluster> Cluster for Option<C> {
    const ENABLED: bool = C::ENABLED;
    type Config = C::Config;
    fn check(config: &C::Config) -> Result<(), ClusterError> {
        C::check(config)
    }
    async fn open(config: Option<C::Config>, link: ClusterLink) -> Result<Option<C>, ClusterError> {
        match config {
            Some(config) => Ok(Some(C::open(Some(config), link).await?)),
            None => Ok(None),
        }
    }
    type Plan = C::Plan;
    #[inline]
    fn plan(&self, topic: &str) -> Option<C::Plan> {
        self.as_ref()?.plan(topic)
    }
    fn elsewhere(plan: &C::Plan) -> &[Box<str>] {
        C::elsewhere(plan)
    }
    fn forward(
        &self,
        sender: &str,
        message: &Publish,
        plan: C::Plan,
        ack: Option<HeldAck>,
    ) -> bool {
        match self {
            Some(cluster) => cluster.forward(sender, message, plan, ack),
            None => false,
        }
    }
    async fn relieved(&self, timeout: Duration) {
        if let Some(cluster) = self {
            cluster.relieved(timeout).await;
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
    async fn adopted(&self, client_id: &str) {
        if let Some(cluster) = self {
            cluster.adopted(client_id).await;
        }
    }
    type Mirror = C::Mirror;
    fn mirror(&self) -> Option<C::Mirror> {
        self.as_ref()?.mirror()
    }
    async fn shutdown(&self) {
        if let Some(cluster) = self {
            cluster.shutdown().await;
        }
    }
}
