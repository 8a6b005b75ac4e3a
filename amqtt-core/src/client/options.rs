//! [`ClientOptions`]: the builder of an [`MqttClient`](super::MqttClient) connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::auth::{Authenticator, SharedAuthenticator};
use crate::codec::{ByteString, Connect, LastWill, Properties, ProtocolVersion, QoS};
use crate::plugin::Plugin;
use crate::transport::client::{BrokerUrl, ConnectOptions};

/// How a client connects and behaves. The defaults follow aMQTT's client: keep-alive 10 s,
/// clean session, QoS 0 without retain, auto-reconnect with 2 retries and a 10 s maximum
/// interval.
#[derive(Debug, Clone)]
pub struct ClientOptions<P: Plugin = ()> {
    /// The protocol spoken: MQTT 3.1.1 by default, or 5.0 or 3.1.
    pub protocol: ProtocolVersion,
    /// MQTT 5.0 CONNECT properties (session expiry interval, receive maximum, user
    /// properties...); ignored by 3.1.1.
    pub connect_properties: Properties,
    /// MQTT 5.0: the most topic aliases the client gives the topics it publishes to, within the
    /// broker's Topic Alias Maximum (the first distinct topics get one each, for the connection);
    /// 0, the default, sends every topic in full.
    pub outbound_topic_aliases: u16,
    /// Client identifier; when empty with a clean session one is generated (in MQTT 5.0 the
    /// broker assigns one: see [`MqttClient::client_id`](super::MqttClient::client_id)).
    pub client_id: String,
    /// Whether the session starts clean.
    pub clean_session: bool,
    /// Keep-alive interval in seconds (0 disables pings).
    pub keep_alive: u16,
    /// How long before the keep-alive expires a PINGREQ is sent (aMQTT's `ping_delay`): the
    /// client pings after `keep_alive - ping_delay` without sending (at least 1 s, default 0).
    pub ping_delay: Duration,
    /// How long to wait for a PINGRESP before the connection is considered lost (`None`: the
    /// keep-alive interval).
    pub ping_timeout: Option<Duration>,
    /// User name for CONNECT (the URL's overrides it).
    pub username: Option<String>,
    /// Password for CONNECT (the URL's overrides it).
    pub password: Option<String>,
    /// The will message.
    pub will: Option<LastWill>,
    /// MQTT 5.0 enhanced authentication: the method and its steps (see
    /// [`ClientOptions::authenticator`]); ignored by 3.1.1.
    authenticator: Option<SharedAuthenticator>,
    /// Transport options: TLS, WebSocket headers, connect timeout (also the CONNACK timeout).
    pub connection: ConnectOptions,
    /// Bound on waiting for a publish, subscribe or unsubscribe acknowledgement.
    pub ack_timeout: Option<Duration>,
    /// QoS of [`MqttClient::publish_default`](super::MqttClient::publish_default).
    pub default_qos: QoS,
    /// Retain flag of [`MqttClient::publish_default`](super::MqttClient::publish_default).
    pub default_retain: bool,
    /// Per-topic QoS and retain flag of
    /// [`MqttClient::publish_default`](super::MqttClient::publish_default) (aMQTT's `topics`).
    pub topics: HashMap<String, (Option<QoS>, Option<bool>)>,
    /// Whether a lost connection is re-established.
    pub auto_reconnect: bool,
    /// How many reconnection attempts are made after a loss (negative: forever).
    pub reconnect_retries: i32,
    /// The cap of the exponential backoff between reconnection attempts.
    pub reconnect_max_interval: Duration,
    /// Client plugins: they receive `on_mqtt_packet_received` and `on_mqtt_packet_sent`.
    pub plugins: Arc<P>,
}

impl Default for ClientOptions<()> {
    fn default() -> ClientOptions<()> {
        ClientOptions::with_plugins(())
    }
}

impl ClientOptions<()> {
    /// The defaults, without plugins.
    pub fn new() -> ClientOptions<()> {
        ClientOptions::default()
    }
}

impl<P: Plugin> ClientOptions<P> {
    /// The defaults with the plugin set `plugins`.
    pub fn with_plugins(plugins: P) -> ClientOptions<P> {
        ClientOptions {
            protocol: ProtocolVersion::V311,
            connect_properties: Properties::default(),
            outbound_topic_aliases: 0,
            client_id: String::new(),
            clean_session: true,
            keep_alive: 10,
            ping_delay: Duration::ZERO,
            ping_timeout: None,
            username: None,
            password: None,
            will: None,
            authenticator: None,
            connection: ConnectOptions::new(),
            ack_timeout: None,
            default_qos: QoS::AtMostOnce,
            default_retain: false,
            topics: HashMap::new(),
            auto_reconnect: true,
            reconnect_retries: 2,
            reconnect_max_interval: Duration::from_secs(10),
            plugins: Arc::new(plugins),
        }
    }

    /// Sets [`ClientOptions::client_id`].
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// Sets [`ClientOptions::clean_session`].
    pub fn clean_session(mut self, clean: bool) -> Self {
        self.clean_session = clean;
        self
    }

    /// Sets [`ClientOptions::keep_alive`] (seconds).
    pub fn keep_alive(mut self, seconds: u16) -> Self {
        self.keep_alive = seconds;
        self
    }

    /// Sets [`ClientOptions::ping_delay`].
    pub fn ping_delay(mut self, delay: Duration) -> Self {
        self.ping_delay = delay;
        self
    }

    /// Sets [`ClientOptions::ping_timeout`].
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = Some(timeout);
        self
    }

    /// Sets the user name and password.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }

    /// Authenticates by an MQTT 5.0 enhanced authentication method: the CONNECT carries its
    /// Authentication Method and first data, and the broker's challenges (AUTH 0x18) are
    /// answered by `authenticator` until the CONNACK. Needs [`ProtocolVersion::V5`].
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticator = Some(SharedAuthenticator(Arc::new(authenticator)));
        self
    }

    /// Sets the will message.
    pub fn will(
        mut self,
        topic: impl Into<ByteString>,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Self {
        self.will = Some(LastWill {
            topic: topic.into(),
            message: payload.into(),
            qos,
            retain,
            properties: None,
        });
        self
    }

    /// Sets the transport options.
    pub fn connection(mut self, options: ConnectOptions) -> Self {
        self.connection = options;
        self
    }

    /// Sets [`ClientOptions::ack_timeout`].
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = Some(timeout);
        self
    }

    /// Sets the default QoS and retain flag.
    pub fn defaults(mut self, qos: QoS, retain: bool) -> Self {
        self.default_qos = qos;
        self.default_retain = retain;
        self
    }

    /// Sets [`ClientOptions::auto_reconnect`].
    pub fn auto_reconnect(mut self, on: bool) -> Self {
        self.auto_reconnect = on;
        self
    }

    /// Sets [`ClientOptions::reconnect_retries`] (negative: forever).
    pub fn reconnect_retries(mut self, retries: i32) -> Self {
        self.reconnect_retries = retries;
        self
    }

    /// Sets [`ClientOptions::protocol`].
    pub fn protocol(mut self, protocol: ProtocolVersion) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets [`ClientOptions::outbound_topic_aliases`].
    pub fn outbound_topic_aliases(mut self, maximum: u16) -> Self {
        self.outbound_topic_aliases = maximum;
        self
    }

    /// Sets [`ClientOptions::connect_properties`].
    pub fn connect_properties(mut self, properties: Properties) -> Self {
        self.connect_properties = properties;
        self
    }

    /// Sets [`ClientOptions::reconnect_max_interval`].
    pub fn reconnect_max_interval(mut self, max: Duration) -> Self {
        self.reconnect_max_interval = max;
        self
    }

    /// What the connection task needs, with the URL's credentials applied.
    pub(super) fn settings(&self, url: &BrokerUrl) -> Settings {
        let generate = self.clean_session && !self.protocol.is_v5();
        let client_id = if self.client_id.is_empty() && generate {
            generate_client_id()
        } else {
            self.client_id.clone()
        };
        let username = url.username.clone().or_else(|| self.username.clone());
        let password = url.password.clone().or_else(|| self.password.clone());
        let keep_alive = Duration::from_secs(u64::from(self.keep_alive));
        let ping_interval = if keep_alive.is_zero() {
            keep_alive
        } else {
            keep_alive
                .saturating_sub(self.ping_delay)
                .max(Duration::from_secs(1))
        };
        Settings {
            connect: Connect {
                clean_session: self.clean_session,
                keep_alive: self.keep_alive,
                client_id: ByteString::from(client_id),
                will: self.will.clone(),
                username: username.map(ByteString::from),
                password: password.map(Bytes::from),
                protocol: self.protocol,
                properties: if self.protocol.is_v5() {
                    self.connect_properties.clone()
                } else {
                    Properties::default()
                },
            },
            authenticator: self.authenticator.clone().filter(|_| self.protocol.is_v5()),
            outbound_topic_aliases: if self.protocol.is_v5() {
                self.outbound_topic_aliases
            } else {
                0
            },
            ping_interval,
            ping_timeout: self.ping_timeout.unwrap_or(keep_alive),
            connack_timeout: self
                .connection
                .connect_timeout
                .unwrap_or(Duration::from_secs(10)),
            auto_reconnect: self.auto_reconnect,
            reconnect_retries: self.reconnect_retries,
            reconnect_max_interval: self.reconnect_max_interval,
        }
    }
}

/// The connection task's settings.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) connect: Connect,
    /// The enhanced authentication method (MQTT 5.0), which fills the CONNECT's Authentication
    /// Method and Data anew for every connection.
    pub(super) authenticator: Option<SharedAuthenticator>,
    /// The most topic aliases to give outgoing topics (MQTT 5.0; 0: none).
    pub(super) outbound_topic_aliases: u16,
    /// Idle time before a PINGREQ (zero: no pings).
    pub(super) ping_interval: Duration,
    pub(super) ping_timeout: Duration,
    pub(super) connack_timeout: Duration,
    pub(super) auto_reconnect: bool,
    pub(super) reconnect_retries: i32,
    pub(super) reconnect_max_interval: Duration,
}

/// A client id unique within the process and unlikely to collide across processes.
fn generate_client_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("amqtt-{:x}-{nanos:08x}-{n}", std::process::id())
}
