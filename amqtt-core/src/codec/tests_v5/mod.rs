//! Tests of the MQTT 5.0 building blocks: [`Properties`] (byte-exact vectors, validation,
//! malformed input) here, [`ReasonCode`] in `reason_codes`, generated round trips in `generated`.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

use super::testing::topic_name;
use super::{
    ByteString, DecodeError, MAX_VAR_INT, PacketKind, Properties, PropertyId, QoS, ReasonCode,
};

/// Every packet kind.
const KINDS: [PacketKind; 14] = [
    PacketKind::Connect,
    PacketKind::Will,
    PacketKind::ConnAck,
    PacketKind::Publish,
    PacketKind::PubAck,
    PacketKind::PubRec,
    PacketKind::PubRel,
    PacketKind::PubComp,
    PacketKind::Subscribe,
    PacketKind::SubAck,
    PacketKind::Unsubscribe,
    PacketKind::UnsubAck,
    PacketKind::Disconnect,
    PacketKind::Auth,
];

fn s(v: &str) -> ByteString {
    ByteString::from(v.to_owned())
}

fn nz16(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v).expect("test value is non-zero")
}

fn nz32(v: u32) -> NonZeroU32 {
    NonZeroU32::new(v).expect("test value is non-zero")
}

/// A property block: the one-byte property length (tests keep bodies under 128), then `body`.
fn block(body: &[u8]) -> Bytes {
    assert!(
        body.len() < 128,
        "test block too long for a one-byte length"
    );
    let mut out = vec![body.len() as u8];
    out.extend_from_slice(body);
    Bytes::from(out)
}

fn decode(bytes: &[u8]) -> Result<Properties, DecodeError> {
    Properties::decode(&mut Bytes::copy_from_slice(bytes))
}

/// Asserts that `props` encodes to `block(body)` and decodes back from it, consuming it all.
fn assert_vector(props: &Properties, body: &[u8]) {
    let expected = block(body);
    let mut out = BytesMut::new();
    props.encode(&mut out);
    assert_eq!(&out[..], &expected[..], "encoding of {props:?}");
    assert_eq!(props.encoded_len(), expected.len());
    let mut buf = expected.clone();
    assert_eq!(Properties::decode(&mut buf).as_ref(), Ok(props));
    assert!(buf.is_empty());
}

/// One property of each of the 27 identifiers (subscription identifier and maximum QoS twice),
/// with its identifier and its exact encoding (identifier byte, then value).
fn single_vectors() -> Vec<(PropertyId, Properties, Vec<u8>)> {
    use PropertyId as P;
    let p = Properties::default;
    vec![
        (
            P::PayloadFormatIndicator,
            Properties {
                payload_format_indicator: Some(true),
                ..p()
            },
            vec![0x01, 0x01],
        ),
        (
            P::MessageExpiryInterval,
            Properties {
                message_expiry_interval: Some(0x1234_5678),
                ..p()
            },
            vec![0x02, 0x12, 0x34, 0x56, 0x78],
        ),
        (
            P::ContentType,
            Properties {
                content_type: Some(s("json")),
                ..p()
            },
            vec![0x03, 0x00, 0x04, b'j', b's', b'o', b'n'],
        ),
        (
            P::ResponseTopic,
            Properties {
                response_topic: Some(s("r/t")),
                ..p()
            },
            vec![0x08, 0x00, 0x03, b'r', b'/', b't'],
        ),
        (
            P::CorrelationData,
            Properties {
                correlation_data: Some(Bytes::from_static(&[0x00, 0xFF, 0x10])),
                ..p()
            },
            vec![0x09, 0x00, 0x03, 0x00, 0xFF, 0x10],
        ),
        (
            P::SubscriptionIdentifier,
            Properties {
                subscription_identifiers: vec![nz32(1)],
                ..p()
            },
            vec![0x0B, 0x01],
        ),
        (
            P::SubscriptionIdentifier,
            Properties {
                subscription_identifiers: vec![nz32(MAX_VAR_INT)],
                ..p()
            },
            vec![0x0B, 0xFF, 0xFF, 0xFF, 0x7F],
        ),
        (
            P::SessionExpiryInterval,
            Properties {
                session_expiry_interval: Some(u32::MAX),
                ..p()
            },
            vec![0x11, 0xFF, 0xFF, 0xFF, 0xFF],
        ),
        (
            P::AssignedClientIdentifier,
            Properties {
                assigned_client_identifier: Some(s("c1")),
                ..p()
            },
            vec![0x12, 0x00, 0x02, b'c', b'1'],
        ),
        (
            P::ServerKeepAlive,
            Properties {
                server_keep_alive: Some(0x0102),
                ..p()
            },
            vec![0x13, 0x01, 0x02],
        ),
        (
            P::AuthenticationMethod,
            Properties {
                authentication_method: Some(s("SCRAM")),
                ..p()
            },
            vec![0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M'],
        ),
        (
            P::AuthenticationData,
            Properties {
                authentication_data: Some(Bytes::from_static(&[0xAA])),
                ..p()
            },
            vec![0x16, 0x00, 0x01, 0xAA],
        ),
        (
            P::RequestProblemInformation,
            Properties {
                request_problem_information: Some(false),
                ..p()
            },
            vec![0x17, 0x00],
        ),
        (
            P::WillDelayInterval,
            Properties {
                will_delay_interval: Some(30),
                ..p()
            },
            vec![0x18, 0x00, 0x00, 0x00, 0x1E],
        ),
        (
            P::RequestResponseInformation,
            Properties {
                request_response_information: Some(true),
                ..p()
            },
            vec![0x19, 0x01],
        ),
        (
            P::ResponseInformation,
            Properties {
                response_information: Some(s("ri")),
                ..p()
            },
            vec![0x1A, 0x00, 0x02, b'r', b'i'],
        ),
        (
            P::ServerReference,
            Properties {
                server_reference: Some(s("s:1")),
                ..p()
            },
            vec![0x1C, 0x00, 0x03, b's', b':', b'1'],
        ),
        (
            P::ReasonString,
            Properties {
                reason_string: Some(s("")),
                ..p()
            },
            vec![0x1F, 0x00, 0x00],
        ),
        (
            P::ReceiveMaximum,
            Properties {
                receive_maximum: Some(nz16(10)),
                ..p()
            },
            vec![0x21, 0x00, 0x0A],
        ),
        (
            P::TopicAliasMaximum,
            Properties {
                topic_alias_maximum: Some(0),
                ..p()
            },
            vec![0x22, 0x00, 0x00],
        ),
        (
            P::TopicAlias,
            Properties {
                topic_alias: Some(nz16(0xFFFF)),
                ..p()
            },
            vec![0x23, 0xFF, 0xFF],
        ),
        (
            P::MaximumQoS,
            Properties {
                maximum_qos: Some(QoS::AtMostOnce),
                ..p()
            },
            vec![0x24, 0x00],
        ),
        (
            P::MaximumQoS,
            Properties {
                maximum_qos: Some(QoS::AtLeastOnce),
                ..p()
            },
            vec![0x24, 0x01],
        ),
        (
            P::RetainAvailable,
            Properties {
                retain_available: Some(false),
                ..p()
            },
            vec![0x25, 0x00],
        ),
        (
            P::UserProperty,
            Properties {
                user_properties: vec![(s("a"), s("b"))],
                ..p()
            },
            vec![0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b'],
        ),
        (
            P::MaximumPacketSize,
            Properties {
                maximum_packet_size: Some(nz32(1024)),
                ..p()
            },
            vec![0x27, 0x00, 0x00, 0x04, 0x00],
        ),
        (
            P::WildcardSubscriptionAvailable,
            Properties {
                wildcard_subscription_available: Some(true),
                ..p()
            },
            vec![0x28, 0x01],
        ),
        (
            P::SubscriptionIdentifierAvailable,
            Properties {
                subscription_identifier_available: Some(false),
                ..p()
            },
            vec![0x29, 0x00],
        ),
        (
            P::SharedSubscriptionAvailable,
            Properties {
                shared_subscription_available: Some(true),
                ..p()
            },
            vec![0x2A, 0x01],
        ),
    ]
}

#[test]
fn every_property_has_an_exact_vector() {
    let vectors = single_vectors();
    for (id, props, body) in &vectors {
        assert_vector(props, body);
        assert_eq!(body[0], *id as u8);
        for other in PropertyId::ALL {
            assert_eq!(
                props.contains(other),
                other == *id,
                "{other:?} in {props:?}"
            );
        }
        assert!(!props.is_empty());
    }
    for id in PropertyId::ALL {
        assert!(
            vectors.iter().any(|(v, _, _)| *v == id),
            "{id:?} has a vector"
        );
    }
}

#[test]
fn empty_set_is_one_zero_byte_and_allocates_nothing() {
    let empty = Properties::default();
    assert!(empty.is_empty());
    assert_vector(&empty, &[]);
    assert_eq!(empty.user_properties.capacity(), 0);
    assert_eq!(empty.subscription_identifiers.capacity(), 0);
    // The inline footprint the module documentation speaks of.
    let size = std::mem::size_of::<Properties>();
    assert!(size <= 512, "Properties is {size} bytes");
}

#[test]
fn property_ids_round_trip_their_values() {
    for value in 0..=0x100u32 {
        match PropertyId::from_u32(value) {
            Some(id) => assert_eq!(id as u32, value),
            None => assert!(PropertyId::ALL.iter().all(|id| *id as u32 != value)),
        }
    }
    assert!(PropertyId::ALL.windows(2).all(|w| w[0] < w[1]));
}

/// A CONNACK-like block: several properties, written in identifier order.
fn full_block() -> (Properties, Vec<u8>) {
    let props = Properties {
        session_expiry_interval: Some(3600),
        assigned_client_identifier: Some(s("id")),
        receive_maximum: Some(nz16(20)),
        maximum_qos: Some(QoS::AtLeastOnce),
        user_properties: vec![(s("k"), s("v")), (s("k"), s("w"))],
        maximum_packet_size: Some(nz32(65_536)),
        shared_subscription_available: Some(false),
        ..Properties::default()
    };
    let body = vec![
        0x11, 0x00, 0x00, 0x0E, 0x10, // session expiry 3600
        0x12, 0x00, 0x02, b'i', b'd', // assigned client id "id"
        0x21, 0x00, 0x14, // receive maximum 20
        0x24, 0x01, // maximum QoS 1
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property k=v
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'w', // user property k=w
        0x27, 0x00, 0x01, 0x00, 0x00, // maximum packet size 65536
        0x2A, 0x00, // shared subscription available 0
    ];
    (props, body)
}

#[test]
fn full_block_in_order() {
    let (props, body) = full_block();
    assert_vector(&props, &body);
    assert_eq!(props.validate(PacketKind::ConnAck), Ok(()));
    assert_eq!(
        props.validate(PacketKind::Connect),
        Err(DecodeError::PropertyNotAllowed {
            id: PropertyId::AssignedClientIdentifier,
            packet: PacketKind::Connect
        })
    );
}

#[test]
fn decoding_accepts_any_order() {
    let (props, _) = full_block();
    let body = [
        0x2A, 0x00, 0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', 0x24, 0x01, 0x27, 0x00, 0x01, 0x00,
        0x00, 0x12, 0x00, 0x02, b'i', b'd', 0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'w', 0x21, 0x00,
        0x14, 0x11, 0x00, 0x00, 0x0E, 0x10,
    ];
    assert_eq!(decode(&block(&body)), Ok(props));
}

#[test]
fn decode_advances_past_the_block_only_and_is_zero_copy() {
    let (props, body) = full_block();
    let mut bytes = BytesMut::from(&block(&body)[..]);
    bytes.put_slice(b"payload");
    let frame = bytes.freeze();
    let mut buf = frame.clone();
    let decoded = Properties::decode(&mut buf).expect("valid block");
    assert_eq!(decoded, props);
    assert_eq!(&buf[..], b"payload");
    let id = decoded
        .assigned_client_identifier
        .expect("assigned client identifier");
    // 1 length byte, 5 bytes of session expiry, then the two-byte string length.
    assert_eq!(id.as_bytes().as_ptr(), frame[1 + 5 + 3..].as_ptr());
}

#[test]
fn user_properties_keep_order_and_duplicates() {
    let pairs = [("k", "1"), ("k", "2"), ("a", "x"), ("k", "1"), ("", "")];
    let props = Properties {
        user_properties: pairs.iter().map(|(n, v)| (s(n), s(v))).collect(),
        ..Properties::default()
    };
    let mut body = Vec::new();
    for (n, v) in pairs {
        body.push(0x26);
        body.extend_from_slice(&[0x00, n.len() as u8]);
        body.extend_from_slice(n.as_bytes());
        body.extend_from_slice(&[0x00, v.len() as u8]);
        body.extend_from_slice(v.as_bytes());
    }
    assert_vector(&props, &body);
    for kind in KINDS {
        assert_eq!(props.validate(kind), Ok(()), "user properties in {kind:?}");
    }
}

#[test]
fn subscription_identifier_repeats_only_in_publish() {
    let props = Properties {
        subscription_identifiers: vec![nz32(5), nz32(128), nz32(5)],
        ..Properties::default()
    };
    assert_vector(&props, &[0x0B, 0x05, 0x0B, 0x80, 0x01, 0x0B, 0x05]);
    assert_eq!(props.validate(PacketKind::Publish), Ok(()));
    assert_eq!(
        props.validate(PacketKind::Subscribe),
        Err(DecodeError::DuplicateProperty(
            PropertyId::SubscriptionIdentifier
        ))
    );
    let bytes = block(&[0x0B, 0x05, 0x0B, 0x06]);
    assert_eq!(
        Properties::decode_for(&mut bytes.clone(), PacketKind::Subscribe),
        Err(DecodeError::DuplicateProperty(
            PropertyId::SubscriptionIdentifier
        ))
    );
    let one = Properties::decode_for(&mut block(&[0x0B, 0x05]), PacketKind::Subscribe);
    assert_eq!(one.map(|p| p.subscription_identifiers), Ok(vec![nz32(5)]));
}

#[test]
fn single_valued_properties_may_not_repeat() {
    for (id, _, body) in single_vectors() {
        if matches!(
            id,
            PropertyId::SubscriptionIdentifier | PropertyId::UserProperty
        ) {
            continue;
        }
        let twice = [&body[..], &body[..]].concat();
        assert_eq!(
            decode(&block(&twice)),
            Err(DecodeError::DuplicateProperty(id))
        );
    }
}

#[test]
fn invalid_values_are_rejected() {
    use PropertyId as P;
    let cases: [(&[u8], PropertyId); 16] = [
        (&[0x24, 0x02], P::MaximumQoS),
        (&[0x24, 0xFF], P::MaximumQoS),
        (&[0x21, 0x00, 0x00], P::ReceiveMaximum),
        (&[0x23, 0x00, 0x00], P::TopicAlias),
        (&[0x0B, 0x00], P::SubscriptionIdentifier),
        (&[0x01, 0x02], P::PayloadFormatIndicator),
        (&[0x17, 0x02], P::RequestProblemInformation),
        (&[0x19, 0x02], P::RequestResponseInformation),
        (&[0x25, 0x02], P::RetainAvailable),
        (&[0x28, 0x02], P::WildcardSubscriptionAvailable),
        (&[0x29, 0x80], P::SubscriptionIdentifierAvailable),
        (&[0x2A, 0x02], P::SharedSubscriptionAvailable),
        (&[0x27, 0x00, 0x00, 0x00, 0x00], P::MaximumPacketSize),
        // A valid property first does not hide the invalid one after it.
        (&[0x01, 0x01, 0x24, 0x03], P::MaximumQoS),
        (
            &[0x26, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00, 0x00],
            P::ReceiveMaximum,
        ),
        (&[0x13, 0x00, 0x01, 0x23, 0x00, 0x00], P::TopicAlias),
    ];
    for (body, id) in cases {
        assert_eq!(
            decode(&block(body)),
            Err(DecodeError::InvalidPropertyValue(id)),
            "{body:02X?}"
        );
    }
}

#[test]
fn malformed_blocks_are_rejected() {
    let cases: [(&[u8], DecodeError); 14] = [
        (&[0x02, 0x00, 0x01], DecodeError::UnknownProperty(0)),
        (&[0x02, 0x04, 0x00], DecodeError::UnknownProperty(0x04)),
        (&[0x01, 0x2B], DecodeError::UnknownProperty(0x2B)),
        (&[0x02, 0xFF, 0x01], DecodeError::UnknownProperty(0xFF)),
        // Property length, identifier and subscription identifier not in shortest form.
        (&[0x80, 0x00], DecodeError::MalformedVarInt),
        (&[0x03, 0x81, 0x00, 0x01], DecodeError::MalformedVarInt),
        (&[0x03, 0x0B, 0x81, 0x00], DecodeError::MalformedVarInt),
        // Five-byte variable byte integers.
        (
            &[0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            DecodeError::MalformedVarInt,
        ),
        (
            &[0x06, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            DecodeError::MalformedVarInt,
        ),
        // A property running past the declared length, a length past the input.
        (
            &[0x02, 0x02, 0x00, 0x00, 0x00, 0x00],
            DecodeError::UnexpectedEof,
        ),
        (&[0x05, 0x01, 0x01], DecodeError::UnexpectedEof),
        // Strings: invalid UTF-8, U+0000, a response topic that is no topic name.
        (
            &[0x05, 0x03, 0x00, 0x02, 0xC3, 0x28],
            DecodeError::InvalidUtf8,
        ),
        (&[0x04, 0x1F, 0x00, 0x01, 0x00], DecodeError::NullCharacter),
        (
            &[0x04, 0x08, 0x00, 0x01, b'#'],
            DecodeError::WildcardInTopicName,
        ),
    ];
    for (bytes, error) in cases {
        assert_eq!(decode(bytes), Err(error), "{bytes:02X?}");
    }
    assert_eq!(
        decode(&block(&[0x08, 0x00, 0x00])),
        Err(DecodeError::EmptyTopicName)
    );
    assert_eq!(
        decode(&block(&[0x26, 0x00, 0x01, b'a', 0x00, 0x01, 0xFF])),
        Err(DecodeError::InvalidUtf8)
    );
}

#[test]
fn property_table_matches_the_spec() {
    use PacketKind as K;
    use PropertyId as P;
    let allowed: usize = PropertyId::ALL
        .iter()
        .map(|id| KINDS.iter().filter(|k| id.allowed_in(**k)).count())
        .sum();
    assert_eq!(
        allowed, 64,
        "allowed (property, packet) pairs in spec 2.2.2.2"
    );
    let expect = |id: PropertyId, kinds: &[PacketKind]| {
        for kind in KINDS {
            assert_eq!(
                id.allowed_in(kind),
                kinds.contains(&kind),
                "{id:?} in {kind:?}"
            );
        }
    };
    expect(P::PayloadFormatIndicator, &[K::Publish, K::Will]);
    expect(P::SubscriptionIdentifier, &[K::Publish, K::Subscribe]);
    expect(
        P::SessionExpiryInterval,
        &[K::Connect, K::ConnAck, K::Disconnect],
    );
    expect(P::AuthenticationMethod, &[K::Connect, K::ConnAck, K::Auth]);
    expect(P::WillDelayInterval, &[K::Will]);
    expect(P::ServerReference, &[K::ConnAck, K::Disconnect]);
    expect(
        P::ReasonString,
        &[
            K::ConnAck,
            K::PubAck,
            K::PubRec,
            K::PubRel,
            K::PubComp,
            K::SubAck,
            K::UnsubAck,
            K::Disconnect,
            K::Auth,
        ],
    );
    expect(P::ReceiveMaximum, &[K::Connect, K::ConnAck]);
    expect(P::TopicAlias, &[K::Publish]);
    expect(P::MaximumQoS, &[K::ConnAck]);
    expect(P::RequestProblemInformation, &[K::Connect]);
    expect(P::UserProperty, &KINDS);
}

#[test]
fn validate_rejects_every_property_outside_its_packets() {
    for (id, props, body) in single_vectors() {
        for kind in KINDS {
            let expected = if !id.allowed_in(kind) {
                Err(DecodeError::PropertyNotAllowed { id, packet: kind })
            } else if id == PropertyId::AuthenticationData {
                Err(DecodeError::AuthenticationDataWithoutMethod)
            } else {
                Ok(())
            };
            assert_eq!(props.validate(kind), expected);
            let decoded = Properties::decode_for(&mut block(&body), kind);
            assert_eq!(decoded.map(|_| ()), expected);
        }
    }
}

#[test]
fn authentication_data_needs_a_method() {
    let data_only = block(&[0x16, 0x00, 0x01, 0xAA]);
    let both = block(&[0x15, 0x00, 0x01, b'm', 0x16, 0x00, 0x01, 0xAA]);
    for kind in [PacketKind::Connect, PacketKind::ConnAck, PacketKind::Auth] {
        assert_eq!(
            Properties::decode_for(&mut data_only.clone(), kind),
            Err(DecodeError::AuthenticationDataWithoutMethod)
        );
        let props = Properties::decode_for(&mut both.clone(), kind).expect("method and data");
        assert_eq!(props.authentication_method, Some(s("m")));
        assert_eq!(props.authentication_data, Some(Bytes::from_static(&[0xAA])));
    }
}

#[test]
fn truncated_blocks_error_at_every_prefix() {
    let (_, body) = full_block();
    let bytes = block(&body);
    for len in 0..bytes.len() {
        assert_eq!(
            decode(&bytes[..len]),
            Err(DecodeError::UnexpectedEof),
            "prefix of {len} bytes"
        );
    }
    // The same cuts with the property length fixed to match: a cut inside a property is an
    // error, a cut between two properties decodes the properties before it.
    for (_, _, one) in single_vectors() {
        for cut in 1..one.len() {
            assert_eq!(
                decode(&block(&one[..cut])),
                Err(DecodeError::UnexpectedEof),
                "{one:02X?} cut at {cut}"
            );
        }
    }
    let boundaries = [0, 5, 10, 13, 15, 22, 29, 34, 36];
    for cut in 0..=body.len() {
        let result = decode(&block(&body[..cut]));
        assert_eq!(result.is_ok(), boundaries.contains(&cut), "cut at {cut}");
    }
}

mod generated;
mod reason_codes;
