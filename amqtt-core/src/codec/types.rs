//! The packet types: one struct per packet body, MQTT 5.0's properties and reason codes beside
//! the fields MQTT 3.1 and 3.1.1 share, and the [`Packet`] enum.
//!
//! A v5 field is empty or `Success` in a packet of a 3.1.1 connection and is not written there;
//! `None` stands for an empty property block, so building a 3.1.1 packet allocates nothing.

use std::num::NonZeroU16;
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;

use super::{Properties, ReasonCode};

/// A packet identifier: never zero on the wire ([MQTT-2.3.1-1]).
pub type PacketId = NonZeroU16;

/// A quality-of-service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum QoS {
    /// QoS 0: at most once.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: at least once.
    AtLeastOnce = 1,
    /// QoS 2: exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for `value`, or `None` for 3 and above.
    pub fn from_u8(value: u8) -> Option<QoS> {
        match value {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// The protocol a connection speaks, named by the level its CONNECT carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ProtocolVersion {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3.
    V31 = 3,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4.
    #[default]
    V311 = 4,
    /// MQTT 5.0: protocol name `MQTT`, level 5.
    V5 = 5,
}

impl ProtocolVersion {
    /// The protocol level byte of CONNECT.
    pub fn level(self) -> u8 {
        self as u8
    }

    /// The protocol name CONNECT carries with this level.
    pub fn protocol_name(self) -> &'static str {
        match self {
            ProtocolVersion::V31 => "MQIsdp",
            ProtocolVersion::V311 | ProtocolVersion::V5 => "MQTT",
        }
    }

    /// Whether packets carry MQTT 5.0 properties and reason codes.
    pub fn is_v5(self) -> bool {
        self == ProtocolVersion::V5
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProtocolVersion::V31 => "3.1",
            ProtocolVersion::V311 => "3.1.1",
            ProtocolVersion::V5 => "5.0",
        })
    }
}

/// A will message carried in a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    /// Topic name the will is published to (validated like a PUBLISH topic).
    pub topic: ByteString,
    /// Payload of the will message.
    pub message: Bytes,
    /// QoS the will is published with.
    pub qos: QoS,
    /// Whether the will is published as a retained message.
    pub retain: bool,
    /// MQTT 5.0 will properties (will delay interval and the message's own properties).
    pub properties: Option<Arc<Properties>>,
}

/// CONNECT: the first packet of every client connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connect {
    /// The protocol the client speaks, from the protocol name and level.
    pub protocol: ProtocolVersion,
    /// Whether the session starts clean (MQTT 5.0: Clean Start). In 3.1.1 a clean session is
    /// also dropped at disconnect; in 5.0 the session expiry interval decides that.
    pub clean_session: bool,
    /// Keep-alive interval in seconds; 0 disables it.
    pub keep_alive: u16,
    /// Client identifier; may be empty.
    pub client_id: ByteString,
    /// Will message, if the will flag is set.
    pub will: Option<LastWill>,
    /// User name, if the user name flag is set.
    pub username: Option<ByteString>,
    /// Password, if the password flag is set (binary data).
    pub password: Option<Bytes>,
    /// MQTT 5.0 CONNECT properties.
    pub properties: Properties,
}

/// CONNACK return codes of MQTT 3.1 and 3.1.1; [`ConnAck::code`] holds the MQTT 5.0 reason
/// code and is mapped to one of these on a 3.1.1 connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectReturnCode {
    /// 0x00: connection accepted.
    Accepted = 0,
    /// 0x01: the protocol level is not supported.
    UnacceptableProtocolVersion = 1,
    /// 0x02: the client identifier is not allowed.
    IdentifierRejected = 2,
    /// 0x03: the service is unavailable.
    ServerUnavailable = 3,
    /// 0x04: bad user name or password.
    BadUserNameOrPassword = 4,
    /// 0x05: the client is not authorized.
    NotAuthorized = 5,
}

/// CONNACK: the broker's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Whether the broker resumed a stored session.
    pub session_present: bool,
    /// Whether the connection is accepted ([`ReasonCode::Success`]), and why not.
    pub code: ReasonCode,
    /// MQTT 5.0 CONNACK properties (the server's limits and assignments).
    pub properties: Option<Box<Properties>>,
}

impl ConnAck {
    /// A CONNACK with `code` and no properties.
    pub fn new(session_present: bool, code: ReasonCode) -> ConnAck {
        ConnAck {
            session_present,
            code,
            properties: None,
        }
    }
}

/// PUBLISH: an application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Re-delivery flag (only set at QoS 1 and 2).
    pub dup: bool,
    /// Delivery QoS.
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// Topic name: UTF-8 without wildcards or U+0000; non-empty except in an MQTT 5.0 PUBLISH
    /// that carries a topic alias.
    pub topic: ByteString,
    /// Packet identifier: present exactly when `qos` is 1 or 2.
    pub packet_id: Option<PacketId>,
    /// Application payload.
    pub payload: Bytes,
    /// MQTT 5.0 PUBLISH properties, shared by every copy of the message.
    pub properties: Option<Arc<Properties>>,
}

/// The body of PUBACK, PUBREC, PUBREL and PUBCOMP: a packet id and, in MQTT 5.0, a reason code
/// and properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The packet id acknowledged.
    pub packet_id: PacketId,
    /// The result ([`ReasonCode::Success`] on a 3.1.1 connection).
    pub reason: ReasonCode,
    /// MQTT 5.0 properties (reason string, user properties).
    pub properties: Option<Box<Properties>>,
}

impl Ack {
    /// A successful acknowledgement of `packet_id` with no properties.
    pub fn new(packet_id: PacketId) -> Ack {
        Ack {
            packet_id,
            reason: ReasonCode::Success,
            properties: None,
        }
    }
}

impl From<PacketId> for Ack {
    fn from(packet_id: PacketId) -> Ack {
        Ack::new(packet_id)
    }
}

/// When the broker sends retained messages for a new subscription (MQTT 5.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// 0: at every subscribe (3.1.1's behaviour).
    #[default]
    SendAtSubscribe = 0,
    /// 1: only when the subscription did not exist yet.
    SendIfNew = 1,
    /// 2: never.
    DoNotSend = 2,
}

/// What a subscriber asks for one topic filter: the maximum QoS and, in MQTT 5.0, options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// The maximum QoS of the messages delivered.
    pub qos: QoS,
    /// MQTT 5.0: do not deliver the subscriber's own messages back to it.
    pub no_local: bool,
    /// MQTT 5.0: keep the RETAIN flag the message was published with.
    pub retain_as_published: bool,
    /// MQTT 5.0: when to send the retained messages.
    pub retain_handling: RetainHandling,
}

impl From<QoS> for SubscriptionOptions {
    fn from(qos: QoS) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        }
    }
}

/// One SUBACK slot: the granted QoS, or a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubAckCode {
    /// The subscription is granted at this QoS.
    Success(QoS),
    /// The subscription is refused: 0x80 on a 3.1.1 connection, this reason code in 5.0.
    Failure(ReasonCode),
}

/// SUBSCRIBE: one or more topic filters with their options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Topic filters (non-empty UTF-8; wildcard placement is checked by the broker) and options.
    pub filters: Vec<(ByteString, SubscriptionOptions)>,
    /// MQTT 5.0 properties (subscription identifier, user properties).
    pub properties: Option<Box<Properties>>,
}

/// SUBACK: the broker's answer to SUBSCRIBE, one code per filter in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// One code per requested filter.
    pub codes: Vec<SubAckCode>,
    /// MQTT 5.0 properties (reason string, user properties).
    pub properties: Option<Box<Properties>>,
}

/// UNSUBSCRIBE: one or more topic filters to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Topic filters (non-empty UTF-8).
    pub filters: Vec<ByteString>,
    /// MQTT 5.0 properties (user properties).
    pub properties: Option<Box<Properties>>,
}

/// UNSUBACK: the broker's answer to UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet identifier of the UNSUBSCRIBE.
    pub packet_id: PacketId,
    /// MQTT 5.0: one reason code per filter in order; empty on a 3.1.1 connection.
    pub codes: Vec<ReasonCode>,
    /// MQTT 5.0 properties (reason string, user properties).
    pub properties: Option<Box<Properties>>,
}

impl UnsubAck {
    /// An UNSUBACK of `packet_id` with no reason codes (3.1.1's form).
    pub fn new(packet_id: PacketId) -> UnsubAck {
        UnsubAck {
            packet_id,
            codes: Vec::new(),
            properties: None,
        }
    }
}

impl From<PacketId> for UnsubAck {
    fn from(packet_id: PacketId) -> UnsubAck {
        UnsubAck::new(packet_id)
    }
}

/// The body of DISCONNECT and AUTH: in MQTT 5.0 a reason code and properties, in 3.1.1 nothing
/// (a 3.1.1 DISCONNECT is always a normal one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReasonBody {
    /// Why (DISCONNECT) or which step (AUTH); [`ReasonCode::Success`] by default.
    pub reason: ReasonCode,
    /// MQTT 5.0 properties.
    pub properties: Option<Box<Properties>>,
}

impl ReasonBody {
    /// A body with `reason` and no properties.
    pub fn new(reason: ReasonCode) -> ReasonBody {
        ReasonBody {
            reason,
            properties: None,
        }
    }
}

/// One MQTT control packet, of any protocol version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (type 1).
    Connect(Box<Connect>),
    /// CONNACK (type 2).
    ConnAck(ConnAck),
    /// PUBLISH (type 3).
    Publish(Publish),
    /// PUBACK (type 4).
    PubAck(Ack),
    /// PUBREC (type 5).
    PubRec(Ack),
    /// PUBREL (type 6).
    PubRel(Ack),
    /// PUBCOMP (type 7).
    PubComp(Ack),
    /// SUBSCRIBE (type 8).
    Subscribe(Subscribe),
    /// SUBACK (type 9).
    SubAck(SubAck),
    /// UNSUBSCRIBE (type 10).
    Unsubscribe(Unsubscribe),
    /// UNSUBACK (type 11).
    UnsubAck(UnsubAck),
    /// PINGREQ (type 12).
    PingReq,
    /// PINGRESP (type 13).
    PingResp,
    /// DISCONNECT (type 14).
    Disconnect(ReasonBody),
    /// AUTH (type 15, MQTT 5.0 only).
    Auth(ReasonBody),
}
