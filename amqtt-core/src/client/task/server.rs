//! What an MQTT 5.0 broker's CONNACK says the client must respect: how many QoS 1/2 publishes
//! may be in flight, the largest packet, the highest QoS, whether retain is available, and the
//! keep-alive it imposes. A 3.1.1 CONNACK says none of it: the defaults are no limits.

use crate::codec::{ConnAck, QoS};

/// The broker's limits from its CONNACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::client) struct ServerLimits {
    /// Receive Maximum: QoS 1/2 publishes unacknowledged at once (65535 when not given).
    pub(in crate::client) receive_maximum: u16,
    /// Maximum Packet Size, in bytes, if the broker gave one.
    pub(in crate::client) maximum_packet_size: Option<u32>,
    /// Maximum QoS (2 when not given).
    pub(in crate::client) maximum_qos: QoS,
    /// Retain Available (true when not given).
    pub(in crate::client) retain_available: bool,
    /// Server Keep Alive, in seconds, replacing the client's own.
    pub(in crate::client) keep_alive: Option<u16>,
    /// Topic Alias Maximum: the aliases the broker accepts (0 when not given).
    pub(in crate::client) topic_alias_maximum: u16,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            receive_maximum: u16::MAX,
            maximum_packet_size: None,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            keep_alive: None,
            topic_alias_maximum: 0,
        }
    }
}

impl ServerLimits {
    /// The limits a CONNACK announces.
    pub(in crate::client) fn from_connack(ack: &ConnAck) -> ServerLimits {
        let defaults = ServerLimits::default();
        let Some(p) = &ack.properties else {
            return defaults;
        };
        ServerLimits {
            receive_maximum: p
                .receive_maximum
                .map_or(defaults.receive_maximum, |v| v.get()),
            maximum_packet_size: p.maximum_packet_size.map(|v| v.get()),
            maximum_qos: p.maximum_qos.unwrap_or(defaults.maximum_qos),
            retain_available: p.retain_available.unwrap_or(true),
            keep_alive: p.server_keep_alive,
            topic_alias_maximum: p.topic_alias_maximum.unwrap_or(0),
        }
    }
}
