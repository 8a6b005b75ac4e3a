//! Totals over every session (connected, messages in flight, queued, QoS 2 awaiting PUBREL),
//! kept as the sessions change so that `$SYS` and `/metrics` read them without visiting, copying
//! or locking a single session (`BrokerContext::session_totals`).
//!
//! Each session's lock guard notes the session's [`Footprint`] when it takes the lock and adds
//! the difference when it releases it (`SessionGuard`'s drop, where the session's presence is
//! published too); a session dropped with anything left takes its footprint back. So the totals
//! follow every change, whatever code made it, and no queue operation has to count. The levels
//! are kept per thread shard like the [`Stats`](super::Stats) counters: every worker adds to its
//! own cache line, and only the reader sums them.

use std::sync::atomic::{AtomicU64, Ordering};

use super::thread_shard::{Padded, SHARDS, shard};
use crate::plugin::SessionTotals;

/// What one session adds to the totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Footprint {
    /// Whether a connection is attached.
    pub(crate) connected: bool,
    /// QoS 1/2 messages sent and not yet acknowledged.
    pub(crate) inflight: usize,
    /// QoS 1/2 messages waiting to be sent.
    pub(crate) queued: usize,
    /// QoS 2 messages received and awaiting PUBREL.
    pub(crate) incoming_pending: usize,
}

/// A level that goes up and down, one slot per thread shard; a slot alone may go below zero
/// (a message queued on one thread and sent on another), the sum does not.
#[derive(Debug, Default)]
struct Level([Padded<AtomicU64>; SHARDS]);

impl Level {
    /// Adds `after - before` (two's complement: a wrapping add of a negative difference).
    fn change(&self, before: usize, after: usize) {
        if before != after {
            let delta = (after as u64).wrapping_sub(before as u64);
            self.0[shard()].0.fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// The sum of the slots; a read racing with a change may see half of it, never below 0.
    fn get(&self) -> usize {
        let sum = self.0.iter().fold(0u64, |sum, slot| {
            sum.wrapping_add(slot.0.load(Ordering::Relaxed))
        });
        usize::try_from((sum as i64).max(0)).unwrap_or(usize::MAX)
    }
}

/// The footprints of every live session, summed.
#[derive(Debug, Default)]
pub(crate) struct SessionLevels {
    connected: Level,
    inflight: Level,
    queued: Level,
    incoming_pending: Level,
}

impl SessionLevels {
    /// A session's footprint went from `before` to `after`.
    #[inline]
    pub(crate) fn change(&self, before: Footprint, after: Footprint) {
        if before != after {
            self.connected
                .change(usize::from(before.connected), usize::from(after.connected));
            self.inflight.change(before.inflight, after.inflight);
            self.queued.change(before.queued, after.queued);
            self.incoming_pending
                .change(before.incoming_pending, after.incoming_pending);
        }
    }

    /// The totals now, over `sessions` sessions (the registry's count).
    pub(crate) fn totals(&self, sessions: usize) -> SessionTotals {
        SessionTotals {
            sessions,
            connected: self.connected.get(),
            inflight: self.inflight.get(),
            queued: self.queued.get(),
            incoming_pending: self.incoming_pending.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_changes_across_threads() {
        let levels = std::sync::Arc::new(SessionLevels::default());
        let queued = |n| Footprint {
            queued: n,
            connected: n > 0,
            ..Footprint::default()
        };
        levels.change(Footprint::default(), queued(5));
        // Taken back on another thread (another shard, possibly): that slot goes negative.
        let other = levels.clone();
        std::thread::spawn(move || other.change(queued(5), queued(2)))
            .join()
            .expect("thread");
        let totals = levels.totals(1);
        assert_eq!((totals.queued, totals.connected), (2, 1));
        levels.change(queued(2), Footprint::default());
        assert_eq!(levels.totals(0), SessionTotals::default());
    }
}
