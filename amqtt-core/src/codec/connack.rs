//! CONNACK: the acknowledge-flags byte (session present) and the return code.

use bytes::{BufMut, BytesMut};

use super::field::Reader;
use super::{ConnAck, ConnectReturnCode, DecodeError};

/// Remaining length of a CONNACK.
pub(crate) const LEN: usize = 2;

impl ConnectReturnCode {
    /// The return code for `value`, or `None` for the reserved values 6 and above.
    pub fn from_u8(value: u8) -> Option<ConnectReturnCode> {
        match value {
            0 => Some(ConnectReturnCode::Accepted),
            1 => Some(ConnectReturnCode::UnacceptableProtocolVersion),
            2 => Some(ConnectReturnCode::IdentifierRejected),
            3 => Some(ConnectReturnCode::ServerUnavailable),
            4 => Some(ConnectReturnCode::BadUserNameOrPassword),
            5 => Some(ConnectReturnCode::NotAuthorized),
            _ => None,
        }
    }
}

/// Reads a CONNACK body.
pub(crate) fn read(mut r: Reader) -> Result<ConnAck, DecodeError> {
    let flags = r.u8()?;
    if flags & 0xFE != 0 {
        return Err(DecodeError::InvalidReservedBits);
    }
    let code = ConnectReturnCode::from_u8(r.u8()?).ok_or(DecodeError::InvalidReservedBits)?;
    r.finish()?;
    Ok(ConnAck {
        session_present: flags & 0x01 != 0,
        code,
    })
}

/// Writes a CONNACK body.
pub(crate) fn write(buf: &mut BytesMut, ack: &ConnAck) {
    buf.put_u8(u8::from(ack.session_present));
    buf.put_u8(ack.code as u8);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::codec::testing::{assert_vector, connack, decode_bytes, round_trip};
    use crate::codec::{ConnAck, ConnectReturnCode, DecodeError, Packet};

    #[test]
    fn connack_vectors() {
        let accepted = ConnAck {
            session_present: true,
            code: ConnectReturnCode::Accepted,
        };
        assert_vector(&Packet::ConnAck(accepted), &[0x20, 0x02, 0x01, 0x00]);
        let refused = ConnAck {
            session_present: false,
            code: ConnectReturnCode::NotAuthorized,
        };
        assert_vector(&Packet::ConnAck(refused), &[0x20, 0x02, 0x00, 0x05]);
    }

    #[test]
    fn connack_rejects_reserved_values() {
        assert_eq!(
            decode_bytes(&[0x20, 0x02, 0x02, 0x00]),
            Err(DecodeError::InvalidReservedBits)
        );
        assert_eq!(
            decode_bytes(&[0x20, 0x02, 0x00, 0x06]),
            Err(DecodeError::InvalidReservedBits)
        );
        assert_eq!(
            decode_bytes(&[0x20, 0x03, 0x00, 0x00, 0x00]),
            Err(DecodeError::TrailingBytes)
        );
        assert_eq!(
            decode_bytes(&[0x20, 0x01, 0x00]),
            Err(DecodeError::UnexpectedEof)
        );
    }

    proptest! {
        #[test]
        fn connack_round_trips(ack in connack()) {
            round_trip(&Packet::ConnAck(ack));
        }
    }
}
