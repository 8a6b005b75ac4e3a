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
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub use session::Session;
pub use stats::{Counter, Gauge, Stats};

use crate::config::{BrokerConfig, ListenerConfig, ListenerType};
use crate::plugin::Plugin;
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
}

/// A bound listener and its connection limit.
struct BoundListener {
    config: ListenerConfig,
    socket: TcpListener,
}

/// An MQTT 3.1.1 broker over the plugins `P`.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> Result<(), amqtt_core::broker::BrokerError> {
/// use amqtt_core::{broker::Broker, config::BrokerConfig};
/// let broker = Broker::bind(BrokerConfig::embedded_default(), ()).await?;
/// broker.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
/// # Ok(()) }
/// ```
pub struct Broker<P: Plugin = ()> {
    shared: Arc<Shared<P>>,
    listeners: Vec<BoundListener>,
}

/// A cheap handle on a running broker: counters and shutdown.
#[derive(Clone)]
pub struct BrokerHandle<P: Plugin = ()> {
    shared: Arc<Shared<P>>,
}

impl<P: Plugin> BrokerHandle<P> {
    /// The broker's counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Number of sessions the broker holds (connected or persistent and offline).
    pub fn session_count(&self) -> usize {
        self.shared.session_count()
    }

    /// Number of retained messages.
    pub fn retained_count(&self) -> usize {
        self.shared.router.retained_count()
    }

    /// Stops the broker: listeners close and connections end without publishing their wills.
    pub fn shutdown(&self) {
        self.shared.shutdown.fire();
    }
}

impl<P: Plugin> Broker<P> {
    /// Binds every listener of `config`; the broker serves once [`Broker::run`] is awaited.
    pub async fn bind(config: BrokerConfig, plugins: P) -> Result<Broker<P>, BrokerError> {
        let mut listeners = Vec::new();
        for listener in config.listeners.values() {
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
            let addr = listener.bind.to_string();
            let socket = TcpListener::bind((listener.bind.host.as_str(), listener.bind.port))
                .await
                .map_err(|source| BrokerError::Bind {
                    listener: listener.name.clone(),
                    addr,
                    source,
                })?;
            listeners.push(BoundListener {
                config: listener.clone(),
                socket,
            });
        }
        Ok(Broker {
            shared: Arc::new(Shared::new(config, plugins)),
            listeners,
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
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let shared = self.shared;
        // Every connection task holds a clone of this sender; when all are gone, recv() ends.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        for listener in self.listeners {
            tracing::info!(listener = %listener.config.name, addr = ?listener.socket.local_addr().ok(), "listening");
            tokio::spawn(accept_loop(shared.clone(), listener, done_tx.clone()));
        }
        tokio::spawn(state::expire_sessions(shared.clone()));
        drop(done_tx);
        tokio::select! {
            () = shutdown => shared.shutdown.fire(),
            () = shared.shutdown.fired() => {}
        }
        tracing::info!("broker shutting down");
        if tokio::time::timeout(SHUTDOWN_GRACE, done_rx.recv())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace period");
        }
    }
}

async fn accept_loop<P: Plugin>(
    shared: Arc<Shared<P>>,
    listener: BoundListener,
    done: mpsc::Sender<()>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let max = listener.config.max_connections;
    loop {
        let accepted = tokio::select! {
            accepted = listener.socket.accept() => accepted,
            () = shared.shutdown.fired() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(listener = %listener.config.name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if max > 0 && open.load(Ordering::Acquire) >= max {
            shared.stats.connections_refused.increment();
            tracing::warn!(listener = %listener.config.name, %peer, max_connections = max, "connection refused: listener is full");
            drop(stream);
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let open = open.clone();
        let done = done.clone();
        tokio::spawn(async move {
            serve_tcp(shared, stream, peer).await;
            open.fetch_sub(1, Ordering::AcqRel);
            drop(done);
        });
    }
}

async fn serve_tcp<P: Plugin>(shared: Arc<Shared<P>>, stream: TcpStream, peer: SocketAddr) {
    connection::serve(shared, stream, peer).await;
}
