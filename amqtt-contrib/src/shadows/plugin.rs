//! [`ShadowPlugin`]: answers the `get` and `update` requests clients publish to `$shadow/...`,
//! keeping the shadows in a database.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amqtt_core::codec::{Publish, QoS};
use amqtt_core::plugin::{BrokerContext, Plugin, PluginError, plugin};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument as _;

use super::messages;
use super::state::{Document, Rejection, Update};
use super::storage::ShadowStore;
use super::topics::{Reply, Request, SHADOW_PREFIX, ShadowId, parse_request};
use crate::db::DbUrl;

/// How long `start` waits for the database.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Workers answering requests: each takes the shadows that hash to it, so a shadow's requests
/// are answered in order and different shadows' in parallel.
const WORKERS: usize = 4;
/// Requests waiting for one worker; a client publishing more waits (its connection only).
const QUEUE: usize = 256;
/// How long `close` waits for the queued requests to be answered.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an update is tried again when another broker wrote the same version meanwhile.
const ATTEMPTS: usize = 3;

/// Configuration of [`ShadowPlugin`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShadowConfig {
    /// aMQTT's (SQLAlchemy) database URL, e.g. `sqlite+aiosqlite:///shadows.db` or
    /// `postgresql+asyncpg://user:pass@host/db` (see [`crate::db`]). Required.
    pub connection: Option<String>,
}

/// Device shadows (aMQTT's `amqtt.contrib.shadows.ShadowPlugin`): a client publishes to
/// `$shadow/<device>/<name>/update` or `.../get`, and the broker answers on the reply topics
/// (see [`super::topics`]), keeping every version of each shadow in the database.
///
/// Requests are taken after the publish check (a topic-filtering plugin such as
/// [`ShadowTopicAuthPlugin`](super::ShadowTopicAuthPlugin) decides who may send them) and
/// answered by worker tasks: all requests for one shadow by the same worker, in the order they
/// arrived, so two quick updates apply in order.
#[derive(Debug)]
pub struct ShadowPlugin {
    url: DbUrl,
    ctx: BrokerContext,
    workers: OnceLock<Workers>,
}

/// The running workers: where requests go, and the database they write.
#[derive(Debug)]
struct Workers {
    /// One queue per worker.
    queues: Vec<mpsc::Sender<Job>>,
    /// Picks a shadow's worker.
    hasher: RandomState,
    store: ShadowStore,
}

impl Workers {
    /// The queue of the worker that answers `id`'s requests.
    fn queue(&self, id: &ShadowId) -> &mpsc::Sender<Job> {
        let byte = self.hasher.hash_one(id).to_le_bytes()[0];
        &self.queues[usize::from(byte) % self.queues.len()]
    }
}

/// What the worker does next.
#[derive(Debug)]
enum Job {
    /// Answer a request with this payload.
    Request(ShadowId, Request, Bytes),
    /// Stop after the requests queued before; say so.
    Stop(oneshot::Sender<()>),
}

#[plugin(
    name = "shadows",
    alias = "amqtt.contrib.shadows.ShadowPlugin",
    config = ShadowConfig
)]
impl Plugin for ShadowPlugin {
    fn build(config: ShadowConfig, ctx: &BrokerContext) -> Result<Self, PluginError> {
        let Some(connection) = config.connection else {
            return Err(PluginError::new(
                "`connection`: required: the database URL, e.g. sqlite+aiosqlite:///shadows.db",
            ));
        };
        let url = DbUrl::parse(&connection)
            .map_err(|e| PluginError::new(format!("`connection`: {e}")))?;
        ctx.open_dollar_prefix(SHADOW_PREFIX)
            .map_err(|e| PluginError::new(e.to_string()))?;
        Ok(ShadowPlugin {
            url,
            ctx: ctx.clone(),
            workers: OnceLock::new(),
        })
    }

    async fn start(&self) -> Result<(), PluginError> {
        let store = ShadowStore::open(&self.url, CONNECT_TIMEOUT)
            .await
            .map_err(|e| {
                PluginError::named(
                    self.ctx.plugin_name(),
                    format!("`connection`: cannot use the database {}: {e}", self.url),
                )
            })?;
        let queues = (0..WORKERS)
            .map(|_| {
                let (jobs, queue) = mpsc::channel(QUEUE);
                let worker = run(store.clone(), self.ctx.clone(), queue);
                tokio::spawn(worker.instrument(self.ctx.span()));
                jobs
            })
            .collect();
        let workers = Workers {
            queues,
            hasher: RandomState::new(),
            store,
        };
        // `start` runs once; a second call would find the workers set and keep them.
        let _ = self.workers.set(workers);
        Ok(())
    }

    async fn on_broker_message_broadcast(&self, _client_id: &str, message: &Publish) {
        if !message.topic.starts_with(SHADOW_PREFIX) {
            return;
        }
        let (Some((id, request)), Some(workers)) =
            (parse_request(&message.topic), self.workers.get())
        else {
            return;
        };
        let queue = workers.queue(&id);
        let job = Job::Request(id, request, message.payload.clone());
        if queue.send(job).await.is_err() {
            tracing::debug!(parent: &self.ctx.span(), topic = %message.topic, "shadow request after close dropped");
        }
    }

    async fn close(&self) {
        let Some(workers) = self.workers.get() else {
            return;
        };
        let mut stopped = Vec::with_capacity(workers.queues.len());
        for queue in &workers.queues {
            let (done, worker_stopped) = oneshot::channel();
            if queue.send(Job::Stop(done)).await.is_ok() {
                stopped.push(worker_stopped);
            }
        }
        let all = async {
            for worker_stopped in stopped {
                let _ = worker_stopped.await;
            }
        };
        if tokio::time::timeout(DRAIN_TIMEOUT, all).await.is_err() {
            tracing::warn!(parent: &self.ctx.span(), "shadow requests still queued at close");
        }
        workers.store.close().await;
    }
}

/// Answers the requests in the order they arrive.
async fn run(store: ShadowStore, ctx: BrokerContext, mut queue: mpsc::Receiver<Job>) {
    while let Some(job) = queue.recv().await {
        match job {
            Job::Request(id, Request::Get, _) => get(&store, &ctx, &id).await,
            Job::Request(id, Request::Update, payload) => update(&store, &ctx, &id, &payload).await,
            Job::Stop(done) => {
                let _ = done.send(());
                return;
            }
        }
    }
}

/// Answers a `get`: the latest document, or 404.
async fn get(store: &ShadowStore, ctx: &BrokerContext, id: &ShadowId) {
    match store.latest(id).await {
        Ok(Some(doc)) => reply(ctx, id, Reply::GetAccepted, messages::accepted(&doc)).await,
        Ok(None) => {
            let payload = messages::rejected(Rejection::NOT_FOUND, None);
            reply(ctx, id, Reply::GetRejected, payload).await;
        }
        Err(e) => {
            tracing::error!(device = id.device, name = id.name, "shadow not read: {e}");
            let payload = messages::rejected(Rejection::INTERNAL, None);
            reply(ctx, id, Reply::GetRejected, payload).await;
        }
    }
}

/// Answers an `update`: writes the next version and publishes `accepted`, `delta` (when some
/// desired key differs from the reported one), `iota` and `documents`; or `rejected`.
async fn update(store: &ShadowStore, ctx: &BrokerContext, id: &ShadowId, payload: &[u8]) {
    let rejection = match Update::parse(payload) {
        Ok(update) => match write(store, id, &update).await {
            Ok((previous, current)) => {
                reply(ctx, id, Reply::UpdateAccepted, messages::accepted(&current)).await;
                let delta = current.delta();
                if !delta.0.is_empty() {
                    reply(
                        ctx,
                        id,
                        Reply::UpdateDelta,
                        messages::delta(&current, delta),
                    )
                    .await;
                }
                let iota = messages::delta(&current, current.iota());
                reply(ctx, id, Reply::UpdateIota, iota).await;
                let documents = messages::documents(&previous, &current);
                reply(ctx, id, Reply::UpdateDocuments, documents).await;
                return;
            }
            Err(rejection) => rejection,
        },
        Err(rejection) => rejection,
    };
    let payload = messages::rejected(rejection, Some(unix_now()));
    reply(ctx, id, Reply::UpdateRejected, payload).await;
}

/// Stores the shadow's next version: the previous and the new document.
async fn write(
    store: &ShadowStore,
    id: &ShadowId,
    update: &Update,
) -> Result<(Document, Document), Rejection> {
    let failed = |e: sqlx::Error| {
        tracing::error!(
            device = id.device,
            name = id.name,
            "shadow not written: {e}"
        );
        Rejection::INTERNAL
    };
    for _ in 0..ATTEMPTS {
        let previous = store.latest(id).await.map_err(failed)?.unwrap_or_default();
        if update.version.is_some_and(|v| v != previous.version) {
            return Err(Rejection::VERSION_CONFLICT);
        }
        let now = unix_now();
        let mut current = previous.updated(update, now);
        current.version = previous.version + 1;
        current.timestamp = now;
        if store.insert(id, &current).await.map_err(failed)? {
            return Ok((previous, current));
        }
    }
    Err(Rejection::VERSION_CONFLICT)
}

/// Publishes a reply: delivered at the QoS of each subscription, not retained.
async fn reply(ctx: &BrokerContext, id: &ShadowId, which: Reply, payload: Vec<u8>) {
    let topic = id.reply_topic(which);
    if let Err(e) = ctx.publish(&topic, payload, QoS::ExactlyOnce, false).await {
        tracing::debug!(topic, "shadow reply not published: {e}");
    }
}

/// Seconds since the epoch.
fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    i64::try_from(secs).unwrap_or(i64::MAX)
}
