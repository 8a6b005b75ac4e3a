//! The aMQTT client YAML configuration ([`ClientConfig`]) and its mapping to [`ClientOptions`].
//!
//! ```
//! use amqtt_core::client::ClientConfig;
//!
//! let config = ClientConfig::from_yaml(
//!     "keep_alive: 5\ndefault_qos: 1\nconnection:\n  uri: mqtt://127.0.0.1:1883\n",
//! )?;
//! let options = config.options()?;
//! assert_eq!(options.keep_alive, 5);
//! assert_eq!(config.uri(), Some("mqtt://127.0.0.1:1883"));
//! # Ok::<(), amqtt_core::client::ClientConfigError>(())
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use super::ClientOptions;
use crate::codec::QoS;
use crate::config::{Yaml11, plain_message};
use crate::transport::client::ConnectOptions;

/// Why a client configuration is invalid.
#[derive(Debug, Error)]
#[error("invalid client configuration at `{key}`: {reason}")]
pub struct ClientConfigError {
    /// The path of the offending key (`.` when the document itself is wrong).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// The `connection` (or legacy `broker`) section: where and how to connect.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// The broker URL (`mqtt://`, `mqtts://`, `ws://`, `wss://`, optionally with credentials).
    pub uri: Option<String>,
    /// PEM file of trusted CAs.
    pub cafile: Option<PathBuf>,
    /// Directory of PEM CA certificates.
    pub capath: Option<PathBuf>,
    /// Inline PEM CA certificates.
    pub cadata: Option<String>,
    /// Client certificate (PEM).
    pub certfile: Option<PathBuf>,
    /// Client key (PEM).
    pub keyfile: Option<PathBuf>,
}

/// The `will` section.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct WillConfig {
    /// The will's topic.
    pub topic: String,
    /// The will's payload.
    #[serde(default)]
    pub message: String,
    /// Its QoS (0-2).
    #[serde(default)]
    pub qos: u8,
    /// Whether it is retained.
    #[serde(default)]
    pub retain: bool,
}

/// One entry of the `topics` section: publish flags for a topic.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct TopicConfig {
    /// QoS used by `publish_default` on this topic.
    pub qos: Option<u8>,
    /// Retain flag used by `publish_default` on this topic.
    pub retain: Option<bool>,
}

fn default_keep_alive() -> u16 {
    10
}
fn default_ping_delay() -> u64 {
    1
}
fn default_true() -> bool {
    true
}
fn default_connection_timeout() -> u64 {
    60
}
fn default_retries() -> i32 {
    2
}
fn default_max_interval() -> u64 {
    10
}

/// aMQTT's client configuration; times are in seconds. Unknown keys (such as `plugins`, whose
/// client plugins are chosen at compile time here) are ignored.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Keep-alive interval (default 10).
    #[serde(default = "default_keep_alive")]
    pub keep_alive: u16,
    /// How long before the keep-alive expires the ping is sent (default 1).
    #[serde(default = "default_ping_delay")]
    pub ping_delay: u64,
    /// Default publish QoS (default 0).
    #[serde(default)]
    pub default_qos: u8,
    /// Default retain flag (default false).
    #[serde(default)]
    pub default_retain: bool,
    /// Whether to reconnect after a loss (default true).
    #[serde(default = "default_true")]
    pub auto_reconnect: bool,
    /// Bound on connecting and on waiting for the CONNACK (default 60).
    #[serde(default = "default_connection_timeout")]
    pub connection_timeout: u64,
    /// Reconnection attempts, negative for forever (default 2).
    #[serde(default = "default_retries")]
    pub reconnect_retries: i32,
    /// Cap of the reconnection backoff (default 10).
    #[serde(default = "default_max_interval")]
    pub reconnect_max_interval: u64,
    /// Whether sessions start clean (default true).
    #[serde(default = "default_true")]
    pub cleansession: bool,
    /// Client identifier (generated when absent).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Per-topic publish flags.
    #[serde(default)]
    pub topics: HashMap<String, TopicConfig>,
    /// The broker to connect to (`broker` is accepted as an alias).
    #[serde(default, alias = "broker")]
    pub connection: ConnectionConfig,
    /// The will message.
    #[serde(default)]
    pub will: Option<WillConfig>,
    /// Whether the server certificate must match the host name (default true).
    #[serde(default = "default_true")]
    pub check_hostname: bool,
    /// Whether the server certificate is verified at all (default true).
    #[serde(default = "default_true")]
    pub verify_cert: bool,
}

impl ClientConfig {
    /// Parses a YAML client configuration (an empty document gives the defaults). Booleans and
    /// numbers read as in aMQTT's YAML 1.1 (`cleansession: yes`), see [`crate::config::yaml11`].
    pub fn from_yaml(text: &str) -> Result<ClientConfig, ClientConfigError> {
        let text = if text.trim().is_empty() { "{}" } else { text };
        let deserializer = serde_yaml::Deserializer::from_str(text);
        serde_path_to_error::deserialize(Yaml11(deserializer)).map_err(|e| {
            let key = e.path().to_string();
            let reason = plain_message(&key, &e.into_inner().to_string());
            ClientConfigError { key, reason }
        })
    }

    /// The broker URL of the `connection` section.
    pub fn uri(&self) -> Option<&str> {
        self.connection.uri.as_deref()
    }

    /// The client options this configuration describes.
    pub fn options(&self) -> Result<ClientOptions, ClientConfigError> {
        let qos = |key: &str, value: u8| {
            QoS::from_u8(value).ok_or_else(|| ClientConfigError {
                key: key.to_owned(),
                reason: format!("QoS must be 0, 1 or 2, not {value}"),
            })
        };
        let c = &self.connection;
        let mut connection = ConnectOptions::new()
            .check_hostname(self.check_hostname)
            .insecure_skip_verify(!self.verify_cert)
            .connect_timeout(Some(Duration::from_secs(self.connection_timeout)));
        connection.ca_file = c.cafile.clone();
        connection.ca_path = c.capath.clone();
        connection.ca_data = c.cadata.clone();
        connection.cert_file = c.certfile.clone();
        connection.key_file = c.keyfile.clone();
        let mut options = ClientOptions::new()
            .keep_alive(self.keep_alive)
            .ping_delay(Duration::from_secs(self.ping_delay))
            .defaults(qos("default_qos", self.default_qos)?, self.default_retain)
            .auto_reconnect(self.auto_reconnect)
            .reconnect_retries(self.reconnect_retries)
            .reconnect_max_interval(Duration::from_secs(self.reconnect_max_interval))
            .clean_session(self.cleansession)
            .client_id(self.client_id.clone().unwrap_or_default())
            .connection(connection);
        if let Some(will) = &self.will {
            options = options.will(
                will.topic.clone(),
                will.message.clone(),
                qos("will.qos", will.qos)?,
                will.retain,
            );
        }
        for (topic, flags) in &self.topics {
            let topic_qos = match flags.qos {
                Some(q) => Some(qos(&format!("topics.{topic}.qos"), q)?),
                None => None,
            };
            options
                .topics
                .insert(topic.clone(), (topic_qos, flags.retain));
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_document_gives_amqtt_defaults() {
        let config = ClientConfig::from_yaml("").expect("empty is valid");
        assert_eq!(config.keep_alive, 10);
        assert_eq!(config.ping_delay, 1);
        assert!(config.auto_reconnect && config.cleansession && config.check_hostname);
        assert_eq!(config.reconnect_retries, 2);
        let options = config.options().expect("defaults map");
        assert_eq!(options.default_qos, QoS::AtMostOnce);
        assert_eq!(
            options.connection.connect_timeout,
            Some(Duration::from_secs(60))
        );
        assert_eq!(config.uri(), None);
    }

    #[test]
    fn every_key_maps_to_an_option() {
        let yaml = "keep_alive: 30\nping_delay: 2\ndefault_qos: 2\ndefault_retain: true\n\
            auto_reconnect: false\nconnection_timeout: 5\nreconnect_retries: -1\n\
            reconnect_max_interval: 3\ncleansession: false\nclient_id: me\n\
            topics:\n  a/b:\n    qos: 1\n    retain: true\n\
            will:\n  topic: w\n  message: bye\n  qos: 1\n  retain: true\n\
            broker:\n  uri: mqtts://u:p@h:8883\n  cafile: ca.pem\n\
            check_hostname: false\nplugins:\n  anything:\n";
        let config = ClientConfig::from_yaml(yaml).expect("valid");
        assert_eq!(config.uri(), Some("mqtts://u:p@h:8883"));
        let o = config.options().expect("maps");
        assert_eq!(o.keep_alive, 30);
        assert_eq!(o.ping_delay, Duration::from_secs(2));
        assert_eq!((o.default_qos, o.default_retain), (QoS::ExactlyOnce, true));
        assert!(!o.auto_reconnect && !o.clean_session);
        assert_eq!(o.reconnect_retries, -1);
        assert_eq!(o.reconnect_max_interval, Duration::from_secs(3));
        assert_eq!(o.client_id, "me");
        assert_eq!(
            o.topics.get("a/b"),
            Some(&(Some(QoS::AtLeastOnce), Some(true)))
        );
        let will = o.will.expect("will");
        assert_eq!((&*will.topic, &will.message[..]), ("w", &b"bye"[..]));
        assert_eq!((will.qos, will.retain), (QoS::AtLeastOnce, true));
        assert_eq!(o.connection.ca_file, Some(PathBuf::from("ca.pem")));
        assert!(!o.connection.check_hostname);
        assert_eq!(o.connection.connect_timeout, Some(Duration::from_secs(5)));
    }

    #[test]
    fn booleans_read_as_in_amqtt() {
        for (spelling, value) in crate::config::YAML11_BOOLEANS {
            let yaml = format!(
                "cleansession: {spelling}\ncheck_hostname: {spelling}\nverify_cert: {spelling}\n\
                 topics:\n  a:\n    retain: {spelling}\nclient_id: {spelling}\n"
            );
            let config = ClientConfig::from_yaml(&yaml).expect(spelling);
            assert_eq!(
                (
                    config.cleansession,
                    config.check_hostname,
                    config.verify_cert
                ),
                (value, value, value)
            );
            assert_eq!(config.topics["a"].retain, Some(value));
            assert_eq!(config.client_id.as_deref(), Some(spelling));
        }
        let e = ClientConfig::from_yaml("cleansession: maybe\n").expect_err("not a boolean");
        assert_eq!(e.key, "cleansession");
        assert!(
            e.reason.contains("expected a boolean: true/false, yes/no"),
            "{}",
            e.reason
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = ClientConfig::from_yaml("keep_alive: soon\n").expect_err("not a number");
        assert_eq!(e.key, "keep_alive");
        let bad_qos = ClientConfig::from_yaml("default_qos: 3\n").expect("parses");
        assert_eq!(bad_qos.options().expect_err("QoS 3").key, "default_qos");
        let bad_will = ClientConfig::from_yaml("will:\n  topic: w\n  qos: 7\n").expect("parses");
        assert_eq!(bad_will.options().expect_err("QoS 7").key, "will.qos");
    }
}
