//! How a message travels between nodes: its publisher's client id, the shared-subscription
//! groups the receiving node delivers it to, then the message as [`encode_message`] writes it
//! (an MQTT 5.0 PUBLISH packet).

use amqtt_core::cluster::{RemoteOrigin, WireError, decode_message, encode_message};
use amqtt_core::codec::{ByteString, Publish};
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// `message` published by `sender`, for another node that delivers it to `groups`
/// (`$share/<group>/<filter>`) of its shared subscriptions.
pub(crate) fn encode(sender: &str, groups: &[Box<str>], message: &Publish) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + sender.len() + message.payload.len() + 64);
    put_text(&mut buf, sender);
    buf.put_u16(u16::try_from(groups.len()).unwrap_or(u16::MAX));
    for group in groups.iter().take(usize::from(u16::MAX)) {
        put_text(&mut buf, group);
    }
    encode_message(message, &mut buf);
    buf.freeze()
}

/// A message from another node, and where it comes from.
pub(crate) fn decode(mut bytes: Bytes) -> Result<(RemoteOrigin, Publish), WireError> {
    let sender = get_text(&mut bytes)?;
    let count = get_u16(&mut bytes)?;
    let mut groups = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        groups.push(Box::from(&*get_text(&mut bytes)?));
    }
    let origin = RemoteOrigin { sender, groups };
    Ok((origin, decode_message(bytes)?))
}

/// A client id or filter: MQTT strings are at most 65 535 bytes.
fn put_text(buf: &mut BytesMut, text: &str) {
    let bytes = &text.as_bytes()[..text.len().min(usize::from(u16::MAX))];
    buf.put_u16(bytes.len() as u16);
    buf.put_slice(bytes);
}

fn get_u16(bytes: &mut Bytes) -> Result<u16, WireError> {
    if bytes.remaining() < 2 {
        return Err(WireError::new("a message from another node is cut short"));
    }
    Ok(bytes.get_u16())
}

fn get_text(bytes: &mut Bytes) -> Result<ByteString, WireError> {
    let len = usize::from(get_u16(bytes)?);
    if bytes.remaining() < len {
        return Err(WireError::new("a message from another node is cut short"));
    }
    ByteString::try_from(bytes.split_to(len))
        .map_err(|_| WireError::new("a text from another node is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqtt_core::codec::{PacketId, QoS};

    #[test]
    fn a_message_comes_back_as_sent() {
        let mut message = Publish::new("a/b", Bytes::from_static(b"hello"), QoS::ExactlyOnce, true);
        message.packet_id = PacketId::new(7);
        let groups = [Box::from("$share/g/a/#")];
        let (origin, back) = decode(encode("client-é", &groups, &message)).expect("decodes");
        assert_eq!(&*origin.sender, "client-é");
        assert_eq!(origin.groups, groups);
        assert_eq!(&*back.topic, "a/b");
        assert_eq!(&back.payload[..], b"hello");
        assert_eq!(back.qos, QoS::ExactlyOnce);
        assert!(back.retain);
        assert_eq!(back.packet_id, None);
        let qos1 = Publish::new("t", Bytes::new(), QoS::AtLeastOnce, false);
        assert_eq!(
            decode(encode("", &[], &qos1)).expect("decodes").1.qos,
            QoS::AtLeastOnce
        );
        assert!(decode(Bytes::from_static(b"\x00\x05ab")).is_err());
        assert!(decode(Bytes::from_static(b"\x00\x00\x30")).is_err());
    }
}
