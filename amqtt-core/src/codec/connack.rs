//! CONNACK: the acknowledge-flags byte (session present), the return code (MQTT 5.0: reason
//! code), and in 5.0 the properties.

use bytes::{BufMut, BytesMut};

use super::field::Reader;
use super::properties::{block_len, read_block, write_block};
use super::{ConnAck, ConnectReturnCode, DecodeError, PacketKind, ProtocolVersion, ReasonCode};

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

impl From<ConnectReturnCode> for ReasonCode {
    fn from(code: ConnectReturnCode) -> ReasonCode {
        match code {
            ConnectReturnCode::Accepted => ReasonCode::Success,
            ConnectReturnCode::UnacceptableProtocolVersion => {
                ReasonCode::UnsupportedProtocolVersion
            }
            ConnectReturnCode::IdentifierRejected => ReasonCode::ClientIdentifierNotValid,
            ConnectReturnCode::ServerUnavailable => ReasonCode::ServerUnavailable,
            ConnectReturnCode::BadUserNameOrPassword => ReasonCode::BadUserNameOrPassword,
            ConnectReturnCode::NotAuthorized => ReasonCode::NotAuthorized,
        }
    }
}

impl From<ReasonCode> for ConnectReturnCode {
    /// The 3.1.1 return code nearest to a 5.0 reason code: refusals of who the client is map to
    /// "not authorized", the rest of the failures to "server unavailable".
    fn from(code: ReasonCode) -> ConnectReturnCode {
        use ReasonCode as R;
        match code {
            R::Success => ConnectReturnCode::Accepted,
            R::UnsupportedProtocolVersion => ConnectReturnCode::UnacceptableProtocolVersion,
            R::ClientIdentifierNotValid => ConnectReturnCode::IdentifierRejected,
            R::BadUserNameOrPassword => ConnectReturnCode::BadUserNameOrPassword,
            R::NotAuthorized | R::Banned | R::BadAuthenticationMethod => {
                ConnectReturnCode::NotAuthorized
            }
            _ => ConnectReturnCode::ServerUnavailable,
        }
    }
}

/// Reads a CONNACK body.
pub(crate) fn read(mut r: Reader, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
    let flags = r.u8()?;
    if flags & 0xFE != 0 {
        return Err(DecodeError::InvalidReservedBits);
    }
    let byte = r.u8()?;
    let (code, properties) = if version.is_v5() {
        let code = ReasonCode::decode_for(byte, PacketKind::ConnAck)?;
        (code, read_block(&mut r, PacketKind::ConnAck)?)
    } else {
        let code = ConnectReturnCode::from_u8(byte).ok_or(DecodeError::InvalidReservedBits)?;
        (ReasonCode::from(code), None)
    };
    r.finish()?;
    Ok(ConnAck {
        session_present: flags & 0x01 != 0,
        code,
        properties,
    })
}

/// Remaining length of a CONNACK.
pub(crate) fn len(ack: &ConnAck, version: ProtocolVersion) -> usize {
    if version.is_v5() {
        2 + block_len(ack.properties.as_deref())
    } else {
        2
    }
}

/// Writes a CONNACK body. MQTT 3.1 has no session-present flag: it is written as 0 there.
pub(crate) fn write(buf: &mut BytesMut, ack: &ConnAck, version: ProtocolVersion) {
    buf.put_u8(u8::from(
        ack.session_present && version != ProtocolVersion::V31,
    ));
    if version.is_v5() {
        buf.put_u8(ack.code.as_u8());
        write_block(buf, ack.properties.as_deref());
    } else {
        buf.put_u8(ConnectReturnCode::from(ack.code) as u8);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::codec::testing::{assert_vector, connack, decode_bytes, round_trip};
    use crate::codec::{ConnAck, DecodeError, Packet, ReasonCode};

    #[test]
    fn connack_vectors() {
        let accepted = ConnAck {
            session_present: true,
            code: ReasonCode::Success,
            properties: None,
        };
        assert_vector(&Packet::ConnAck(accepted), &[0x20, 0x02, 0x01, 0x00]);
        let refused = ConnAck {
            session_present: false,
            code: ReasonCode::NotAuthorized,
            properties: None,
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
