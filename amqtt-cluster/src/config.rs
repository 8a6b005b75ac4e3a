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
    /// Seconds a node stays a member without renewing its lease (it renews five times a
    /// lease): a node silent for longer is taken for gone, its sessions are continued by
    /// another node and messages are no longer sent to it.
    pub lease: f64,
}

/// The timings a checked section gives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timings {
    pub(crate) takeover_timeout: Duration,
    pub(crate) lease: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            nats: "nats://127.0.0.1:4222".into(),
            name: "amqtt".into(),
            node: String::new(),
            takeover_timeout: 5.0,
            lease: 10.0,
        }
    }
}

impl ClusterConfig {
    /// Checks the names (they become parts of NATS subjects and stream names) and the timings.
    pub(crate) fn check(&self) -> Result<Timings, ClusterError> {
        for (key, value) in [("name", &self.name), ("node", &self.node)] {
            if !token(value) {
                return Err(ClusterError::Config(format!(
                    "key `cluster.{key}`: expected letters, digits, `-` or `_` (at least one), found {value:?}"
                )));
            }
        }
        Ok(Timings {
            takeover_timeout: seconds("takeover_timeout", self.takeover_timeout)?,
            lease: seconds("lease", self.lease)?,
        })
    }
}

/// The positive number of seconds `value` under `key`.
fn seconds(key: &str, value: f64) -> Result<Duration, ClusterError> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| {
            ClusterError::Config(format!(
                "key `cluster.{key}`: expected a positive number of seconds, found {value}"
            ))
        })
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
        config.node = "a".into();
        config.lease = 0.0;
        let error = config.check().expect_err("no lease").to_string();
        assert!(error.contains("cluster.lease"), "{error}");
    }
}
