//! A one-shot, many-waiter signal: set once, and every waiter (present or future) sees it.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A flag that tasks can wait on.
#[derive(Debug, Default)]
pub(crate) struct Trigger {
    fired: AtomicBool,
    notify: Notify,
}

impl Trigger {
    /// Sets the flag and wakes every waiter.
    pub(crate) fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Whether [`Trigger::fire`] was called.
    pub(crate) fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Completes once the trigger has fired.
    pub(crate) async fn fired(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Register before checking the flag, so a fire() in between is not missed.
            notified.as_mut().enable();
            if self.is_fired() {
                return;
            }
            notified.await;
        }
    }
}
