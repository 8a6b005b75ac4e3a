//! Packets whose body is a packet identifier alone (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK)
//! and packets with no body at all (PINGREQ, PINGRESP, DISCONNECT).

use bytes::{BufMut, BytesMut};

use super::field::Reader;
use super::{DecodeError, PacketId};

/// Remaining length of a packet-identifier-only packet.
pub(crate) const LEN: usize = 2;

/// Reads a body that is exactly one non-zero packet identifier.
pub(crate) fn read(mut r: Reader) -> Result<PacketId, DecodeError> {
    let id = r.packet_id()?;
    r.finish()?;
    Ok(id)
}

/// Writes the body of a packet-identifier-only packet.
pub(crate) fn write(buf: &mut BytesMut, id: PacketId) {
    buf.put_u16(id.get());
}

/// Reads the body of PINGREQ, PINGRESP or DISCONNECT, which must be empty.
pub(crate) fn read_empty(r: Reader) -> Result<(), DecodeError> {
    r.finish()
}

#[cfg(test)]
mod tests {
    use crate::codec::DecodeError;
    use crate::codec::Packet;
    use crate::codec::testing::{assert_vector, decode_bytes, pid};

    #[test]
    fn puback_vector() {
        assert_vector(&Packet::PubAck(pid(0x1234)), &[0x40, 0x02, 0x12, 0x34]);
    }

    #[test]
    fn pubrec_vector() {
        assert_vector(&Packet::PubRec(pid(1)), &[0x50, 0x02, 0x00, 0x01]);
    }

    #[test]
    fn pubrel_vector() {
        assert_vector(&Packet::PubRel(pid(0xFFFF)), &[0x62, 0x02, 0xFF, 0xFF]);
    }

    #[test]
    fn pubcomp_vector() {
        assert_vector(&Packet::PubComp(pid(0x0100)), &[0x70, 0x02, 0x01, 0x00]);
    }

    #[test]
    fn unsuback_vector() {
        assert_vector(&Packet::UnsubAck(pid(7)), &[0xB0, 0x02, 0x00, 0x07]);
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
        assert_vector(&Packet::Disconnect, &[0xE0, 0x00]);
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
