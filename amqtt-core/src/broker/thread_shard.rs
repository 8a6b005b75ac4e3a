//! Per-thread shards of state that every worker thread writes on the hot path (the counters in
//! `stats.rs`, the read side of the index's lock in `sharded_lock.rs`): one shared atomic
//! written by both cores bounces its cache line between them on every write, one slot per
//! thread, each on its own cache line, stays in its core's cache.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Shards per sharded value: more than the worker threads of the machines we run on, so that
/// two workers rarely share one (threads past it share shards, which costs speed, never
/// correctness).
pub(crate) const SHARDS: usize = 16;

/// The shard the next thread to ask is given.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard, given at its first use (`usize::MAX` before).
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The calling thread's shard, below [`SHARDS`] and the same for every sharded value.
pub(crate) fn shard() -> usize {
    SHARD.with(|shard| {
        let given = shard.get();
        if given != usize::MAX {
            return given;
        }
        let new = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
        shard.set(new);
        new
    })
}

/// A value alone on its cache line (128 bytes: two lines, which x86's adjacent-line prefetcher
/// fetches together).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);
