//! The broker: listeners, connections, sessions, routing and retained messages.
//!
//! [`Broker`] is generic over its plugins (`P: Plugin`), so every plugin call is monomorphized.
//! See `ARCHITECTURE.md` for the path of a PUBLISH and which lock protects what.

mod check;
mod connection;
mod disconnect;
mod enhanced_auth;
mod expiry;
mod forwarded;
mod framing;
mod handshake;
mod inbound_quota;
mod index;
mod journal;
mod message_expiry;
mod outbox;
mod packet_ids;
mod pending;
mod problem_info;
mod publish_ack;
mod rate;
mod registry;
mod reload;
mod restore;
mod router;
mod routing;
mod session;
mod session_totals;
mod sharded_lock;
mod shared;
mod stats;
mod store_thread;
mod subscriptions;
pub(crate) mod thread_shard;
mod trigger;
mod v5_writer;
mod will_delay;
mod write_batch;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub use check::resolve_address;
pub(crate) use journal::Journal;
pub(crate) use outbox::HeldOutbox;
pub use reload::{ReloadError, Reloaded};
pub use restore::RestoreCounts;
pub(crate) use routing::Routed;
pub(crate) use shared::Core;
pub use stats::{Counter, Gauge, QosCounters, Stats};

use crate::cluster::{Cluster, ClusterError, ClusterLink, Interest};
use crate::config::{BrokerConfig, ListenerConfig, ListenerType};
use crate::plugin::{BrokerContext, BuildPlugins, Hooks, Plugin, PluginError};
use crate::store::{Durability, Store, StoreError};
use crate::transport::{Acceptor, TlsSetupError};
use handshake::{Incoming, Origin};
use rate::{OncePerSecond, TokenBucket};
use shared::Shared;
use store_thread::JournalThread;

/// How long shutdown waits for connections to finish before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the broker cannot start.
#[derive(Debug, Error)]
pub enum BrokerError {
    /// A listener's address could not be bound.
    #[error("listener `{listener}` cannot bind {addr}: {source}")]
    Bind {
        /// The listener's name.
        listener: String,
        /// The address it tried.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A TLS listener's certificate, key or CA files are missing or do not parse.
    #[error("listener `{listener}`: {source}")]
    Tls {
        /// The listener's name.
        listener: String,
        /// What is wrong, naming the file.
        source: TlsSetupError,
    },
    /// The plugin set could not be built from the configuration.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The persistent store could not be opened (its configuration, or a database server that
    /// refuses the connection; a damaged store is moved aside instead).
    #[error("persistent store `{name}`: {source}")]
    Store {
        /// The key of its section under `plugins:`.
        name: String,
        /// What is wrong.
        source: StoreError,
    },
    /// The configuration's `cluster:` section is invalid, or the cluster cannot be joined.
    #[error("cluster: {0}")]
    Cluster(#[from] ClusterError),
    /// The configuration's `cluster:` section does not read as this broker's cluster expects.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// A bound listener.
struct BoundListener {
    config: ListenerConfig,
    /// Its name, as connections carry it.
    name: Arc<str>,
    /// Its connections open now, shared with `Core::listener_connections`.
    open: Arc<AtomicUsize>,
    socket: TcpListener,
    acceptor: Arc<Acceptor>,
}

/// An MQTT broker (5.0, 3.1.1 and 3.1) over the plugin set `P` and the persistent store `S`
/// (`()`: none; a store is on when the configuration's `plugins:` section has its key).
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), amqtt_core::broker::BrokerError> {
/// use amqtt_core::{broker::Broker, config::BrokerConfig};
/// let config = BrokerConfig::from_yaml("listeners:\n  default:\n    bind: 127.0.0.1:1883\nplugins: {}\n")
///     .expect("valid config");
/// let broker = Broker::<()>::bind(config).await?;
/// broker.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
/// # Ok(()) }
/// ```
pub struct Broker<P: Plugin = (), S: Store = (), C: Cluster = ()> {
    shared: Arc<Shared<P, C>>,
    listeners: Vec<BoundListener>,
    /// What the routing task routes (see `routing::route_queued`).
    to_route: mpsc::Receiver<routing::Routed>,
    /// Yields `None` once every connection task has ended (see `Shared::connection_token`).
    connections_done: mpsc::Receiver<()>,
    /// The store's thread, when a store is configured.
    store: Option<JournalThread<S>>,
}

/// A cheap handle on a running broker: counters, shutdown, and serving connections the
/// application accepted itself ([`BrokerHandle::serve_stream`]).
pub struct BrokerHandle<P: Plugin = (), C: Cluster = ()> {
    shared: Arc<Shared<P, C>>,
}

impl<P: Plugin, C: Cluster> Clone for BrokerHandle<P, C> {
    fn clone(&self) -> Self {
        BrokerHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<P: Plugin, C: Cluster> BrokerHandle<P, C> {
    /// The broker's counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.core.stats
    }

    /// Number of sessions the broker holds (connected or persistent and offline).
    pub fn session_count(&self) -> usize {
        self.shared.core.session_count()
    }

    /// Bytes (topic and payload) of the QoS 1/2 messages queued in every session, when the
    /// broker has `max_queued_bytes` (`None` without it: they are not counted).
    pub fn queued_bytes(&self) -> Option<u64> {
        self.shared.core.queued_bytes.as_ref().map(|q| q.get())
    }

    /// Number of retained messages.
    pub fn retained_count(&self) -> usize {
        self.shared.core.router.retained_count()
    }

    /// Number of subscriptions (filter and session pairs) in the index.
    pub fn subscription_count(&self) -> usize {
        self.shared.core.router.subscription_count()
    }

    /// Checks the broker's internal invariants: every subscription in the index belongs to a
    /// live session in the registry and is in that session's own list, and the counts agree
    /// (so nothing is stored for a session that no longer exists). `Err` describes the first
    /// violation. For tests and diagnostics: it locks every session in turn, and a session
    /// ending at the time of the call can show as a difference until its removal finishes.
    pub fn check_consistency(&self) -> Result<(), String> {
        self.shared.core.check_consistency()
    }

    /// The plugin set.
    pub fn plugins(&self) -> &P {
        &self.shared.plugins
    }

    /// Stops the broker: `on_broker_pre_shutdown` runs, then listeners close and connections end
    /// without publishing their wills.
    pub fn shutdown(&self) {
        self.shared.core.stop_requested.fire();
    }

    /// Serves `stream` as one client connection, as if a listener had accepted it (aMQTT's
    /// `external` listener): the future reads the CONNECT (within `connect_timeout`), then serves
    /// the client until it disconnects or the broker shuts down, which waits for it like any
    /// other connection. Plugins see the listener name [`EXTERNAL_LISTENER`] and `peer` as the
    /// remote address. Once the broker is shutting down the stream is dropped at once.
    ///
    /// For MQTT over WebSocket from the application's own HTTP server, wrap the upgraded
    /// connection in [`crate::transport::WsStream`] (see the `embedded_axum` example).
    ///
    /// # Examples
    ///
    /// ```
    /// # async fn run(handle: amqtt_core::broker::BrokerHandle) {
    /// let (client, server) = tokio::io::duplex(4096);
    /// tokio::spawn(handle.serve_stream(server, None));
    /// // ... speak MQTT over `client`
    /// # drop(client);
    /// # }
    /// ```
    pub fn serve_stream<S>(
        &self,
        stream: S,
        peer: Option<SocketAddr>,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        self.serve_as(EXTERNAL_LISTENER.into(), stream, peer)
    }

    /// Serves `stream` as [`BrokerHandle::serve_stream`] does, as a connection of the
    /// configuration's `type: external` listener named `listener` (the name plugins see);
    /// `None` when the configuration has no external listener of that name. Its
    /// `max_connections` does not apply: the application decides what it accepts.
    pub fn serve_external<S>(
        &self,
        listener: &str,
        stream: S,
        peer: Option<SocketAddr>,
    ) -> Option<impl Future<Output = ()> + Send + 'static>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let config = self.shared.core.config.listeners.get(listener)?;
        (config.kind == ListenerType::External)
            .then(|| self.serve_as(listener.into(), stream, peer))
    }

    fn serve_as<S>(
        &self,
        listener: Arc<str>,
        stream: S,
        peer: Option<SocketAddr>,
    ) -> impl Future<Output = ()> + Send + 'static + use<P, C, S>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let shared = self.shared.clone();
        let token = shared.connection_token();
        let origin = Origin::new(peer, listener);
        let incoming = Box::new(Incoming { stream, origin });
        async move {
            let Some(token) = token else {
                tracing::debug!(?peer, "broker is shutting down; external stream dropped");
                return;
            };
            connection::serve(shared, incoming).await;
            drop(token);
        }
    }
}

/// The listener name of connections handed to [`BrokerHandle::serve_stream`].
pub const EXTERNAL_LISTENER: &str = "external";

impl<P: BuildPlugins, S: Store, C: Cluster> Broker<P, S, C> {
    /// Opens the store (when its section is present), builds the plugin set from the rest of
    /// the configuration's `plugins:` section and binds every listener; the broker serves once
    /// [`Broker::run`] is awaited.
    pub async fn bind(config: BrokerConfig) -> Result<Broker<P, S, C>, BrokerError> {
        let section = config.plugins.clone();
        Self::bind_with(config, |ctx| build_plugins::<P, S>(section, ctx)).await
    }
}

/// The configuration's `cluster:` section read for the cluster `C`; an error when it is there
/// and the broker has no cluster.
fn cluster_config<C: Cluster>(config: &BrokerConfig) -> Result<Option<C::Config>, BrokerError> {
    if !C::ENABLED && config.cluster.is_present() {
        return Err(ClusterError::Config(
            "this broker is built without a cluster: remove the `cluster:` section".into(),
        )
        .into());
    }
    let section = config.cluster.clone().take::<C::Config>()?;
    if let Some(section) = &section
        && let Err(e) = C::check(section)
    {
        // Named like the other configuration errors: the file, then the key.
        let e = match (e, config.cluster.file()) {
            (ClusterError::Config(message), Some(file)) => {
                ClusterError::Config(format!("config file {}: {message}", file.display()))
            }
            (e, _) => e,
        };
        return Err(e.into());
    }
    Ok(section)
}

/// Builds the plugin set `P` from `section`, whose store keys are known names too (an
/// unknown key's error lists them).
fn build_plugins<P: BuildPlugins, S: Store>(
    section: crate::config::PluginsSection,
    ctx: &BrokerContext,
) -> Result<P, PluginError> {
    crate::plugin::build_plugin_set(&section, S::NAMES, ctx)
}

impl<P: Plugin, S: Store, C: Cluster> Broker<P, S, C> {
    /// Binds every listener with a plugin set made by `make` (which may keep the context).
    /// Of the configuration's `plugins:` section only the store's key is read: the store is
    /// opened and everything it holds restored before this returns.
    pub async fn bind_with(
        config: BrokerConfig,
        make: impl FnOnce(&BrokerContext) -> Result<P, PluginError>,
    ) -> Result<Broker<P, S, C>, BrokerError> {
        let cluster_config = cluster_config::<C>(&config)?;
        let mut section = config.plugins.clone();
        let mut store = store_thread::open_store::<S>(&mut section)?;
        // A node of a cluster journals its persistent sessions for the cluster's mirror, with
        // or without a store; without one its acknowledgements wait for the mirror.
        let clustered = C::ENABLED && cluster_config.is_some();
        let journal = match &store {
            Some(opened) => Some(opened.journal()),
            None => clustered.then(|| Journal::new(Durability::Always)),
        }
        .map(Arc::new);
        // The index keeps this node's interest only for a cluster that is on.
        let interest = cluster_config.is_some().then(Arc::<Interest>::default);
        let (core, to_route) = Core::new(config, journal.clone(), interest.clone());
        let core = Arc::new(core);
        if let Some(opened) = &mut store {
            opened.restore(&core, clustered)?;
        }
        let plugins = make(&BrokerContext::new(core.clone()))?;
        if P::HOOKS.contains(Hooks::START) {
            plugins.start().await?;
        }
        let mut listeners = Vec::new();
        // `Core::new` made `listener_connections` from the same map, in the same order.
        for (listener, counted) in core
            .config
            .listeners
            .values()
            .zip(&core.listener_connections)
        {
            // An external listener binds nothing: its connections come through
            // `BrokerHandle::serve_stream`.
            if listener.kind != ListenerType::External {
                listeners
                    .push(bind_listener(listener, counted, core.config.max_packet_size).await?);
            }
        }
        let acceptors = listeners
            .iter()
            .map(|l| (l.config.name.clone(), l.acceptor.clone()))
            .collect();
        let link = ClusterLink::new(core.clone(), interest.unwrap_or_default());
        let cluster = C::open(cluster_config, link).await?;
        let store = match journal {
            Some(journal) => Some(JournalThread::start(journal, store, cluster.mirror())?),
            None => None,
        };
        let (shared, connections_done) = Shared::new(core, plugins, cluster, acceptors, S::NAMES);
        Ok(Broker {
            shared: Arc::new(shared),
            listeners,
            to_route,
            connections_done,
            store,
        })
    }

    /// The local address of the listener named `name`.
    pub fn local_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|l| l.config.name == name)
            .and_then(|l| l.socket.local_addr().ok())
    }

    /// A handle for counters and shutdown, usable while the broker runs.
    pub fn handle(&self) -> BrokerHandle<P, C> {
        BrokerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Serves every listener until `shutdown` completes (or [`BrokerHandle::shutdown`] is
    /// called), then closes the connections and waits up to a few seconds for them to end.
    /// Fires the broker lifecycle hooks, and `close` last.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let shared = self.shared;
        let core = shared.core.clone();
        let plugins = &shared.plugins;
        if P::HOOKS.contains(Hooks::BROKER_PRE_START) {
            plugins.on_broker_pre_start().await;
        }
        let mut connections_done = self.connections_done;
        for listener in self.listeners {
            tracing::info!(
                listener = %listener.config.name,
                transport = listener.acceptor.describe(),
                addr = ?listener.socket.local_addr().ok(),
                "listening"
            );
            if let Some(token) = shared.connection_token() {
                tokio::spawn(accept_loop(shared.clone(), listener, token));
            }
        }
        tokio::spawn(expiry::expire_sessions(core.clone()));
        tokio::spawn(routing::route_queued(shared.clone(), self.to_route));
        if P::HOOKS.contains(Hooks::BROKER_POST_START) {
            plugins.on_broker_post_start().await;
        }
        tokio::select! {
            () = shutdown => {}
            () = core.stop_requested.fired() => {}
        }
        tracing::info!("broker shutting down");
        if P::HOOKS.contains(Hooks::BROKER_PRE_SHUTDOWN) {
            plugins.on_broker_pre_shutdown().await;
        }
        core.shut_down();
        shared.stop_tracking();
        if C::ENABLED {
            shared.cluster.shutdown().await;
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, connections_done.recv())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace period");
        }
        if let Some(store) = self.store {
            store.stop().await;
        }
        if P::HOOKS.contains(Hooks::BROKER_POST_SHUTDOWN) {
            plugins.on_broker_post_shutdown().await;
        }
        if P::HOOKS.contains(Hooks::CLOSE) {
            plugins.close().await;
        }
    }
}

/// Binds `listener`, whose open connections are counted in `counted` (name and count).
async fn bind_listener(
    listener: &ListenerConfig,
    counted: &(Arc<str>, Arc<AtomicUsize>),
    max_packet_size: usize,
) -> Result<BoundListener, BrokerError> {
    let acceptor = acceptor(listener, max_packet_size)?;
    let socket = TcpListener::bind((listener.bind.host.as_str(), listener.bind.port))
        .await
        .map_err(|source| bind_error(listener, source))?;
    Ok(BoundListener {
        name: counted.0.clone(),
        open: counted.1.clone(),
        config: listener.clone(),
        socket,
        acceptor: Arc::new(acceptor),
    })
}

/// The acceptor of `listener`: its TLS files read and checked.
fn acceptor(listener: &ListenerConfig, max_packet_size: usize) -> Result<Acceptor, BrokerError> {
    Acceptor::new(listener, max_packet_size).map_err(|source| BrokerError::Tls {
        listener: listener.name.clone(),
        source,
    })
}

/// The error of a listener whose address cannot be resolved or bound.
fn bind_error(listener: &ListenerConfig, source: std::io::Error) -> BrokerError {
    BrokerError::Bind {
        listener: listener.name.clone(),
        addr: listener.bind.to_string(),
        source,
    }
}

/// Takes a slot of a listener's `max_connections` and gives it back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn accept_loop<P: Plugin, C: Cluster>(
    shared: Arc<Shared<P, C>>,
    listener: BoundListener,
    done: mpsc::Sender<()>,
) {
    let core = &shared.core;
    let max = listener.config.max_connections;
    let mut rate = listener
        .config
        .max_connection_rate
        .map(|limit| TokenBucket::new(limit, Instant::now()));
    let mut rate_log = OncePerSecond::default();
    let (name, open) = (listener.name, listener.open);
    let acceptor = listener.acceptor;
    loop {
        let accepted = tokio::select! {
            accepted = listener.socket.accept() => accepted,
            () = core.shutdown.fired() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(listener = %name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Counted before any handshake: a connection in its TLS or WebSocket handshake holds a
        // slot, and one beyond the limit is closed before it costs a handshake.
        if max > 0 && open.load(Ordering::Acquire) >= max {
            core.stats.connections_refused.increment();
            tracing::warn!(listener = %name, %peer, max_connections = max, "connection refused: listener is full");
            drop(stream);
            continue;
        }
        if let Some(bucket) = &mut rate
            && !bucket.try_take_one(Instant::now())
        {
            core.stats.connections_rate_limited.increment();
            if let Some(more) = rate_log.due(Instant::now()) {
                tracing::warn!(listener = %name, %peer, refused_since_last_line = more, "connection refused: listener over its max_connection_rate");
            }
            drop(stream);
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(open.clone());
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let done = done.clone();
        let acceptor = acceptor.clone();
        let origin = Origin::new(Some(peer), name.clone());
        // Boxed: the task holds one pointer for them, not their room (see `Incoming`).
        let accepting = Box::new(Incoming { stream, origin });
        tokio::spawn(async move {
            // Boxed: a TLS or WebSocket handshake is large and over once the connection is up.
            let handshake = transport_handshake(&shared, &acceptor, peer, accepting);
            if let Some(incoming) = Box::pin(handshake).await {
                connection::serve(shared, incoming).await;
            }
            drop(slot);
            drop(done);
        });
    }
}

/// The transport's handshake (TLS, WebSocket) of a connection `peer` opened, within the connect
/// timeout; `None` when it failed, timed out or the broker is stopping.
async fn transport_handshake<P: Plugin, C: Cluster>(
    shared: &Shared<P, C>,
    acceptor: &Acceptor,
    peer: SocketAddr,
    accepting: Box<Incoming<tokio::net::TcpStream>>,
) -> Option<Box<Incoming<crate::transport::ServerStream>>> {
    let Incoming { stream, mut origin } = *accepting;
    let core = &shared.core;
    let deadline = origin.accepted + core.config.connect_timeout;
    let handshake = tokio::select! {
        handshake = tokio::time::timeout_at(deadline, acceptor.accept(stream)) => handshake,
        () = core.shutdown.fired() => return None,
    };
    match handshake {
        Ok(Ok(accepted)) => {
            origin.peer_certificates = accepted.peer_certificates;
            let stream = accepted.stream;
            return Some(Box::new(Incoming { stream, origin }));
        }
        Ok(Err(e)) if crate::transport::is_certificate_refusal(&e) => {
            tracing::info!(listener = %origin.listener, %peer, error = %e, "client certificate refused");
        }
        Ok(Err(e)) => {
            tracing::debug!(listener = %origin.listener, %peer, transport = acceptor.describe(), error = %e, "handshake failed");
        }
        Err(_) => {
            tracing::debug!(listener = %origin.listener, %peer, transport = acceptor.describe(), "handshake timed out");
        }
    }
    None
}
