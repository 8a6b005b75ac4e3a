//! The state shared by every connection: [`Core`] (session registry, router, counters, limits),
//! which plugins hold through `BrokerContext`, and [`Shared`], which adds the plugin set.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::mpsc;

use super::expiry::ExpirySchedule;
use super::journal::Journal;
use super::pending::QueuedBytes;
use super::router::Router;
use super::routing::Routed;
use super::session::{Session, SessionLimits};
use super::session_totals::SessionLevels;
use super::stats::Stats;
use super::trigger::Trigger;
use crate::cluster::{Cluster, Interest};
use crate::config::BrokerConfig;
use crate::plugin::{Hooks, Plugin};
use crate::transport::Acceptor;

/// How many messages plugins (and ended members of shared subscriptions) may queue for the
/// routing task before `BrokerContext::publish` (and `Core::retire`) waits.
const ROUTING_QUEUE: usize = 1024;

/// The broker state that does not depend on the plugin set (so plugins can hold it).
pub(crate) struct Core {
    pub(crate) config: BrokerConfig,
    pub(crate) router: Router,
    pub(crate) stats: Stats,
    pub(crate) limits: SessionLimits,
    /// Fired by `BrokerHandle::shutdown`: the broker begins to stop.
    pub(crate) stop_requested: Trigger,
    /// Fired once the broker closes its listeners and connections.
    pub(crate) shutdown: Trigger,
    /// Messages published by plugins, and messages of shared subscriptions whose member ended
    /// before completing them, for the broker's routing task.
    pub(crate) to_route: mpsc::Sender<Routed>,
    /// The store's journal, when the broker has a store configured.
    pub(crate) journal: Option<Arc<Journal>>,
    /// The bytes every session's pending queue holds, against `max_queued_bytes`; `None`
    /// without that limit (nothing is counted).
    pub(crate) queued_bytes: Option<Arc<QueuedBytes>>,
    /// Every session's footprint (connected, in flight, queued) summed, for `$SYS` and metrics.
    pub(super) session_levels: Arc<SessionLevels>,
    /// Sessions by client id. A `std::sync::Mutex`: held only for map operations, never across `.await`.
    pub(super) sessions: Mutex<HashMap<String, Arc<Session>>>,
    pub(super) next_session_key: AtomicU64,
    /// When offline sessions expire (`expiry.rs`).
    pub(super) expiry: ExpirySchedule,
    /// The connections open on each listener, by name: TCP connections accepted and not yet
    /// closed, in their handshake or serving a client (the count `max_connections` limits).
    pub(crate) listener_connections: Vec<(Arc<str>, Arc<AtomicUsize>)>,
    /// Seed for generated client ids, so two broker runs do not hand out the same ones.
    pub(super) id_seed: u64,
    /// The `$` topic prefixes plugins opened to client publishes
    /// (`BrokerContext::open_dollar_prefix`); read only for a client's `$` topic.
    open_dollar_prefixes: RwLock<Vec<Box<str>>>,
}

/// The core plus the plugin set and the cluster: what a connection task works with.
pub(crate) struct Shared<P, C> {
    pub(crate) core: Arc<Core>,
    pub(crate) plugins: P,
    /// The cluster this broker is a node of (`()`: none).
    pub(crate) cluster: C,
    /// Every connection task holds a clone of this sender, so shutdown can wait for them all:
    /// the receiver (kept by the broker) yields `None` once the last clone is dropped. Taken at
    /// shutdown; `None` afterwards, when no new connection is served. Locked only to clone it.
    pub(super) connections: Mutex<Option<mpsc::Sender<()>>>,
    /// The plugins' [`Plugin::active_hooks`], read once.
    pub(super) active_hooks: Hooks,
    /// Each listener's name and what it does to a new connection (its TLS setup, which a
    /// reload replaces).
    pub(super) listeners: Vec<(String, Arc<Acceptor>)>,
    /// The keys of the store's section under `plugins:` (`Store::NAMES`), which a reload
    /// checks like the plugins' keys.
    pub(super) store_keys: &'static [&'static str],
}

impl<P: Plugin, C: Cluster> Shared<P, C> {
    /// The shared state, and the receiver that tells when every connection has ended.
    pub(crate) fn new(
        core: Arc<Core>,
        plugins: P,
        cluster: C,
        listeners: Vec<(String, Arc<Acceptor>)>,
        store_keys: &'static [&'static str],
    ) -> (Shared<P, C>, mpsc::Receiver<()>) {
        let (sender, receiver) = mpsc::channel(1);
        let active_hooks = plugins.active_hooks();
        let shared = Shared {
            core,
            plugins,
            cluster,
            connections: Mutex::new(Some(sender)),
            active_hooks,
            listeners,
            store_keys,
        };
        (shared, receiver)
    }

    /// Whether a per-message hook runs: some member implements it (`P::HOOKS`, a constant, so
    /// the call compiles away when none does) and one that does is switched on.
    #[inline]
    pub(crate) fn hooked(&self, hook: Hooks) -> bool {
        P::HOOKS.contains(hook) && self.active_hooks.contains(hook)
    }
}

impl<P, C> Shared<P, C> {
    /// A token a connection task holds until it ends; `None` once the broker is shutting down.
    pub(crate) fn connection_token(&self) -> Option<mpsc::Sender<()>> {
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops handing out connection tokens, so the receiver ends with the last connection.
    pub(crate) fn stop_tracking(&self) {
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

impl Core {
    /// A core (journaling to `journal`, if given) and the receiving end of its routing queue.
    /// With `interest`, the index keeps this node's filters for its cluster.
    pub(crate) fn new(
        config: BrokerConfig,
        journal: Option<Arc<Journal>>,
        interest: Option<Arc<Interest>>,
    ) -> (Core, mpsc::Receiver<Routed>) {
        let limits = SessionLimits {
            max_inflight: usize::from(config.max_inflight),
            max_queued: config.max_queued,
        };
        let (to_route, receiver) = mpsc::channel(ROUTING_QUEUE);
        let listener_connections = config
            .listeners
            .keys()
            .map(|name| (Arc::from(name.as_str()), Arc::default()))
            .collect();
        let queued_bytes = config
            .max_queued_bytes
            .map(|max| Arc::new(QueuedBytes::new(max)));
        let core = Core {
            config,
            router: interest.map_or_else(Router::default, Router::with_interest),
            stats: Stats::default(),
            limits,
            stop_requested: Trigger::default(),
            shutdown: Trigger::default(),
            to_route,
            journal,
            queued_bytes,
            session_levels: Arc::default(),
            sessions: Mutex::new(HashMap::new()),
            next_session_key: AtomicU64::new(1),
            expiry: ExpirySchedule::default(),
            listener_connections,
            id_seed: RandomState::new().hash_one(std::process::id()),
            open_dollar_prefixes: RwLock::default(),
        };
        (core, receiver)
    }

    /// Opens the `$` topics starting with `prefix` to client publishes.
    pub(crate) fn open_dollar_prefix(&self, prefix: &str) {
        let mut prefixes = self
            .open_dollar_prefixes
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if !prefixes.iter().any(|p| **p == *prefix) {
            prefixes.push(prefix.into());
        }
    }

    /// Whether a client may publish to `topic`, a `$` topic: only under a prefix a plugin opened.
    pub(crate) fn dollar_topic_open(&self, topic: &str) -> bool {
        self.open_dollar_prefixes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|prefix| topic.starts_with(&**prefix))
    }
}
