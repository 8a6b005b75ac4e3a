//! The subscription index's lock: a reader-writer lock whose read side is sharded by thread.
//!
//! Every routed message takes the index's read lock. With one lock word, each read lock and
//! unlock is an atomic write to a cache line that both workers write, so it bounces between
//! the cores on every message: in a 16-pair QoS 0 flood on two workers `perf annotate` put
//! 5 to 10 % of the broker's CPU on the lock word. Here a reader locks only its thread's shard
//! (`thread_shard.rs`), a line its own core keeps; a writer locks every shard, in order.
//!
//! The shards are `parking_lot` locks so that a writer's fair unlock still hands each shard to
//! the readers parked on it before the writer's next slice can take it back (see
//! `subscriptions.rs`): std's lock lets the writer barge back in, which stalled routing for
//! 100-175 ms while 300 000 subscriptions were removed.
//!
//! This is the one module that allows `unsafe`: the value sits in an `UnsafeCell` that the
//! guards open, and each `unsafe` block says why the reference it makes is sound.

#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};

use parking_lot::RawRwLock;
use parking_lot::lock_api::{RawRwLock as _, RawRwLockFair as _};

use super::thread_shard::{Padded, SHARDS, shard};

/// A reader-writer lock over `T` with one lock word per thread shard.
pub(crate) struct ShardedRwLock<T> {
    shards: [Padded<RawRwLock>; SHARDS],
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through the guards. Read guards on several threads at once
// each give `&T`, which needs `T: Sync`; a write guard gives one thread `&mut T`, through which
// the value can be moved to that thread, which needs `T: Send`. These are `std::sync::RwLock`'s
// bounds for the same reasons. (`Send` is derived: `UnsafeCell<T>` is `Send` when `T` is.)
unsafe impl<T: Send + Sync> Sync for ShardedRwLock<T> {}

impl<T: Default> Default for ShardedRwLock<T> {
    fn default() -> Self {
        ShardedRwLock {
            shards: std::array::from_fn(|_| Padded(RawRwLock::INIT)),
            value: UnsafeCell::new(T::default()),
        }
    }
}

impl<T> ShardedRwLock<T> {
    /// Locks the calling thread's shard for reading; waits while a writer holds it.
    pub(crate) fn read(&self) -> ShardedReadGuard<'_, T> {
        let shard = &self.shards[shard()].0;
        shard.lock_shared();
        ShardedReadGuard {
            value: &self.value,
            shard,
        }
    }

    /// Locks every shard for writing, in order (two writers cannot deadlock: both start at
    /// the first shard).
    pub(crate) fn write(&self) -> ShardedWriteGuard<'_, T> {
        for shard in &self.shards {
            shard.0.lock_exclusive();
        }
        ShardedWriteGuard { lock: self }
    }
}

/// Read access to a [`ShardedRwLock`]'s value; the shard is unlocked when this is dropped. Not
/// `Send` (it holds `&UnsafeCell<T>`), like `parking_lot`'s guards: it cannot be held across
/// an `.await` in a task that may move between threads.
pub(crate) struct ShardedReadGuard<'a, T> {
    value: &'a UnsafeCell<T>,
    shard: &'a RawRwLock,
}

impl<T> Deref for ShardedReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds `shard` locked shared until it is dropped. `&mut T` is made
        // only by a write guard, which exists only while every shard, this one included, is
        // locked exclusively; so none exists now and none can be made while this guard lives,
        // and the `&T` returned does not outlive the guard.
        unsafe { &*self.value.get() }
    }
}

impl<T> Drop for ShardedReadGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: `read` locked this shard shared for this guard, and only this drop unlocks it.
        unsafe { self.shard.unlock_shared() }
    }
}

/// Write access to a [`ShardedRwLock`]'s value; every shard is unlocked when this is dropped
/// (or by [`ShardedWriteGuard::unlock_fair`]).
pub(crate) struct ShardedWriteGuard<'a, T> {
    lock: &'a ShardedRwLock<T>,
}

impl<T> ShardedWriteGuard<'_, T> {
    /// Unlocks every shard fairly: readers parked on a shard get it before any writer, this
    /// one included, can lock it again.
    pub(crate) fn unlock_fair(guard: Self) {
        let lock = guard.lock;
        std::mem::forget(guard);
        for shard in lock.shards.iter().rev() {
            // SAFETY: `write` locked every shard exclusively for the guard just forgotten, whose
            // drop therefore never unlocks them; each is unlocked here once.
            unsafe { shard.0.unlock_exclusive_fair() }
        }
    }
}

impl<T> Deref for ShardedWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds every shard exclusively until it is dropped, so no read
        // guard and no other write guard exists; the reference does not outlive the guard.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for ShardedWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; and the `&mut self` borrow makes this the only reference
        // through this guard for as long as it lives.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for ShardedWriteGuard<'_, T> {
    fn drop(&mut self) {
        for shard in self.lock.shards.iter().rev() {
            // SAFETY: `write` locked every shard exclusively for this guard, and only this drop
            // (or `unlock_fair`, which forgets the guard first) unlocks them.
            unsafe { shard.0.unlock_exclusive() }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{ShardedRwLock, ShardedWriteGuard};

    /// Writers on several threads never lose an update, and readers never see a value half
    /// written (the pair's halves always agree).
    #[test]
    fn writers_exclude_each_other_and_the_readers() {
        let lock = Arc::new(ShardedRwLock::<(u64, u64)>::default());
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let lock = &lock;
                scope.spawn(move || {
                    for n in 0..2000 {
                        let mut value = lock.write();
                        value.0 += 1;
                        value.1 += 1;
                        if n % 2 == 0 {
                            ShardedWriteGuard::unlock_fair(value);
                        }
                    }
                });
                scope.spawn(move || {
                    for _ in 0..2000 {
                        let value = lock.read();
                        assert_eq!(value.0, value.1);
                    }
                });
            }
        });
        assert_eq!(*lock.read(), (8000, 8000));
    }
}
