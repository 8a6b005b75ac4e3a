//! The figures `/metrics` reports, read from the broker at each scrape and written with
//! `prometheus-client`'s encoder: a [`Collector`] rather than registered metrics, since the
//! broker already counts (in `amqtt_core::broker::Stats`) and nothing is kept twice.

use std::fmt;

use amqtt_core::broker::QosCounters;
use amqtt_core::codec::QoS;
use amqtt_core::plugin::BrokerContext;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// The QoS label values, in the order of [`QoS`].
const QOS_LEVELS: [(QoS, &str); 3] = [
    (QoS::AtMostOnce, "0"),
    (QoS::AtLeastOnce, "1"),
    (QoS::ExactlyOnce, "2"),
];

/// Reads the broker's figures for each scrape.
#[derive(Debug)]
pub(super) struct Figures {
    ctx: BrokerContext,
}

impl Figures {
    pub(super) fn new(ctx: BrokerContext) -> Figures {
        Figures { ctx }
    }
}

impl Collector for Figures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let e = &mut encoder;
        let stats = self.ctx.stats();
        let sessions = self.ctx.sessions();
        let online = sessions.iter().filter(|s| s.connected).count();
        let sum = |f: fn(&amqtt_core::plugin::SessionSummary) -> usize| -> u64 {
            sessions.iter().map(f).sum::<usize>() as u64
        };

        let connections = self.ctx.listener_connections();
        let connections: Vec<_> = connections
            .iter()
            .map(|(name, open)| ([("listener", &**name)], *open as u64))
            .collect();
        gauges(
            e,
            "amqtt_connections",
            "Connections open on each listener, in their handshake or serving a client (what max_connections limits).",
            &connections,
        )?;
        let session_states = [
            ([("state", "online")], online as u64),
            ([("state", "offline")], (sessions.len() - online) as u64),
        ];
        gauges(
            e,
            "amqtt_sessions",
            "Sessions the broker holds: online (a client attached) or offline (persistent, waiting for its client).",
            &session_states,
        )?;
        let inflight = [
            ([("direction", "out")], sum(|s| s.inflight)),
            ([("direction", "in")], sum(|s| s.incoming_pending)),
        ];
        gauges(
            e,
            "amqtt_inflight_messages",
            "QoS 1/2 messages in flight: out, sent and not yet acknowledged; in, QoS 2 received and awaiting PUBREL.",
            &inflight,
        )?;

        by_qos(
            e,
            "amqtt_messages_received",
            "PUBLISH packets received from clients, by QoS.",
            &stats.messages_received,
        )?;
        by_qos(
            e,
            "amqtt_messages_sent",
            "PUBLISH packets sent to clients, by the QoS they were sent at.",
            &stats.messages_sent,
        )?;
        bytes(
            e,
            "amqtt_received",
            "Bytes read from clients (every packet).",
            stats.bytes_received.get(),
        )?;
        bytes(
            e,
            "amqtt_sent",
            "Bytes written to clients (every packet).",
            stats.bytes_sent.get(),
        )?;
        let drops = stats
            .drops()
            .map(|(reason, dropped)| ([("reason", reason)], dropped.get()));
        counters(
            e,
            "amqtt_messages_dropped",
            "Messages not delivered to a subscriber, by reason: qos0 (outbound queue full), queue_full (QoS 1/2 past max_queued), shared (shared-subscription member ended), expired (message expiry passed), too_large (over the client's maximum packet size), queued_bytes (past max_queued_bytes).",
            &drops,
        )?;
        let gauge_figures = [
            (
                "amqtt_clients_connected",
                "MQTT clients connected (CONNACK sent).",
                stats.clients_connected.get(),
            ),
            (
                "amqtt_clients_connected_peak",
                "The most MQTT clients connected at once since start.",
                stats.clients_maximum.get(),
            ),
            (
                "amqtt_subscriptions",
                "Subscriptions (filter and session pairs).",
                self.ctx.subscription_count() as u64,
            ),
            (
                "amqtt_retained_messages",
                "Retained messages stored.",
                self.ctx.retained_count() as u64,
            ),
            (
                "amqtt_queued_messages",
                "QoS 1/2 messages waiting in sessions' queues to be sent (offline or slow clients).",
                sum(|s| s.queued),
            ),
        ];
        for (name, help, value) in gauge_figures {
            gauge(e, name, help, value)?;
        }
        let counter_figures = [
            (
                "amqtt_clients_accepted",
                "Connections accepted since start (CONNACK with success).",
                stats.clients_total.get(),
            ),
            (
                "amqtt_packets_received",
                "MQTT packets of any type received from clients.",
                stats.packets_received.get(),
            ),
            (
                "amqtt_packets_sent",
                "MQTT packets of any type sent to clients.",
                stats.packets_sent.get(),
            ),
            (
                "amqtt_connections_refused",
                "Connections closed at once because their listener was at max_connections.",
                stats.connections_refused.get(),
            ),
            (
                "amqtt_connections_rate_limited",
                "Connections closed at once because their listener was past max_connection_rate.",
                stats.connections_rate_limited.get(),
            ),
            (
                "amqtt_publishes_throttled",
                "Times a client's reading paused for max_messages_per_second or max_bytes_per_second.",
                stats.publishes_throttled.get(),
            ),
            (
                "amqtt_subscriptions_refused",
                "SUBSCRIBE filters refused for max_subscriptions_per_client.",
                stats.subscriptions_refused.get(),
            ),
            (
                "amqtt_auth_failures",
                "CONNECTs and re-authentications the authentication plugins refused.",
                stats.auth_failures.get(),
            ),
            (
                "amqtt_protocol_errors",
                "Connections closed because of a malformed packet or a protocol violation.",
                stats.protocol_errors.get(),
            ),
        ];
        for (name, help, value) in counter_figures {
            counter(e, name, help, value)?;
        }
        Ok(())
    }
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let gauge = ConstGauge::new(value);
    gauge.encode(e.encode_descriptor(name, help, None, gauge.metric_type())?)
}

fn gauges<L: prometheus_client::encoding::EncodeLabelSet>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: &[(L, u64)],
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, ConstGauge::new(0u64).metric_type())?;
    for (labels, value) in values {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// A counter; the encoder adds `_total` to its sample.
fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let counter = ConstCounter::new(value);
    counter.encode(e.encode_descriptor(name, help, None, counter.metric_type())?)
}

/// A counter of bytes: the encoder names it `{name}_bytes_total`, with a `# UNIT` line.
fn bytes(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let counter = ConstCounter::new(value);
    counter.encode(e.encode_descriptor(name, help, Some(&Unit::Bytes), counter.metric_type())?)
}

fn counters<L: prometheus_client::encoding::EncodeLabelSet>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: &[(L, u64)],
) -> fmt::Result {
    let mut family =
        e.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
    for (labels, value) in values {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// A counter with a `qos` label per level.
fn by_qos(e: &mut DescriptorEncoder, name: &str, help: &str, values: &QosCounters) -> fmt::Result {
    let per_level = QOS_LEVELS.map(|(qos, label)| ([("qos", label)], values.at(qos)));
    counters(e, name, help, &per_level)
}
