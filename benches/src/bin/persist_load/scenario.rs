//! The load scenarios: who publishes what at which QoS and rate, and who subscribes to it.

use amqtt_core::codec::QoS;

/// Scenario names, in the order `--scenarios` lists them.
pub(crate) const NAMES: [&str; 7] = [
    "pairs_q1",
    "fanin_q1",
    "pairs_q0",
    "fanin_q0",
    "fanout_q0",
    "latency_q0",
    "latency_q1",
];

/// One load scenario.
pub(crate) struct Scenario {
    /// QoS of the messages and of the subscriptions.
    pub(crate) qos: QoS,
    /// Messages per second per publisher (the latency scenarios), `None` for a flood.
    pub(crate) rate: Option<f64>,
    /// Whether the subscribers keep their sessions (clean_session=0, in 5.0 a session that
    /// never expires), so that a store journals their messages.
    pub(crate) persistent: bool,
    /// The subscribers' client ids and filters.
    pub(crate) subscribers: Vec<(String, String)>,
    /// The publishers' topics, one publisher each.
    pub(crate) topics: Vec<String>,
    /// Copies of each message the subscribers receive together (fan-out: one per subscriber).
    pub(crate) copies: u64,
}

impl Scenario {
    /// The scenario called `name` (one of [`NAMES`]); `rate` is the latency scenarios' rate.
    pub(crate) fn named(name: &str, rate: f64) -> Option<Scenario> {
        let (kind, qos) = name.rsplit_once('_')?;
        let qos = match qos {
            "q0" => QoS::AtMostOnce,
            "q1" => QoS::AtLeastOnce,
            _ => return None,
        };
        let (subscribers, topics) = match kind {
            "pairs" => pairs(16),
            "latency" => pairs(1),
            "fanin" => (
                vec![("pl-fanin-sub".to_string(), "pl/fanin/+".to_string())],
                (0..4).map(|i| format!("pl/fanin/{i}")).collect(),
            ),
            "fanout" => (
                (0..50)
                    .map(|i| (format!("pl-fanout-sub-{i}"), "pl/fanout".to_string()))
                    .collect(),
                vec!["pl/fanout".to_string()],
            ),
            _ => return None,
        };
        Some(Scenario {
            qos,
            rate: (kind == "latency").then_some(rate),
            // The store measurement's floods; the others are the shared load tool's (clean).
            persistent: qos == QoS::AtLeastOnce && kind != "latency",
            copies: if kind == "fanout" {
                subscribers.len() as u64
            } else {
                1
            },
            subscribers,
            topics,
        })
    }
}

/// `n` publisher/subscriber pairs, on `pl/pair/<i>`.
fn pairs(n: usize) -> (Vec<(String, String)>, Vec<String>) {
    let topics: Vec<String> = (0..n).map(|i| format!("pl/pair/{i}")).collect();
    let subscribers = topics
        .iter()
        .enumerate()
        .map(|(i, topic)| (format!("pl-pairs-sub-{i}"), topic.clone()))
        .collect();
    (subscribers, topics)
}
