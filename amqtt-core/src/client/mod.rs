//! An async MQTT client (3.1.1 by default, 5.0 or 3.1 by [`ClientOptions::protocol`]): connect
//! to a broker URL, publish at QoS 0/1/2 and wait for the handshake, subscribe and receive
//! messages, keep-alive pings, and auto-reconnect that re-subscribes and resumes
//! unacknowledged QoS 1/2 publishes. In 5.0, messages carry their properties both ways,
//! refusals come back as reason codes, and the broker's CONNACK limits (receive maximum, packet
//! size, maximum QoS, retain, server keep-alive) are respected.
//!
//! A background task owns the connection; [`MqttClient`] talks to it through channels.
//!
//! ```no_run
//! # async fn demo() -> Result<(), amqtt_core::client::ClientError> {
//! use amqtt_core::client::{ClientOptions, MqttClient};
//! use amqtt_core::codec::QoS;
//!
//! let mut client = MqttClient::connect("mqtt://127.0.0.1:1883", ClientOptions::new()).await?;
//! client.subscribe(&[("a/#", QoS::AtLeastOnce)]).await?;
//! client.publish("a/b", "hello", QoS::ExactlyOnce, false).await?;
//! let message = client.deliver_message(std::time::Duration::from_secs(1)).await;
//! client.disconnect().await?;
//! # Ok(()) }
//! ```

mod auth;
mod config;
mod options;
mod task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::codec::{
    ByteString, ConnAck, Properties, Publish, QoS, ReasonCode, SubAckCode, SubscriptionOptions,
};
use crate::plugin::Plugin;
use crate::transport::client::{ClientTransport, ClientTransportError};

pub use auth::Authenticator;
pub use config::{ClientConfig, ClientConfigError, ConnectionConfig, TopicConfig, WillConfig};
pub use options::ClientOptions;
use task::{Command, Connection};

/// An application message received on a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published to.
    pub topic: ByteString,
    /// Its payload.
    pub payload: Bytes,
    /// The QoS it was delivered with.
    pub qos: QoS,
    /// Whether it is a retained message.
    pub retain: bool,
    /// Whether the broker flagged it as a re-delivery.
    pub dup: bool,
    /// Its MQTT 5.0 properties (user properties, content type, response topic...).
    pub properties: Option<Arc<Properties>>,
}

/// Why a client operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The transport could not be prepared or connected.
    #[error(transparent)]
    Transport(#[from] ClientTransportError),
    /// The broker answered CONNECT with a refusing return code (3.1.1's codes as the MQTT 5.0
    /// reason codes of the same meaning).
    #[error("connection refused by the broker: {0:?}")]
    Refused(ReasonCode),
    /// Reading or writing the connection failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The broker sent something that is not the expected MQTT packet.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// At CONNECT, the enhanced authentication ([`Authenticator`]) could not answer the broker
    /// or found its final word wrong; or a re-authentication could not start (no authenticator,
    /// or one already in progress).
    #[error("enhanced authentication failed: {0}")]
    Authentication(String),
    /// During a re-authentication, the [`Authenticator`] could not answer the broker's
    /// challenge, or the broker's final Authentication Data failed its check (e.g. a wrong SCRAM
    /// server signature): the broker did not prove itself, so the client sent DISCONNECT 0x80
    /// and closed the connection for good (no reconnect).
    #[error("the broker failed the re-authentication's check of the server: {0}")]
    ServerAuthenticationFailed(String),
    /// No CONNACK arrived within the connect timeout.
    #[error("no CONNACK within {0:?}")]
    ConnAckTimeout(Duration),
    /// The acknowledgement of a publish did not arrive within the ack timeout (the message
    /// stays in flight and is still resumed after a reconnect).
    #[error("no acknowledgement within {0:?}")]
    AckTimeout(Duration),
    /// The connection is closed (disconnected, or lost and not reconnected).
    #[error("the connection is closed")]
    ConnectionClosed,
    /// No packet identifier is free (65535 operations in flight).
    #[error("no free packet identifier")]
    NoPacketId,
    /// The broker refused a publish: the failure reason code of its PUBACK or PUBREC (MQTT
    /// 5.0).
    #[error("publish refused by the broker: {0:?}")]
    PublishRefused(ReasonCode),
    /// The broker's CONNACK said it does not take this (MQTT 5.0).
    #[error("not supported by the broker: {0}")]
    NotSupported(&'static str),
    /// The packet is larger than the broker's Maximum Packet Size (MQTT 5.0).
    #[error("a {size}-byte packet exceeds the broker's maximum packet size of {maximum}")]
    PacketTooLarge {
        /// The packet's encoded size.
        size: usize,
        /// The broker's maximum.
        maximum: u32,
    },
}

/// A connected MQTT client. Dropping it aborts its connection without DISCONNECT (so the
/// broker publishes the will); call [`MqttClient::disconnect`] for a clean close.
#[derive(Debug)]
pub struct MqttClient {
    commands: mpsc::UnboundedSender<Command>,
    messages: mpsc::UnboundedReceiver<Message>,
    task: JoinHandle<()>,
    ack_timeout: Option<Duration>,
    default_qos: QoS,
    default_retain: bool,
    topics: HashMap<String, (Option<QoS>, Option<bool>)>,
    connack: ConnAck,
    client_id: ByteString,
    disconnect_reason: Arc<Mutex<Option<ReasonCode>>>,
}

impl MqttClient {
    /// Connects to `url` (`mqtt://`, `mqtts://`, `ws://`, `wss://`, with optional
    /// `user:password@`, which override the options' credentials) and waits for the CONNACK.
    pub async fn connect<P: Plugin>(
        url: &str,
        options: ClientOptions<P>,
    ) -> Result<MqttClient, ClientError> {
        let transport = ClientTransport::new(url, &options.connection)?;
        let settings = options.settings(transport.url());
        let (stream, buf, connack) = task::open(&transport, &settings, &*options.plugins).await?;
        let client_id = connack
            .properties
            .as_ref()
            .and_then(|p| p.assigned_client_identifier.clone())
            .unwrap_or_else(|| settings.connect.client_id.clone());
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (message_tx, messages) = mpsc::unbounded_channel();
        let disconnect_reason = Arc::new(Mutex::new(None));
        let connection = Connection::new(
            transport,
            settings,
            options.plugins.clone(),
            command_rx,
            message_tx,
            &connack,
            disconnect_reason.clone(),
        );
        let task = tokio::spawn(connection.run(stream, buf));
        Ok(MqttClient {
            commands,
            messages,
            task,
            ack_timeout: options.ack_timeout,
            default_qos: options.default_qos,
            default_retain: options.default_retain,
            topics: options.topics,
            connack,
            client_id,
            disconnect_reason,
        })
    }

    /// Whether the broker resumed a stored session at the first connection.
    pub fn session_present(&self) -> bool {
        self.connack.session_present
    }

    /// The client identifier of the session: the one sent, or the one an MQTT 5.0 broker
    /// assigned when none was.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The MQTT 5.0 properties of the first connection's CONNACK (the broker's limits and
    /// assignments); `None` in 3.1.1 or when the broker sent none.
    pub fn connack_properties(&self) -> Option<&Properties> {
        self.connack.properties.as_deref()
    }

    /// The reason code of the last DISCONNECT the broker sent (MQTT 5.0), if any.
    pub fn disconnect_reason(&self) -> Option<ReasonCode> {
        self.disconnect_reason.lock().ok().and_then(|r| *r)
    }

    /// Publishes and completes when its QoS handshake does: at once for QoS 0 (once queued),
    /// on PUBACK for QoS 1, on PUBCOMP for QoS 2. Fails with [`ClientError::AckTimeout`] after
    /// the ack timeout, if one is set.
    pub async fn publish(
        &self,
        topic: impl Into<ByteString>,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Result<(), ClientError> {
        self.publish_with(topic, payload, qos, retain, None).await
    }

    /// [`MqttClient::publish`] with MQTT 5.0 properties (user properties, content type,
    /// message expiry, response topic, correlation data...; ignored in 3.1.1). A failure code
    /// in the broker's PUBACK or PUBREC is [`ClientError::PublishRefused`].
    pub async fn publish_with(
        &self,
        topic: impl Into<ByteString>,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
        properties: Option<Properties>,
    ) -> Result<(), ClientError> {
        let (done, rx) = oneshot::channel();
        let publish = Publish {
            properties: properties.filter(|p| !p.is_empty()).map(Arc::new),
            ..Publish::new(topic, payload, qos, retain)
        };
        self.command(Command::Publish { publish, done })?;
        self.wait_ack(rx).await?
    }

    /// Publishes with the QoS and retain flag the options give the topic (its `topics` entry,
    /// else the defaults).
    pub async fn publish_default(
        &self,
        topic: impl Into<ByteString>,
        payload: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        let topic = topic.into();
        let (qos, retain) = self.topics.get(&*topic).copied().unwrap_or_default();
        let qos = qos.unwrap_or(self.default_qos);
        let retain = retain.unwrap_or(self.default_retain);
        self.publish(topic, payload, qos, retain).await
    }

    /// Subscribes to `filters` and returns the broker's code for each. Granted filters are
    /// subscribed again after a reconnect.
    pub async fn subscribe<F: AsRef<str>>(
        &self,
        filters: &[(F, QoS)],
    ) -> Result<Vec<SubAckCode>, ClientError> {
        let filters: Vec<_> = filters
            .iter()
            .map(|(f, q)| (f.as_ref(), SubscriptionOptions::from(*q)))
            .collect();
        self.subscribe_with(&filters, None).await
    }

    /// Subscribes with MQTT 5.0 subscription options (no local, retain as published, retain
    /// handling) and properties (a subscription identifier, user properties); in 3.1.1 only the
    /// QoS is sent. Returns the broker's code for each filter, failures with their reason.
    pub async fn subscribe_with<F: AsRef<str>>(
        &self,
        filters: &[(F, SubscriptionOptions)],
        properties: Option<Properties>,
    ) -> Result<Vec<SubAckCode>, ClientError> {
        let (done, rx) = oneshot::channel();
        let filters = filters
            .iter()
            .map(|(f, options)| (ByteString::from(f.as_ref()), *options))
            .collect();
        let properties = properties.filter(|p| !p.is_empty()).map(Box::new);
        self.command(Command::Subscribe {
            filters,
            properties,
            done,
        })?;
        self.wait_ack(rx).await?
    }

    /// Unsubscribes from `filters` and waits for the UNSUBACK.
    pub async fn unsubscribe<F: AsRef<str>>(&self, filters: &[F]) -> Result<(), ClientError> {
        let (done, rx) = oneshot::channel();
        let filters = filters
            .iter()
            .map(|f| ByteString::from(f.as_ref()))
            .collect();
        self.command(Command::Unsubscribe { filters, done })?;
        self.wait_ack(rx).await?
    }

    /// The next incoming message, or `None` if none arrives within `timeout` or the connection
    /// is closed and all messages were delivered.
    pub async fn deliver_message(&mut self, timeout: Duration) -> Option<Message> {
        tokio::time::timeout(timeout, self.messages.recv())
            .await
            .ok()
            .flatten()
    }

    /// The receiver of incoming messages, to use as a stream. The channel is unbounded: the
    /// connection task never blocks on a slow reader, so read it (or drop the client).
    pub fn messages(&mut self) -> &mut mpsc::UnboundedReceiver<Message> {
        &mut self.messages
    }

    /// Re-authenticates by the [`ClientOptions::authenticator`] method (MQTT 5.0 AUTH 0x19,
    /// spec 4.12.1) while the connection keeps working; returns once the broker answered
    /// AUTH 0x00 and the authenticator accepted its final data. A broker that refuses sends
    /// DISCONNECT and closes the connection ([`ClientError::ConnectionClosed`]); a challenge the
    /// authenticator cannot answer, or final data it rejects, closes it from this side
    /// ([`ClientError::ServerAuthenticationFailed`]).
    pub async fn reauthenticate(&self) -> Result<(), ClientError> {
        let (done, rx) = oneshot::channel();
        self.command(Command::Reauthenticate { done })?;
        self.wait_ack(rx).await?
    }

    /// Sends DISCONNECT, closes the connection and stops the background task.
    pub async fn disconnect(self) -> Result<(), ClientError> {
        let (done, rx) = oneshot::channel();
        self.command(Command::Disconnect { done })?;
        rx.await.map_err(|_| ClientError::ConnectionClosed)
    }

    /// Drops the connection without DISCONNECT, as if the network failed (the broker then
    /// publishes the will). The same as dropping the client.
    pub fn kill(self) {}

    fn command(&self, command: Command) -> Result<(), ClientError> {
        self.commands
            .send(command)
            .map_err(|_| ClientError::ConnectionClosed)
    }

    async fn wait_ack<T>(
        &self,
        rx: oneshot::Receiver<Result<T, ClientError>>,
    ) -> Result<Result<T, ClientError>, ClientError> {
        let answer = match self.ack_timeout {
            Some(after) => tokio::time::timeout(after, rx)
                .await
                .map_err(|_| ClientError::AckTimeout(after))?,
            None => rx.await,
        };
        answer.map_err(|_| ClientError::ConnectionClosed)
    }
}

impl Drop for MqttClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}
