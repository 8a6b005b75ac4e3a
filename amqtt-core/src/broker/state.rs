//! State shared by every connection: the session registry, the router, counters and limits.
//!
//! Lock order, where more than one is taken: session registry, then a session, then an outbox.
//! The router's locks are never held while a session is locked (routing collects its targets and
//! releases the index before delivering).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::outbox::Outbox;
use super::router::Router;
use super::session::{Session, SessionLimits};
use super::stats::Stats;
use super::trigger::Trigger;
use crate::codec::{ByteString, ConnAck, ConnectReturnCode, Packet, Publish};
use crate::config::BrokerConfig;
use crate::plugin::Plugin;

/// Everything the connections of one broker share.
pub(crate) struct Shared<P> {
    pub(crate) config: BrokerConfig,
    /// The plugin set; its hooks are called by the connection tasks.
    pub(crate) _plugins: P,
    pub(crate) router: Router,
    pub(crate) stats: Stats,
    pub(crate) limits: SessionLimits,
    /// Fired when the broker shuts down.
    pub(crate) shutdown: Trigger,
    /// Sessions by client id. A `std::sync::Mutex`: held only for map operations, never across `.await`.
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    next_session_key: AtomicU64,
    /// Seed for generated client ids, so two broker runs do not hand out the same ones.
    id_seed: u64,
}

impl<P: Plugin> Shared<P> {
    pub(crate) fn new(config: BrokerConfig, plugins: P) -> Shared<P> {
        let limits = SessionLimits {
            max_inflight: usize::from(config.max_inflight),
            max_queued: config.max_queued,
        };
        Shared {
            config,
            _plugins: plugins,
            router: Router::default(),
            stats: Stats::default(),
            limits,
            shutdown: Trigger::default(),
            sessions: Mutex::new(HashMap::new()),
            next_session_key: AtomicU64::new(1),
            id_seed: RandomState::new().hash_one(std::process::id()),
        }
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn session_count(&self) -> usize {
        self.sessions().len()
    }

    /// A fresh client id for a client that sent an empty one with clean session 1.
    pub(crate) fn generate_client_id(&self) -> ByteString {
        let n = self.next_session_key.fetch_add(1, Ordering::Relaxed);
        ByteString::from(format!(
            "amqtt-{:012x}-{n}",
            self.id_seed & 0xffff_ffff_ffff
        ))
    }

    /// Binds a connection to the session of `client_id`, taking over any connection that has it.
    /// Queues the CONNACK, then everything the resumed session had in flight and queued.
    /// Returns the session and whether it was resumed (CONNACK's session-present flag).
    pub(crate) fn attach(
        &self,
        client_id: &ByteString,
        clean: bool,
        outbox: &Arc<Outbox>,
    ) -> (Arc<Session>, bool) {
        let mut sessions = self.sessions();
        let existing = sessions.get(&**client_id).cloned();
        let mut discarded = None;
        let session = match existing {
            Some(old) => {
                let mut state = old.lock();
                if let Some(previous) = state.outbox.take() {
                    tracing::info!(client_id = %client_id, "session taken over by a new connection");
                    previous.close();
                }
                let resume = !clean && !state.clean;
                if resume {
                    drop(state);
                    Some(old)
                } else {
                    discarded = Some((std::mem::take(&mut state.subscriptions), old.key));
                    drop(state);
                    sessions.remove(&**client_id);
                    None
                }
            }
            None => None,
        };
        let present = session.is_some();
        let session = session.unwrap_or_else(|| {
            let key = self.next_session_key.fetch_add(1, Ordering::Relaxed);
            let session = Arc::new(Session::new(key, client_id.clone(), clean));
            sessions.insert(client_id.to_string(), session.clone());
            session
        });
        {
            let mut state = session.lock();
            state.clean = clean;
            outbox.push(Packet::ConnAck(ConnAck {
                session_present: present,
                code: ConnectReturnCode::Accepted,
            }));
            state.attach(outbox.clone(), self.limits);
        }
        drop(sessions);
        if let Some((filters, key)) = discarded {
            self.router.unsubscribe_all(filters.keys(), key);
        }
        (session, present)
    }

    /// Unbinds a connection from its session. A clean session ends here; a persistent one stays,
    /// queueing QoS 1/2 messages, until the client returns or the session expires.
    pub(crate) fn detach(&self, session: &Arc<Session>, outbox: &Arc<Outbox>) {
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
        if state.clean {
            let filters = std::mem::take(&mut state.subscriptions);
            drop(state);
            if sessions
                .get(session.client_id())
                .is_some_and(|s| Arc::ptr_eq(s, session))
            {
                sessions.remove(session.client_id());
            }
            drop(sessions);
            self.router.unsubscribe_all(filters.keys(), session.key);
        } else {
            state.disconnected_at = Some(Instant::now());
        }
    }

    /// Routes a message published by a client (or a will) to every matching session.
    pub(crate) fn publish(&self, mut message: Publish) {
        if message.retain {
            self.router.retain(&message);
        }
        // Live forwarding carries retain=0; only messages sent for a new subscription carry 1.
        message.retain = false;
        for (session, granted) in self.router.targets(&message.topic) {
            let qos = message.qos.min(granted);
            session.deliver(message.clone(), qos, self.limits, &self.stats);
        }
    }

    /// Removes persistent sessions that have been offline longer than `session_expiry_interval`.
    fn expire_once(&self, expiry: Duration) {
        let now = Instant::now();
        let mut expired = Vec::new();
        self.sessions().retain(|_, session| {
            let mut state = session.lock();
            let gone = state.outbox.is_none()
                && state
                    .disconnected_at
                    .is_some_and(|t| now.duration_since(t) >= expiry);
            if gone {
                expired.push((std::mem::take(&mut state.subscriptions), session.key));
            }
            !gone
        });
        for (filters, key) in expired {
            tracing::debug!(session_key = key, "session expired");
            self.router.unsubscribe_all(filters.keys(), key);
        }
    }
}

/// Expires sessions periodically until the broker shuts down.
pub(crate) async fn expire_sessions<P: Plugin>(shared: Arc<Shared<P>>) {
    let Some(expiry) = shared.config.session_expiry_interval else {
        return;
    };
    let period = (expiry / 2).clamp(Duration::from_millis(100), Duration::from_secs(10));
    loop {
        tokio::select! {
            () = tokio::time::sleep(period) => shared.expire_once(expiry),
            () = shared.shutdown.fired() => return,
        }
    }
}
