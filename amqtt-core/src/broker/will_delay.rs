//! The MQTT 5.0 Will Delay Interval (3.1.3.2.2): a will with a delay waits, after its
//! connection closed, until the delay has passed or the session ends, whichever is first; a new
//! connection that resumes the session before then cancels it ([MQTT-3.1.3-9]).
//!
//! The connection that went away keeps the wait (its task ends after it). Whoever decides first,
//! under the session's lock, settles it: the session ending (clean start by a new connection,
//! expiry, a session that ends with its connection) publishes it, a connection resuming the
//! session cancels it, and otherwise the delay running out publishes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::session::Session;
use super::trigger::Trigger;
use crate::codec::LastWill;

/// A will waiting for its delay, kept in its session (`SessionState::pending_will`) while the
/// session is offline.
#[derive(Debug, Default)]
pub(crate) struct PendingWill {
    /// Fired once the session decided (ended, or resumed).
    decided: Trigger,
    /// Whether it decided to publish.
    publish: AtomicBool,
}

impl PendingWill {
    /// Decides the will's fate: publish it now, or never. Called once, by whoever took it out
    /// of the session.
    pub(crate) fn settle(&self, publish: bool) {
        self.publish.store(publish, Ordering::Release);
        self.decided.fire();
    }
}

/// The will's delay when it has one (MQTT 5.0, non-zero).
pub(crate) fn will_delay(will: &LastWill) -> Option<Duration> {
    will.properties
        .as_ref()
        .and_then(|p| p.will_delay_interval)
        .filter(|&seconds| seconds > 0)
        .map(|seconds| Duration::from_secs(u64::from(seconds)))
}

/// Waits for the fate of a will whose connection has closed and returns whether to publish it
/// now. `kept`: the session stayed, offline, holding `pending` (see `Core::detach`); otherwise
/// it ended (publish now) or a newer connection resumed it (never).
pub(crate) async fn wait(
    session: &Session,
    pending: &Arc<PendingWill>,
    kept: bool,
    delay: Duration,
) -> bool {
    if !kept {
        return session.lock().ended;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => {
            let mut state = session.lock();
            if state.pending_will.as_ref().is_some_and(|w| Arc::ptr_eq(w, pending)) {
                state.pending_will = None;
                return true;
            }
        }
        () = pending.decided.fired() => {}
    }
    // Taken out of the session by whoever decided; it settles it under the same lock.
    pending.decided.fired().await;
    pending.publish.load(Ordering::Acquire)
}
