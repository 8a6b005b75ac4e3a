//! The figures `/metrics` reports, read from the broker at each scrape and written with
//! `prometheus-client`'s encoder: a [`Collector`] rather than registered metrics, since the
//! broker already counts (in `amqtt_core::broker::Stats`) and nothing is kept twice.

use std::fmt;

use amqtt_core::broker::QosCounters;
use amqtt_core::codec::QoS;
use amqtt_core::plugin::BrokerContext;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
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
        for figure in self.figures() {
            figure.encode(&mut encoder)?;
        }
        Ok(())
    }
}

impl Figures {
    /// Every figure, read now.
    fn figures(&self) -> Vec<Figure<'static>> {
        let stats = self.ctx.stats();
        let sessions = self.ctx.session_totals();
        let connections = self.ctx.listener_connections();
        let drops = stats
            .drops()
            .map(|(reason, dropped)| (reason, dropped.get()));
        vec![
            Figure::gauge(
                "amqtt_connections",
                "Connections open on each listener, in their handshake or serving a client (what max_connections limits).",
                labelled(
                    "listener",
                    connections
                        .into_iter()
                        .map(|(name, open)| (name, open as u64)),
                ),
            ),
            Figure::gauge(
                "amqtt_sessions",
                "Sessions the broker holds: online (a client attached) or offline (persistent, waiting for its client).",
                labelled(
                    "state",
                    [
                        ("online", sessions.connected),
                        ("offline", sessions.offline()),
                    ]
                    .map(|(s, n)| (s, n as u64)),
                ),
            ),
            Figure::gauge(
                "amqtt_inflight_messages",
                "QoS 1/2 messages in flight: out, sent and not yet acknowledged; in, QoS 2 received and awaiting PUBREL.",
                labelled(
                    "direction",
                    [
                        ("out", sessions.inflight),
                        ("in", sessions.incoming_pending),
                    ]
                    .map(|(d, n)| (d, n as u64)),
                ),
            ),
            Figure::counter(
                "amqtt_messages_received",
                "PUBLISH packets received from clients, by QoS.",
                by_qos(&stats.messages_received),
            ),
            Figure::counter(
                "amqtt_messages_sent",
                "PUBLISH packets sent to clients, by the QoS they were sent at.",
                by_qos(&stats.messages_sent),
            ),
            Figure::bytes(
                "amqtt_received",
                "Bytes read from clients (every packet).",
                stats.bytes_received.get(),
            ),
            Figure::bytes(
                "amqtt_sent",
                "Bytes written to clients (every packet).",
                stats.bytes_sent.get(),
            ),
            Figure::counter(
                "amqtt_messages_dropped",
                "Messages not delivered to a subscriber, by reason: qos0 (outbound queue full), queue_full (QoS 1/2 past max_queued), shared (shared-subscription member ended), expired (message expiry passed), too_large (over the client's maximum packet size), queued_bytes (past max_queued_bytes).",
                labelled("reason", drops),
            ),
            Figure::gauge(
                "amqtt_clients_connected",
                "MQTT clients connected (CONNACK sent).",
                unlabelled(stats.clients_connected.get()),
            ),
            Figure::gauge(
                "amqtt_clients_connected_peak",
                "The most MQTT clients connected at once since start.",
                unlabelled(stats.clients_maximum.get()),
            ),
            Figure::gauge(
                "amqtt_subscriptions",
                "Subscriptions (filter and session pairs).",
                unlabelled(self.ctx.subscription_count() as u64),
            ),
            Figure::gauge(
                "amqtt_retained_messages",
                "Retained messages stored.",
                unlabelled(self.ctx.retained_count() as u64),
            ),
            Figure::gauge(
                "amqtt_queued_messages",
                "QoS 1/2 messages waiting in sessions' queues to be sent (offline or slow clients).",
                unlabelled(sessions.queued as u64),
            ),
            Figure::counter(
                "amqtt_clients_accepted",
                "Connections accepted since start (CONNACK with success).",
                unlabelled(stats.clients_total.get()),
            ),
            Figure::counter(
                "amqtt_packets_received",
                "MQTT packets of any type received from clients.",
                unlabelled(stats.packets_received.get()),
            ),
            Figure::counter(
                "amqtt_packets_sent",
                "MQTT packets of any type sent to clients.",
                unlabelled(stats.packets_sent.get()),
            ),
            Figure::counter(
                "amqtt_connections_refused",
                "Connections closed at once because their listener was at max_connections.",
                unlabelled(stats.connections_refused.get()),
            ),
            Figure::counter(
                "amqtt_connections_rate_limited",
                "Connections closed at once because their listener was past max_connection_rate.",
                unlabelled(stats.connections_rate_limited.get()),
            ),
            Figure::counter(
                "amqtt_publishes_throttled",
                "Times a client's reading paused for max_messages_per_second or max_bytes_per_second.",
                unlabelled(stats.publishes_throttled.get()),
            ),
            Figure::counter(
                "amqtt_cluster_messages",
                "Messages crossing between this node and the other nodes of its cluster: copies sent (one per node), messages received.",
                labelled(
                    "direction",
                    [
                        ("sent", stats.cluster_sent.get()),
                        ("received", stats.cluster_received.get()),
                    ],
                ),
            ),
            Figure::counter(
                "amqtt_subscriptions_refused",
                "SUBSCRIBE filters refused for max_subscriptions_per_client.",
                unlabelled(stats.subscriptions_refused.get()),
            ),
            Figure::counter(
                "amqtt_auth_failures",
                "CONNECTs and re-authentications the authentication plugins refused.",
                unlabelled(stats.auth_failures.get()),
            ),
            Figure::counter(
                "amqtt_protocol_errors",
                "Connections closed because of a malformed packet or a protocol violation.",
                unlabelled(stats.protocol_errors.get()),
            ),
        ]
    }
}

/// One sample's labels: none, or one name and value.
type Labels = Vec<(&'static str, String)>;

/// A metric family as `/metrics` shows it: what it is, and its samples.
struct Figure<'a> {
    name: &'a str,
    help: &'a str,
    metric_type: MetricType,
    unit: Option<Unit>,
    samples: Vec<(Labels, u64)>,
}

impl<'a> Figure<'a> {
    /// A value that goes up and down.
    fn gauge(name: &'a str, help: &'a str, samples: Vec<(Labels, u64)>) -> Figure<'a> {
        Figure {
            name,
            help,
            metric_type: MetricType::Gauge,
            unit: None,
            samples,
        }
    }

    /// A count since start; the encoder adds `_total` to its samples.
    fn counter(name: &'a str, help: &'a str, samples: Vec<(Labels, u64)>) -> Figure<'a> {
        Figure {
            metric_type: MetricType::Counter,
            ..Figure::gauge(name, help, samples)
        }
    }

    /// A count of bytes: the encoder names it `{name}_bytes_total`, with a `# UNIT` line.
    fn bytes(name: &'a str, help: &'a str, value: u64) -> Figure<'a> {
        Figure {
            unit: Some(Unit::Bytes),
            ..Figure::counter(name, help, unlabelled(value))
        }
    }

    fn encode(&self, e: &mut DescriptorEncoder) -> fmt::Result {
        let mut family =
            e.encode_descriptor(self.name, self.help, self.unit.as_ref(), self.metric_type)?;
        for (labels, value) in &self.samples {
            let sample = family.encode_family(labels)?;
            match self.metric_type {
                MetricType::Gauge => ConstGauge::new(*value).encode(sample)?,
                _ => ConstCounter::new(*value).encode(sample)?,
            }
        }
        Ok(())
    }
}

/// One sample without labels.
fn unlabelled(value: u64) -> Vec<(Labels, u64)> {
    vec![(Vec::new(), value)]
}

/// One sample per value, labelled `label="..."`.
fn labelled<V: AsRef<str>>(
    label: &'static str,
    values: impl IntoIterator<Item = (V, u64)>,
) -> Vec<(Labels, u64)> {
    values
        .into_iter()
        .map(|(value, n)| (vec![(label, value.as_ref().to_owned())], n))
        .collect()
}

/// One sample per QoS level, labelled `qos="0"`, `"1"`, `"2"`.
fn by_qos(values: &QosCounters) -> Vec<(Labels, u64)> {
    labelled(
        "qos",
        QOS_LEVELS.map(|(qos, label)| (label, values.at(qos))),
    )
}
