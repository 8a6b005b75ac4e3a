//! Test support for the codec: byte-vector assertions and proptest strategies that generate
//! valid packets of every type.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::{
    Ack, ByteString, ConnAck, Connect, ConnectReturnCode, DecodeError, LastWill, Packet, PacketId,
    Publish, QoS, ReasonBody, ReasonCode, SubAck, SubAckCode, Subscribe, UnsubAck, Unsubscribe,
    decode,
};

/// A packet id from a non-zero literal.
pub(crate) fn pid(id: u16) -> PacketId {
    PacketId::new(id).expect("test packet ids are non-zero")
}

/// Decodes `bytes` as a buffer received from the network, with no size limit.
pub(crate) fn decode_bytes(bytes: &[u8]) -> Result<Option<Packet>, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    decode(&mut buf, usize::MAX)
}

/// Asserts that `packet` encodes to exactly `bytes` and that `bytes` decode back to `packet`.
pub(crate) fn assert_vector(packet: &Packet, bytes: &[u8]) {
    let mut buf = BytesMut::new();
    packet.encode(&mut buf);
    assert_eq!(&buf[..], bytes, "encoding of {packet:?}");
    assert_eq!(packet.encoded_len(), bytes.len());
    assert_eq!(decode_bytes(bytes), Ok(Some(packet.clone())));
}

/// Asserts that `packet` survives encode then decode, also when appended after other bytes.
pub(crate) fn round_trip(packet: &Packet) {
    let mut buf = BytesMut::from(&b"prefix"[..]);
    packet.encode(&mut buf);
    assert_eq!(buf.len(), 6 + packet.encoded_len());
    let mut frame = buf.split_off(6);
    assert_eq!(
        decode(&mut frame, packet.encoded_len()),
        Ok(Some(packet.clone()))
    );
    assert!(frame.is_empty());
}

/// Any QoS.
pub(crate) fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

/// Any non-zero packet id.
pub(crate) fn packet_id() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(pid)
}

/// Binary data of up to 64 bytes.
pub(crate) fn binary() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

/// Any string without U+0000, of up to `max` characters.
pub(crate) fn string(min: usize, max: usize) -> impl Strategy<Value = ByteString> {
    prop::collection::vec(
        any::<char>().prop_filter("no U+0000", |c| *c != '\0'),
        min..=max,
    )
    .prop_map(|chars| ByteString::from(chars.into_iter().collect::<String>()))
}

/// A valid topic name: non-empty, no wildcards.
pub(crate) fn topic_name() -> impl Strategy<Value = ByteString> {
    prop_oneof![
        "[a-z0-9/$ ]{1,24}".prop_map(ByteString::from),
        string(1, 16).prop_filter("no wildcards", |s| !s.contains(['+', '#'])),
    ]
}

/// A topic filter: non-empty, wildcards anywhere.
pub(crate) fn topic_filter() -> impl Strategy<Value = ByteString> {
    prop_oneof!["[a-z/+#]{1,16}".prop_map(ByteString::from), string(1, 16)]
}

/// Any valid CONNECT.
pub(crate) fn connect() -> impl Strategy<Value = Connect> {
    let will =
        (topic_name(), binary(), qos(), any::<bool>()).prop_map(|(topic, message, qos, retain)| {
            LastWill {
                topic,
                message,
                qos,
                retain,
                properties: None,
            }
        });
    let credentials = prop_oneof![
        Just((None, None)),
        string(0, 16).prop_map(|u| (Some(u), None)),
        (string(0, 16), binary()).prop_map(|(u, p)| (Some(u), Some(p))),
    ];
    (
        any::<bool>(),
        any::<u16>(),
        string(0, 23),
        prop::option::of(will),
        credentials,
    )
        .prop_map(
            |(clean_session, keep_alive, client_id, will, (username, password))| Connect {
                clean_session,
                keep_alive,
                client_id,
                will,
                username,
                password,
                ..Connect::default()
            },
        )
}

/// Any CONNACK.
pub(crate) fn connack() -> impl Strategy<Value = ConnAck> {
    let code = (0u8..=5).prop_map(|c| ConnectReturnCode::from_u8(c).expect("0..=5 are codes"));
    (any::<bool>(), code)
        .prop_map(|(session_present, code)| ConnAck::new(session_present, ReasonCode::from(code)))
}

/// Any valid PUBLISH: a packet id and possibly DUP exactly at QoS 1 and 2.
pub(crate) fn publish() -> impl Strategy<Value = Publish> {
    let payload = prop_oneof![
        binary(),
        prop::collection::vec(any::<u8>(), 0..20_000).prop_map(Bytes::from),
    ];
    (
        any::<bool>(),
        qos(),
        any::<bool>(),
        topic_name(),
        packet_id(),
        payload,
    )
        .prop_map(|(dup, qos, retain, topic, id, payload)| {
            let at_least_once = qos != QoS::AtMostOnce;
            Publish {
                dup: dup && at_least_once,
                qos,
                retain,
                topic,
                packet_id: at_least_once.then_some(id),
                payload,
                properties: None,
            }
        })
}

/// Any valid SUBSCRIBE.
pub(crate) fn subscribe() -> impl Strategy<Value = Subscribe> {
    let filter = (topic_filter(), qos()).prop_map(|(filter, qos)| (filter, qos.into()));
    let filters = prop::collection::vec(filter, 1..8);
    (packet_id(), filters).prop_map(|(packet_id, filters)| Subscribe {
        packet_id,
        filters,
        properties: None,
    })
}

/// Any SUBACK.
pub(crate) fn suback() -> impl Strategy<Value = SubAck> {
    let code = prop_oneof![
        qos().prop_map(SubAckCode::Success),
        Just(SubAckCode::Failure(ReasonCode::UnspecifiedError))
    ];
    let codes = prop::collection::vec(code, 0..8);
    (packet_id(), codes).prop_map(|(packet_id, codes)| SubAck {
        packet_id,
        codes,
        properties: None,
    })
}

/// Any valid UNSUBSCRIBE.
pub(crate) fn unsubscribe() -> impl Strategy<Value = Unsubscribe> {
    let filters = prop::collection::vec(topic_filter(), 1..8);
    (packet_id(), filters).prop_map(|(packet_id, filters)| Unsubscribe {
        packet_id,
        filters,
        properties: None,
    })
}

/// Any valid packet of any of the 14 types.
pub(crate) fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        connect().prop_map(|c| Packet::Connect(Box::new(c))),
        connack().prop_map(Packet::ConnAck),
        publish().prop_map(Packet::Publish),
        packet_id().prop_map(|id| Packet::PubAck(Ack::new(id))),
        packet_id().prop_map(|id| Packet::PubRec(Ack::new(id))),
        packet_id().prop_map(|id| Packet::PubRel(Ack::new(id))),
        packet_id().prop_map(|id| Packet::PubComp(Ack::new(id))),
        subscribe().prop_map(Packet::Subscribe),
        suback().prop_map(Packet::SubAck),
        unsubscribe().prop_map(Packet::Unsubscribe),
        packet_id().prop_map(|id| Packet::UnsubAck(UnsubAck::new(id))),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        Just(Packet::Disconnect(ReasonBody::default())),
    ]
}
