//! The broker section of the configuration: raw serde form and the resolved [`BrokerConfig`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::ConfigError;

use super::listener::{ListenerConfig, RawListener};

/// The largest frame MQTT 3.1.1 can express: 256 MiB of remaining length plus a 5-byte header.
const PROTOCOL_MAX_PACKET_SIZE: usize = 268_435_455 + 5;

/// A rate: `per_second` on average, with bursts of up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// How many a second on average.
    pub per_second: u64,
    /// How many may come at once (after a quiet spell).
    pub burst: u64,
}

/// The resolved broker configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Listeners by name, each with the fields it left unset taken from `default`.
    pub listeners: BTreeMap<String, ListenerConfig>,
    /// Extra time allowed past 1.5 times a client's keep-alive before it is disconnected.
    pub timeout_disconnect_delay: Duration,
    /// How long a disconnected persistent session is kept; `None` keeps it until the broker stops.
    pub session_expiry_interval: Option<Duration>,
    /// Largest accepted frame in bytes (fixed header included); larger ones close the connection.
    pub max_packet_size: usize,
    /// Longest keep-alive in seconds an MQTT 5.0 client may use: one asking for more, or for
    /// none (0), is given this one (Server Keep Alive in CONNACK). 3.1.1 clients keep their own
    /// (3.1.1 cannot tell them). `None`: no limit.
    pub max_keep_alive: Option<u16>,
    /// Most QoS 1/2 PUBLISHes an MQTT 5.0 client may have unacknowledged towards the broker
    /// (Receive Maximum in CONNACK, sent unless it is the protocol's default 65535); one more
    /// is a DISCONNECT 0x93.
    pub receive_maximum: u16,
    /// Time a new connection has to send its CONNECT.
    pub connect_timeout: Duration,
    /// Most QoS 1/2 messages a session queues beyond its in-flight window. Past it, publishers
    /// feeding a connected session are held back (backpressure); an offline session, or one
    /// congested longer than `backpressure_timeout`, drops further messages, counted and logged.
    pub max_queued: usize,
    /// Most QoS 1/2 messages sent to one client and not yet acknowledged (less for an MQTT 5.0
    /// client whose CONNECT gave a smaller Receive Maximum).
    pub max_inflight: u16,
    /// The Topic Alias Maximum announced to MQTT 5.0 clients: the most topic aliases a client
    /// may set on one connection; 0 refuses them all.
    pub topic_alias_maximum: u16,
    /// Most packets waiting in one connection's outbound queue. Past it, publishers feeding the
    /// connection are held back; once it has been congested longer than `backpressure_timeout`,
    /// QoS 0 messages beyond it are dropped.
    pub max_outbound: usize,
    /// Longest a publisher is held back for one congested subscriber. After it the subscriber is
    /// marked stalled: its queues are capped at `max_queued`/`max_outbound` and overflow is
    /// dropped, until it drains to half of them.
    pub backpressure_timeout: Duration,
    /// Most bytes (topic and payload) of QoS 1/2 messages all sessions together may queue
    /// (offline, or waiting for room in their in-flight window). Past it the slow-consumer
    /// policy of `max_queued` applies to every session: offline and stalled ones drop further
    /// messages (counted), publishers feeding connected ones are held back. `None`: no limit.
    pub max_queued_bytes: Option<u64>,
    /// Most PUBLISH packets a client may send a second, with its burst: past it the broker
    /// stops reading from that connection until the client is back within the rate (nothing is
    /// dropped). `None`: no limit.
    pub max_messages_per_second: Option<RateLimit>,
    /// Most PUBLISH bytes (topic and payload) a client may send a second, with its burst; past
    /// it the broker stops reading from that connection as for `max_messages_per_second`.
    pub max_bytes_per_second: Option<RateLimit>,
    /// Most subscriptions one session may hold; a SUBSCRIBE filter past it is refused in its
    /// SUBACK slot (0x80, or 0x97 Quota exceeded in MQTT 5.0). `None`: no limit.
    pub max_subscriptions_per_client: Option<usize>,
    /// Deprecated aMQTT top-level `sys_interval`, kept for the `$SYS` plugin.
    pub sys_interval: Option<u64>,
    /// The `plugins` section: plugin name or alias -> its configuration.
    pub plugins: PluginsSection,
    /// The top-level `cluster` section, read by the broker's cluster.
    pub cluster: ClusterSection,
}

/// The top-level `cluster:` section, as written: the broker's cluster reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterSection {
    value: Option<serde_yaml::Value>,
    /// The file the section came from, for error messages.
    pub(super) file: Option<PathBuf>,
}

impl ClusterSection {
    /// The configuration file the section was read from, if any.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// Whether the configuration has a `cluster:` section.
    pub fn is_present(&self) -> bool {
        self.value.is_some()
    }

    /// Removes the section and deserializes it; an empty one is `C::default()`. `None` when
    /// there is none. Errors name the file and the key (`cluster.<field>`).
    pub fn take<C: DeserializeOwned + Default>(&mut self) -> Result<Option<C>, ConfigError> {
        match self.value.take() {
            None => Ok(None),
            Some(value) => deserialize_section(value, self.file.as_deref(), "cluster").map(Some),
        }
    }
}

/// Deserializes the section `value` found under `key` (`C::default()` when it is empty); an
/// error names `file` and the key path of the field and says what was expected.
fn deserialize_section<C: DeserializeOwned + Default>(
    value: serde_yaml::Value,
    file: Option<&std::path::Path>,
    key: &str,
) -> Result<C, ConfigError> {
    if value.is_null() {
        return Ok(C::default());
    }
    serde_path_to_error::deserialize(super::Yaml11(value)).map_err(|e| {
        let field = e.path().to_string();
        let key = if field == "." {
            key.to_owned()
        } else {
            format!("{key}.{field}")
        };
        let message = super::plain_message(&field, &e.into_inner().to_string());
        ConfigError::Invalid {
            file: file.map(Into::into),
            key,
            message,
        }
    })
}

/// The `plugins:` section, in file order. Each value is the plugin's own configuration.
#[derive(Debug, Clone, Default)]
pub struct PluginsSection {
    pub(super) entries: Vec<(String, serde_yaml::Value)>,
    /// The file the section came from, for error messages.
    pub(super) file: Option<PathBuf>,
}

impl PluginsSection {
    /// The plugin names (or aliases) in the order the file lists them.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| name.as_str())
    }

    /// The configuration file the section was read from, if any.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.file.as_deref()
    }

    /// Whether no plugin is listed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes the section under `key` and deserializes it; an empty value is `C::default()`.
    /// `None` when no such key is listed. Errors name the file and the key path
    /// (`plugins.<key>.<field>`) and say what was expected.
    pub fn take<C: DeserializeOwned + Default>(
        &mut self,
        key: &str,
    ) -> Result<Option<C>, ConfigError> {
        let Some(index) = self.entries.iter().position(|(name, _)| name == key) else {
            return Ok(None);
        };
        let (name, value) = self.entries.remove(index);
        deserialize_section(value, self.file.as_deref(), &format!("plugins.{name}")).map(Some)
    }

    /// Adds a section `name` holding `config` serialized (a plugin's effective configuration,
    /// for `amqtt --check-config`). An error names the key and what could not be shown.
    pub fn insert<C: Serialize>(&mut self, name: &str, config: &C) -> Result<(), ConfigError> {
        let value = serde_yaml::to_value(config).map_err(|e| ConfigError::Invalid {
            file: None,
            key: format!("plugins.{name}"),
            message: format!("the configuration cannot be shown as YAML: {e}"),
        })?;
        self.entries.push((name.to_owned(), value));
        Ok(())
    }
}

/// The broker section as written in the file; every field optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBrokerConfig {
    #[serde(default)]
    listeners: Option<BTreeMap<String, RawListener>>,
    #[serde(default, alias = "timeout-disconnect-delay")]
    timeout_disconnect_delay: Option<f64>,
    #[serde(default, alias = "session-expiry-interval")]
    session_expiry_interval: Option<f64>,
    #[serde(default, alias = "max-packet-size")]
    max_packet_size: Option<usize>,
    #[serde(default, alias = "max-keep-alive")]
    max_keep_alive: Option<u16>,
    #[serde(default, alias = "receive-maximum")]
    receive_maximum: Option<u16>,
    #[serde(default, alias = "connect-timeout")]
    connect_timeout: Option<f64>,
    #[serde(default, alias = "max-queued")]
    max_queued: Option<usize>,
    #[serde(default, alias = "max-inflight")]
    max_inflight: Option<u16>,
    #[serde(default, alias = "topic-alias-maximum")]
    topic_alias_maximum: Option<u16>,
    #[serde(default, alias = "max-outbound")]
    max_outbound: Option<usize>,
    #[serde(default, alias = "backpressure-timeout")]
    backpressure_timeout: Option<f64>,
    #[serde(default, alias = "max-queued-bytes")]
    max_queued_bytes: Option<u64>,
    #[serde(default, alias = "max-messages-per-second")]
    max_messages_per_second: Option<u64>,
    #[serde(default, alias = "max-messages-per-second-burst")]
    max_messages_per_second_burst: Option<u64>,
    #[serde(default, alias = "max-bytes-per-second")]
    max_bytes_per_second: Option<u64>,
    #[serde(default, alias = "max-bytes-per-second-burst")]
    max_bytes_per_second_burst: Option<u64>,
    #[serde(default, alias = "max-subscriptions-per-client")]
    max_subscriptions_per_client: Option<usize>,
    #[serde(default, alias = "sys-interval")]
    sys_interval: Option<u64>,
    /// Deprecated aMQTT section for entry-point plugins; accepted so old files still load.
    #[serde(default)]
    auth: Option<serde_yaml::Value>,
    /// Deprecated aMQTT section for entry-point plugins; accepted so old files still load.
    #[serde(default, alias = "topic-check")]
    topic_check: Option<serde_yaml::Value>,
    #[serde(default)]
    plugins: Option<serde_yaml::Value>,
    #[serde(default)]
    cluster: Option<serde_yaml::Value>,
}

/// A resolution error: the key path and what was expected.
pub(super) type ResolveError = (String, String);

fn seconds(key: &str, value: Option<f64>, default: f64) -> Result<Duration, ResolveError> {
    let secs = value.unwrap_or(default);
    Duration::try_from_secs_f64(secs).map_err(|_| {
        (
            key.to_owned(),
            format!("expected a non-negative number of seconds, found {secs}"),
        )
    })
}

/// An optional limit, which when given must be at least 1 (absent: no limit).
pub(super) fn at_least_one<T: PartialEq + From<u8>>(
    key: &str,
    value: Option<T>,
) -> Result<Option<T>, ResolveError> {
    match value {
        Some(n) if n == T::from(0) => Err((
            key.to_owned(),
            "expected at least 1 (leave the key out for no limit), found 0".to_owned(),
        )),
        value => Ok(value),
    }
}

/// A rate under `key` and its burst under `<key>_burst` (default: the rate); a burst needs its rate.
pub(super) fn rate(
    key: &str,
    per_second: Option<u64>,
    burst: Option<u64>,
) -> Result<Option<RateLimit>, ResolveError> {
    let burst_key = format!("{key}_burst");
    match (
        at_least_one(key, per_second)?,
        at_least_one(&burst_key, burst)?,
    ) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err((burst_key, format!("expected `{key}` beside it"))),
        (Some(per_second), burst) => Ok(Some(RateLimit {
            per_second,
            burst: burst.unwrap_or(per_second),
        })),
    }
}

impl RawBrokerConfig {
    pub(super) fn resolve(self) -> Result<BrokerConfig, ResolveError> {
        let max_packet_size = self.max_packet_size.unwrap_or(1024 * 1024);
        if !(2..=PROTOCOL_MAX_PACKET_SIZE).contains(&max_packet_size) {
            return Err((
                "max_packet_size".into(),
                format!(
                    "expected a size from 2 to {PROTOCOL_MAX_PACKET_SIZE} bytes, found {max_packet_size}"
                ),
            ));
        }
        let session_expiry_interval = match self.session_expiry_interval {
            None => None,
            Some(s) => Some(seconds("session_expiry_interval", Some(s), 0.0)?),
        };
        // aMQTT's deprecated `auth`/`topic-check` sections (with no `plugins`) are translated
        // to the plugin form, with a warning that shows it; a file with neither and no
        // `plugins` gets aMQTT's default plugin set.
        let plugins = match self.plugins {
            Some(value) => plugins_section(value)?,
            None if self.auth.is_some() || self.topic_check.is_some() => super::legacy::translate(
                self.auth.as_ref(),
                self.topic_check.as_ref(),
                self.sys_interval,
            )?,
            None => default_plugins(),
        };
        Ok(BrokerConfig {
            listeners: super::listener::resolve_listeners(self.listeners)?,
            timeout_disconnect_delay: seconds(
                "timeout_disconnect_delay",
                self.timeout_disconnect_delay,
                0.0,
            )?,
            session_expiry_interval,
            max_packet_size,
            max_keep_alive: match self.max_keep_alive {
                Some(0) => {
                    return Err((
                        "max_keep_alive".into(),
                        "expected from 1 to 65535 seconds, found 0".into(),
                    ));
                }
                max => max,
            },
            receive_maximum: match self.receive_maximum.unwrap_or(u16::MAX) {
                0 => return Err(("receive_maximum".into(), "expected at least 1".into())),
                n => n,
            },
            connect_timeout: seconds("connect_timeout", self.connect_timeout, 10.0)?,
            max_queued: self.max_queued.unwrap_or(1000),
            max_inflight: match self.max_inflight.unwrap_or(100) {
                0 => return Err(("max_inflight".into(), "expected at least 1".into())),
                n => n,
            },
            topic_alias_maximum: self.topic_alias_maximum.unwrap_or(10),
            max_outbound: self.max_outbound.unwrap_or(1024).max(1),
            backpressure_timeout: seconds("backpressure_timeout", self.backpressure_timeout, 5.0)?,
            max_queued_bytes: at_least_one("max_queued_bytes", self.max_queued_bytes)?,
            max_messages_per_second: rate(
                "max_messages_per_second",
                self.max_messages_per_second,
                self.max_messages_per_second_burst,
            )?,
            max_bytes_per_second: rate(
                "max_bytes_per_second",
                self.max_bytes_per_second,
                self.max_bytes_per_second_burst,
            )?,
            max_subscriptions_per_client: at_least_one(
                "max_subscriptions_per_client",
                self.max_subscriptions_per_client,
            )?,
            sys_interval: self.sys_interval,
            plugins,
            cluster: ClusterSection {
                value: self.cluster,
                file: None,
            },
        })
    }
}

fn default_plugins() -> PluginsSection {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(super::DEFAULT_BROKER_YAML).expect("embedded default is YAML");
    plugins_section(yaml["plugins"].clone()).expect("embedded default plugins are a map")
}

/// A section from `(name, config)` pairs.
pub(super) fn section_of(entries: Vec<(String, serde_yaml::Value)>) -> PluginsSection {
    PluginsSection {
        entries,
        file: None,
    }
}

/// Accepts aMQTT's map form (`name: config`) and its legacy list form (`- name` or `- name: config`).
fn plugins_section(value: serde_yaml::Value) -> Result<PluginsSection, ResolveError> {
    use serde_yaml::Value;
    let expected = || {
        (
            "plugins".to_owned(),
            "expected a map of plugin name to its configuration".to_owned(),
        )
    };
    let mut entries = Vec::new();
    let mut push_map = |map: serde_yaml::Mapping| -> Result<(), ResolveError> {
        for (name, config) in map {
            let Value::String(name) = name else {
                return Err(expected());
            };
            entries.push((name, config));
        }
        Ok(())
    };
    match value {
        Value::Null => {}
        Value::Mapping(map) => push_map(map)?,
        Value::Sequence(items) => {
            for item in items {
                match item {
                    Value::String(name) => {
                        push_map([(Value::String(name), Value::Null)].into_iter().collect())?
                    }
                    Value::Mapping(map) => push_map(map)?,
                    _ => return Err(expected()),
                }
            }
        }
        _ => return Err(expected()),
    }
    Ok(PluginsSection {
        entries,
        file: None,
    })
}
