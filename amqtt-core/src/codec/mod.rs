//! MQTT 3.1.1 packet codec: the 14 packet types, zero-copy decoding over [`bytes`], and encoding.
//!
//! Decoding is frame-first: [`frame_len`] reads the fixed header and rejects an oversize frame
//! before its body is buffered; [`decode`] then splits the frame off the buffer, freezes it, and
//! every string and payload in the packet is a [`Bytes`] view of that one allocation.
//! Every malformed input is a [`DecodeError`]; nothing in this module panics on input.
//!
//! MQTT 5.0's building blocks are here, not yet wired into the packets: [`Properties`] (the
//! property block of every v5 packet, validated per [`PacketKind`]) and [`ReasonCode`].

mod ack;
mod connack;
mod connect;
mod error;
mod field;
mod header;
mod packet;
mod properties;
mod publish;
mod reason;
mod subscribe;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests_v5;

use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
pub use bytestring::ByteString;

pub use error::DecodeError;
pub use header::{MAX_REMAINING_LENGTH, frame_len};
pub use properties::{MAX_VAR_INT, PacketKind, Properties, PropertyId};
pub use reason::ReasonCode;

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

/// The protocol level of MQTT 3.1.1, the only one this codec decodes.
pub const PROTOCOL_LEVEL_V311: u8 = 4;

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
}

/// CONNECT: the first packet of every client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Whether the session starts clean and is dropped at disconnect.
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
}

/// CONNACK return codes of MQTT 3.1.1.
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnAck {
    /// Whether the broker resumed a stored session.
    pub session_present: bool,
    /// Whether the connection is accepted, and why not.
    pub code: ConnectReturnCode,
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
    /// Topic name: non-empty UTF-8 without wildcards or U+0000.
    pub topic: ByteString,
    /// Packet identifier: present exactly when `qos` is 1 or 2.
    pub packet_id: Option<PacketId>,
    /// Application payload.
    pub payload: Bytes,
}

/// One SUBACK slot: the granted QoS, or failure (0x80).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubAckCode {
    /// The subscription is granted at this QoS.
    Success(QoS),
    /// The subscription is refused (0x80).
    Failure,
}

/// SUBSCRIBE: one or more topic filters with their requested QoS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Topic filters (non-empty UTF-8; wildcard placement is checked by the broker) and QoS.
    pub filters: Vec<(ByteString, QoS)>,
}

/// SUBACK: the broker's answer to SUBSCRIBE, one code per filter in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// One code per requested filter.
    pub codes: Vec<SubAckCode>,
}

/// UNSUBSCRIBE: one or more topic filters to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Topic filters (non-empty UTF-8).
    pub filters: Vec<ByteString>,
}

/// One MQTT 3.1.1 control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (type 1).
    Connect(Box<Connect>),
    /// CONNACK (type 2).
    ConnAck(ConnAck),
    /// PUBLISH (type 3).
    Publish(Publish),
    /// PUBACK (type 4).
    PubAck(PacketId),
    /// PUBREC (type 5).
    PubRec(PacketId),
    /// PUBREL (type 6).
    PubRel(PacketId),
    /// PUBCOMP (type 7).
    PubComp(PacketId),
    /// SUBSCRIBE (type 8).
    Subscribe(Subscribe),
    /// SUBACK (type 9).
    SubAck(SubAck),
    /// UNSUBSCRIBE (type 10).
    Unsubscribe(Unsubscribe),
    /// UNSUBACK (type 11).
    UnsubAck(PacketId),
    /// PINGREQ (type 12).
    PingReq,
    /// PINGRESP (type 13).
    PingResp,
    /// DISCONNECT (type 14).
    Disconnect,
}

/// Decodes the next packet from the front of `buf`, if all of it has been received.
///
/// Returns `Ok(None)` and leaves `buf` untouched while the frame is incomplete. Once it is
/// complete, the frame is split off `buf` and frozen, and the packet's strings and payload are
/// views of it. A frame larger than `max_size` (fixed header included) is rejected as soon as
/// its fixed header is in `buf`; after any error the connection should be closed, since `buf`
/// is no longer at a frame boundary.
///
/// # Examples
///
/// ```
/// use amqtt_core::codec::{Packet, decode};
/// use bytes::BytesMut;
///
/// let mut buf = BytesMut::from(&[0xC0, 0x00, 0x40][..]);
/// assert_eq!(decode(&mut buf, 1024), Ok(Some(Packet::PingReq)));
/// assert_eq!(decode(&mut buf, 1024), Ok(None)); // half a PUBACK
/// assert_eq!(&buf[..], &[0x40]);
/// ```
pub fn decode(buf: &mut BytesMut, max_size: usize) -> Result<Option<Packet>, DecodeError> {
    match frame_len(buf, max_size)? {
        Some(len) if buf.len() >= len => Packet::decode_frame(buf.split_to(len).freeze()).map(Some),
        _ => Ok(None),
    }
}
