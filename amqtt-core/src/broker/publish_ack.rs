//! The acknowledgement a QoS 1/2 publisher is owed (PUBACK or PUBREC) and, in MQTT 5.0, the
//! reason code that tells it what became of its message: 0x90 Topic Name invalid for a client
//! publish to a reserved `$` topic, 0x87 Not authorized when a plugin denied it, 0x10 No
//! matching subscribers when no subscription matched, 0x00 otherwise. A 3.1.1 publisher has no
//! reason codes: it is acknowledged alike whatever happened.

use crate::codec::{Ack, ByteString, Packet, PacketId, Properties, ProtocolVersion, ReasonCode};

/// The acknowledgement a QoS 1/2 PUBLISH is owed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Owed {
    /// QoS 1: PUBACK for this id.
    PubAck(PacketId),
    /// QoS 2: PUBREC for this id.
    PubRec(PacketId),
}

impl Owed {
    /// The acknowledgement with `reason` (and, in MQTT 5.0, `reason_string` as its Reason
    /// String) for a `protocol` connection, and the reason it carries (success on a connection
    /// without reason codes).
    pub(crate) fn packet(
        self,
        reason: ReasonCode,
        reason_string: Option<&'static str>,
        protocol: ProtocolVersion,
    ) -> (Packet, ReasonCode) {
        let (reason, reason_string) = if protocol.is_v5() {
            (reason, reason_string)
        } else {
            (ReasonCode::Success, None)
        };
        let ack = |packet_id| Ack {
            packet_id,
            reason,
            properties: reason_string.map(|text| {
                Box::new(Properties {
                    reason_string: Some(ByteString::from_static(text)),
                    ..Properties::default()
                })
            }),
        };
        let packet = match self {
            Owed::PubAck(id) => Packet::PubAck(ack(id)),
            Owed::PubRec(id) => Packet::PubRec(ack(id)),
        };
        (packet, reason)
    }
}

/// The reason code for a message routed to `targets` sessions.
pub(crate) fn routed(targets: usize) -> ReasonCode {
    match targets {
        0 => ReasonCode::NoMatchingSubscribers,
        _ => ReasonCode::Success,
    }
}
