//! aMQTT's logging plugins: broker events and MQTT packets, through `tracing`.

use amqtt_core::codec::{Packet, Publish, QoS};
use amqtt_core::plugin::{Plugin, SessionInfo, plugin};

/// Logs broker events: client connections at info, every other event at debug.
#[derive(Debug, Default)]
pub struct EventLogger;

#[plugin(
    name = "event_logger",
    alias = "amqtt.plugins.logging_amqtt.EventLoggerPlugin"
)]
impl Plugin for EventLogger {
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

/// Logs every MQTT packet in and out, with the client id, at debug level. With debug logging
/// off each call is one relaxed load of `tracing`'s global level.
#[derive(Debug, Default)]
pub struct PacketLogger;

#[plugin(
    name = "packet_logger",
    alias = "amqtt.plugins.logging_amqtt.PacketLoggerPlugin"
)]
impl Plugin for PacketLogger {
    fn on_mqtt_packet_received(&self, packet: &Packet, session: Option<&SessionInfo>) {
        if !tracing::level_enabled!(tracing::Level::DEBUG) {
            return;
        }
        let client_id = session.map_or("", |s| &*s.client_id);
        tracing::debug!(client_id, "<-in-- {packet:?}");
    }
    fn on_mqtt_packet_sent(&self, packet: &Packet, session: Option<&SessionInfo>) {
        if !tracing::level_enabled!(tracing::Level::DEBUG) {
            return;
        }
        let client_id = session.map_or("", |s| &*s.client_id);
        tracing::debug!(client_id, "-out-> {packet:?}");
    }
}
