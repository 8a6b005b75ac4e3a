//! Request Problem Information (MQTT 5.0, 3.1.2.11.7): a client that sets it to 0 gets no
//! Reason String and no User Properties on any packet but PUBLISH, CONNACK and DISCONNECT
//! ([MQTT-3.1.2-29]). The writer strips them from every packet it sends such a client, so any
//! acknowledgement that later carries a reason string obeys it without a check of its own.

use crate::codec::{Packet, Properties};
use crate::plugin::SessionInfo;

/// Whether the client accepts problem information (a 3.1.1 client gets none anyway).
pub(crate) fn requested(info: &SessionInfo) -> bool {
    info.properties
        .as_ref()
        .and_then(|p| p.request_problem_information)
        .unwrap_or(true)
}

/// Removes the Reason String and User Properties from `packet` unless it is a PUBLISH, CONNACK
/// or DISCONNECT.
pub(crate) fn strip(packet: &mut Packet) {
    let properties = match packet {
        Packet::PubAck(ack) | Packet::PubRec(ack) | Packet::PubRel(ack) | Packet::PubComp(ack) => {
            &mut ack.properties
        }
        Packet::SubAck(ack) => &mut ack.properties,
        Packet::UnsubAck(ack) => &mut ack.properties,
        Packet::Auth(body) => &mut body.properties,
        Packet::Publish(_)
        | Packet::ConnAck(_)
        | Packet::Disconnect(_)
        | Packet::Connect(_)
        | Packet::Subscribe(_)
        | Packet::Unsubscribe(_)
        | Packet::PingReq
        | Packet::PingResp => return,
    };
    if let Some(p) = properties {
        p.reason_string = None;
        p.user_properties.clear();
        if **p == Properties::default() {
            *properties = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Ack, ByteString, ReasonBody, ReasonCode};
    use std::num::NonZeroU16;
    use std::sync::Arc;

    fn chatty() -> Option<Box<Properties>> {
        Some(Box::new(Properties {
            reason_string: Some(ByteString::from("why")),
            user_properties: vec![(ByteString::from("k"), ByteString::from("v"))],
            ..Properties::default()
        }))
    }

    #[test]
    fn acks_lose_reason_strings_and_user_properties() {
        let id = NonZeroU16::new(7).expect("non-zero");
        let mut ack = Packet::PubAck(Ack {
            properties: chatty(),
            ..Ack::new(id)
        });
        strip(&mut ack);
        assert_eq!(ack, Packet::PubAck(Ack::new(id)));
    }

    #[test]
    fn disconnect_keeps_them() {
        let body = ReasonBody {
            reason: ReasonCode::ServerShuttingDown,
            properties: chatty(),
        };
        let mut packet = Packet::Disconnect(body.clone());
        strip(&mut packet);
        assert_eq!(packet, Packet::Disconnect(body));
    }

    /// The writer applies it: a PUBACK with a reason string reaches a client that asked for no
    /// problem information without one.
    #[tokio::test]
    async fn the_writer_strips_them() {
        use crate::broker::outbox::Outbox;
        use crate::broker::stats::Stats;
        use crate::codec::ProtocolVersion;
        use tokio::io::AsyncReadExt;

        let mut info = SessionInfo::new("quiet");
        info.protocol = ProtocolVersion::V5;
        info.properties = Some(Box::new(Properties {
            request_problem_information: Some(false),
            ..Properties::default()
        }));
        let id = NonZeroU16::new(7).expect("non-zero");
        let outbox = Outbox::new(16, Arc::new(info));
        outbox.push(Packet::PubAck(Ack {
            properties: chatty(),
            ..Ack::new(id)
        }));
        outbox.close();
        let (writer, mut reader) = tokio::io::duplex(1024);
        outbox
            .run_writer(writer, &Stats::default(), &(), None)
            .await;
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes).await.expect("read");
        let mut buf = bytes::BytesMut::from(&bytes[..]);
        let packet = crate::codec::decode_as(&mut buf, 1024, ProtocolVersion::V5).expect("valid");
        assert_eq!(packet, Some(Packet::PubAck(Ack::new(id))));
    }
}
