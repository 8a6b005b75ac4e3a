//! The broker: listeners, connections, sessions, routing and retained messages.
//!
//! [`Broker`] is generic over its plugins (`P: Plugin`), so every plugin call is monomorphized.
//! See `ARCHITECTURE.md` for the path of a PUBLISH and which lock protects what.

mod connection;
mod outbox;
mod router;
mod session;
mod state;
mod stats;
mod trigger;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub(crate) use state::Core;
pub use stats::{Counter, Gauge, Stats};

use crate::codec::Publish;
use crate::config::{BrokerConfig, ListenerConfig, ListenerType};
use crate::plugin::{BrokerContext, BuildPlugins, Hooks, Plugin, PluginError};
use connection::Origin;
use state::Shared;

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
    /// A listener asks for a transport this build does not serve yet.
    #[error("listener `{listener}`: {feature} is not supported yet")]
    UnsupportedListener {
        /// The listener's name.
        listener: String,
        /// The missing feature.
        feature: &'static str,
    },
    /// The plugin set could not be built from the configuration.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// A bound listener.
struct BoundListener {
    config: ListenerConfig,
    socket: TcpListener,
}

/// An MQTT 3.1.1 broker over the plugin set `P`.
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
pub struct Broker<P: Plugin = ()> {
    shared: Arc<Shared<P>>,
    listeners: Vec<BoundListener>,
    plugin_messages: mpsc::Receiver<Publish>,
}

/// A cheap handle on a running broker: counters and shutdown.
pub struct BrokerHandle<P: Plugin = ()> {
    shared: Arc<Shared<P>>,
}

impl<P: Plugin> Clone for BrokerHandle<P> {
    fn clone(&self) -> Self {
        BrokerHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<P: Plugin> BrokerHandle<P> {
    /// The broker's counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.core.stats
    }

    /// Number of sessions the broker holds (connected or persistent and offline).
    pub fn session_count(&self) -> usize {
        self.shared.core.session_count()
    }

    /// Number of retained messages.
    pub fn retained_count(&self) -> usize {
        self.shared.core.router.retained_count()
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
}

impl<P: BuildPlugins> Broker<P> {
    /// Builds the plugin set from the configuration's `plugins:` section and binds every listener;
    /// the broker serves once [`Broker::run`] is awaited.
    pub async fn bind(config: BrokerConfig) -> Result<Broker<P>, BrokerError> {
        let section = config.plugins.clone();
        Self::bind_with(config, |ctx| crate::plugin::build_plugin_set(&section, ctx)).await
    }
}

impl<P: Plugin> Broker<P> {
    /// Binds every listener with a plugin set made by `make` (which may keep the context).
    /// The configuration's `plugins:` section is not read.
    pub async fn bind_with(
        config: BrokerConfig,
        make: impl FnOnce(&BrokerContext) -> Result<P, PluginError>,
    ) -> Result<Broker<P>, BrokerError> {
        let (core, plugin_messages) = Core::new(config);
        let core = Arc::new(core);
        let plugins = make(&BrokerContext::new(core.clone()))?;
        let mut listeners = Vec::new();
        for listener in core.config.listeners.values() {
            listeners.push(bind_listener(listener).await?);
        }
        Ok(Broker {
            shared: Arc::new(Shared { core, plugins }),
            listeners,
            plugin_messages,
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
    pub fn handle(&self) -> BrokerHandle<P> {
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
        // Every connection task holds a clone of this sender; when all are gone, recv() ends.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        for listener in self.listeners {
            tracing::info!(listener = %listener.config.name, addr = ?listener.socket.local_addr().ok(), "listening");
            tokio::spawn(accept_loop(shared.clone(), listener, done_tx.clone()));
        }
        drop(done_tx);
        tokio::spawn(state::expire_sessions(core.clone()));
        tokio::spawn(state::route_plugin_messages(
            shared.clone(),
            self.plugin_messages,
        ));
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
        core.shutdown.fire();
        if tokio::time::timeout(SHUTDOWN_GRACE, done_rx.recv())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace period");
        }
        if P::HOOKS.contains(Hooks::BROKER_POST_SHUTDOWN) {
            plugins.on_broker_post_shutdown().await;
        }
        if P::HOOKS.contains(Hooks::CLOSE) {
            plugins.close().await;
        }
    }
}

async fn bind_listener(listener: &ListenerConfig) -> Result<BoundListener, BrokerError> {
    if listener.ssl {
        return Err(BrokerError::UnsupportedListener {
            listener: listener.name.clone(),
            feature: "TLS (`ssl: true`)",
        });
    }
    if listener.kind == ListenerType::Ws {
        return Err(BrokerError::UnsupportedListener {
            listener: listener.name.clone(),
            feature: "WebSocket (`type: ws`)",
        });
    }
    let socket = TcpListener::bind((listener.bind.host.as_str(), listener.bind.port))
        .await
        .map_err(|source| BrokerError::Bind {
            listener: listener.name.clone(),
            addr: listener.bind.to_string(),
            source,
        })?;
    Ok(BoundListener {
        config: listener.clone(),
        socket,
    })
}

async fn accept_loop<P: Plugin>(
    shared: Arc<Shared<P>>,
    listener: BoundListener,
    done: mpsc::Sender<()>,
) {
    let core = &shared.core;
    let open = Arc::new(AtomicUsize::new(0));
    let max = listener.config.max_connections;
    let name: Arc<str> = listener.config.name.as_str().into();
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
        if max > 0 && open.load(Ordering::Acquire) >= max {
            core.stats.connections_refused.increment();
            tracing::warn!(listener = %name, %peer, max_connections = max, "connection refused: listener is full");
            drop(stream);
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let open = open.clone();
        let done = done.clone();
        let origin = Origin {
            peer: Some(peer),
            listener: name.clone(),
        };
        tokio::spawn(async move {
            connection::serve(shared, stream, origin).await;
            open.fetch_sub(1, Ordering::AcqRel);
            drop(done);
        });
    }
}
