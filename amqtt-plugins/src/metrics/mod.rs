//! The `metrics` plugin: the broker's figures at `/metrics` in the OpenMetrics text format (which
//! Prometheus scrapes) and its state at `/health`, served over HTTP on an address of its own.
//!
//! The figures are read when scraped from the same counters `$SYS` publishes
//! ([`BrokerContext::stats`]), so the two never disagree and nothing is counted twice; the
//! plugin adds nothing to the hot path. The HTTP side is axum (on hyper), the format
//! `prometheus-client`'s encoder.

mod figures;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use amqtt_core::broker::resolve_address;
use amqtt_core::plugin::{BrokerContext, FromConfig, Plugin, PluginError, plugin};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

/// The content type of `/metrics`: the OpenMetrics text format 1.0.0.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Configuration of [`Metrics`].
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// The HTTP listener's address, `host:port` (a host name is resolved).
    pub bind: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            bind: "127.0.0.1:9100".to_owned(),
        }
    }
}

/// Serves `/metrics` (the broker's figures, OpenMetrics text) and `/health` over HTTP at
/// `bind`. `/health` answers 200 `ok` from the moment every MQTT listener is bound and serving,
/// and 503 `shutting down` once the broker begins to stop, until the listener closes.
#[derive(Debug)]
pub struct Metrics {
    bind: String,
    endpoints: Arc<Endpoints>,
    /// Bound by `start`, served from `on_broker_post_start`.
    listener: Mutex<Option<TcpListener>>,
    /// The HTTP server's task, aborted by `close`.
    server: Mutex<Option<AbortHandle>>,
}

/// What the HTTP handlers read.
#[derive(Debug)]
struct Endpoints {
    registry: Registry,
    /// Set once the broker begins to stop: `/health` then answers 503.
    shutting_down: AtomicBool,
}

#[plugin(name = "metrics", config = MetricsConfig)]
impl Plugin for Metrics {
    fn build(config: MetricsConfig, ctx: &BrokerContext) -> Result<Self, PluginError> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(figures::Figures::new(ctx.clone())));
        Ok(Metrics {
            bind: config.bind,
            endpoints: Arc::new(Endpoints {
                registry,
                shutting_down: AtomicBool::new(false),
            }),
            listener: Mutex::new(None),
            server: Mutex::new(None),
        })
    }

    /// Binds the HTTP listener, so an address that cannot be bound stops the broker at start.
    async fn start(&self) -> Result<(), PluginError> {
        let listener = TcpListener::bind(self.bind.as_str())
            .await
            .map_err(|e| self.bind_error(e))?;
        *lock(&self.listener) = Some(listener);
        Ok(())
    }

    /// Resolves the HTTP listener's address without binding it (`amqtt --check-config`): an
    /// address `start` could not even try to bind fails the check with `start`'s message.
    async fn check(&self) -> Result<(), PluginError> {
        resolve_address(self.bind.as_str())
            .await
            .map_err(|e| self.bind_error(e))
    }

    async fn on_broker_post_start(&self) {
        let Some(listener) = lock(&self.listener).take() else {
            return;
        };
        tracing::info!(addr = ?listener.local_addr().ok(), "metrics: serving /metrics and /health");
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/health", get(health))
            .with_state(self.endpoints.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "metrics: the HTTP listener failed");
            }
        });
        *lock(&self.server) = Some(task.abort_handle());
    }

    async fn on_broker_pre_shutdown(&self) {
        self.endpoints.shutting_down.store(true, Ordering::Relaxed);
    }

    async fn close(&self) {
        if let Some(server) = lock(&self.server).take() {
            server.abort();
        }
    }
}

impl Metrics {
    /// Why the HTTP listener's address cannot be bound, as `start` and `check` say it.
    fn bind_error(&self, e: std::io::Error) -> PluginError {
        let name = <Self as FromConfig>::NAME;
        PluginError::named(name, format!("cannot bind {}: {e}", self.bind))
    }
}

/// `std::sync::Mutex`: held only to put or take a value, never across `.await`.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// `GET /metrics`: every figure, read now.
async fn metrics(State(endpoints): State<Arc<Endpoints>>) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &endpoints.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot encode the figures");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /health`: 200 while the broker serves, 503 once it is stopping.
async fn health(State(endpoints): State<Arc<Endpoints>>) -> (StatusCode, &'static str) {
    if endpoints.shutting_down.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    } else {
        (StatusCode::OK, "ok\n")
    }
}
