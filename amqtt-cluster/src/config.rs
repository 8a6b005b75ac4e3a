//! The top-level `cluster:` section.

use std::time::Duration;

use amqtt_core::cluster::ClusterError;
use serde::{Deserialize, Serialize};

/// How this broker joins its cluster.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// The NATS server's URL (JetStream enabled).
    pub nats: String,
    /// The cluster's name: brokers with the same name and NATS server form one broker.
    pub name: String,
    /// This node's id, unique in the cluster.
    pub node: String,
    /// Seconds a node waits for the previous owner of a client id to close its connection and
    /// hand over its session (a node that is gone answers at once: nobody listens).
    pub takeover_timeout: f64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats: "nats://127.0.0.1:4222".into(),
            name: "amqtt".into(),
            node: String::new(),
            takeover_timeout: 5.0,
        }
    }
}

impl ClusterConfig {
    /// Checks the names (they become parts of NATS subjects and stream names) and the timeout.
    pub(crate) fn check(&self) -> Result<Duration, ClusterError> {
        for (key, value) in [("name", &self.name), ("node", &self.node)] {
            if !token(value) {
                return Err(ClusterError::Config(format!(
                    "key `cluster.{key}`: expected letters, digits, `-` or `_` (at least one), found {value:?}"
                )));
            }
        }
        Duration::try_from_secs_f64(self.takeover_timeout)
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .ok_or_else(|| {
                ClusterError::Config(format!(
                    "key `cluster.takeover_timeout`: expected a positive number of seconds, found {}",
                    self.takeover_timeout
                ))
            })
    }
}

/// Whether `name` can be one token of a NATS subject and part of a stream name.
fn token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_single_tokens() {
        let mut config = ClusterConfig {
            node: "a-1".into(),
            ..ClusterConfig::default()
        };
        assert!(config.check().is_ok());
        for bad in ["", "a.b", "a b", "*", ">", "é"] {
            config.node = bad.into();
            let error = config.check().expect_err("a bad node name").to_string();
            assert!(error.contains("cluster.node"), "{error}");
        }
    }
}
