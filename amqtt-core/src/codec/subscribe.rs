//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK: a packet identifier, in MQTT 5.0 the
//! properties, then a list that runs to the end of the frame (filters with their options,
//! return or reason codes, filters, reason codes).

use bytes::{BufMut, BytesMut};

use super::field::{Reader, prefixed_len, write_binary};
use super::properties::{block_len, read_block, write_block};
use super::{
    DecodeError, PacketKind, Properties, ProtocolVersion, QoS, ReasonCode, RetainHandling, SubAck,
    SubAckCode, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};

/// The SUBACK return code of a refused subscription in MQTT 3.1.1.
const FAILURE: u8 = 0x80;

const NO_LOCAL: u8 = 0x04;
const RETAIN_AS_PUBLISHED: u8 = 0x08;
const RETAIN_HANDLING_SHIFT: u8 = 4;

impl SubAckCode {
    /// The failure code of MQTT 3.1.1 (0x80), which 5.0 calls Unspecified error.
    pub const FAILURE: SubAckCode = SubAckCode::Failure(ReasonCode::UnspecifiedError);

    /// The code as sent on the wire: the granted QoS, or the failure's reason code (0x80 on a
    /// 3.1.1 connection).
    pub fn to_u8(self, version: ProtocolVersion) -> u8 {
        match self {
            SubAckCode::Success(qos) => qos as u8,
            SubAckCode::Failure(reason) if version.is_v5() => reason.as_u8(),
            SubAckCode::Failure(_) => FAILURE,
        }
    }

    /// The code for a wire value: 0 to 2 and, in 5.0, the failure reason codes SUBACK allows
    /// (0x80 alone before 5.0).
    pub fn from_u8(value: u8, version: ProtocolVersion) -> Result<SubAckCode, DecodeError> {
        if let Some(qos) = QoS::from_u8(value) {
            return Ok(SubAckCode::Success(qos));
        }
        if version.is_v5() {
            let reason = ReasonCode::decode_for(value, PacketKind::SubAck)?;
            if reason.is_error() {
                return Ok(SubAckCode::Failure(reason));
            }
        } else if value == FAILURE {
            return Ok(SubAckCode::Failure(ReasonCode::UnspecifiedError));
        }
        Err(DecodeError::InvalidReservedBits)
    }
}

impl SubscriptionOptions {
    /// The options byte: QoS in bits 0-1 and, in 5.0, no local, retain as published and
    /// retain handling.
    fn to_u8(self, version: ProtocolVersion) -> u8 {
        let mut byte = self.qos as u8;
        if version.is_v5() {
            if self.no_local {
                byte |= NO_LOCAL;
            }
            if self.retain_as_published {
                byte |= RETAIN_AS_PUBLISHED;
            }
            byte |= (self.retain_handling as u8) << RETAIN_HANDLING_SHIFT;
        }
        byte
    }

    /// Reads an options byte: reserved bits (2-7 before 5.0, 6-7 in 5.0) must be 0 and retain
    /// handling must not be 3.
    fn from_u8(byte: u8, version: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
        let reserved = if version.is_v5() { 0xC0 } else { 0xFC };
        if byte & reserved != 0 {
            return Err(DecodeError::InvalidReservedBits);
        }
        let qos = QoS::from_u8(byte & 0x03).ok_or(DecodeError::InvalidQoS)?;
        let retain_handling = match byte >> RETAIN_HANDLING_SHIFT {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(DecodeError::InvalidReservedBits),
        };
        Ok(SubscriptionOptions {
            qos,
            no_local: byte & NO_LOCAL != 0,
            retain_as_published: byte & RETAIN_AS_PUBLISHED != 0,
            retain_handling,
        })
    }
}

/// Reads the property block of a `kind` packet on a 5.0 connection; `None` before 5.0.
fn read_props(
    r: &mut Reader,
    version: ProtocolVersion,
    kind: PacketKind,
) -> Result<Option<Box<Properties>>, DecodeError> {
    if version.is_v5() {
        read_block(r, kind)
    } else {
        Ok(None)
    }
}

/// Bytes of a property block on a `version` connection: none before 5.0.
fn props_len(props: Option<&Properties>, version: ProtocolVersion) -> usize {
    if version.is_v5() { block_len(props) } else { 0 }
}

/// Writes a property block on a 5.0 connection; nothing before 5.0.
fn write_props(buf: &mut BytesMut, props: Option<&Properties>, version: ProtocolVersion) {
    if version.is_v5() {
        write_block(buf, props);
    }
}

/// Reads a SUBSCRIBE body.
pub(crate) fn read_subscribe(
    mut r: Reader,
    version: ProtocolVersion,
) -> Result<Subscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = read_props(&mut r, version, PacketKind::Subscribe)?;
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        let filter = r.topic_filter()?;
        filters.push((filter, SubscriptionOptions::from_u8(r.u8()?, version)?));
    }
    if filters.is_empty() {
        return Err(DecodeError::NoTopicFilters);
    }
    Ok(Subscribe {
        packet_id,
        filters,
        properties,
    })
}

/// Remaining length of a SUBSCRIBE.
pub(crate) fn subscribe_len(s: &Subscribe, version: ProtocolVersion) -> usize {
    let filters: usize = s
        .filters
        .iter()
        .map(|(f, _)| prefixed_len(f.len()) + 1)
        .sum();
    2 + props_len(s.properties.as_deref(), version) + filters
}

/// Writes a SUBSCRIBE body.
pub(crate) fn write_subscribe(buf: &mut BytesMut, s: &Subscribe, version: ProtocolVersion) {
    buf.put_u16(s.packet_id.get());
    write_props(buf, s.properties.as_deref(), version);
    for (filter, options) in &s.filters {
        write_binary(buf, filter.as_bytes());
        buf.put_u8(options.to_u8(version));
    }
}

/// Reads a SUBACK body.
pub(crate) fn read_suback(mut r: Reader, version: ProtocolVersion) -> Result<SubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = read_props(&mut r, version, PacketKind::SubAck)?;
    let codes = r
        .rest()
        .iter()
        .map(|&code| SubAckCode::from_u8(code, version))
        .collect::<Result<_, _>>()?;
    Ok(SubAck {
        packet_id,
        codes,
        properties,
    })
}

/// Remaining length of a SUBACK.
pub(crate) fn suback_len(s: &SubAck, version: ProtocolVersion) -> usize {
    2 + props_len(s.properties.as_deref(), version) + s.codes.len()
}

/// Writes a SUBACK body.
pub(crate) fn write_suback(buf: &mut BytesMut, s: &SubAck, version: ProtocolVersion) {
    buf.put_u16(s.packet_id.get());
    write_props(buf, s.properties.as_deref(), version);
    for code in &s.codes {
        buf.put_u8(code.to_u8(version));
    }
}

/// Reads an UNSUBSCRIBE body.
pub(crate) fn read_unsubscribe(
    mut r: Reader,
    version: ProtocolVersion,
) -> Result<Unsubscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = read_props(&mut r, version, PacketKind::Unsubscribe)?;
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        filters.push(r.topic_filter()?);
    }
    if filters.is_empty() {
        return Err(DecodeError::NoTopicFilters);
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

/// Remaining length of an UNSUBSCRIBE.
pub(crate) fn unsubscribe_len(u: &Unsubscribe, version: ProtocolVersion) -> usize {
    let filters: usize = u.filters.iter().map(|f| prefixed_len(f.len())).sum();
    2 + props_len(u.properties.as_deref(), version) + filters
}

/// Writes an UNSUBSCRIBE body.
pub(crate) fn write_unsubscribe(buf: &mut BytesMut, u: &Unsubscribe, version: ProtocolVersion) {
    buf.put_u16(u.packet_id.get());
    write_props(buf, u.properties.as_deref(), version);
    for filter in &u.filters {
        write_binary(buf, filter.as_bytes());
    }
}

/// Reads an UNSUBACK body: the packet id alone before 5.0; in 5.0 properties and one reason
/// code per filter.
pub(crate) fn read_unsuback(
    mut r: Reader,
    version: ProtocolVersion,
) -> Result<UnsubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = read_props(&mut r, version, PacketKind::UnsubAck)?;
    let codes = r
        .rest()
        .iter()
        .map(|&code| ReasonCode::decode_for(code, PacketKind::UnsubAck))
        .collect::<Result<_, _>>()?;
    Ok(UnsubAck {
        packet_id,
        codes,
        properties,
    })
}

/// Remaining length of an UNSUBACK.
pub(crate) fn unsuback_len(u: &UnsubAck, version: ProtocolVersion) -> usize {
    let codes = if version.is_v5() { u.codes.len() } else { 0 };
    2 + props_len(u.properties.as_deref(), version) + codes
}

/// Writes an UNSUBACK body.
pub(crate) fn write_unsuback(buf: &mut BytesMut, u: &UnsubAck, version: ProtocolVersion) {
    buf.put_u16(u.packet_id.get());
    write_props(buf, u.properties.as_deref(), version);
    if version.is_v5() {
        for code in &u.codes {
            buf.put_u8(code.as_u8());
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::codec::testing::{
        assert_vector, decode_bytes, pid, round_trip, suback, subscribe, unsubscribe,
    };
    use crate::codec::{ByteString, DecodeError, Packet, QoS, ReasonCode, SubAck, SubAckCode};
    use crate::codec::{Subscribe, Unsubscribe};

    #[test]
    fn subscribe_vector() {
        let s = Subscribe {
            packet_id: pid(10),
            filters: vec![
                (ByteString::from_static("a/+"), QoS::AtLeastOnce.into()),
                // Wildcard placement is the broker's to judge, not the codec's.
                (ByteString::from_static("a/#/b"), QoS::ExactlyOnce.into()),
            ],
            properties: None,
        };
        #[rustfmt::skip]
        let bytes = [
            0x82, 16, 0x00, 0x0A,
            0x00, 0x03, b'a', b'/', b'+', 0x01,
            0x00, 0x05, b'a', b'/', b'#', b'/', b'b', 0x02,
        ];
        assert_vector(&Packet::Subscribe(s), &bytes);
    }

    #[test]
    fn suback_vector() {
        let s = SubAck {
            packet_id: pid(10),
            codes: vec![
                SubAckCode::Success(QoS::AtMostOnce),
                SubAckCode::Failure(ReasonCode::UnspecifiedError),
                SubAckCode::Success(QoS::ExactlyOnce),
            ],
            properties: None,
        };
        assert_vector(
            &Packet::SubAck(s),
            &[0x90, 0x05, 0x00, 0x0A, 0x00, 0x80, 0x02],
        );
    }

    #[test]
    fn unsubscribe_vector() {
        let u = Unsubscribe {
            packet_id: pid(0x0203),
            filters: vec![ByteString::from_static("x"), ByteString::from_static("#")],
            properties: None,
        };
        assert_vector(
            &Packet::Unsubscribe(u),
            &[0xA2, 0x08, 0x02, 0x03, 0x00, 0x01, b'x', 0x00, 0x01, b'#'],
        );
    }

    #[test]
    fn list_checks() {
        let cases: [(&[u8], DecodeError); 10] = [
            (&[0x82, 0x02, 0x00, 0x01], DecodeError::NoTopicFilters),
            (&[0xA2, 0x02, 0x00, 0x01], DecodeError::NoTopicFilters),
            (
                &[0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00],
                DecodeError::EmptyTopicFilter,
            ),
            (
                &[0xA2, 0x04, 0x00, 0x01, 0x00, 0x00],
                DecodeError::EmptyTopicFilter,
            ),
            (
                &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x04],
                DecodeError::InvalidReservedBits,
            ),
            (
                &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x03],
                DecodeError::InvalidQoS,
            ),
            (
                &[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'],
                DecodeError::UnexpectedEof,
            ),
            (
                &[0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b'a', 0x00],
                DecodeError::ZeroPacketId,
            ),
            (
                &[0x90, 0x03, 0x00, 0x01, 0x03],
                DecodeError::InvalidReservedBits,
            ),
            (
                &[0x90, 0x03, 0x00, 0x01, 0x81],
                DecodeError::InvalidReservedBits,
            ),
        ];
        for (bytes, err) in cases {
            assert_eq!(decode_bytes(bytes), Err(err), "{bytes:02x?}");
        }
    }

    proptest! {
        #[test]
        fn subscribe_round_trips(s in subscribe()) {
            round_trip(&Packet::Subscribe(s));
        }

        #[test]
        fn suback_round_trips(s in suback()) {
            round_trip(&Packet::SubAck(s));
        }

        #[test]
        fn unsubscribe_round_trips(u in unsubscribe()) {
            round_trip(&Packet::Unsubscribe(u));
        }
    }
}
