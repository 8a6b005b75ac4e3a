//! How a message travels between nodes: its publisher's client id, then the message as
//! [`encode_message`] writes it (an MQTT 5.0 PUBLISH packet).

use amqtt_core::cluster::{WireError, decode_message, encode_message};
use amqtt_core::codec::{ByteString, Publish};
use bytes::{BufMut, Bytes, BytesMut};

/// `message` published by `sender`, for another node.
pub(crate) fn encode(sender: &str, message: &Publish) -> Bytes {
    let mut buf = BytesMut::with_capacity(2 + sender.len() + message.payload.len() + 64);
    let sender = &sender.as_bytes()[..sender.len().min(usize::from(u16::MAX))];
    buf.put_u16(sender.len() as u16);
    buf.put_slice(sender);
    encode_message(message, &mut buf);
    buf.freeze()
}

/// A message from another node and its publisher's client id.
pub(crate) fn decode(mut bytes: Bytes) -> Result<(ByteString, Publish), WireError> {
    let len = match bytes.get(..2) {
        Some(&[high, low]) => usize::from(u16::from_be_bytes([high, low])),
        _ => return Err(WireError::new("a message from another node is cut short")),
    };
    if bytes.len() < 2 + len {
        return Err(WireError::new("a message from another node is cut short"));
    }
    let sender = bytes.split_to(2 + len).slice(2..);
    let sender = ByteString::try_from(sender)
        .map_err(|_| WireError::new("a publisher's client id from another node is not UTF-8"))?;
    Ok((sender, decode_message(bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqtt_core::codec::{PacketId, QoS};

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
