//! A session's lock guard, and what each release of the lock publishes for those who read a
//! session without locking it: its [`Presence`] (for routing) and its [`Footprint`] in the
//! broker's totals (for `$SYS` and `/metrics`).

use std::ops::{Deref, DerefMut};
use std::sync::MutexGuard;
use std::sync::atomic::{AtomicU8, Ordering};

use super::{Presence, Session, SessionState};
use crate::broker::session_totals::{Footprint, SessionLevels};
use crate::codec::QoS;
use crate::plugin::SessionSummary;

/// A session's state, locked. Releasing it publishes the session's [`Presence`], so that the
/// flag routing reads follows every change of connection, queue and end, and adds the change of
/// its [`Footprint`] to the broker's [`SessionLevels`].
pub(crate) struct SessionGuard<'a> {
    state: MutexGuard<'a, SessionState>,
    presence: &'a AtomicU8,
    levels: &'a SessionLevels,
    /// The footprint when the lock was taken.
    before: Footprint,
}

impl Deref for SessionGuard<'_> {
    type Target = SessionState;

    fn deref(&self) -> &SessionState {
        &self.state
    }
}

impl DerefMut for SessionGuard<'_> {
    fn deref_mut(&mut self) -> &mut SessionState {
        &mut self.state
    }
}

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        let presence = self.state.presence() as u8;
        // Written only when it changes: most releases leave it as it was.
        if self.presence.load(Ordering::Relaxed) != presence {
            self.presence.store(presence, Ordering::Relaxed);
        }
        self.levels.change(self.before, self.state.footprint());
    }
}

impl Drop for Session {
    /// Takes back what the session still adds to the totals.
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        self.levels.change(state.footprint(), Footprint::default());
    }
}

impl Session {
    /// A snapshot for plugins.
    pub(crate) fn summary(&self) -> SessionSummary {
        let state = self.lock();
        let mut subscriptions: Vec<(String, QoS)> = state
            .subscriptions
            .iter()
            .map(|(filter, grant)| (filter.to_string(), grant.qos))
            .collect();
        subscriptions.sort();
        SessionSummary {
            client_id: self.client_id.to_string(),
            connected: state.outbox.is_some(),
            clean_session: state.clean,
            subscriptions,
            inflight: state.inflight.len(),
            queued: state.pending.len(),
            incoming_pending: state.incoming_qos2.len(),
        }
    }

    pub(crate) fn lock(&self) -> SessionGuard<'_> {
        // Every critical section leaves the state consistent between statements that can panic.
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        SessionGuard {
            before: state.footprint(),
            state,
            presence: &self.presence,
            levels: &self.levels,
        }
    }
}

impl SessionState {
    /// The session's presence, as [`Session::presence`] shows it once the lock is released. A
    /// connection that is closing counts as gone.
    fn presence(&self) -> Presence {
        match &self.outbox {
            Some(outbox) if !self.ended && !outbox.is_closed() => {
                if self.pending.is_empty() && !outbox.is_stalled() {
                    Presence::Ready
                } else {
                    Presence::Congested
                }
            }
            _ => Presence::Offline,
        }
    }

    /// What this session adds to the broker's totals.
    fn footprint(&self) -> Footprint {
        Footprint {
            connected: self.outbox.is_some(),
            inflight: self.inflight.len(),
            queued: self.pending.len(),
            incoming_pending: self.incoming_qos2.len(),
        }
    }
}
