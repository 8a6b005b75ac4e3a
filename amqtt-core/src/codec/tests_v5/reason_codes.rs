//! [`ReasonCode`]: its bytes and the packets each may appear in.

use super::*;

#[test]
fn reason_codes_round_trip_their_bytes() {
    let mut known = 0;
    for value in 0..=u8::MAX {
        if let Some(code) = ReasonCode::from_u8(value) {
            known += 1;
            assert_eq!(code.as_u8(), value);
            assert_eq!(u8::from(code), value);
            assert_eq!(code.is_error(), value >= 0x80);
            assert!(!code.description().is_empty());
        } else {
            for kind in KINDS {
                assert_eq!(
                    ReasonCode::decode_for(value, kind),
                    Err(DecodeError::UnknownReasonCode(value))
                );
            }
        }
    }
    assert_eq!(known, 43);
    assert!(ReasonCode::ALL.windows(2).all(|w| w[0] < w[1]));
    let mut descriptions: Vec<_> = ReasonCode::ALL.iter().map(|c| c.description()).collect();
    descriptions.sort_unstable();
    descriptions.dedup();
    assert_eq!(descriptions.len(), 43);
    assert_eq!(ReasonCode::Success.description(), "Success");
    assert_eq!(ReasonCode::from_u8(0x87), Some(ReasonCode::NotAuthorized));
    assert_eq!(ReasonCode::from_u8(0x03), None);
    assert_eq!(ReasonCode::from_u8(0xA3), None);
    assert_eq!(ReasonCode::NORMAL_DISCONNECTION.as_u8(), 0);
    assert_eq!(ReasonCode::GRANTED_QOS_0.as_u8(), 0);
}

#[test]
fn reason_code_table_matches_the_spec() {
    use PacketKind as K;
    use ReasonCode as R;
    let allowed: usize = ReasonCode::ALL
        .iter()
        .map(|c| KINDS.iter().filter(|k| c.allowed_in(**k)).count())
        .sum();
    assert_eq!(allowed, 96, "allowed (code, packet) pairs in spec 2.4");
    let codes_in = |kind: PacketKind| -> Vec<u8> {
        ReasonCode::ALL
            .iter()
            .filter(|c| c.allowed_in(kind))
            .map(|c| c.as_u8())
            .collect()
    };
    for kind in [
        K::Connect,
        K::Will,
        K::Publish,
        K::Subscribe,
        K::Unsubscribe,
    ] {
        assert_eq!(codes_in(kind), Vec::<u8>::new(), "{kind:?}");
    }
    let puback = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
    assert_eq!(codes_in(K::PubAck), puback);
    assert_eq!(codes_in(K::PubRec), puback);
    assert_eq!(codes_in(K::PubRel), [0x00, 0x92]);
    assert_eq!(codes_in(K::PubComp), [0x00, 0x92]);
    assert_eq!(codes_in(K::Auth), [0x00, 0x18, 0x19]);
    assert_eq!(
        codes_in(K::SubAck),
        [
            0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2
        ]
    );
    assert_eq!(
        codes_in(K::UnsubAck),
        [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]
    );
    assert_eq!(
        codes_in(K::ConnAck),
        [
            0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90,
            0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F
        ]
    );
    assert_eq!(codes_in(K::Disconnect).len(), 30);
    assert_eq!(
        R::decode_for(0x04, K::Disconnect),
        Ok(R::DisconnectWithWillMessage)
    );
    assert_eq!(
        R::decode_for(0x04, K::PubAck),
        Err(DecodeError::ReasonCodeNotAllowed {
            code: R::DisconnectWithWillMessage,
            packet: K::PubAck
        })
    );
    assert_eq!(R::Banned.check(K::ConnAck), Ok(()));
    assert_eq!(
        R::Banned.check(K::Disconnect),
        Err(DecodeError::ReasonCodeNotAllowed {
            code: R::Banned,
            packet: K::Disconnect
        })
    );
}
