//! aMQTT's logging plugins: broker events and MQTT packets, through `tracing`.

use amqtt_core::codec::{Packet, Publish, QoS};
use amqtt_core::plugin::{BrokerContext, FromConfig, Hooks, Plugin, PluginError, SessionInfo};

/// Logs broker events: client connections at info, every other event at debug.
#[derive(Debug, Default)]
pub struct EventLogger;

impl Plugin for EventLogger {
    const HOOKS: Hooks = Hooks::BROKER_PRE_START
        .union(Hooks::BROKER_POST_START)
        .union(Hooks::BROKER_PRE_SHUTDOWN)
        .union(Hooks::BROKER_POST_SHUTDOWN)
        .union(Hooks::CLIENT_CONNECTED)
        .union(Hooks::CLIENT_DISCONNECTED)
        .union(Hooks::CLIENT_SUBSCRIBED)
        .union(Hooks::CLIENT_UNSUBSCRIBED)
        .union(Hooks::MESSAGE_RECEIVED)
        .union(Hooks::MESSAGE_BROADCAST)
        .union(Hooks::RETAINED_MESSAGE);

    async fn on_broker_pre_start(&self) {
        tracing::debug!("### broker pre-start");
    }
    async fn on_broker_post_start(&self) {
        tracing::debug!("### broker post-start");
    }
    async fn on_broker_pre_shutdown(&self) {
        tracing::debug!("### broker pre-shutdown");
    }
    async fn on_broker_post_shutdown(&self) {
        tracing::debug!("### broker post-shutdown");
    }
    async fn on_broker_client_connected(&self, client_id: &str, session: &SessionInfo) {
        tracing::info!(client_id, remote = ?session.remote_addr, "### client connected");
    }
    async fn on_broker_client_disconnected(&self, client_id: &str, _session: &SessionInfo) {
        tracing::info!(client_id, "### client disconnected");
    }
    async fn on_broker_client_subscribed(&self, client_id: &str, topic: &str, qos: QoS) {
        tracing::debug!(client_id, topic, qos = qos as u8, "### client subscribed");
    }
    async fn on_broker_client_unsubscribed(&self, client_id: &str, topic: &str) {
        tracing::debug!(client_id, topic, "### client unsubscribed");
    }
    async fn on_broker_message_received(&self, client_id: &str, message: &Publish) {
        tracing::debug!(client_id, topic = %message.topic, qos = message.qos as u8, "### message received");
    }
    async fn on_broker_message_broadcast(&self, client_id: &str, message: &Publish) {
        tracing::debug!(client_id, topic = %message.topic, "### message broadcast");
    }
    async fn on_broker_retained_message(&self, client_id: &str, message: &Publish) {
        tracing::debug!(client_id, topic = %message.topic, "### retained message");
    }
}

impl FromConfig for EventLogger {
    const NAME: &'static str = "event_logger";
    const ALIASES: &'static [&'static str] = &["amqtt.plugins.logging_amqtt.EventLoggerPlugin"];
    type Config = ();
    fn build((): (), _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(EventLogger)
    }
}

/// Logs every MQTT packet in and out, with the client id, at debug level. With debug logging
/// off each call is one check of `tracing`'s cached level.
#[derive(Debug, Default)]
pub struct PacketLogger;

impl Plugin for PacketLogger {
    const HOOKS: Hooks = Hooks::PACKET_RECEIVED.union(Hooks::PACKET_SENT);

    fn on_mqtt_packet_received(&self, packet: &Packet, session: Option<&SessionInfo>) {
        let client_id = session.map_or("", |s| &*s.client_id);
        tracing::debug!(client_id, "<-in-- {packet:?}");
    }
    fn on_mqtt_packet_sent(&self, packet: &Packet, session: Option<&SessionInfo>) {
        let client_id = session.map_or("", |s| &*s.client_id);
        tracing::debug!(client_id, "-out-> {packet:?}");
    }
}

impl FromConfig for PacketLogger {
    const NAME: &'static str = "packet_logger";
    const ALIASES: &'static [&'static str] = &["amqtt.plugins.logging_amqtt.PacketLoggerPlugin"];
    type Config = ();
    fn build((): (), _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(PacketLogger)
    }
}
