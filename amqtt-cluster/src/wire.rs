//! How a message travels between nodes: its publisher's client id, then the message as an MQTT
//! 5.0 PUBLISH packet (topic, QoS, RETAIN, payload and every property, in the codec's own
//! encoding).

use amqtt_core::codec::{self, ByteString, Packet, PacketId, ProtocolVersion, Publish};
use bytes::{BufMut, Bytes, BytesMut};

/// Why a message from another node could not be read.
#[derive(Debug, thiserror::Error)]
#[error("a message from another node does not decode: {0}")]
pub(crate) struct WireError(String);

/// `message` published by `sender`, for another node.
pub(crate) fn encode(sender: &str, message: &Publish) -> Bytes {
    let mut buf = BytesMut::with_capacity(2 + sender.len() + message.payload.len() + 64);
    let sender = &sender.as_bytes()[..sender.len().min(usize::from(u16::MAX))];
    buf.put_u16(sender.len() as u16);
    buf.put_slice(sender);
    encode_publish(message, &mut buf);
    buf.freeze()
}

/// A message from another node and its publisher's client id.
pub(crate) fn decode(mut bytes: Bytes) -> Result<(ByteString, Publish), WireError> {
    if bytes.len() < 2 {
        return Err(WireError("too short".into()));
    }
    let len = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
    if bytes.len() < 2 + len {
        return Err(WireError("too short".into()));
    }
    let sender = bytes.split_to(2 + len).slice(2..);
    let sender =
        ByteString::try_from(sender).map_err(|_| WireError("sender is not UTF-8".into()))?;
    Ok((sender, decode_publish(bytes)?))
}

/// A PUBLISH packet alone (a retained message in its bucket).
pub(crate) fn encode_publish(message: &Publish, buf: &mut BytesMut) {
    let mut copy;
    let message = if message.qos != codec::QoS::AtMostOnce && message.packet_id.is_none() {
        // A QoS 1/2 PUBLISH carries a packet id; the receiving node gives its own.
        copy = message.clone();
        copy.packet_id = PacketId::new(1);
        &copy
    } else {
        message
    };
    message.encode_as(ProtocolVersion::V5, buf);
}

/// Reads what [`encode_publish`] wrote.
pub(crate) fn decode_publish(bytes: Bytes) -> Result<Publish, WireError> {
    let mut buf = BytesMut::from(bytes);
    match codec::decode_as(&mut buf, usize::MAX, ProtocolVersion::V5) {
        Ok(Some(Packet::Publish(mut message))) => {
            message.packet_id = None;
            message.dup = false;
            Ok(message)
        }
        Ok(Some(other)) => Err(WireError(format!("{} instead of PUBLISH", other.name()))),
        Ok(None) => Err(WireError("incomplete PUBLISH".into())),
        Err(e) => Err(WireError(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqtt_core::codec::QoS;

    #[test]
    fn a_message_comes_back_as_sent() {
        let mut message = Publish::new("a/b", Bytes::from_static(b"hello"), QoS::ExactlyOnce, true);
        message.packet_id = PacketId::new(7);
        let (sender, back) = decode(encode("client-é", &message)).expect("decodes");
        assert_eq!(&*sender, "client-é");
        assert_eq!(&*back.topic, "a/b");
        assert_eq!(&back.payload[..], b"hello");
        assert_eq!(back.qos, QoS::ExactlyOnce);
        assert!(back.retain);
        assert_eq!(back.packet_id, None);
        let qos1 = Publish::new("t", Bytes::new(), QoS::AtLeastOnce, false);
        assert_eq!(
            decode(encode("", &qos1)).expect("decodes").1.qos,
            QoS::AtLeastOnce
        );
        assert!(decode(Bytes::from_static(b"\x00\x05ab")).is_err());
        assert!(decode(Bytes::from_static(b"\x00\x00\x30")).is_err());
    }
}
