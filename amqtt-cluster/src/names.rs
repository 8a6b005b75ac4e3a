//! The NATS subjects, streams and key-value buckets of a cluster, and the keys in them.

use std::fmt::Write;

use sha2::{Digest, Sha256};

/// A text longer than this is keyed by its SHA-256 (hex) instead of its own bytes in hex, so a
/// key stays well inside NATS's control-line limit.
const SPELLED_OUT: usize = 256;

/// The names of one cluster, as seen by one node.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    cluster: String,
}

impl Names {
    pub(crate) fn new(cluster: &str) -> Names {
        Names {
            cluster: cluster.into(),
        }
    }

    /// Where `node` receives QoS 0 messages (core NATS).
    pub(crate) fn direct(&self, node: &str) -> String {
        format!("amqtt.{}.n.{node}", self.cluster)
    }

    /// Where `node` receives QoS 1/2 messages: the subject of its stream.
    pub(crate) fn queued(&self, node: &str) -> String {
        format!("amqtt.{}.q.{node}", self.cluster)
    }

    /// The JetStream stream holding `node`'s QoS 1/2 messages until it has routed them.
    pub(crate) fn stream(&self, node: &str) -> String {
        format!("AMQTT_{}_Q_{node}", self.cluster)
    }

    /// Where `node` answers requests from the other nodes (client takeover).
    pub(crate) fn control(&self, node: &str) -> String {
        format!("amqtt.{}.ctl.{node}", self.cluster)
    }

    /// The key-value bucket `what` (interest, retained, owners).
    pub(crate) fn bucket(&self, what: &str) -> String {
        format!("AMQTT_{}_{what}", self.cluster)
    }
}

/// A key-value key for `text` (a topic, filter or client id): its bytes in hex, or for a long
/// text `h` and its SHA-256 in hex. Keys may only hold `[-/_=.a-zA-Z0-9]`.
pub(crate) fn key(text: &str) -> String {
    let mut key = String::with_capacity(2 * text.len().min(SPELLED_OUT) + 1);
    if text.len() > SPELLED_OUT {
        key.push('h');
        for byte in Sha256::digest(text.as_bytes()) {
            let _ = write!(key, "{byte:02x}");
        }
    } else {
        key.push('x');
        for byte in text.bytes() {
            let _ = write!(key, "{byte:02x}");
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_valid() {
        let long = "a/".repeat(200);
        let texts = ["", "a/b", "a/b/", "$SYS/x", "é tab\t", long.as_str()];
        let keys: Vec<String> = texts.iter().map(|t| key(t)).collect();
        for (i, k) in keys.iter().enumerate() {
            assert!(k.bytes().all(|b| b.is_ascii_alphanumeric()), "{k}");
            assert!(k.len() <= 2 * SPELLED_OUT + 1);
            assert!(!keys[..i].contains(k), "{k} twice");
        }
        assert_eq!(key("a/b"), "x612f62");
    }
}
