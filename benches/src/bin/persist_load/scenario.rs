//! The load scenarios: who publishes what at which QoS and rate, and who subscribes to it.

use amqtt_core::codec::QoS;

/// Scenario names, in the order `--scenarios` lists them. A latency scenario may carry its own
/// rate, overriding `--rate`: `latency_q1@20000`.
const NAMES: [&str; 7] = [
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
    /// The subscribers.
    pub(crate) subscribers: Vec<Subscriber>,
    /// The publishers' topics, one publisher each.
    pub(crate) topics: Vec<String>,
    /// Copies of each message the subscribers receive together (fan-out: one per subscriber).
    pub(crate) copies: u64,
}

/// One subscriber of a scenario.
pub(crate) struct Subscriber {
    /// Its client id.
    pub(crate) id: String,
    /// Its one filter.
    pub(crate) filter: String,
    /// A publishers' topic the filter matches, to probe it with (`probe.rs`).
    pub(crate) probe: String,
}

impl Scenario {
    /// The scenario called `name` (one of [`NAMES`], a latency one perhaps with `@<rate>`);
    /// `rate` is the latency scenarios' rate otherwise. `None` for an unknown name or a rate
    /// that is not a positive number.
    pub(crate) fn named(name: &str, rate: f64) -> Option<Scenario> {
        let (name, rate) = match name.split_once('@') {
            Some((name, own)) if name.starts_with("latency_") => (
                name,
                own.parse()
                    .ok()
                    .filter(|r: &f64| r.is_finite() && *r > 0.0)?,
            ),
            Some(_) => return None,
            None => (name, rate),
        };
        if !NAMES.contains(&name) {
            return None;
        }
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
                vec![Subscriber::new(
                    "pl-fanin-sub".into(),
                    "pl/fanin/+",
                    "pl/fanin/0",
                )],
                (0..4).map(|i| format!("pl/fanin/{i}")).collect(),
            ),
            "fanout" => (
                (0..50)
                    .map(|i| {
                        Subscriber::new(format!("pl-fanout-sub-{i}"), "pl/fanout", "pl/fanout")
                    })
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

impl Subscriber {
    /// Client `id` on `filter`, probed on `probe`.
    fn new(id: String, filter: &str, probe: &str) -> Subscriber {
        Subscriber {
            id,
            filter: filter.into(),
            probe: probe.into(),
        }
    }
}

/// `n` publisher/subscriber pairs, on `pl/pair/<i>`.
fn pairs(n: usize) -> (Vec<Subscriber>, Vec<String>) {
    let topics: Vec<String> = (0..n).map(|i| format!("pl/pair/{i}")).collect();
    let subscribers = topics
        .iter()
        .enumerate()
        .map(|(i, topic)| Subscriber::new(format!("pl-pairs-sub-{i}"), topic, topic))
        .collect();
    (subscribers, topics)
}

#[cfg(test)]
mod tests {
    use super::Scenario;

    /// A latency scenario takes its own rate after `@`; nothing else does, and the rate must
    /// be a positive number.
    #[test]
    fn latency_scenarios_take_a_rate_after_at() {
        let rate = |name: &str| Scenario::named(name, 5000.0).map(|s| s.rate);
        assert_eq!(rate("latency_q1"), Some(Some(5000.0)));
        assert_eq!(rate("latency_q1@20000"), Some(Some(20000.0)));
        assert_eq!(rate("pairs_q1"), Some(None));
        for bad in [
            "pairs_q1@100",
            "latency_q1@",
            "latency_q1@-1",
            "latency_q1@x",
            "latency_q1@inf",
            "latency_q2",
        ] {
            assert!(rate(bad).is_none(), "{bad}");
        }
    }
}
