//! State shared by every connection: [`Core`] (registry, router, counters, limits) and
//! [`Shared`], which adds the plugin set, and the routing of a message through both.
//!
//! Lock order, where more than one is taken: session registry, then a session, then the
//! subscription index or an outbox. Routing never holds the index while it locks a session (it
//! collects its targets and releases the index before delivering).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use super::journal::Journal;
use super::outbox::Outbox;
use super::router::{Router, Subscriber};
use super::session::{Delivery, Producer, Session, SessionLimits};
use super::stats::Stats;
use super::trigger::Trigger;
use crate::codec::{ByteString, ConnAck, ConnectReturnCode, Packet, Publish, QoS};
use crate::config::BrokerConfig;
use crate::plugin::{Action, Hooks, Plugin, SessionInfo, SessionSummary};
use crate::store::StoreOp;

/// How many messages plugins may queue for publishing before `BrokerContext::publish` waits.
const PLUGIN_MESSAGE_QUEUE: usize = 1024;

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
    /// Messages published by plugins, routed by the broker's plugin-message task.
    pub(crate) plugin_messages: mpsc::Sender<Publish>,
    /// The store's journal, when the broker has a store configured.
    pub(crate) journal: Option<Arc<Journal>>,
    /// Sessions by client id. A `std::sync::Mutex`: held only for map operations, never across `.await`.
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    next_session_key: AtomicU64,
    /// Seed for generated client ids, so two broker runs do not hand out the same ones.
    id_seed: u64,
    /// The `$` topic prefixes plugins opened to client publishes
    /// (`BrokerContext::open_dollar_prefix`); read only for a client's `$` topic.
    open_dollar_prefixes: RwLock<Vec<Box<str>>>,
}

/// The core plus the plugin set: what a connection task works with.
pub(crate) struct Shared<P> {
    pub(crate) core: Arc<Core>,
    pub(crate) plugins: P,
    /// Every connection task holds a clone of this sender, so shutdown can wait for them all:
    /// the receiver (kept by the broker) yields `None` once the last clone is dropped. Taken at
    /// shutdown; `None` afterwards, when no new connection is served. Locked only to clone it.
    connections: Mutex<Option<mpsc::Sender<()>>>,
    /// The plugins' [`Plugin::active_hooks`], read once.
    active_hooks: Hooks,
}

impl<P: Plugin> Shared<P> {
    /// The shared state, and the receiver that tells when every connection has ended.
    pub(crate) fn new(core: Arc<Core>, plugins: P) -> (Shared<P>, mpsc::Receiver<()>) {
        let (sender, receiver) = mpsc::channel(1);
        let active_hooks = plugins.active_hooks();
        let shared = Shared {
            core,
            plugins,
            connections: Mutex::new(Some(sender)),
            active_hooks,
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

impl<P> Shared<P> {
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
    /// A core (journaling to `journal`, if given) and the receiving end of its plugin-message
    /// queue.
    pub(crate) fn new(
        config: BrokerConfig,
        journal: Option<Arc<Journal>>,
    ) -> (Core, mpsc::Receiver<Publish>) {
        let limits = SessionLimits {
            max_inflight: usize::from(config.max_inflight),
            max_queued: config.max_queued,
        };
        let (plugin_messages, receiver) = mpsc::channel(PLUGIN_MESSAGE_QUEUE);
        let core = Core {
            config,
            router: Router::default(),
            stats: Stats::default(),
            limits,
            stop_requested: Trigger::default(),
            shutdown: Trigger::default(),
            plugin_messages,
            journal,
            sessions: Mutex::new(HashMap::new()),
            next_session_key: AtomicU64::new(1),
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

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn session_count(&self) -> usize {
        self.sessions().len()
    }

    /// Snapshots of every session, or of the one with `client_id`.
    pub(crate) fn session_summaries(&self, client_id: Option<&str>) -> Vec<SessionSummary> {
        let sessions: Vec<Arc<Session>> = match client_id {
            Some(id) => self.sessions().get(id).cloned().into_iter().collect(),
            None => self.all_sessions(),
        };
        let mut summaries: Vec<SessionSummary> = sessions.iter().map(|s| s.summary()).collect();
        summaries.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        summaries
    }

    fn new_session_key(&self) -> u64 {
        self.next_session_key.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh client id for a client that sent an empty one with clean session 1.
    pub(crate) fn generate_client_id(&self) -> ByteString {
        let n = self.new_session_key();
        ByteString::from(format!(
            "amqtt-{:012x}-{n}",
            self.id_seed & 0xffff_ffff_ffff
        ))
    }

    /// Binds a connection to the session of `info.client_id`, taking over any connection that
    /// has it. Queues the CONNACK, then everything the resumed session had in flight and queued.
    /// Returns the session and whether it was resumed (CONNACK's session-present flag). A
    /// session it replaced has ended; its subscriptions leave the index before this returns.
    pub(crate) async fn attach(
        &self,
        info: &Arc<SessionInfo>,
        outbox: &Arc<Outbox>,
    ) -> (Arc<Session>, bool) {
        let (session, present, discarded) = self.bind(info, outbox);
        if let Some((key, filters)) = discarded {
            self.remove_subscriptions(key, filters).await;
        }
        (session, present)
    }

    /// The locked part of [`Core::attach`]: also returns the key and subscriptions of a session
    /// it ended.
    #[allow(clippy::type_complexity)]
    fn bind(
        &self,
        info: &Arc<SessionInfo>,
        outbox: &Arc<Outbox>,
    ) -> (Arc<Session>, bool, Option<(u64, HashMap<Box<str>, QoS>)>) {
        let client_id = &info.client_id;
        let clean = info.clean_session;
        let mut sessions = self.sessions();
        let mut discarded = None;
        let resumed = match sessions.get(&**client_id).cloned() {
            Some(old) => {
                let mut state = old.lock();
                if let Some(previous) = state.outbox.take() {
                    tracing::info!(client_id = %client_id, "session taken over by a new connection");
                    previous.close();
                }
                if !clean && !state.clean {
                    drop(state);
                    Some(old)
                } else {
                    discarded = Some((old.key, state.end()));
                    drop(state);
                    sessions.remove(&**client_id);
                    None
                }
            }
            None => None,
        };
        let present = resumed.is_some();
        let session = resumed.unwrap_or_else(|| {
            let session = Arc::new(Session::new(
                self.new_session_key(),
                info.clone(),
                self.journal.as_ref(),
            ));
            sessions.insert(client_id.to_string(), session.clone());
            session
        });
        {
            let mut state = session.lock();
            state.clean = clean;
            state.info = info.clone();
            state.journal_session(None);
            outbox.push(Packet::ConnAck(ConnAck {
                session_present: present,
                code: ConnectReturnCode::Accepted,
            }));
            state.attach(outbox.clone(), self.limits);
        }
        drop(sessions);
        (session, present, discarded)
    }

    /// Fires `shutdown` and closes every attached connection (their readers then end without
    /// publishing wills). A connection attaching concurrently checks `shutdown` after it is
    /// registered, so none is missed.
    pub(crate) fn shut_down(&self) {
        self.shutdown.fire();
        let sessions = self.all_sessions();
        for session in sessions {
            if let Some(outbox) = &session.lock().outbox {
                outbox.close();
            }
        }
    }

    /// Unbinds a connection from its session. A clean session ends here (its subscriptions
    /// leave the index before this returns); a persistent one stays, queueing QoS 1/2 messages,
    /// until the client returns or the session expires.
    pub(crate) async fn detach(&self, session: &Arc<Session>, outbox: &Arc<Outbox>) {
        let ended = {
            let mut sessions = self.sessions();
            let mut state = session.lock();
            if !state
                .outbox
                .as_ref()
                .is_some_and(|o| Arc::ptr_eq(o, outbox))
            {
                return; // taken over: the session belongs to the new connection now
            }
            state.outbox = None;
            if !state.clean {
                state.disconnected_at = Some(Instant::now());
                state.journal_session(Some(SystemTime::now()));
                return;
            }
            let filters = state.end();
            drop(state);
            if sessions
                .get(session.client_id())
                .is_some_and(|s| Arc::ptr_eq(s, session))
            {
                sessions.remove(session.client_id());
            }
            filters
        };
        self.remove_subscriptions(session.key, ended).await;
    }

    /// Subscribes `client_id` to `filter` (a valid filter) for a plugin, creating an offline
    /// persistent session if there is none.
    pub(crate) fn add_subscription(&self, client_id: &str, filter: &str, qos: QoS) {
        // The registry stays locked until the session is: a session ends only under its own lock
        // (`SessionState::end`), so it cannot end between being found and being subscribed. The
        // registry is released before the index is waited for (lock order: registry, session,
        // index).
        let mut sessions = self.sessions();
        let session = sessions
            .entry(client_id.to_owned())
            .or_insert_with(|| {
                let info = Arc::new(SessionInfo::new(client_id));
                let session = Session::new(self.new_session_key(), info, self.journal.as_ref());
                let mut state = session.lock();
                state.disconnected_at = Some(Instant::now());
                state.journal_session(Some(SystemTime::now()));
                drop(state);
                Arc::new(session)
            })
            .clone();
        let mut state = session.lock();
        drop(sessions);
        state.subscriptions.insert(Box::from(filter), qos);
        state.journal_op(|client_id| StoreOp::Subscribe {
            client_id,
            filter: ByteString::from(filter),
            qos,
        });
        let subscriber = Subscriber {
            session: session.clone(),
            qos,
        };
        self.router
            .index_mut()
            .insert(filter, session.key, subscriber);
    }

    /// Registers a persistent session read from the store, offline since `disconnected_at`.
    pub(crate) fn restore_session(
        &self,
        info: Arc<SessionInfo>,
        disconnected_at: Instant,
    ) -> Arc<Session> {
        let session = Arc::new(Session::new(
            self.new_session_key(),
            info,
            self.journal.as_ref(),
        ));
        session.lock().disconnected_at = Some(disconnected_at);
        self.sessions()
            .insert(session.client_id().to_owned(), session.clone());
        session
    }

    /// Every session in the registry.
    pub(super) fn all_sessions(&self) -> Vec<Arc<Session>> {
        self.sessions().values().cloned().collect()
    }

    /// Removes persistent sessions that have been offline longer than `session_expiry_interval`.
    async fn expire_once(&self, expiry: Duration) {
        let now = Instant::now();
        let mut expired = Vec::new();
        self.sessions().retain(|_, session| {
            let mut state = session.lock();
            let gone = state.outbox.is_none()
                && state
                    .disconnected_at
                    .is_some_and(|t| now.duration_since(t) >= expiry);
            if gone {
                expired.push((session.key, state.end()));
            }
            !gone
        });
        for (key, filters) in expired {
            tracing::debug!(session_key = key, "session expired");
            self.remove_subscriptions(key, filters).await;
        }
    }
}

/// The congested sessions a producer's messages went to: it waits for them to drain before it
/// reads its next message (backpressure).
#[derive(Default)]
pub(crate) struct HeldBack(Vec<Arc<Session>>);

impl HeldBack {
    /// Whether no session is held here.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits until every session held here has drained, giving each up to `timeout` from when
    /// the wait for it begins (one still congested then is marked stalled), and forgets them.
    /// Each its own time: a healthy subscriber is not marked stalled because a stalled one
    /// used up the time before it.
    pub(crate) async fn wait(&mut self, limits: SessionLimits, timeout: Duration) {
        for session in self.0.drain(..) {
            let deadline = tokio::time::Instant::now() + timeout;
            session.relieved(limits, deadline).await;
        }
    }
}

impl<P: Plugin> Shared<P> {
    /// Routes a message to every matching session that may receive it. `sender` is the client id
    /// of the publisher (empty for a message a plugin published). A producer that passes `held`
    /// gets the congested sessions there and must wait for them ([`HeldBack::wait`]); without
    /// it full queues drop the message.
    pub(crate) async fn route(
        &self,
        sender: &str,
        message: &Publish,
        mut held: Option<&mut HeldBack>,
    ) {
        let core = &*self.core;
        if message.retain {
            core.router.retain(message, core.journal.as_deref());
            if self.hooked(Hooks::RETAINED_MESSAGE) {
                self.plugins
                    .on_broker_retained_message(sender, message)
                    .await;
            }
        }
        // Live forwarding carries retain=0; only messages sent for a new subscription carry 1.
        let live;
        let message = if message.retain {
            live = Publish {
                retain: false,
                ..message.clone()
            };
            &live
        } else {
            message
        };
        let producer = match held {
            Some(_) => Producer::Waits,
            None => Producer::Capped,
        };
        for (session, granted) in core.router.targets(&message.topic) {
            let congested = self.deliver(&session, message, granted, producer).await;
            if let (true, Some(held)) = (congested, held.as_deref_mut()) {
                held.0.push(session);
            }
        }
    }

    /// Delivers one message to one session at `min(message QoS, granted)`, if the plugins let
    /// that client receive it. Returns whether the session is congested (see [`Session::deliver`]).
    pub(crate) async fn deliver(
        &self,
        session: &Session,
        message: &Publish,
        granted: QoS,
        producer: Producer,
    ) -> bool {
        if self.hooked(Hooks::TOPIC_FILTERING) {
            let info = session.info();
            let verdict = self
                .plugins
                .topic_filtering(&info, &message.topic, Action::Receive)
                .await;
            if !verdict.permits() {
                return false;
            }
        }
        let qos = message.qos.min(granted);
        let (delivery, congested) =
            session.deliver(message, qos, self.core.limits, &self.core.stats, producer);
        if self.hooked(Hooks::RETAINED_MESSAGE) && delivery == Delivery::QueuedOffline {
            // The event shows the message as it will be delivered, at the granted QoS.
            let queued = Publish {
                qos,
                ..message.clone()
            };
            self.plugins
                .on_broker_retained_message(session.client_id(), &queued)
                .await;
        }
        congested
    }
}

/// Expires sessions periodically until the broker shuts down.
pub(crate) async fn expire_sessions(core: Arc<Core>) {
    let Some(expiry) = core.config.session_expiry_interval else {
        return;
    };
    let period = (expiry / 2).clamp(Duration::from_millis(100), Duration::from_secs(10));
    loop {
        tokio::select! {
            () = tokio::time::sleep(period) => core.expire_once(expiry).await,
            () = core.shutdown.fired() => return,
        }
    }
}

/// Routes the messages plugins publish through `BrokerContext::publish`.
pub(crate) async fn route_plugin_messages<P: Plugin>(
    shared: Arc<Shared<P>>,
    mut messages: mpsc::Receiver<Publish>,
) {
    let core = &*shared.core;
    let mut held = HeldBack::default();
    loop {
        tokio::select! {
            message = messages.recv() => match message {
                Some(message) => {
                    shared.route("", &message, Some(&mut held)).await;
                    held.wait(core.limits, core.config.backpressure_timeout).await;
                }
                None => return,
            },
            () = shared.core.shutdown.fired() => return,
        }
    }
}
