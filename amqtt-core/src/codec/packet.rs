//! [`Packet`] as a whole: decoding a frame by dispatching on its type to the packet family that
//! reads it, and encoding by writing the fixed header and then the family's body; both for the
//! protocol version of the connection.

use bytes::{Buf, Bytes, BytesMut};

use super::{
    DecodeError, Packet, PacketKind, ProtocolVersion, ack, connack, connect, field, header,
    publish, subscribe,
};

impl Packet {
    /// Decodes one complete MQTT 3.1.1 frame: [`Packet::decode_frame_as`] for
    /// [`ProtocolVersion::V311`].
    pub fn decode_frame(frame: Bytes) -> Result<Packet, DecodeError> {
        Packet::decode_frame_as(frame, ProtocolVersion::V311)
    }

    /// Decodes one complete frame of a `version` connection: fixed header, then exactly the
    /// remaining length it declares. A CONNECT is read as the version it names.
    ///
    /// A frame shorter than its header declares is [`DecodeError::UnexpectedEof`], a longer
    /// one [`DecodeError::TrailingBytes`]. No size limit applies here; see
    /// [`decode`](super::decode). AUTH (type 15) is a reserved type before 5.0.
    pub fn decode_frame_as(
        mut frame: Bytes,
        version: ProtocolVersion,
    ) -> Result<Packet, DecodeError> {
        let header = header::parse(&frame)?.ok_or(DecodeError::UnexpectedEof)?;
        let (packet_type, flags) = (header.packet_type(), header.flags());
        let required_flags = match packet_type {
            0 => return Err(DecodeError::ReservedPacketType(packet_type)),
            15 if !version.is_v5() => return Err(DecodeError::ReservedPacketType(packet_type)),
            3 => flags,
            6 | 8 | 10 => 0b0010,
            _ => 0,
        };
        if flags != required_flags {
            return Err(DecodeError::InvalidFlags { packet_type, flags });
        }
        match frame.len().cmp(&header.frame_len()) {
            std::cmp::Ordering::Less => return Err(DecodeError::UnexpectedEof),
            std::cmp::Ordering::Greater => return Err(DecodeError::TrailingBytes),
            std::cmp::Ordering::Equal => {}
        }
        frame.advance(header.header_len);
        let r = field::Reader::new(frame);
        let v = version;
        Ok(match packet_type {
            1 => Packet::Connect(Box::new(connect::read(r)?)),
            2 => Packet::ConnAck(connack::read(r, v)?),
            3 => Packet::Publish(publish::read(flags, r, v)?),
            4 => Packet::PubAck(ack::read(r, v, PacketKind::PubAck)?),
            5 => Packet::PubRec(ack::read(r, v, PacketKind::PubRec)?),
            6 => Packet::PubRel(ack::read(r, v, PacketKind::PubRel)?),
            7 => Packet::PubComp(ack::read(r, v, PacketKind::PubComp)?),
            8 => Packet::Subscribe(subscribe::read_subscribe(r, v)?),
            9 => Packet::SubAck(subscribe::read_suback(r, v)?),
            10 => Packet::Unsubscribe(subscribe::read_unsubscribe(r, v)?),
            11 => Packet::UnsubAck(subscribe::read_unsuback(r, v)?),
            12 => ack::read_empty(r).map(|()| Packet::PingReq)?,
            13 => ack::read_empty(r).map(|()| Packet::PingResp)?,
            14 => Packet::Disconnect(ack::read_reason_body(r, v, PacketKind::Disconnect)?),
            _ => Packet::Auth(ack::read_reason_body(r, v, PacketKind::Auth)?),
        })
    }

    /// The first byte of the fixed header: packet type and flags.
    fn byte1(&self) -> u8 {
        match self {
            Packet::Connect(_) => 0x10,
            Packet::ConnAck(_) => 0x20,
            Packet::Publish(p) => p.byte1(),
            Packet::PubAck(_) => 0x40,
            Packet::PubRec(_) => 0x50,
            Packet::PubRel(_) => 0x62,
            Packet::PubComp(_) => 0x70,
            Packet::Subscribe(_) => 0x82,
            Packet::SubAck(_) => 0x90,
            Packet::Unsubscribe(_) => 0xA2,
            Packet::UnsubAck(_) => 0xB0,
            Packet::PingReq => 0xC0,
            Packet::PingResp => 0xD0,
            Packet::Disconnect(_) => 0xE0,
            Packet::Auth(_) => 0xF0,
        }
    }

    /// The remaining length on a `version` connection: bytes after the fixed header.
    fn remaining_len(&self, v: ProtocolVersion) -> usize {
        match self {
            Packet::Connect(c) => connect::len(c),
            Packet::ConnAck(a) => connack::len(a, v),
            Packet::Publish(p) => p.remaining_len(v),
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                ack::len(a, v)
            }
            Packet::Subscribe(s) => subscribe::subscribe_len(s, v),
            Packet::SubAck(s) => subscribe::suback_len(s, v),
            Packet::Unsubscribe(u) => subscribe::unsubscribe_len(u, v),
            Packet::UnsubAck(u) => subscribe::unsuback_len(u, v),
            Packet::PingReq | Packet::PingResp => 0,
            Packet::Disconnect(b) | Packet::Auth(b) => ack::reason_body_len(b, v),
        }
    }

    /// Bytes the packet encoded for MQTT 3.1.1 takes, fixed header included.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len_as(ProtocolVersion::V311)
    }

    /// Bytes the packet encoded for a `version` connection takes, fixed header included.
    pub fn encoded_len_as(&self, version: ProtocolVersion) -> usize {
        header::frame_len_for(self.remaining_len(version))
    }

    /// Appends the packet encoded for MQTT 3.1.1: [`Packet::encode_as`] for
    /// [`ProtocolVersion::V311`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::num::NonZeroU16;
    ///
    /// use amqtt_core::codec::{Ack, Packet};
    /// use bytes::BytesMut;
    ///
    /// let mut buf = BytesMut::new();
    /// let id = NonZeroU16::new(0x1234).expect("non-zero");
    /// Packet::PubAck(Ack::new(id)).encode(&mut buf);
    /// assert_eq!(&buf[..], &[0x40, 0x02, 0x12, 0x34]);
    /// ```
    pub fn encode(&self, buf: &mut BytesMut) {
        self.encode_as(ProtocolVersion::V311, buf);
    }

    /// Appends the packet encoded for a `version` connection: exactly
    /// [`Packet::encoded_len_as`] bytes, reserved first. A CONNECT is written in the version it
    /// names. MQTT 5.0's reason codes and properties are left out before 5.0.
    ///
    /// Strings and binary fields must fit in 65,535 bytes and a QoS 1 or 2 PUBLISH must carry a
    /// packet id; both hold for every decoded packet and are checked in debug builds.
    pub fn encode_as(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        let v = version;
        if let Packet::Publish(p) = self {
            return p.encode_as(v, buf);
        }
        let remaining_len = self.remaining_len(v);
        buf.reserve(header::frame_len_for(remaining_len));
        header::write(buf, self.byte1(), remaining_len);
        match self {
            Packet::Connect(c) => connect::write(buf, c),
            Packet::ConnAck(a) => connack::write(buf, a, v),
            Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                ack::write(buf, a, v)
            }
            Packet::Subscribe(s) => subscribe::write_subscribe(buf, s, v),
            Packet::SubAck(s) => subscribe::write_suback(buf, s, v),
            Packet::Unsubscribe(u) => subscribe::write_unsubscribe(buf, u, v),
            Packet::UnsubAck(u) => subscribe::write_unsuback(buf, u, v),
            Packet::Disconnect(b) | Packet::Auth(b) => ack::write_reason_body(buf, b, v),
            Packet::Publish(_) | Packet::PingReq | Packet::PingResp => {}
        }
    }

    /// The packet type's name as the specification spells it: `"CONNECT"`, `"PUBLISH"`, ...
    pub fn name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck(_) => "PUBACK",
            Packet::PubRec(_) => "PUBREC",
            Packet::PubRel(_) => "PUBREL",
            Packet::PubComp(_) => "PUBCOMP",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::UnsubAck(_) => "UNSUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect(_) => "DISCONNECT",
            Packet::Auth(_) => "AUTH",
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use proptest::prelude::*;

    use crate::codec::testing::{packet, pid, round_trip};
    use crate::codec::{DecodeError, Packet, UnsubAck, decode};

    #[test]
    fn partial_frame_is_left_in_the_buffer() {
        let mut whole = BytesMut::new();
        Packet::PubRel(pid(9).into()).encode(&mut whole);
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(decode(&mut buf, 1024), Ok(None));
            assert_eq!(&buf[..], &whole[..cut]);
        }
    }

    #[test]
    fn decode_takes_one_frame_at_a_time() {
        let mut buf = BytesMut::new();
        Packet::PingReq.encode(&mut buf);
        Packet::PubAck(pid(3).into()).encode(&mut buf);
        assert_eq!(decode(&mut buf, 4), Ok(Some(Packet::PingReq)));
        assert_eq!(decode(&mut buf, 4), Ok(Some(Packet::PubAck(pid(3).into()))));
        assert_eq!(decode(&mut buf, 4), Ok(None));
    }

    #[test]
    fn decode_frame_checks_the_frame_length() {
        let short = Bytes::from_static(&[0x40, 0x02, 0x00]);
        assert_eq!(Packet::decode_frame(short), Err(DecodeError::UnexpectedEof));
        let long = Bytes::from_static(&[0xC0, 0x00, 0x00]);
        assert_eq!(Packet::decode_frame(long), Err(DecodeError::TrailingBytes));
        assert_eq!(
            Packet::decode_frame(Bytes::new()),
            Err(DecodeError::UnexpectedEof)
        );
    }

    #[test]
    fn names() {
        assert_eq!(Packet::PingReq.name(), "PINGREQ");
        assert_eq!(Packet::UnsubAck(UnsubAck::new(pid(1))).name(), "UNSUBACK");
    }

    proptest! {
        #[test]
        fn any_packet_round_trips(p in packet()) {
            round_trip(&p);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = decode(&mut buf, 128) {}
            let _ = Packet::decode_frame(Bytes::from(bytes));
        }

        #[test]
        fn arbitrary_bodies_never_panic(
            byte1 in any::<u8>(),
            body in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            // A well-framed body of any type and flags: exercises every body parser.
            let mut buf = BytesMut::from(&[byte1, body.len() as u8][..]);
            buf.extend_from_slice(&body);
            let _ = decode(&mut buf, usize::MAX);
        }
    }
}
