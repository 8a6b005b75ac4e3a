//! The typed decode error.

use thiserror::Error;

use super::{PacketKind, PropertyId, ReasonCode};

/// Why bytes received from a peer are not a valid MQTT packet (of the connection's version).
///
/// Small and `Copy`, so tests compare it with `==`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The remaining-length field uses more than four bytes.
    #[error("remaining length is encoded in more than 4 bytes")]
    MalformedRemainingLength,
    /// The frame is larger than the configured maximum packet size.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    MaxSizeExceeded {
        /// Size of the whole frame in bytes (fixed header included).
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The packet type nibble is 0 or 15.
    #[error("reserved packet type {0}")]
    ReservedPacketType(u8),
    /// The fixed-header flags are not the ones the packet type requires.
    #[error("invalid fixed-header flags {flags:#06b} for packet type {packet_type}")]
    InvalidFlags {
        /// Packet type nibble.
        packet_type: u8,
        /// Flags nibble received.
        flags: u8,
    },
    /// A QoS field holds 3.
    #[error("QoS 3 is not a valid QoS")]
    InvalidQoS,
    /// A packet identifier is 0 where a non-zero one is required.
    #[error("packet identifier 0 where a non-zero one is required")]
    ZeroPacketId,
    /// A string is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A string contains U+0000.
    #[error("string contains the null character U+0000")]
    NullCharacter,
    /// A topic name contains `+` or `#`.
    #[error("topic name contains a wildcard character")]
    WildcardInTopicName,
    /// A topic name is empty.
    #[error("topic name is empty")]
    EmptyTopicName,
    /// A topic filter is empty.
    #[error("topic filter is empty")]
    EmptyTopicFilter,
    /// A SUBSCRIBE or UNSUBSCRIBE carries no topic filter.
    #[error("SUBSCRIBE or UNSUBSCRIBE without any topic filter")]
    NoTopicFilters,
    /// The CONNECT protocol name is neither `MQTT` nor `MQIsdp`.
    #[error("protocol name is not MQTT")]
    InvalidProtocolName,
    /// The CONNECT names MQTT (`MQTT` or `MQIsdp`) at a level this codec does not speak (3.1 is
    /// `MQIsdp` 3, 3.1.1 is 4, 5.0 is 5); the broker answers CONNACK 0x01.
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocolLevel(u8),
    /// The CONNECT reserved flag bit is set.
    #[error("CONNECT reserved flag is set")]
    ConnectReservedFlag,
    /// CONNECT flags are inconsistent (will QoS or retain without will, password without user name).
    #[error("inconsistent CONNECT flags")]
    InvalidConnectFlags,
    /// A reserved bit in a CONNACK or SUBSCRIBE is set, or a return code is unknown.
    #[error("reserved bits set or unknown code in the variable header or payload")]
    InvalidReservedBits,
    /// The packet body ends before a field it declares.
    #[error("packet body is shorter than its fields")]
    UnexpectedEof,
    /// The packet body has bytes left over after its last field.
    #[error("packet body has bytes after its last field")]
    TrailingBytes,
    /// A PUBLISH at QoS 0 has the DUP flag set.
    #[error("DUP flag set on a QoS 0 PUBLISH")]
    DupWithQoS0,
    /// A variable byte integer other than the remaining length (an MQTT 5.0 property length,
    /// identifier or subscription identifier) uses more than 4 bytes or more than it needs.
    #[error("variable byte integer is longer than 4 bytes or not in its shortest form")]
    MalformedVarInt,
    /// An MQTT 5.0 property identifier the spec does not define.
    #[error("unknown property identifier {0:#04x}")]
    UnknownProperty(u32),
    /// An MQTT 5.0 property that may appear once appears twice.
    #[error("property {0:?} appears more than once")]
    DuplicateProperty(PropertyId),
    /// An MQTT 5.0 property has a value the spec forbids (such as 0 for receive maximum).
    #[error("invalid value for property {0:?}")]
    InvalidPropertyValue(PropertyId),
    /// An MQTT 5.0 property appears in a packet that may not carry it.
    #[error("property {id:?} is not allowed in {packet:?}")]
    PropertyNotAllowed {
        /// The property.
        id: PropertyId,
        /// The packet it appeared in.
        packet: PacketKind,
    },
    /// MQTT 5.0 authentication data without an authentication method.
    #[error("authentication data without an authentication method")]
    AuthenticationDataWithoutMethod,
    /// A byte the spec defines as no MQTT 5.0 reason code.
    #[error("unknown reason code {0:#04x}")]
    UnknownReasonCode(u8),
    /// An MQTT 5.0 reason code in a packet that may not carry it.
    #[error("reason code {code:?} is not allowed in {packet:?}")]
    ReasonCodeNotAllowed {
        /// The reason code.
        code: ReasonCode,
        /// The packet it appeared in.
        packet: PacketKind,
    },
}

/// One test per variant, each produced from bytes as a peer would send them.
#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::DecodeError;
    use crate::codec::testing::decode_bytes;
    use crate::codec::{PacketKind, Properties, PropertyId, ReasonCode, decode};

    /// A CONNECT frame: protocol name, level and flags, keep-alive 10, then `payload`.
    fn connect(name: &[u8], level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = vec![0x00, name.len() as u8];
        body.extend_from_slice(name);
        body.extend_from_slice(&[level, flags, 0x00, 0x0A]);
        body.extend_from_slice(payload);
        let mut frame = vec![0x10, body.len() as u8];
        frame.extend_from_slice(&body);
        frame
    }

    #[test]
    fn malformed_remaining_length() {
        assert_eq!(
            decode_bytes(&[0x30, 0x80, 0x80, 0x80, 0x80, 0x01]),
            Err(DecodeError::MalformedRemainingLength)
        );
    }

    #[test]
    fn max_size_exceeded() {
        // 2 MiB announced, 1 MiB allowed, nothing but the header received.
        let mut buf = BytesMut::from(&[0x30, 0x80, 0x80, 0x80, 0x01][..]);
        assert_eq!(
            decode(&mut buf, 1 << 20),
            Err(DecodeError::MaxSizeExceeded {
                size: 5 + (1 << 21),
                max: 1 << 20
            })
        );
    }

    #[test]
    fn reserved_packet_type() {
        assert_eq!(
            decode_bytes(&[0x00, 0x00]),
            Err(DecodeError::ReservedPacketType(0))
        );
        assert_eq!(
            decode_bytes(&[0xF0, 0x00]),
            Err(DecodeError::ReservedPacketType(15))
        );
    }

    #[test]
    fn invalid_flags() {
        let cases = [
            ([0x60, 0x02, 0x00, 0x01], 6, 0),  // PUBREL without 0b0010
            ([0x41, 0x02, 0x00, 0x01], 4, 1),  // PUBACK with a flag
            ([0xC2, 0x00, 0x00, 0x00], 12, 2), // PINGREQ with a flag
        ];
        for (bytes, packet_type, flags) in cases {
            let len = if packet_type == 12 { 2 } else { 4 };
            assert_eq!(
                decode_bytes(&bytes[..len]),
                Err(DecodeError::InvalidFlags { packet_type, flags })
            );
        }
        assert_eq!(
            decode_bytes(&[0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00]),
            Err(DecodeError::InvalidFlags {
                packet_type: 8,
                flags: 0
            })
        );
    }

    #[test]
    fn invalid_qos() {
        assert_eq!(
            decode_bytes(&[0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01]),
            Err(DecodeError::InvalidQoS)
        );
    }

    #[test]
    fn zero_packet_id() {
        assert_eq!(
            decode_bytes(&[0x50, 0x02, 0x00, 0x00]),
            Err(DecodeError::ZeroPacketId)
        );
    }

    #[test]
    fn invalid_utf8() {
        assert_eq!(
            decode_bytes(&[0x30, 0x04, 0x00, 0x02, 0xC3, 0x28]),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn null_character() {
        // In a client id, a topic, a user name and a filter.
        let cases = [
            connect(b"MQTT", 4, 0x02, &[0x00, 0x02, b'a', 0x00]),
            vec![0x30, 0x05, 0x00, 0x03, b'a', 0x00, b'b'],
            connect(b"MQTT", 4, 0x82, &[0x00, 0x00, 0x00, 0x01, 0x00]),
            vec![0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 0x00],
        ];
        for bytes in cases {
            assert_eq!(decode_bytes(&bytes), Err(DecodeError::NullCharacter));
        }
    }

    #[test]
    fn wildcard_in_topic_name() {
        assert_eq!(
            decode_bytes(&[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'#']),
            Err(DecodeError::WildcardInTopicName)
        );
    }

    #[test]
    fn empty_topic_name() {
        assert_eq!(
            decode_bytes(&[0x30, 0x03, 0x00, 0x00, b'p']),
            Err(DecodeError::EmptyTopicName)
        );
    }

    #[test]
    fn empty_topic_filter() {
        assert_eq!(
            decode_bytes(&[0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00]),
            Err(DecodeError::EmptyTopicFilter)
        );
    }

    #[test]
    fn no_topic_filters() {
        assert_eq!(
            decode_bytes(&[0x82, 0x02, 0x00, 0x01]),
            Err(DecodeError::NoTopicFilters)
        );
    }

    #[test]
    fn invalid_protocol_name() {
        assert_eq!(
            decode_bytes(&connect(b"HTTP", 4, 0x02, &[0x00, 0x00])),
            Err(DecodeError::InvalidProtocolName)
        );
    }

    #[test]
    fn unsupported_protocol_level() {
        assert_eq!(
            decode_bytes(&connect(b"MQIsdp", 4, 0x02, &[0x00, 0x00])),
            Err(DecodeError::UnsupportedProtocolLevel(4))
        );
        assert_eq!(
            decode_bytes(&connect(b"MQTT", 6, 0x02, &[0x00, 0x00])),
            Err(DecodeError::UnsupportedProtocolLevel(6))
        );
    }

    #[test]
    fn connect_reserved_flag() {
        assert_eq!(
            decode_bytes(&connect(b"MQTT", 4, 0x01, &[0x00, 0x00])),
            Err(DecodeError::ConnectReservedFlag)
        );
    }

    #[test]
    fn invalid_connect_flags() {
        // Password without user name.
        assert_eq!(
            decode_bytes(&connect(b"MQTT", 4, 0x40, &[0x00, 0x00, 0x00, 0x00])),
            Err(DecodeError::InvalidConnectFlags)
        );
    }

    #[test]
    fn invalid_reserved_bits() {
        assert_eq!(
            decode_bytes(&[0x20, 0x02, 0x80, 0x00]),
            Err(DecodeError::InvalidReservedBits)
        );
    }

    #[test]
    fn unexpected_eof() {
        assert_eq!(
            decode_bytes(&connect(b"MQTT", 4, 0x02, &[0x00, 0x05, b'a'])),
            Err(DecodeError::UnexpectedEof)
        );
    }

    #[test]
    fn trailing_bytes() {
        assert_eq!(
            decode_bytes(&[0xE0, 0x01, 0x00]),
            Err(DecodeError::TrailingBytes)
        );
    }

    #[test]
    fn dup_with_qos0() {
        assert_eq!(
            decode_bytes(&[0x38, 0x03, 0x00, 0x01, b't']),
            Err(DecodeError::DupWithQoS0)
        );
    }

    /// Decodes `block` as an MQTT 5.0 property block for `kind`.
    fn properties(block: &'static [u8], kind: PacketKind) -> Result<Properties, DecodeError> {
        Properties::decode_for(&mut bytes::Bytes::from_static(block), kind)
    }

    #[test]
    fn malformed_var_int() {
        assert_eq!(
            properties(&[0x80, 0x80, 0x80, 0x80, 0x01], PacketKind::Publish),
            Err(DecodeError::MalformedVarInt)
        );
    }

    #[test]
    fn unknown_property() {
        assert_eq!(
            properties(&[0x02, 0x2B, 0x00], PacketKind::Publish),
            Err(DecodeError::UnknownProperty(0x2B))
        );
    }

    #[test]
    fn duplicate_property() {
        assert_eq!(
            properties(&[0x04, 0x01, 0x00, 0x01, 0x01], PacketKind::Publish),
            Err(DecodeError::DuplicateProperty(
                PropertyId::PayloadFormatIndicator
            ))
        );
    }

    #[test]
    fn invalid_property_value() {
        assert_eq!(
            properties(&[0x03, 0x21, 0x00, 0x00], PacketKind::Connect),
            Err(DecodeError::InvalidPropertyValue(
                PropertyId::ReceiveMaximum
            ))
        );
    }

    #[test]
    fn property_not_allowed() {
        assert_eq!(
            properties(&[0x02, 0x24, 0x01], PacketKind::Connect),
            Err(DecodeError::PropertyNotAllowed {
                id: PropertyId::MaximumQoS,
                packet: PacketKind::Connect
            })
        );
    }

    #[test]
    fn authentication_data_without_method() {
        assert_eq!(
            properties(&[0x04, 0x16, 0x00, 0x01, 0x00], PacketKind::Auth),
            Err(DecodeError::AuthenticationDataWithoutMethod)
        );
    }

    #[test]
    fn unknown_reason_code() {
        assert_eq!(
            ReasonCode::decode_for(0x03, PacketKind::PubAck),
            Err(DecodeError::UnknownReasonCode(0x03))
        );
    }

    #[test]
    fn reason_code_not_allowed() {
        assert_eq!(
            ReasonCode::decode_for(0x8B, PacketKind::ConnAck),
            Err(DecodeError::ReasonCodeNotAllowed {
                code: ReasonCode::ServerShuttingDown,
                packet: PacketKind::ConnAck
            })
        );
    }
}
