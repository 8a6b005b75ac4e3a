//! Generated tests of [`Properties`]: round trips of arbitrary sets, and no panic on arbitrary
//! bytes.

use super::*;

/// Any string without U+0000 of up to 12 characters.
fn string() -> impl Strategy<Value = ByteString> {
    prop::collection::vec(
        any::<char>().prop_filter("no U+0000", |c| *c != '\0'),
        0..12,
    )
    .prop_map(|chars| ByteString::from(chars.into_iter().collect::<String>()))
}

/// Binary data of up to 16 bytes.
fn binary() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..16).prop_map(Bytes::from)
}

/// Any valid property set (repeated subscription identifiers included).
fn properties() -> impl Strategy<Value = Properties> {
    let publish = (
        prop::option::of(any::<bool>()),
        prop::option::of(any::<u32>()),
        prop::option::of(string()),
        prop::option::of(topic_name()),
        prop::option::of(binary()),
        prop::collection::vec((1..=MAX_VAR_INT).prop_map(nz32), 0..3),
        prop::option::of((1..=u16::MAX).prop_map(nz16)),
    );
    let connect = (
        prop::option::of(any::<u32>()),
        prop::option::of(string()),
        prop::option::of(any::<u16>()),
        prop::option::of(string()),
        prop::option::of(binary()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<bool>()),
        prop::option::of(string()),
        prop::option::of(string()),
        prop::option::of(string()),
    );
    let connack = (
        prop::option::of((1..=u16::MAX).prop_map(nz16)),
        prop::option::of(any::<u16>()),
        prop::option::of(prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)]),
        prop::option::of(any::<bool>()),
        prop::collection::vec((string(), string()), 0..4),
        prop::option::of((1..=u32::MAX).prop_map(nz32)),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
    );
    (publish, connect, connack).prop_map(|(p, c, a)| Properties {
        payload_format_indicator: p.0,
        message_expiry_interval: p.1,
        content_type: p.2,
        response_topic: p.3,
        correlation_data: p.4,
        subscription_identifiers: p.5,
        topic_alias: p.6,
        session_expiry_interval: c.0,
        assigned_client_identifier: c.1,
        server_keep_alive: c.2,
        authentication_method: c.3,
        authentication_data: c.4,
        request_problem_information: c.5,
        will_delay_interval: c.6,
        request_response_information: c.7,
        response_information: c.8,
        server_reference: c.9,
        reason_string: c.10,
        receive_maximum: a.0,
        topic_alias_maximum: a.1,
        maximum_qos: a.2,
        retain_available: a.3,
        user_properties: a.4,
        maximum_packet_size: a.5,
        wildcard_subscription_available: a.6,
        subscription_identifier_available: a.7,
        shared_subscription_available: a.8,
        // Not a property: never on the wire.
        received_at: None,
    })
}

/// Byte soup biased toward property blocks: a plausible length, then identifiers and values.
fn property_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::sample::select(PropertyId::ALL.to_vec()).prop_map(|id| vec![id as u8]),
        prop::collection::vec(any::<u8>(), 0..4),
        Just(vec![0x00, 0x01, b'a']),
    ];
    (any::<u8>(), prop::collection::vec(piece, 0..16)).prop_map(|(len, pieces)| {
        let mut out = vec![len & 0x7F];
        out.extend(pieces.into_iter().flatten());
        out
    })
}

proptest! {
    #[test]
    fn properties_round_trip(props in properties(), tail in binary()) {
        let mut out = BytesMut::new();
        props.encode(&mut out);
        prop_assert_eq!(out.len(), props.encoded_len());
        out.put_slice(&tail);
        let mut buf = out.freeze();
        prop_assert_eq!(Properties::decode(&mut buf), Ok(props.clone()));
        prop_assert_eq!(buf, tail);
        prop_assert_eq!(props.validate(PacketKind::Publish).is_ok(),
            PropertyId::ALL.iter().all(|id| !props.contains(*id)
                || id.allowed_in(PacketKind::Publish)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..128),
        property_like_bytes(),
    ]) {
        let mut buf = Bytes::from(bytes.clone());
        if let Ok(props) = Properties::decode(&mut buf) {
            // Whatever decodes re-encodes to something that decodes to the same set.
            let mut out = BytesMut::new();
            props.encode(&mut out);
            prop_assert_eq!(out.len(), props.encoded_len());
            prop_assert!(out.len() <= bytes.len());
            prop_assert_eq!(Properties::decode(&mut out.freeze()), Ok(props.clone()));
            for kind in KINDS {
                let _ = props.validate(kind);
            }
        }
        for value in bytes {
            for kind in KINDS {
                let _ = ReasonCode::decode_for(value, kind);
            }
        }
    }
}
