//! Tests of the MQTT 5.0 packets (and of 3.1's CONNECT): byte-exact vectors for every packet
//! type with properties and reason codes, what a 3.1.1 encoding leaves out, malformed v5 input,
//! round trips of generated v5 packets, and no panic on arbitrary bytes read as v5.

use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::testing::{binary, packet_id, pid, qos, string, topic_filter, topic_name};
use super::{
    Ack, ByteString, ConnAck, Connect, DecodeError, LastWill, Packet, PacketKind, Properties,
    ProtocolVersion, Publish, QoS, ReasonBody, ReasonCode, RetainHandling, SubAck, SubAckCode,
    Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe, decode_as,
};

const V5: ProtocolVersion = ProtocolVersion::V5;

/// Decodes `bytes` as received on a 5.0 connection.
fn decode_v5(bytes: &[u8]) -> Result<Option<Packet>, DecodeError> {
    decode_as(&mut BytesMut::from(bytes), usize::MAX, V5)
}

/// Asserts that `packet` encodes to exactly `bytes` on a 5.0 connection and decodes back.
fn assert_v5(packet: &Packet, bytes: &[u8]) {
    let mut buf = BytesMut::new();
    packet.encode_as(V5, &mut buf);
    assert_eq!(&buf[..], bytes, "encoding of {packet:?}");
    assert_eq!(packet.encoded_len_as(V5), bytes.len());
    assert_eq!(decode_v5(bytes), Ok(Some(packet.clone())));
}

/// Encodes `packet` for `version`.
fn encoded(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut buf = BytesMut::new();
    packet.encode_as(version, &mut buf);
    assert_eq!(buf.len(), packet.encoded_len_as(version));
    buf.to_vec()
}

fn s(v: &'static str) -> ByteString {
    ByteString::from_static(v)
}

fn reason_string(text: &'static str) -> Option<Box<Properties>> {
    Some(Box::new(Properties {
        reason_string: Some(s(text)),
        ..Properties::default()
    }))
}

#[test]
fn connect_v5_minimal_vector() {
    let c = Connect {
        protocol: V5,
        clean_session: true,
        keep_alive: 60,
        client_id: s("c"),
        ..Connect::default()
    };
    #[rustfmt::skip]
    let bytes = [
        0x10, 14,
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 60,
        0x00,
        0x00, 0x01, b'c',
    ];
    assert_v5(&Packet::Connect(Box::new(c)), &bytes);
}

#[test]
fn connect_v5_with_properties_and_will_vector() {
    let c = Connect {
        protocol: V5,
        clean_session: true,
        keep_alive: 10,
        client_id: s("c"),
        will: Some(LastWill {
            topic: s("w"),
            message: Bytes::from_static(b"by"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Some(Arc::new(Properties {
                will_delay_interval: Some(5),
                ..Properties::default()
            })),
        }),
        properties: Properties {
            session_expiry_interval: Some(120),
            ..Properties::default()
        },
        ..Connect::default()
    };
    #[rustfmt::skip]
    let bytes = [
        0x10, 32,
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x0E, 0x00, 10,
        0x05, 0x11, 0x00, 0x00, 0x00, 120,
        0x00, 0x01, b'c',
        0x05, 0x18, 0x00, 0x00, 0x00, 0x05,
        0x00, 0x01, b'w',
        0x00, 0x02, b'b', b'y',
    ];
    assert_v5(&Packet::Connect(Box::new(c)), &bytes);
}

#[test]
fn connect_v5_password_without_user_name() {
    let c = Connect {
        protocol: V5,
        clean_session: true,
        client_id: s("c"),
        password: Some(Bytes::from_static(b"pw")),
        ..Connect::default()
    };
    #[rustfmt::skip]
    let bytes = [
        0x10, 18,
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x42, 0x00, 0x00,
        0x00,
        0x00, 0x01, b'c',
        0x00, 0x02, b'p', b'w',
    ];
    assert_v5(&Packet::Connect(Box::new(c)), &bytes);
}

#[test]
fn connect_v31_vector() {
    let c = Connect {
        protocol: ProtocolVersion::V31,
        clean_session: true,
        keep_alive: 60,
        client_id: s("c"),
        ..Connect::default()
    };
    #[rustfmt::skip]
    let bytes = [
        0x10, 15,
        0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x02, 0x00, 60,
        0x00, 0x01, b'c',
    ];
    // A CONNECT is read as the version it names, whatever the connection's.
    assert_v5(&Packet::Connect(Box::new(c.clone())), &bytes);
    assert_eq!(
        super::testing::decode_bytes(&bytes),
        Ok(Some(Packet::Connect(Box::new(c))))
    );
}

#[test]
fn connect_v5_rejects_properties_of_other_packets() {
    // A topic alias (0x23) in CONNECT's properties.
    #[rustfmt::skip]
    let bytes = [
        0x10, 16,
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x00,
        0x03, 0x23, 0x00, 0x01,
        0x00, 0x00,
    ];
    assert!(matches!(
        decode_v5(&bytes),
        Err(DecodeError::PropertyNotAllowed {
            packet: PacketKind::Connect,
            ..
        })
    ));
}

#[test]
fn connack_v5_vectors() {
    let accepted = ConnAck {
        session_present: true,
        code: ReasonCode::Success,
        properties: Some(Box::new(Properties {
            assigned_client_identifier: Some(s("ab")),
            ..Properties::default()
        })),
    };
    assert_v5(
        &Packet::ConnAck(accepted),
        &[0x20, 0x08, 0x01, 0x00, 0x05, 0x12, 0x00, 0x02, b'a', b'b'],
    );
    let refused = ConnAck::new(false, ReasonCode::NotAuthorized);
    assert_v5(
        &Packet::ConnAck(refused.clone()),
        &[0x20, 0x03, 0x00, 0x87, 0x00],
    );
    // The same refusal on a 3.1.1 connection: return code 5, no properties.
    assert_eq!(
        encoded(&Packet::ConnAck(refused), ProtocolVersion::V311),
        [0x20, 0x02, 0x00, 0x05]
    );
    // A reason code CONNACK may not carry.
    assert_eq!(
        decode_v5(&[0x20, 0x03, 0x00, 0x10, 0x00]),
        Err(DecodeError::ReasonCodeNotAllowed {
            code: ReasonCode::NoMatchingSubscribers,
            packet: PacketKind::ConnAck
        })
    );
}

#[test]
fn publish_v5_vector() {
    let p = Publish {
        qos: QoS::AtLeastOnce,
        packet_id: Some(pid(1)),
        properties: Some(Arc::new(Properties {
            payload_format_indicator: Some(true),
            message_expiry_interval: Some(30),
            topic_alias: NonZeroU16::new(3),
            user_properties: vec![(s("k"), s("v"))],
            ..Properties::default()
        })),
        ..Publish::new("t", &b"hi"[..], QoS::AtLeastOnce, false)
    };
    #[rustfmt::skip]
    let bytes = [
        0x32, 25,
        0x00, 0x01, b't',
        0x00, 0x01,
        17,
        0x01, 0x01,
        0x02, 0x00, 0x00, 0x00, 30,
        0x23, 0x00, 0x03,
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v',
        b'h', b'i',
    ];
    assert_v5(&Packet::Publish(p.clone()), &bytes);
    // On a 3.1.1 connection the properties are left out.
    assert_eq!(
        encoded(&Packet::Publish(p), ProtocolVersion::V311),
        [0x32, 0x07, 0x00, 0x01, b't', 0x00, 0x01, b'h', b'i']
    );
}

#[test]
fn publish_v5_topic_alias_stands_for_an_empty_topic() {
    let p = Publish {
        properties: Some(Arc::new(Properties {
            topic_alias: NonZeroU16::new(5),
            ..Properties::default()
        })),
        ..Publish::new("", &b"x"[..], QoS::AtMostOnce, false)
    };
    assert_v5(
        &Packet::Publish(p),
        &[0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, b'x'],
    );
    // Without the alias an empty topic is malformed, in 5.0 as in 3.1.1.
    assert_eq!(
        decode_v5(&[0x30, 0x04, 0x00, 0x00, 0x00, b'x']),
        Err(DecodeError::EmptyTopicName)
    );
    // A session expiry interval is not a PUBLISH property.
    assert!(matches!(
        decode_v5(&[
            0x30, 0x09, 0x00, 0x01, b't', 0x05, 0x11, 0x00, 0x00, 0x00, 0x01
        ]),
        Err(DecodeError::PropertyNotAllowed {
            packet: PacketKind::Publish,
            ..
        })
    ));
}

#[test]
fn acks_v5_vectors() {
    let ok = Ack::new(pid(1));
    assert_v5(&Packet::PubAck(ok.clone()), &[0x40, 0x02, 0x00, 0x01]);
    let no_match = Ack {
        reason: ReasonCode::NoMatchingSubscribers,
        ..ok.clone()
    };
    assert_v5(&Packet::PubAck(no_match), &[0x40, 0x03, 0x00, 0x01, 0x10]);
    let refused = Ack {
        reason: ReasonCode::NotAuthorized,
        properties: reason_string("no"),
        ..ok.clone()
    };
    #[rustfmt::skip]
    let bytes = [0x40, 0x09, 0x00, 0x01, 0x87, 0x05, 0x1F, 0x00, 0x02, b'n', b'o'];
    assert_v5(&Packet::PubAck(refused.clone()), &bytes);
    assert_v5(
        &Packet::PubRec(refused.clone()),
        &[&[0x50][..], &bytes[1..]].concat(),
    );
    let not_found = Ack {
        reason: ReasonCode::PacketIdentifierNotFound,
        ..ok
    };
    assert_v5(
        &Packet::PubRel(not_found.clone()),
        &[0x62, 0x03, 0x00, 0x01, 0x92],
    );
    assert_v5(&Packet::PubComp(not_found), &[0x70, 0x03, 0x00, 0x01, 0x92]);
    // 3.1.1 has only the packet id.
    assert_eq!(
        encoded(&Packet::PubAck(refused), ProtocolVersion::V311),
        [0x40, 0x02, 0x00, 0x01]
    );
    // PUBACK cannot say "session taken over"; PUBREL cannot say "not authorized".
    assert_eq!(
        decode_v5(&[0x40, 0x03, 0x00, 0x01, 0x8E]),
        Err(DecodeError::ReasonCodeNotAllowed {
            code: ReasonCode::SessionTakenOver,
            packet: PacketKind::PubAck
        })
    );
    assert!(decode_v5(&[0x62, 0x03, 0x00, 0x01, 0x87]).is_err());
    // A reason code only on a 5.0 connection: on 3.1.1 the byte is trailing.
    assert_eq!(
        super::testing::decode_bytes(&[0x40, 0x03, 0x00, 0x01, 0x10]),
        Err(DecodeError::TrailingBytes)
    );
}

#[test]
fn subscribe_v5_vector_and_options() {
    let options = SubscriptionOptions {
        qos: QoS::AtLeastOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: RetainHandling::DoNotSend,
    };
    let sub = Subscribe {
        packet_id: pid(10),
        filters: vec![(s("a/+"), options)],
        properties: Some(Box::new(Properties {
            subscription_identifiers: vec![NonZeroU32::new(5).expect("non-zero")],
            ..Properties::default()
        })),
    };
    #[rustfmt::skip]
    let bytes = [
        0x82, 11, 0x00, 0x0A,
        0x02, 0x0B, 0x05,
        0x00, 0x03, b'a', b'/', b'+', 0x2D,
    ];
    assert_v5(&Packet::Subscribe(sub.clone()), &bytes);
    // 3.1.1 carries the QoS alone.
    assert_eq!(
        encoded(&Packet::Subscribe(sub), ProtocolVersion::V311),
        [0x82, 0x08, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'+', 0x01]
    );
    // Reserved bits 6-7, and retain handling 3.
    for bad in [0x41, 0x31] {
        assert_eq!(
            decode_v5(&[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', bad]),
            Err(DecodeError::InvalidReservedBits),
            "options {bad:#04x}"
        );
    }
    // Two subscription identifiers in one SUBSCRIBE.
    #[rustfmt::skip]
    let twice = [0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, b'a', 0x00];
    assert_eq!(
        decode_v5(&twice),
        Err(DecodeError::DuplicateProperty(
            super::PropertyId::SubscriptionIdentifier
        ))
    );
}

#[test]
fn suback_and_unsuback_v5_vectors() {
    let ack = SubAck {
        packet_id: pid(10),
        codes: vec![
            SubAckCode::Success(QoS::AtLeastOnce),
            SubAckCode::Failure(ReasonCode::NotAuthorized),
            SubAckCode::Failure(ReasonCode::SharedSubscriptionsNotSupported),
        ],
        properties: None,
    };
    assert_v5(
        &Packet::SubAck(ack.clone()),
        &[0x90, 0x06, 0x00, 0x0A, 0x00, 0x01, 0x87, 0x9E],
    );
    assert_eq!(
        encoded(&Packet::SubAck(ack), ProtocolVersion::V311),
        [0x90, 0x05, 0x00, 0x0A, 0x01, 0x80, 0x80]
    );
    let unsub = Unsubscribe {
        packet_id: pid(3),
        filters: vec![s("x")],
        properties: Some(Box::new(Properties {
            user_properties: vec![(s("a"), s("b"))],
            ..Properties::default()
        })),
    };
    #[rustfmt::skip]
    let bytes = [
        0xA2, 13, 0x00, 0x03,
        0x07, 0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b',
        0x00, 0x01, b'x',
    ];
    assert_v5(&Packet::Unsubscribe(unsub), &bytes);
    let unsuback = UnsubAck {
        packet_id: pid(3),
        codes: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
        properties: None,
    };
    assert_v5(
        &Packet::UnsubAck(unsuback.clone()),
        &[0xB0, 0x05, 0x00, 0x03, 0x00, 0x00, 0x11],
    );
    assert_eq!(
        encoded(&Packet::UnsubAck(unsuback), ProtocolVersion::V311),
        [0xB0, 0x02, 0x00, 0x03]
    );
}

#[test]
fn disconnect_and_auth_v5_vectors() {
    assert_v5(&Packet::Disconnect(ReasonBody::default()), &[0xE0, 0x00]);
    let with_will = ReasonBody::new(ReasonCode::DisconnectWithWillMessage);
    assert_v5(&Packet::Disconnect(with_will.clone()), &[0xE0, 0x01, 0x04]);
    let shutdown = ReasonBody {
        reason: ReasonCode::ServerShuttingDown,
        properties: reason_string("bye"),
    };
    #[rustfmt::skip]
    let bytes = [0xE0, 0x08, 0x8B, 0x06, 0x1F, 0x00, 0x03, b'b', b'y', b'e'];
    assert_v5(&Packet::Disconnect(shutdown), &bytes);
    // 3.1.1's DISCONNECT is empty.
    assert_eq!(
        encoded(&Packet::Disconnect(with_will), ProtocolVersion::V311),
        [0xE0, 0x00]
    );
    let auth = ReasonBody {
        reason: ReasonCode::ContinueAuthentication,
        properties: Some(Box::new(Properties {
            authentication_method: Some(s("SCRAM")),
            ..Properties::default()
        })),
    };
    #[rustfmt::skip]
    let bytes = [0xF0, 0x0A, 0x18, 0x08, 0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M'];
    assert_v5(&Packet::Auth(auth), &bytes);
    assert_v5(&Packet::Auth(ReasonBody::default()), &[0xF0, 0x00]);
    // AUTH is a reserved packet type before 5.0.
    assert_eq!(
        super::testing::decode_bytes(&[0xF0, 0x00]),
        Err(DecodeError::ReservedPacketType(15))
    );
}

/// A reason code `kind` may carry.
fn reason_for(kind: PacketKind) -> impl Strategy<Value = ReasonCode> {
    let allowed: Vec<ReasonCode> = ReasonCode::ALL
        .into_iter()
        .filter(|code| code.allowed_in(kind))
        .collect();
    prop::sample::select(allowed)
}

/// Reason string and user properties, or nothing: what every acknowledgement may carry.
fn ack_properties() -> impl Strategy<Value = Option<Box<Properties>>> {
    let props = (
        prop::option::of(string(0, 12)),
        prop::collection::vec((string(0, 8), string(0, 8)), 0..3),
    )
        .prop_map(|(reason_string, user_properties)| Properties {
            reason_string,
            user_properties,
            ..Properties::default()
        });
    prop::option::of(props.prop_filter_map("non-empty", |p| (!p.is_empty()).then(|| Box::new(p))))
}

/// User properties, or nothing: what SUBSCRIBE and UNSUBSCRIBE may carry besides a subscription
/// identifier.
fn user_properties() -> impl Strategy<Value = Option<Box<Properties>>> {
    prop::collection::vec((string(0, 8), string(0, 8)), 0..3).prop_map(|user_properties| {
        (!user_properties.is_empty()).then(|| {
            Box::new(Properties {
                user_properties,
                ..Properties::default()
            })
        })
    })
}

/// The properties of a PUBLISH (and, with a will delay, of a will).
fn message_properties() -> impl Strategy<Value = Properties> {
    (
        prop::option::of(any::<bool>()),
        prop::option::of(any::<u32>()),
        prop::option::of(string(0, 12)),
        prop::option::of(topic_name()),
        prop::option::of(binary()),
        prop::collection::vec((string(0, 8), string(0, 8)), 0..3),
    )
        .prop_map(
            |(format, expiry, content_type, response_topic, correlation, user)| Properties {
                payload_format_indicator: format,
                message_expiry_interval: expiry,
                content_type,
                response_topic,
                correlation_data: correlation,
                user_properties: user,
                ..Properties::default()
            },
        )
}

/// Any valid v5 CONNECT.
fn connect_v5() -> impl Strategy<Value = Connect> {
    let will = (
        topic_name(),
        binary(),
        qos(),
        any::<bool>(),
        message_properties(),
        prop::option::of(any::<u32>()),
    )
        .prop_map(|(topic, message, qos, retain, mut props, delay)| {
            props.will_delay_interval = delay;
            LastWill {
                topic,
                message,
                qos,
                retain,
                properties: (!props.is_empty()).then(|| Arc::new(props)),
            }
        });
    let props = (
        prop::option::of(any::<u32>()),
        prop::option::of((1..=u16::MAX).prop_map(|v| NonZeroU16::new(v).expect("non-zero"))),
        prop::option::of(any::<u16>()),
        prop::option::of(any::<bool>()),
        prop::collection::vec((string(0, 8), string(0, 8)), 0..3),
    )
        .prop_map(
            |(expiry, receive_max, alias_max, problem, user)| Properties {
                session_expiry_interval: expiry,
                receive_maximum: receive_max,
                topic_alias_maximum: alias_max,
                request_problem_information: problem,
                user_properties: user,
                ..Properties::default()
            },
        );
    (
        any::<bool>(),
        any::<u16>(),
        string(0, 23),
        prop::option::of(will),
        prop::option::of(string(0, 16)),
        prop::option::of(binary()),
        props,
    )
        .prop_map(
            |(clean_session, keep_alive, client_id, will, username, password, properties)| {
                Connect {
                    protocol: V5,
                    clean_session,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }
            },
        )
}

/// Any valid v5 PUBLISH.
fn publish_v5() -> impl Strategy<Value = Publish> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        packet_id(),
        binary(),
        message_properties(),
    )
        .prop_map(|(qos, dup, retain, topic, id, payload, props)| {
            let at_least_once = qos != QoS::AtMostOnce;
            Publish {
                dup: dup && at_least_once,
                packet_id: at_least_once.then_some(id),
                properties: (!props.is_empty()).then(|| Arc::new(props)),
                ..Publish::new(topic, payload, qos, retain)
            }
        })
}

/// An acknowledgement of `kind` with any reason code it allows.
fn ack(kind: PacketKind) -> impl Strategy<Value = Ack> {
    (packet_id(), reason_for(kind), ack_properties()).prop_map(|(packet_id, reason, properties)| {
        Ack {
            packet_id,
            reason,
            properties,
        }
    })
}

/// Any valid v5 packet.
fn packet_v5() -> impl Strategy<Value = Packet> {
    let options = (qos(), any::<bool>(), any::<bool>(), 0u8..3).prop_map(|(qos, nl, rap, rh)| {
        SubscriptionOptions {
            qos,
            no_local: nl,
            retain_as_published: rap,
            retain_handling: match rh {
                0 => RetainHandling::SendAtSubscribe,
                1 => RetainHandling::SendIfNew,
                _ => RetainHandling::DoNotSend,
            },
        }
    });
    let subscribe = (
        packet_id(),
        prop::collection::vec((topic_filter(), options), 1..5),
        user_properties(),
    )
        .prop_map(|(packet_id, filters, properties)| Subscribe {
            packet_id,
            filters,
            properties,
        });
    let suback_code = prop_oneof![
        qos().prop_map(SubAckCode::Success),
        reason_for(PacketKind::SubAck)
            .prop_filter("failures", |c| c.is_error())
            .prop_map(SubAckCode::Failure),
    ];
    let suback = (
        packet_id(),
        prop::collection::vec(suback_code, 0..5),
        ack_properties(),
    )
        .prop_map(|(packet_id, codes, properties)| SubAck {
            packet_id,
            codes,
            properties,
        });
    let unsubscribe = (
        packet_id(),
        prop::collection::vec(topic_filter(), 1..5),
        user_properties(),
    )
        .prop_map(|(packet_id, filters, properties)| Unsubscribe {
            packet_id,
            filters,
            properties,
        });
    let unsuback = (
        packet_id(),
        prop::collection::vec(reason_for(PacketKind::UnsubAck), 0..5),
        ack_properties(),
    )
        .prop_map(|(packet_id, codes, properties)| UnsubAck {
            packet_id,
            codes,
            properties,
        });
    let body = |kind| {
        (reason_for(kind), ack_properties())
            .prop_map(|(reason, properties)| ReasonBody { reason, properties })
    };
    let connack = (
        any::<bool>(),
        reason_for(PacketKind::ConnAck),
        ack_properties(),
    )
        .prop_map(|(session_present, code, properties)| ConnAck {
            session_present,
            code,
            properties,
        });
    prop_oneof![
        connect_v5().prop_map(|c| Packet::Connect(Box::new(c))),
        connack.prop_map(Packet::ConnAck),
        publish_v5().prop_map(Packet::Publish),
        ack(PacketKind::PubAck).prop_map(Packet::PubAck),
        ack(PacketKind::PubRec).prop_map(Packet::PubRec),
        ack(PacketKind::PubRel).prop_map(Packet::PubRel),
        ack(PacketKind::PubComp).prop_map(Packet::PubComp),
        subscribe.prop_map(Packet::Subscribe),
        suback.prop_map(Packet::SubAck),
        unsubscribe.prop_map(Packet::Unsubscribe),
        unsuback.prop_map(Packet::UnsubAck),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        body(PacketKind::Disconnect).prop_map(Packet::Disconnect),
        body(PacketKind::Auth).prop_map(Packet::Auth),
    ]
}

proptest! {
    #[test]
    fn any_v5_packet_round_trips(p in packet_v5()) {
        let bytes = encoded(&p, V5);
        prop_assert_eq!(decode_v5(&bytes), Ok(Some(p)));
    }

    #[test]
    fn arbitrary_v5_bodies_never_panic(
        byte1 in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..96),
    ) {
        let mut frame = vec![byte1, body.len() as u8];
        frame.extend_from_slice(&body);
        let _ = decode_v5(&frame);
    }
}
