//! Token buckets for the rate limits: connections a listener accepts per second, and the
//! PUBLISH messages and bytes one client sends per second.
//!
//! A bucket belongs to the one task that draws from it (a listener's accept loop, a
//! connection's reader), so it is a plain value: no lock, no atomic, no allocation.

use std::time::{Duration, Instant};

use super::outbox::Outbox;
use crate::config::RateLimit;

/// A bucket of `burst` tokens refilled at `per_second` tokens a second.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket for `limit`.
    pub(crate) fn new(limit: RateLimit, now: Instant) -> TokenBucket {
        TokenBucket {
            per_second: limit.per_second as f64,
            burst: limit.burst as f64,
            tokens: limit.burst as f64,
            refilled_at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.refilled_at = now;
    }

    /// Takes one token if there is one: `false` when the rate is exceeded.
    pub(crate) fn try_take_one(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// Takes `n` tokens, going into debt if there are not enough, and returns how long the
    /// taker must wait for the debt to be paid (`None`: within the rate). A taker that waits
    /// that long before it takes again stays at the rate on average, with bursts of `burst`.
    pub(crate) fn take(&mut self, n: u64, now: Instant) -> Option<Duration> {
        self.refill(now);
        self.tokens -= n as f64;
        (self.tokens < 0.0).then(|| Duration::from_secs_f64(-self.tokens / self.per_second))
    }
}

/// A log line at most once a second, with the number of events it stood for.
#[derive(Debug, Default)]
pub(crate) struct OncePerSecond {
    logged_at: Option<Instant>,
    skipped: u64,
}

impl OncePerSecond {
    /// Notes an event: `Some(n)` when a line is due, `n` the events since the last line (this
    /// one included).
    pub(crate) fn due(&mut self, now: Instant) -> Option<u64> {
        self.skipped += 1;
        if self
            .logged_at
            .is_some_and(|at| now.saturating_duration_since(at) < Duration::from_secs(1))
        {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.skipped))
    }
}

/// The PUBLISH rates of one connection (`max_messages_per_second`, `max_bytes_per_second`):
/// the connection's reader pauses after a message over either rate.
#[derive(Debug)]
pub(crate) struct PublishRates {
    messages: Option<TokenBucket>,
    bytes: Option<TokenBucket>,
}

impl PublishRates {
    /// The buckets for the limits given; `None` when there is neither.
    pub(crate) fn new(
        messages: Option<RateLimit>,
        bytes: Option<RateLimit>,
    ) -> Option<Box<PublishRates>> {
        if messages.is_none() && bytes.is_none() {
            return None;
        }
        let now = Instant::now();
        Some(Box::new(PublishRates {
            messages: messages.map(|limit| TokenBucket::new(limit, now)),
            bytes: bytes.map(|limit| TokenBucket::new(limit, now)),
        }))
    }

    /// Counts a message of `size` bytes; returns how long to wait before handling it, if it
    /// is over a rate.
    pub(crate) fn take(&mut self, size: usize) -> Option<Duration> {
        let now = Instant::now();
        let messages = self.messages.as_mut().and_then(|b| b.take(1, now));
        let bytes = self.bytes.as_mut().and_then(|b| b.take(size as u64, now));
        messages.max(bytes)
    }
}

/// Pauses a connection's reader for `wait` (it sent a PUBLISH over its rate), or until the
/// connection closes (shutdown, takeover).
pub(crate) async fn pause_reading(outbox: &Outbox, wait: Duration) {
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = outbox.closed() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_second: u64, burst: u64) -> RateLimit {
        RateLimit { per_second, burst }
    }

    #[test]
    fn a_burst_passes_then_one_token_per_interval() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(limit(10, 3), start);
        assert!((0..3).all(|_| bucket.try_take_one(start)));
        assert!(!bucket.try_take_one(start));
        assert!(!bucket.try_take_one(start + Duration::from_millis(50)));
        assert!(bucket.try_take_one(start + Duration::from_millis(100)));
        // Idle time refills up to the burst, not beyond.
        let later = start + Duration::from_secs(10);
        assert!((0..3).all(|_| bucket.try_take_one(later)));
        assert!(!bucket.try_take_one(later));
    }

    #[test]
    fn a_line_at_most_once_a_second_with_what_it_stands_for() {
        let start = Instant::now();
        let mut log = OncePerSecond::default();
        assert_eq!(log.due(start), Some(1));
        assert_eq!(log.due(start + Duration::from_millis(500)), None);
        assert_eq!(log.due(start + Duration::from_millis(900)), None);
        assert_eq!(log.due(start + Duration::from_secs(1)), Some(3));
    }

    #[test]
    fn debt_is_paid_by_waiting() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(limit(100, 200), start);
        assert_eq!(bucket.take(150, start), None);
        // 50 left; 100 more is 50 in debt: half a second at 100 a second.
        assert_eq!(bucket.take(100, start), Some(Duration::from_millis(500)));
        let paid = start + Duration::from_millis(500);
        assert_eq!(bucket.take(0, paid), None);
    }
}
