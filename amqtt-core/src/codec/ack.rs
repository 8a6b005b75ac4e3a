//! The acknowledgements PUBACK, PUBREC, PUBREL and PUBCOMP (a packet identifier, and in MQTT
//! 5.0 a reason code and properties, both omitted when they are Success and empty), the empty
//! packets PINGREQ and PINGRESP, and DISCONNECT and AUTH (empty in 3.1.1; in 5.0 a reason code
//! and properties, omitted in the same way).

use bytes::{BufMut, BytesMut};

use super::field::Reader;
use super::properties::{block_len, read_block, write_block};
use super::{Ack, DecodeError, PacketKind, ProtocolVersion, ReasonBody, ReasonCode};

/// Reads an acknowledgement of kind `kind` (PUBACK, PUBREC, PUBREL or PUBCOMP).
pub(crate) fn read(
    mut r: Reader,
    version: ProtocolVersion,
    kind: PacketKind,
) -> Result<Ack, DecodeError> {
    let packet_id = r.packet_id()?;
    let (reason, properties) = read_reason(&mut r, version, kind)?;
    r.finish()?;
    Ok(Ack {
        packet_id,
        reason,
        properties,
    })
}

/// Reads the optional reason code and properties that end an acknowledgement, DISCONNECT or
/// AUTH on a 5.0 connection: absent ones are Success and none (3.4.2.1, 3.14.2.1, 3.15.2.1).
fn read_reason(
    r: &mut Reader,
    version: ProtocolVersion,
    kind: PacketKind,
) -> Result<(ReasonCode, Option<Box<super::Properties>>), DecodeError> {
    let mut reason = ReasonCode::Success;
    let mut properties = None;
    if version.is_v5() {
        if r.remaining() > 0 {
            reason = ReasonCode::decode_for(r.u8()?, kind)?;
        }
        if r.remaining() > 0 {
            properties = read_block(r, kind)?;
        }
    }
    Ok((reason, properties))
}

/// Remaining length of an acknowledgement.
pub(crate) fn len(ack: &Ack, version: ProtocolVersion) -> usize {
    2 + reason_len(ack.reason, ack.properties.as_deref(), version)
}

/// Writes an acknowledgement, in its shortest form.
pub(crate) fn write(buf: &mut BytesMut, ack: &Ack, version: ProtocolVersion) {
    buf.put_u16(ack.packet_id.get());
    write_reason(buf, ack.reason, ack.properties.as_deref(), version);
}

/// Bytes a reason code and properties take when written in their shortest form.
fn reason_len(
    reason: ReasonCode,
    properties: Option<&super::Properties>,
    version: ProtocolVersion,
) -> usize {
    match (version.is_v5(), properties) {
        (false, _) => 0,
        (true, Some(props)) => 1 + block_len(Some(props)),
        (true, None) if reason != ReasonCode::Success => 1,
        (true, None) => 0,
    }
}

/// Writes a reason code and properties in their shortest form: nothing for Success without
/// properties, the code alone without properties, else both.
fn write_reason(
    buf: &mut BytesMut,
    reason: ReasonCode,
    properties: Option<&super::Properties>,
    version: ProtocolVersion,
) {
    if reason_len(reason, properties, version) > 0 {
        buf.put_u8(reason.as_u8());
        if properties.is_some() {
            write_block(buf, properties);
        }
    }
}

/// Reads the body of PINGREQ or PINGRESP, which must be empty.
pub(crate) fn read_empty(r: Reader) -> Result<(), DecodeError> {
    r.finish()
}

/// Reads the body of DISCONNECT or AUTH (`kind`): empty before 5.0; in 5.0 an empty body is
/// Success with no properties.
pub(crate) fn read_reason_body(
    mut r: Reader,
    version: ProtocolVersion,
    kind: PacketKind,
) -> Result<ReasonBody, DecodeError> {
    let (reason, properties) = read_reason(&mut r, version, kind)?;
    r.finish()?;
    Ok(ReasonBody { reason, properties })
}

/// Remaining length of a DISCONNECT or AUTH body.
pub(crate) fn reason_body_len(body: &ReasonBody, version: ProtocolVersion) -> usize {
    reason_len(body.reason, body.properties.as_deref(), version)
}

/// Writes a DISCONNECT or AUTH body.
pub(crate) fn write_reason_body(buf: &mut BytesMut, body: &ReasonBody, version: ProtocolVersion) {
    write_reason(buf, body.reason, body.properties.as_deref(), version);
}

#[cfg(test)]
mod tests {
    use crate::codec::DecodeError;
    use crate::codec::testing::{assert_vector, decode_bytes, pid};
    use crate::codec::{Ack, Packet, ReasonBody, UnsubAck};

    #[test]
    fn puback_vector() {
        assert_vector(
            &Packet::PubAck(Ack::new(pid(0x1234))),
            &[0x40, 0x02, 0x12, 0x34],
        );
    }

    #[test]
    fn pubrec_vector() {
        assert_vector(&Packet::PubRec(Ack::new(pid(1))), &[0x50, 0x02, 0x00, 0x01]);
    }

    #[test]
    fn pubrel_vector() {
        assert_vector(
            &Packet::PubRel(Ack::new(pid(0xFFFF))),
            &[0x62, 0x02, 0xFF, 0xFF],
        );
    }

    #[test]
    fn pubcomp_vector() {
        assert_vector(
            &Packet::PubComp(Ack::new(pid(0x0100))),
            &[0x70, 0x02, 0x01, 0x00],
        );
    }

    #[test]
    fn unsuback_vector() {
        assert_vector(
            &Packet::UnsubAck(UnsubAck::new(pid(7))),
            &[0xB0, 0x02, 0x00, 0x07],
        );
    }

    #[test]
    fn pingreq_vector() {
        assert_vector(&Packet::PingReq, &[0xC0, 0x00]);
    }

    #[test]
    fn pingresp_vector() {
        assert_vector(&Packet::PingResp, &[0xD0, 0x00]);
    }

    #[test]
    fn disconnect_vector() {
        assert_vector(&Packet::Disconnect(ReasonBody::default()), &[0xE0, 0x00]);
    }

    #[test]
    fn ack_length_is_exact() {
        assert_eq!(
            decode_bytes(&[0x40, 0x01, 0x00]),
            Err(DecodeError::UnexpectedEof)
        );
        assert_eq!(
            decode_bytes(&[0x40, 0x03, 0x00, 0x01, 0x00]),
            Err(DecodeError::TrailingBytes)
        );
        assert_eq!(
            decode_bytes(&[0xB0, 0x02, 0x00, 0x00]),
            Err(DecodeError::ZeroPacketId)
        );
    }

    #[test]
    fn ping_and_disconnect_have_no_body() {
        for byte1 in [0xC0, 0xD0, 0xE0] {
            assert_eq!(
                decode_bytes(&[byte1, 0x01, 0x00]),
                Err(DecodeError::TrailingBytes)
            );
        }
    }
}
