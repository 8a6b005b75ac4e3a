//! PUBLISH: DUP, QoS and RETAIN in the fixed-header flags; topic name, packet id (QoS 1 and 2
//! only), the properties (MQTT 5.0 only), then the payload, which runs to the end of the frame.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use super::field::{Reader, prefixed_len, write_binary};
use super::properties::{block_len, read_block, write_block};
use super::{DecodeError, PacketKind, Properties, ProtocolVersion, Publish, QoS, header};

const DUP: u8 = 0x08;
const QOS_SHIFT: u8 = 1;
const QOS_MASK: u8 = 0x06;
const RETAIN: u8 = 0x01;

/// Packet type nibble of PUBLISH, shifted into place.
const TYPE: u8 = 0x30;

/// Reads a PUBLISH body; `flags` is the low nibble of the fixed header.
pub(crate) fn read(
    flags: u8,
    mut r: Reader,
    version: ProtocolVersion,
) -> Result<Publish, DecodeError> {
    let qos = QoS::from_u8((flags & QOS_MASK) >> QOS_SHIFT).ok_or(DecodeError::InvalidQoS)?;
    let dup = flags & DUP != 0;
    if dup && qos == QoS::AtMostOnce {
        return Err(DecodeError::DupWithQoS0);
    }
    // 5.0: an empty topic name stands for the topic alias the properties carry (3.3.2.3.4).
    let topic = if version.is_v5() {
        r.topic_name_or_empty()?
    } else {
        r.topic_name()?
    };
    let packet_id = match qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce | QoS::ExactlyOnce => Some(r.packet_id()?),
    };
    let properties: Option<Arc<Properties>> = if version.is_v5() {
        read_block(&mut r, PacketKind::Publish)?
    } else {
        None
    };
    if topic.is_empty() && properties.as_ref().is_none_or(|p| p.topic_alias.is_none()) {
        return Err(DecodeError::EmptyTopicName);
    }
    Ok(Publish {
        dup,
        qos,
        retain: flags & RETAIN != 0,
        topic,
        packet_id,
        payload: r.rest(),
        properties,
    })
}

impl Publish {
    /// A message with no packet id, DUP flag or properties, as an application publishes it.
    pub fn new(
        topic: impl Into<ByteString>,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Publish {
        Publish {
            dup: false,
            qos,
            retain,
            topic: topic.into(),
            packet_id: None,
            payload: payload.into(),
            properties: None,
        }
    }

    /// The same message with its topic, payload and properties in allocations of their own. A
    /// decoded message's fields are views of the frame it came in, which keep the whole read
    /// buffer alive: what is stored for long (retained, queued offline) should be detached.
    pub fn detached(&self) -> Publish {
        Publish {
            topic: ByteString::from(&*self.topic),
            payload: Bytes::copy_from_slice(&self.payload),
            properties: self.properties.as_ref().map(|p| Arc::new(p.detached())),
            ..*self
        }
    }

    /// The first byte of the fixed header: type, DUP, QoS and RETAIN.
    #[inline]
    pub(crate) fn byte1(&self) -> u8 {
        let mut byte1 = TYPE | ((self.qos as u8) << QOS_SHIFT);
        if self.dup {
            byte1 |= DUP;
        }
        if self.retain {
            byte1 |= RETAIN;
        }
        byte1
    }

    /// Remaining length on a `version` connection: topic, packet id if any, properties (5.0),
    /// payload.
    #[inline]
    pub(crate) fn remaining_len(&self, version: ProtocolVersion) -> usize {
        let id_len = if self.qos == QoS::AtMostOnce { 0 } else { 2 };
        let props_len = if version.is_v5() {
            block_len(self.properties.as_deref())
        } else {
            0
        };
        prefixed_len(self.topic.len()) + id_len + props_len + self.payload.len()
    }

    /// Bytes the encoded MQTT 3.1.1 PUBLISH takes, fixed header included.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len_as(ProtocolVersion::V311)
    }

    /// Bytes the PUBLISH encoded for a `version` connection takes, fixed header included.
    pub fn encoded_len_as(&self, version: ProtocolVersion) -> usize {
        header::frame_len_for(self.remaining_len(version))
    }

    /// [`Publish::encode_head_as`] for MQTT 3.1.1.
    pub fn encode_head(&self, buf: &mut BytesMut) {
        self.encode_head_as(ProtocolVersion::V311, buf);
    }

    /// Appends everything but the payload, for a `version` connection: fixed header, topic,
    /// packet id and (5.0) properties.
    ///
    /// With [`Publish::payload`] written after it (or sent beside it in a vectored write), this
    /// is the whole packet, so fan-out can share one payload across many headers.
    ///
    /// The packet id is written exactly when `qos` is 1 or 2; a QoS 1 or 2 message without one
    /// is a bug of the caller (checked in debug builds) and is written with id 0.
    #[inline]
    pub fn encode_head_as(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        let remaining_len = self.remaining_len(version);
        buf.reserve(header::frame_len_for(remaining_len) - self.payload.len());
        header::write(buf, self.byte1(), remaining_len);
        write_binary(buf, self.topic.as_bytes());
        if self.qos != QoS::AtMostOnce {
            debug_assert!(
                self.packet_id.is_some(),
                "QoS 1/2 PUBLISH without packet id"
            );
            buf.put_u16(self.packet_id.map_or(0, |id| id.get()));
        }
        if version.is_v5() {
            write_block(buf, self.properties.as_deref());
        }
    }

    /// Appends the whole encoded MQTT 3.1.1 PUBLISH, exactly [`Publish::encoded_len`] bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use amqtt_core::codec::{Publish, QoS};
    /// use bytes::BytesMut;
    ///
    /// let publish = Publish::new("a/b", &b"hi"[..], QoS::AtMostOnce, false);
    /// let mut buf = BytesMut::new();
    /// publish.encode(&mut buf);
    /// assert_eq!(&buf[..], b"\x30\x07\x00\x03a/bhi");
    /// assert_eq!(buf.len(), publish.encoded_len());
    /// ```
    pub fn encode(&self, buf: &mut BytesMut) {
        self.encode_as(ProtocolVersion::V311, buf);
    }

    /// Appends the whole PUBLISH encoded for a `version` connection.
    // Always: left a call of its own by LTO, its prologue and epilogue cost a fan-out as much
    // as its work (callgrind, 50 subscribers).
    #[inline(always)]
    pub fn encode_as(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        buf.reserve(self.encoded_len_as(version));
        self.encode_head_as(version, buf);
        buf.put_slice(&self.payload);
    }
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use proptest::prelude::*;

    use crate::codec::testing::{assert_vector, decode_bytes, pid, publish, round_trip};
    use crate::codec::{ByteString, DecodeError, Packet, Publish, QoS};

    #[test]
    fn detached_equals_the_message_and_shares_nothing_with_its_frame() {
        let mut frame = BytesMut::from(&b"\x30\x0a\x00\x03a/bhello"[..]);
        let range = frame.as_ptr_range();
        let Ok(Some(Packet::Publish(decoded))) = crate::codec::decode(&mut frame, usize::MAX)
        else {
            panic!("not a valid PUBLISH");
        };
        let detached = decoded.detached();
        assert_eq!(detached, decoded);
        assert!(
            range.contains(&decoded.payload.as_ptr()),
            "decoding is zero-copy"
        );
        assert!(!range.contains(&detached.payload.as_ptr()));
        assert!(!range.contains(&detached.topic.as_bytes().as_ptr()));
    }

    #[test]
    fn publish_qos0_vector() {
        let p = Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: true,
            topic: ByteString::from_static("a/b"),
            packet_id: None,
            payload: Bytes::from_static(b"xyz"),
            properties: None,
        };
        assert_vector(
            &Packet::Publish(p),
            &[0x31, 0x08, 0x00, 0x03, b'a', b'/', b'b', b'x', b'y', b'z'],
        );
    }

    #[test]
    fn publish_qos2_dup_empty_payload_vector() {
        let p = Publish {
            dup: true,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic: ByteString::from_static("t"),
            packet_id: Some(pid(0x0A0B)),
            payload: Bytes::new(),
            properties: None,
        };
        assert_vector(
            &Packet::Publish(p),
            &[0x3C, 0x05, 0x00, 0x01, b't', 0x0A, 0x0B],
        );
    }

    #[test]
    fn publish_header_checks() {
        let cases: [(&[u8], DecodeError); 6] = [
            (&[0x36, 0x03, 0x00, 0x01, b't'], DecodeError::InvalidQoS),
            (&[0x38, 0x03, 0x00, 0x01, b't'], DecodeError::DupWithQoS0),
            (&[0x30, 0x02, 0x00, 0x00], DecodeError::EmptyTopicName),
            (
                &[0x30, 0x03, 0x00, 0x01, b'+'],
                DecodeError::WildcardInTopicName,
            ),
            (
                &[0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00],
                DecodeError::ZeroPacketId,
            ),
            (
                &[0x32, 0x04, 0x00, 0x01, b't', 0x00],
                DecodeError::UnexpectedEof,
            ),
        ];
        for (bytes, err) in cases {
            assert_eq!(decode_bytes(bytes), Err(err), "{bytes:02x?}");
        }
    }

    #[test]
    fn publish_payload_is_a_view_of_the_frame() {
        let frame = Bytes::from_static(&[0x30, 0x05, 0x00, 0x01, b't', b'p', b'q']);
        let Packet::Publish(p) = Packet::decode_frame(frame.clone()).expect("valid") else {
            panic!("not a PUBLISH");
        };
        assert_eq!(p.payload.as_ptr(), frame[5..].as_ptr());
        assert_eq!(p.topic.as_bytes().as_ptr(), frame[4..].as_ptr());
    }

    #[test]
    fn large_publish_round_trips_at_length_boundaries() {
        // Remaining length = 2 (topic length) + 1 (topic) + payload.
        for remaining in [127, 128, 16_383, 16_384, 2_097_151, 2_097_152] {
            let p = Publish {
                dup: false,
                qos: QoS::AtMostOnce,
                retain: false,
                topic: ByteString::from_static("t"),
                packet_id: None,
                payload: Bytes::from(vec![0xA5; remaining - 3]),
                properties: None,
            };
            let mut buf = BytesMut::new();
            p.encode(&mut buf);
            assert_eq!(buf.len(), p.encoded_len());
            let decoded = Packet::decode_frame(buf.freeze()).expect("valid");
            assert_eq!(decoded, Packet::Publish(p));
        }
    }

    proptest! {
        #[test]
        fn publish_round_trips(p in publish()) {
            let mut head = BytesMut::new();
            p.encode_head(&mut head);
            head.extend_from_slice(&p.payload);
            let mut whole = BytesMut::new();
            p.encode(&mut whole);
            prop_assert_eq!(&head, &whole);
            round_trip(&Packet::Publish(p));
        }
    }
}
