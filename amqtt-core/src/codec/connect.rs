//! CONNECT: protocol name and level, connect flags, keep-alive, MQTT 5.0 properties, then the
//! payload (client id, will properties, topic and message, user name, password) in that order.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};

use super::field::{Reader, prefixed_len, write_binary};
use super::properties::{block_len, read_block, write_block};
use super::{Connect, DecodeError, LastWill, PacketKind, Properties, ProtocolVersion, QoS};

const RESERVED: u8 = 0x01;
const CLEAN_SESSION: u8 = 0x02;
const WILL: u8 = 0x04;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_QOS_MASK: u8 = 0x18;
const WILL_RETAIN: u8 = 0x20;
const PASSWORD: u8 = 0x40;
const USERNAME: u8 = 0x80;

/// The protocol a CONNECT names: `MQIsdp` level 3, `MQTT` level 4 or 5. Another level with a
/// known name is [`DecodeError::UnsupportedProtocolLevel`] (answered with a CONNACK), another
/// name [`DecodeError::InvalidProtocolName`].
fn protocol(name: &[u8], level: u8) -> Result<ProtocolVersion, DecodeError> {
    match (name, level) {
        (b"MQIsdp", 3) => Ok(ProtocolVersion::V31),
        (b"MQTT", 4) => Ok(ProtocolVersion::V311),
        (b"MQTT", 5) => Ok(ProtocolVersion::V5),
        (b"MQIsdp" | b"MQTT", _) => Err(DecodeError::UnsupportedProtocolLevel(level)),
        _ => Err(DecodeError::InvalidProtocolName),
    }
}

/// Reads a CONNECT body, of whichever version it names.
pub(crate) fn read(mut r: Reader) -> Result<Connect, DecodeError> {
    let name = r.binary()?;
    let level = r.u8()?;
    let protocol = protocol(&name, level)?;
    let v5 = protocol.is_v5();

    let flags = r.u8()?;
    if flags & RESERVED != 0 {
        return Err(DecodeError::ConnectReservedFlag);
    }
    let will_qos =
        QoS::from_u8((flags & WILL_QOS_MASK) >> WILL_QOS_SHIFT).ok_or(DecodeError::InvalidQoS)?;
    let has_will = flags & WILL != 0;
    let will_retain = flags & WILL_RETAIN != 0;
    if !has_will && (will_qos != QoS::AtMostOnce || will_retain) {
        return Err(DecodeError::InvalidConnectFlags);
    }
    let has_username = flags & USERNAME != 0;
    let has_password = flags & PASSWORD != 0;
    // 5.0 allows a password without a user name (3.1.2.9).
    if has_password && !has_username && !v5 {
        return Err(DecodeError::InvalidConnectFlags);
    }
    let keep_alive = r.u16()?;
    let properties = if v5 {
        let props = Properties::read(&mut r)?;
        props.validate(PacketKind::Connect)?;
        props
    } else {
        Properties::default()
    };

    let client_id = r.string()?;
    let will = if has_will {
        let properties = if v5 {
            read_block::<Arc<Properties>>(&mut r, PacketKind::Will)?
        } else {
            None
        };
        Some(LastWill {
            topic: r.topic_name()?,
            message: r.binary()?,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if has_username {
        Some(r.string()?)
    } else {
        None
    };
    let password = if has_password {
        Some(r.binary()?)
    } else {
        None
    };
    r.finish()?;

    Ok(Connect {
        protocol,
        clean_session: flags & CLEAN_SESSION != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

/// Whether `c` is written with an empty user name in front of a lone password (3.1 and 3.1.1
/// cannot carry a password without a user name; 5.0 can).
fn empty_username(c: &Connect) -> bool {
    c.username.is_none() && c.password.is_some() && !c.protocol.is_v5()
}

/// Remaining length of the CONNECT `c`.
pub(crate) fn len(c: &Connect) -> usize {
    let v5 = c.protocol.is_v5();
    // Protocol name, level, flags, keep-alive.
    let mut len = prefixed_len(c.protocol.protocol_name().len()) + 1 + 1 + 2;
    if v5 {
        len += c.properties.encoded_len();
    }
    len += prefixed_len(c.client_id.len());
    if let Some(will) = &c.will {
        if v5 {
            len += block_len(will.properties.as_deref());
        }
        len += prefixed_len(will.topic.len()) + prefixed_len(will.message.len());
    }
    if let Some(username) = &c.username {
        len += prefixed_len(username.len());
    } else if empty_username(c) {
        len += prefixed_len(0);
    }
    if let Some(password) = &c.password {
        len += prefixed_len(password.len());
    }
    len
}

/// Writes a CONNECT body, in the version `c.protocol` names.
///
/// A password without a user name cannot be encoded in MQTT 3.1 and 3.1.1; the user name flag
/// is then set with an empty user name, which a broker reads as the user name "".
pub(crate) fn write(buf: &mut BytesMut, c: &Connect) {
    let v5 = c.protocol.is_v5();
    let mut flags = 0;
    if c.clean_session {
        flags |= CLEAN_SESSION;
    }
    if let Some(will) = &c.will {
        flags |= WILL | ((will.qos as u8) << WILL_QOS_SHIFT);
        if will.retain {
            flags |= WILL_RETAIN;
        }
    }
    if c.username.is_some() || empty_username(c) {
        flags |= USERNAME;
    }
    if c.password.is_some() {
        flags |= PASSWORD;
    }

    write_binary(buf, c.protocol.protocol_name().as_bytes());
    buf.put_u8(c.protocol.level());
    buf.put_u8(flags);
    buf.put_u16(c.keep_alive);
    if v5 {
        c.properties.encode(buf);
    }
    write_binary(buf, c.client_id.as_bytes());
    if let Some(will) = &c.will {
        if v5 {
            write_block(buf, will.properties.as_deref());
        }
        write_binary(buf, will.topic.as_bytes());
        write_binary(buf, &will.message);
    }
    if let Some(username) = &c.username {
        write_binary(buf, username.as_bytes());
    } else if empty_username(c) {
        write_binary(buf, b"");
    }
    if let Some(password) = &c.password {
        write_binary(buf, password);
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;

    use crate::codec::testing::{assert_vector, connect, decode_bytes, round_trip};
    use crate::codec::{ByteString, Connect, DecodeError, LastWill, Packet, QoS};

    #[test]
    fn connect_minimal_vector() {
        let c = Connect {
            clean_session: true,
            keep_alive: 60,
            client_id: ByteString::from_static("c1"),
            will: None,
            username: None,
            password: None,
            ..Default::default()
        };
        #[rustfmt::skip]
        let bytes = [
            0x10, 14,
            0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 60,
            0x00, 0x02, b'c', b'1',
        ];
        assert_vector(&Packet::Connect(Box::new(c)), &bytes);
    }

    #[test]
    fn connect_full_vector() {
        let c = Connect {
            clean_session: false,
            keep_alive: 0x0102,
            client_id: ByteString::new(),
            will: Some(LastWill {
                topic: ByteString::from_static("w/t"),
                message: Bytes::from_static(&[0xDE, 0xAD]),
                qos: QoS::ExactlyOnce,
                retain: true,
                properties: None,
            }),
            username: Some(ByteString::from_static("u")),
            password: Some(Bytes::from_static(&[0x00, 0xFF])),
            ..Default::default()
        };
        #[rustfmt::skip]
        let bytes = [
            0x10, 28,
            0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0b1111_0100, 0x01, 0x02,
            0x00, 0x00,
            0x00, 0x03, b'w', b'/', b't',
            0x00, 0x02, 0xDE, 0xAD,
            0x00, 0x01, b'u',
            0x00, 0x02, 0x00, 0xFF,
        ];
        assert_vector(&Packet::Connect(Box::new(c)), &bytes);
    }

    /// A CONNECT frame with the given protocol name, level, flags and payload.
    fn frame(name: &[u8], level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = vec![0x00, name.len() as u8];
        body.extend_from_slice(name);
        body.extend_from_slice(&[level, flags, 0x00, 0x0A]);
        body.extend_from_slice(payload);
        let mut frame = vec![0x10, body.len() as u8];
        frame.extend_from_slice(&body);
        frame
    }

    #[test]
    fn connect_protocol_checks() {
        let id = [0x00, 0x01, b'a'];
        assert!(decode_bytes(&frame(b"MQTT", 4, 0x02, &id)).is_ok());
        // 3.1 and 5.0 are read as such; their own tests are in `tests_v5_packets`.
        assert!(decode_bytes(&frame(b"MQIsdp", 3, 0x02, &id)).is_ok());
        assert_eq!(
            decode_bytes(&frame(b"MQIsdp", 4, 0x02, &id)),
            Err(DecodeError::UnsupportedProtocolLevel(4))
        );
        assert_eq!(
            decode_bytes(&frame(b"MQTT", 3, 0x02, &id)),
            Err(DecodeError::UnsupportedProtocolLevel(3))
        );
        assert_eq!(
            decode_bytes(&frame(b"MQTT", 6, 0x02, &id)),
            Err(DecodeError::UnsupportedProtocolLevel(6))
        );
        assert_eq!(
            decode_bytes(&frame(b"MQTX", 4, 0x02, &id)),
            Err(DecodeError::InvalidProtocolName)
        );
    }

    #[test]
    fn connect_flag_checks() {
        let id = [0x00, 0x01, b'a'];
        let cases = [
            (0x03, DecodeError::ConnectReservedFlag),
            (0x1C, DecodeError::InvalidQoS),
            (0x08, DecodeError::InvalidConnectFlags),
            (0x20, DecodeError::InvalidConnectFlags),
            (0x40, DecodeError::InvalidConnectFlags),
        ];
        for (flags, err) in cases {
            assert_eq!(decode_bytes(&frame(b"MQTT", 4, flags, &id)), Err(err));
        }
        // Will flag set but no will topic in the payload.
        assert_eq!(
            decode_bytes(&frame(b"MQTT", 4, 0x04, &id)),
            Err(DecodeError::UnexpectedEof)
        );
        // A will topic is a topic name.
        let wild = [0x00, 0x00, 0x00, 0x01, b'#', 0x00, 0x00];
        assert_eq!(
            decode_bytes(&frame(b"MQTT", 4, 0x04, &wild)),
            Err(DecodeError::WildcardInTopicName)
        );
        // Bytes after the last field.
        assert_eq!(
            decode_bytes(&frame(b"MQTT", 4, 0x00, &[0x00, 0x00, 0x00])),
            Err(DecodeError::TrailingBytes)
        );
    }

    #[test]
    fn lone_password_is_sent_with_an_empty_user_name() {
        let c = Connect {
            clean_session: true,
            keep_alive: 0,
            client_id: ByteString::new(),
            will: None,
            username: None,
            password: Some(Bytes::from_static(b"pw")),
            ..Default::default()
        };
        let mut buf = bytes::BytesMut::new();
        Packet::Connect(Box::new(c.clone())).encode(&mut buf);
        assert_eq!(
            buf.len(),
            Packet::Connect(Box::new(c.clone())).encoded_len()
        );
        let expected = Connect {
            username: Some(ByteString::new()),
            ..c
        };
        assert_eq!(
            decode_bytes(&buf),
            Ok(Some(Packet::Connect(Box::new(expected))))
        );
    }

    proptest! {
        #[test]
        fn connect_round_trips(c in connect()) {
            round_trip(&Packet::Connect(Box::new(c)));
        }
    }
}
