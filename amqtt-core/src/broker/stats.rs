//! Broker counters, read by `$SYS` and by tests.
//!
//! A [`Counter`] is bumped on the hot path by every worker thread (bytes, packets and messages
//! in and out, several times per message). One shared atomic would bounce its cache line
//! between the cores on every bump, so each counter keeps one slot per thread shard
//! (`thread_shard.rs`): a worker thread adds to its own slot, and reading sums them.

use std::sync::atomic::{AtomicU64, Ordering};

use super::thread_shard::{Padded, SHARDS, shard};
use crate::codec::QoS;

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter([Padded<AtomicU64>; SHARDS]);

impl Counter {
    /// Adds one.
    pub fn increment(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0[shard()].0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value: the sum of the slots (bumps racing with the read may or may not be
    /// in it).
    pub fn get(&self) -> u64 {
        self.0.iter().fold(0, |sum, slot| {
            sum.wrapping_add(slot.0.load(Ordering::Relaxed))
        })
    }
}

/// A [`Counter`] per QoS level, read per level or as one total.
#[derive(Debug, Default)]
pub struct QosCounters([Counter; 3]);

impl QosCounters {
    /// Adds one at `qos`.
    pub fn increment(&self, qos: QoS) {
        self.0[qos as usize].increment();
    }

    /// Adds `counts[q]` at QoS `q`, for each level whose count is not 0.
    pub fn add_by_level(&self, counts: [u64; 3]) {
        for (counter, n) in self.0.iter().zip(counts) {
            if n > 0 {
                counter.add(n);
            }
        }
    }

    /// The count at `qos`.
    pub fn at(&self, qos: QoS) -> u64 {
        self.0[qos as usize].get()
    }

    /// The count over every QoS level.
    pub fn get(&self) -> u64 {
        self.0.iter().fold(0, |sum, c| sum.wrapping_add(c.get()))
    }
}

/// A value that goes up and down (e.g. connected clients).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Adds one.
    pub fn increment(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Raises the value to `value` if that is higher (a high-water mark).
    pub fn raise_to(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }

    /// Adds one and returns the new value.
    pub fn increment_get(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Subtracts one.
    pub fn decrement(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The broker's counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes read from clients.
    pub bytes_received: Counter,
    /// Bytes written to clients.
    pub bytes_sent: Counter,
    /// Packets of any type received from clients.
    pub packets_received: Counter,
    /// Packets of any type written to clients.
    pub packets_sent: Counter,
    /// PUBLISH packets received from clients, by their QoS.
    pub messages_received: QosCounters,
    /// PUBLISH packets written to clients, by the QoS they were sent at.
    pub messages_sent: QosCounters,
    /// Clients currently connected.
    pub clients_connected: Gauge,
    /// The most clients connected at once since start.
    pub clients_maximum: Gauge,
    /// Connections accepted since start (CONNACK 0x00 sent).
    pub clients_total: Counter,
    /// QoS 0 messages dropped because the subscriber's outbound queue was full (`max_outbound`)
    /// and it was stalled, or the producer could not wait.
    pub dropped_qos0: Counter,
    /// QoS 1/2 messages dropped because the subscriber's session queue was full (`max_queued`)
    /// and it was offline or stalled, or the producer could not wait.
    pub dropped_queue_full: Counter,
    /// QoS 1/2 messages dropped because the broker's session queues together held
    /// `max_queued_bytes` and the subscriber was offline or stalled, or the producer could not
    /// wait; `$SYS/broker/messages/publish/dropped/queued_bytes`.
    pub dropped_queued_bytes: Counter,
    /// QoS 1/2 messages of shared subscriptions lost when the member they went to ended (its
    /// clean session closed, its session expired) before completing them: QoS 2 messages it had
    /// been sent, which no other member may have [MQTT-4.8.2-5], and messages whose group had no
    /// other member left.
    pub dropped_shared: Counter,
    /// MQTT 5.0 messages dropped for a subscriber because their Message Expiry Interval passed
    /// while they waited for it (queued offline, pending, or in its outbound queue);
    /// `$SYS/broker/messages/publish/dropped/expired`.
    pub messages_expired: Counter,
    /// Packets not sent to an MQTT 5.0 client because they were larger than the Maximum Packet
    /// Size it gave in its CONNECT; `$SYS/broker/messages/publish/dropped/too_large`.
    pub dropped_too_large: Counter,
    /// Connections refused at once because their listener was at `max_connections`;
    /// `$SYS/broker/clients/refused/full`.
    pub connections_refused: Counter,
    /// Connections closed at once, before any handshake, because their listener was over its
    /// `max_connection_rate`; `$SYS/broker/clients/refused/rate`.
    pub connections_rate_limited: Counter,
    /// PUBLISH packets over their client's `max_messages_per_second` or `max_bytes_per_second`:
    /// the broker paused reading from the client before handling each (none is dropped);
    /// `$SYS/broker/messages/publish/throttled`.
    pub publishes_throttled: Counter,
    /// SUBSCRIBE filters refused (SUBACK 0x80, or 0x97 in MQTT 5.0) because the session held
    /// `max_subscriptions_per_client` subscriptions; `$SYS/broker/subscriptions/refused/quota`.
    pub subscriptions_refused: Counter,
    /// Connections closed because of a malformed packet or a protocol violation.
    pub protocol_errors: Counter,
    /// CONNECTs and re-authentications the authentication plugins refused (a Deny, a refusal,
    /// or an enhanced-authentication method no plugin knows).
    pub auth_failures: Counter,
    /// Copies of messages published here sent to other nodes of the cluster (one per node);
    /// `$SYS/broker/cluster/messages/sent`.
    pub cluster_sent: Counter,
    /// Messages other nodes of the cluster forwarded to this one;
    /// `$SYS/broker/cluster/messages/received`.
    pub cluster_received: Counter,
    /// Copies that crossed no node boundary: QoS 0 messages for other nodes dropped because too
    /// many waited to be sent (NATS away or slower than the publishers), copies larger than
    /// NATS takes, and QoS 0 messages from other nodes that arrived faster than this node
    /// routes them; `$SYS/broker/messages/publish/dropped/cluster`.
    pub dropped_cluster: Counter,
}

impl Stats {
    /// Every count of messages not delivered to a subscriber, by reason: the `reason` of the
    /// metrics' `amqtt_messages_dropped_total` and the last level of
    /// `$SYS/broker/messages/publish/dropped/<reason>`.
    pub fn drops(&self) -> [(&'static str, &Counter); 7] {
        [
            ("qos0", &self.dropped_qos0),
            ("queue_full", &self.dropped_queue_full),
            ("queued_bytes", &self.dropped_queued_bytes),
            ("shared", &self.dropped_shared),
            ("expired", &self.messages_expired),
            ("too_large", &self.dropped_too_large),
            ("cluster", &self.dropped_cluster),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::Counter;
    use crate::broker::thread_shard::SHARDS;

    /// Bumps from more threads than there are slots all reach the total.
    #[test]
    fn a_counter_sums_the_bumps_of_every_thread() {
        let counter = Counter::default();
        std::thread::scope(|scope| {
            for _ in 0..SHARDS + 3 {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        counter.increment();
                    }
                    counter.add(5);
                });
            }
        });
        assert_eq!(counter.get(), (SHARDS as u64 + 3) * 1005);
    }
}
