//! A session's pending queue (QoS 1/2 messages waiting for a connection or for room in its
//! in-flight window), and the broker-wide budget of bytes all pending queues hold together
//! (`max_queued_bytes`).
//!
//! The budget is one shared atomic: every queue adds the topic and payload bytes of a message
//! it takes and subtracts them when the message leaves (sent, expired, dropped with its
//! session), so the figure is exact and no queue is ever scanned. A queue of a broker without
//! the budget holds `None` and counts nothing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::index::Share;
use crate::codec::Publish;

/// The bytes queued in every session's pending queue, and the most allowed.
#[derive(Debug)]
pub(crate) struct QueuedBytes {
    bytes: AtomicU64,
    max: u64,
}

impl QueuedBytes {
    /// An empty budget of `max` bytes.
    pub(crate) fn new(max: u64) -> QueuedBytes {
        QueuedBytes {
            bytes: AtomicU64::new(0),
            max,
        }
    }

    /// The bytes queued now.
    pub(crate) fn get(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whether the queues hold the whole budget: sessions take no more (the slow-consumer
    /// policy applies).
    fn exhausted(&self) -> bool {
        self.get() >= self.max
    }
}

/// What a queued message counts against the budget: its topic and payload.
fn cost(message: &Publish) -> u64 {
    (message.topic.len() + message.payload.len()) as u64
}

/// A QoS 1/2 message waiting for a connection or for room in the in-flight window.
#[derive(Debug)]
pub(crate) struct Queued {
    /// Its entry number in the session (the key of its stored copy).
    pub(crate) entry: u64,
    pub(crate) message: Publish,
    /// The shared subscription it came through, if any.
    pub(crate) share: Option<Arc<Share>>,
}

/// A session's pending queue, counted against the broker's budget when it has one.
#[derive(Debug)]
pub(crate) struct Pending {
    queue: VecDeque<Queued>,
    budget: Option<Arc<QueuedBytes>>,
}

impl Pending {
    /// An empty queue counting against `budget`, if any.
    pub(crate) fn new(budget: Option<Arc<QueuedBytes>>) -> Pending {
        Pending {
            queue: VecDeque::new(),
            budget,
        }
    }

    /// Counts `queued`, which enters the queue, against the budget.
    fn charge(&self, queued: &Queued) {
        if let Some(budget) = &self.budget {
            budget
                .bytes
                .fetch_add(cost(&queued.message), Ordering::Relaxed);
        }
    }

    /// How many messages wait.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether none waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether the broker's pending queues together hold `max_queued_bytes`.
    pub(crate) fn over_budget(&self) -> bool {
        self.budget.as_ref().is_some_and(|b| b.exhausted())
    }

    /// Queues a message last.
    pub(crate) fn push_back(&mut self, queued: Queued) {
        self.charge(&queued);
        self.queue.push_back(queued);
    }

    /// Takes the first message.
    pub(crate) fn pop_front(&mut self) -> Option<Queued> {
        let queued = self.queue.pop_front()?;
        refund(self.budget.as_deref(), &queued);
        Some(queued)
    }

    /// Keeps the messages `keep` says to keep.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Queued) -> bool) {
        let budget = self.budget.as_deref();
        self.queue.retain(|queued| {
            let kept = keep(queued);
            if !kept {
                refund(budget, queued);
            }
            kept
        });
    }

    /// The messages, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.queue.iter()
    }

    /// Takes every message out.
    pub(crate) fn take_all(&mut self) -> VecDeque<Queued> {
        let all = std::mem::take(&mut self.queue);
        if let Some(budget) = self.budget.as_deref() {
            let total = all.iter().map(|queued| cost(&queued.message)).sum();
            budget.bytes.fetch_sub(total, Ordering::Relaxed);
        }
        all
    }
}

/// Gives the budget, if any, back what `queued`, which left its queue, counted against it.
fn refund(budget: Option<&QueuedBytes>, queued: &Queued) {
    if let Some(budget) = budget {
        budget
            .bytes
            .fetch_sub(cost(&queued.message), Ordering::Relaxed);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.take_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{ByteString, QoS};

    fn queued(entry: u64, payload: &'static [u8]) -> Queued {
        Queued {
            entry,
            message: Publish {
                dup: false,
                qos: QoS::AtLeastOnce,
                retain: false,
                topic: ByteString::from_static("t"),
                packet_id: None,
                payload: bytes::Bytes::from_static(payload),
                properties: None,
            },
            share: None,
        }
    }

    #[test]
    fn every_way_out_gives_the_bytes_back() {
        let budget = Arc::new(QueuedBytes::new(10));
        let mut a = Pending::new(Some(budget.clone()));
        let mut b = Pending::new(Some(budget.clone()));
        a.push_back(queued(0, b"1234"));
        a.push_back(queued(1, b"12"));
        b.push_back(queued(2, b"123"));
        assert_eq!(budget.get(), 12);
        assert!(a.over_budget() && b.over_budget());
        assert_eq!(a.pop_front().map(|q| q.entry), Some(0));
        assert_eq!(budget.get(), 7);
        assert!(!a.over_budget());
        b.retain(|_| false);
        assert_eq!(budget.get(), 3);
        drop(a);
        assert_eq!(budget.get(), 0);
    }
}
