//! Session expiry: a persistent session that is offline ends its own expiry interval after the
//! disconnect (MQTT 5.0: the Session Expiry Interval of its CONNECT, or of its DISCONNECT;
//! 3.1.1: the broker's `session_expiry_interval`). Deadlines wait in a min-heap; one task sleeps
//! until the earliest, so a session ends on time without scanning the registry.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::session::{Session, SessionState};
use super::shared::Core;
use crate::codec::ReasonBody;
use crate::config::BrokerConfig;
use crate::plugin::SessionInfo;

/// Deadlines, earliest first: (deadline, session key, client id).
type Deadlines = BinaryHeap<Reverse<(Instant, u64, Box<str>)>>;

/// When offline sessions are due to expire. A `std::sync::Mutex`: held for a heap operation,
/// never across `.await`.
#[derive(Debug, Default)]
pub(crate) struct ExpirySchedule {
    /// An entry may be stale (the client came back, or went away again later): the session is
    /// checked when it falls due.
    deadlines: Mutex<Deadlines>,
    /// Wakes the expiry task when a deadline earlier than all others is added.
    earlier: Notify,
}

impl ExpirySchedule {
    fn lock(&self) -> std::sync::MutexGuard<'_, Deadlines> {
        self.deadlines.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The earliest deadline.
    fn next(&self) -> Option<Instant> {
        self.lock().peek().map(|Reverse((at, _, _))| *at)
    }

    /// Takes the entries due at `now`.
    fn due(&self, now: Instant) -> Vec<(Instant, u64, Box<str>)> {
        let mut heap = self.lock();
        let mut due = Vec::new();
        while heap.peek().is_some_and(|Reverse((at, _, _))| *at <= now) {
            if let Some(Reverse(entry)) = heap.pop() {
                due.push(entry);
            }
        }
        due
    }
}

/// How long a session of `info` outlives its connection; `None`: until the broker stops.
/// MQTT 5.0 asks for itself (`u32::MAX`: never expires); 3.1.1 gets the broker's setting.
pub(crate) fn session_expiry(info: &SessionInfo, config: &BrokerConfig) -> Option<Duration> {
    match info.session_expiry_interval() {
        Some(u32::MAX) => None,
        Some(seconds) => Some(Duration::from_secs(u64::from(seconds))),
        None => config.session_expiry_interval,
    }
}

/// The Session Expiry Interval an MQTT 5.0 DISCONNECT sets, if any; `Err` when the CONNECT's
/// was 0 and this one is not, a protocol error ([MQTT-3.14.2-2]).
pub(crate) fn disconnect_expiry(info: &SessionInfo, body: &ReasonBody) -> Result<Option<u32>, ()> {
    let Some(seconds) = body
        .properties
        .as_ref()
        .and_then(|p| p.session_expiry_interval)
    else {
        return Ok(None);
    };
    if seconds != 0 && info.session_expiry_interval() == Some(0) {
        return Err(());
    }
    Ok(Some(seconds))
}

impl SessionState {
    /// Applies the Session Expiry Interval of a DISCONNECT: 0 ends the session with the
    /// connection, `u32::MAX` keeps it until the broker stops. The session's CONNECT properties
    /// take the new interval too, so that the store, which keeps them, restores it.
    pub(crate) fn set_expiry_interval(&mut self, seconds: u32) {
        self.clean = seconds == 0;
        self.expiry = (seconds != u32::MAX).then(|| Duration::from_secs(u64::from(seconds)));
        let mut info = (*self.info).clone();
        info.properties
            .get_or_insert_default()
            .session_expiry_interval = Some(seconds);
        self.info = Arc::new(info);
    }
}

impl Core {
    /// Schedules the end of `session`, offline now in `state`, if it has an expiry interval and
    /// no earlier entry in the schedule.
    pub(crate) fn schedule_expiry(&self, session: &Session, state: &mut SessionState) {
        // A deadline past what `Instant` can hold is never.
        if let Some(at) = state
            .disconnected_at
            .zip(state.expiry)
            .and_then(|(since, expiry)| since.checked_add(expiry))
        {
            if state.expiry_due.is_some_and(|due| due <= at) {
                return; // that entry re-schedules this one when it falls due
            }
            state.expiry_due = Some(at);
            let mut heap = self.expiry.lock();
            let earliest = heap.peek().is_none_or(|Reverse((first, _, _))| at < *first);
            heap.push(Reverse((at, session.key, session.client_id().into())));
            drop(heap);
            if earliest {
                self.expiry.earlier.notify_one();
            }
        }
    }

    /// Ends the sessions whose deadline has come and that are still offline since then; one
    /// offline for less than its expiry (it came back and left again, or its expiry changed) is
    /// scheduled again.
    async fn expire_due(&self, now: Instant) {
        let mut expired = Vec::new();
        for (at, key, client_id) in self.expiry.due(now) {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            let Some(session) = sessions.get(&*client_id).filter(|s| s.key == key).cloned() else {
                continue; // ended or replaced meanwhile
            };
            let mut state = session.lock();
            if state.expiry_due == Some(at) {
                state.expiry_due = None;
            }
            let gone = state.outbox.is_none()
                && !state.ended
                && state
                    .disconnected_at
                    .zip(state.expiry)
                    .is_some_and(|(since, expiry)| now.duration_since(since) >= expiry);
            if gone {
                expired.push((key, state.end()));
                drop(state);
                sessions.remove(&*client_id);
            } else if state.outbox.is_none() && !state.ended {
                self.schedule_expiry(&session, &mut state);
            }
        }
        for (key, ended) in expired {
            tracing::debug!(session_key = key, "session expired");
            self.retire(key, ended).await;
        }
    }
}

/// Ends sessions as they expire, until the broker shuts down.
pub(crate) async fn expire_sessions(core: Arc<Core>) {
    loop {
        let next = core.expiry.next();
        let wait = async {
            match next {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = wait => core.expire_due(Instant::now()).await,
            () = core.expiry.earlier.notified() => {}
            () = core.shutdown.fired() => return,
        }
    }
}
