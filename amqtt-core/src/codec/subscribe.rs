//! SUBSCRIBE, SUBACK and UNSUBSCRIBE: a packet identifier, then a list that runs to the end of
//! the frame (filter and requested QoS, return codes, filters).

use bytes::{BufMut, BytesMut};

use super::field::{Reader, prefixed_len, write_binary};
use super::{DecodeError, QoS, SubAck, SubAckCode, Subscribe, Unsubscribe};

/// The SUBACK return code of a refused subscription.
const FAILURE: u8 = 0x80;

impl SubAckCode {
    /// The code as sent on the wire: the granted QoS, or 0x80.
    pub fn to_u8(self) -> u8 {
        match self {
            SubAckCode::Success(qos) => qos as u8,
            SubAckCode::Failure => FAILURE,
        }
    }

    /// The code for a wire value, or `None` for anything but 0, 1, 2 and 0x80.
    pub fn from_u8(value: u8) -> Option<SubAckCode> {
        match value {
            FAILURE => Some(SubAckCode::Failure),
            _ => QoS::from_u8(value).map(SubAckCode::Success),
        }
    }
}

/// Reads a SUBSCRIBE body.
pub(crate) fn read_subscribe(mut r: Reader) -> Result<Subscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        let filter = r.topic_filter()?;
        let requested = r.u8()?;
        if requested & 0xFC != 0 {
            return Err(DecodeError::InvalidReservedBits);
        }
        let qos = QoS::from_u8(requested).ok_or(DecodeError::InvalidQoS)?;
        filters.push((filter, qos));
    }
    if filters.is_empty() {
        return Err(DecodeError::NoTopicFilters);
    }
    Ok(Subscribe { packet_id, filters })
}

/// Remaining length of a SUBSCRIBE.
pub(crate) fn subscribe_len(s: &Subscribe) -> usize {
    let filters: usize = s
        .filters
        .iter()
        .map(|(f, _)| prefixed_len(f.len()) + 1)
        .sum();
    2 + filters
}

/// Writes a SUBSCRIBE body.
pub(crate) fn write_subscribe(buf: &mut BytesMut, s: &Subscribe) {
    buf.put_u16(s.packet_id.get());
    for (filter, qos) in &s.filters {
        write_binary(buf, filter.as_bytes());
        buf.put_u8(*qos as u8);
    }
}

/// Reads a SUBACK body.
pub(crate) fn read_suback(mut r: Reader) -> Result<SubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let codes = r
        .rest()
        .iter()
        .map(|&code| SubAckCode::from_u8(code).ok_or(DecodeError::InvalidReservedBits))
        .collect::<Result<_, _>>()?;
    Ok(SubAck { packet_id, codes })
}

/// Remaining length of a SUBACK.
pub(crate) fn suback_len(s: &SubAck) -> usize {
    2 + s.codes.len()
}

/// Writes a SUBACK body.
pub(crate) fn write_suback(buf: &mut BytesMut, s: &SubAck) {
    buf.put_u16(s.packet_id.get());
    for code in &s.codes {
        buf.put_u8(code.to_u8());
    }
}

/// Reads an UNSUBSCRIBE body.
pub(crate) fn read_unsubscribe(mut r: Reader) -> Result<Unsubscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        filters.push(r.topic_filter()?);
    }
    if filters.is_empty() {
        return Err(DecodeError::NoTopicFilters);
    }
    Ok(Unsubscribe { packet_id, filters })
}

/// Remaining length of an UNSUBSCRIBE.
pub(crate) fn unsubscribe_len(u: &Unsubscribe) -> usize {
    2 + u
        .filters
        .iter()
        .map(|f| prefixed_len(f.len()))
        .sum::<usize>()
}

/// Writes an UNSUBSCRIBE body.
pub(crate) fn write_unsubscribe(buf: &mut BytesMut, u: &Unsubscribe) {
    buf.put_u16(u.packet_id.get());
    for filter in &u.filters {
        write_binary(buf, filter.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::codec::testing::{
        assert_vector, decode_bytes, pid, round_trip, suback, subscribe, unsubscribe,
    };
    use crate::codec::{ByteString, DecodeError, Packet, QoS, SubAck, SubAckCode};
    use crate::codec::{Subscribe, Unsubscribe};

    #[test]
    fn subscribe_vector() {
        let s = Subscribe {
            packet_id: pid(10),
            filters: vec![
                (ByteString::from_static("a/+"), QoS::AtLeastOnce),
                // Wildcard placement is the broker's to judge, not the codec's.
                (ByteString::from_static("a/#/b"), QoS::ExactlyOnce),
            ],
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
                SubAckCode::Failure,
                SubAckCode::Success(QoS::ExactlyOnce),
            ],
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
