//! What the writer of an MQTT 5.0 connection does to each packet besides encoding it: a PUBLISH
//! gets the time its message has left ([`expiry`](super::expiry)) or is dropped once expired
//! (QoS 0: a QoS 1/2 message in the outbox is already in flight), and an outbound topic alias
//! ([`OutboundAliases`]); nothing larger than the client's Maximum Packet Size is sent
//! (3.1.2.11.4): a control packet first loses its reason string and user properties, which the
//! spec allows, and is dropped if still too large.
//!
//! These per-subscriber changes are made here, at encode time, on a scratch copy of the
//! message's properties that the writer reuses: the properties every copy of the message shares
//! are never cloned per subscriber, and a message that needs no change is encoded as it is.
//! A 3.1.1 connection has no [`V5Writer`]: its writer only drops expired QoS 0 messages
//! ([`expired_qos0`](super::message_expiry::expired_qos0)), one `Option` check for a packet without
//! properties.

use std::sync::Arc;
use std::time::Instant;

use super::message_expiry::{Expiry, expiry};
use super::stats::Stats;
use super::write_batch::WriteBatch;
use crate::codec::{ByteString, Packet, Properties, ProtocolVersion, Publish, QoS};
use crate::plugin::SessionInfo;
use crate::topic::alias::OutboundAliases;

/// Bytes a topic alias may add to a PUBLISH: the property (3) and one more byte for each of the
/// property length and the remaining length.
const ALIAS_OVERHEAD: usize = 5;

/// The per-connection state of an MQTT 5.0 connection's writer.
#[derive(Debug)]
pub(crate) struct V5Writer {
    /// The largest packet the client accepts.
    max_packet_size: Option<usize>,
    aliases: Option<OutboundAliases>,
    /// Reused for each PUBLISH whose properties change: unshared between packets, so setting
    /// it allocates nothing. Made at the first such PUBLISH.
    scratch: Option<Arc<Properties>>,
}

impl V5Writer {
    /// The writer state for `client`'s connection; `None` unless it speaks MQTT 5.0.
    pub(crate) fn for_client(client: &SessionInfo) -> Option<Box<V5Writer>> {
        if !client.protocol.is_v5() {
            return None;
        }
        let connect = client.properties.as_deref();
        Some(Box::new(V5Writer {
            max_packet_size: connect
                .and_then(|p| p.maximum_packet_size)
                .and_then(|max| usize::try_from(max.get()).ok()),
            aliases: connect
                .and_then(|p| p.topic_alias_maximum)
                .and_then(OutboundAliases::new),
            scratch: None,
        }))
    }

    /// Appends `packet` to `batch` as this client may receive it; `false` when it was dropped
    /// (expired, or too large) and nothing was written.
    pub(crate) fn encode(
        &mut self,
        packet: &Packet,
        batch: &mut WriteBatch,
        stats: &Stats,
        now: &mut Option<Instant>,
    ) -> bool {
        let Packet::Publish(publish) = packet else {
            return self.encode_control(packet, batch, stats);
        };
        let mut left = None;
        if let Some(properties) = publish.properties.as_deref()
            && properties.received_at.is_some()
        {
            match expiry(properties, *now.get_or_insert_with(Instant::now)) {
                Expiry::Expired if publish.qos == QoS::AtMostOnce => {
                    stats.messages_expired.increment();
                    return false;
                }
                // In flight already (QoS 1/2, its session waits for the ack): sent, no time left.
                Expiry::Expired => left = Some(0),
                Expiry::Left(seconds) => left = Some(seconds),
                Expiry::Never => {}
            }
        }
        let len = self
            .max_packet_size
            .map(|_| publish.encoded_len_as(ProtocolVersion::V5));
        if let (Some(max), Some(len)) = (self.max_packet_size, len)
            && len > max
        {
            // Checked when it was queued for this client (`Session::deliver`); a message in
            // flight from a connection that allowed more can still get here.
            stats.dropped_too_large.increment();
            return false;
        }
        let alias = match &mut self.aliases {
            Some(aliases) => {
                let room = len.is_none_or(|len| {
                    self.max_packet_size
                        .is_none_or(|max| len + ALIAS_OVERHEAD <= max)
                });
                aliases.alias(&publish.topic, room)
            }
            None => None,
        };
        let unchanged = alias.is_none()
            && left.is_none_or(|s| {
                publish
                    .properties
                    .as_ref()
                    .and_then(|p| p.message_expiry_interval)
                    == Some(s)
            });
        if unchanged {
            batch.push_publish(publish, ProtocolVersion::V5);
            return true;
        }
        let shared = self.scratch.get_or_insert_default();
        let scratch = Arc::make_mut(shared);
        match publish.properties.as_deref() {
            Some(properties) => scratch.clone_from(properties),
            None => *scratch = Properties::default(),
        }
        if left.is_some() {
            scratch.message_expiry_interval = left;
        }
        let mut topic = publish.topic.clone();
        if let Some((alias, known)) = alias {
            scratch.topic_alias = Some(alias);
            if known {
                topic = ByteString::new();
            }
        }
        let sent = Publish {
            dup: publish.dup,
            qos: publish.qos,
            retain: publish.retain,
            topic,
            packet_id: publish.packet_id,
            payload: publish.payload.clone(),
            properties: Some(shared.clone()),
        };
        batch.push_publish(&sent, ProtocolVersion::V5);
        true
    }

    /// Appends a packet other than PUBLISH, within the client's Maximum Packet Size.
    fn encode_control(&self, packet: &Packet, batch: &mut WriteBatch, stats: &Stats) -> bool {
        let Some(max) = self.max_packet_size else {
            batch.push_packet(packet, ProtocolVersion::V5);
            return true;
        };
        if packet.encoded_len_as(ProtocolVersion::V5) <= max {
            batch.push_packet(packet, ProtocolVersion::V5);
            return true;
        }
        // The reason string and user properties may be left out (3.1.2.11.4); nothing else.
        let mut shorter = packet.clone();
        if let Some(properties) = properties_mut(&mut shorter) {
            let properties = &mut **properties;
            properties.reason_string = None;
            properties.user_properties = Vec::new();
            if properties.is_empty() {
                clear_properties(&mut shorter);
            }
        }
        if shorter.encoded_len_as(ProtocolVersion::V5) <= max {
            batch.push_packet(&shorter, ProtocolVersion::V5);
            return true;
        }
        stats.dropped_too_large.increment();
        tracing::debug!(
            packet = packet.name(),
            max,
            "packet larger than the client's maximum packet size not sent"
        );
        false
    }
}

/// The properties of a control packet that may carry a reason string or user properties.
fn properties_mut(packet: &mut Packet) -> Option<&mut Box<Properties>> {
    match packet {
        Packet::ConnAck(p) => p.properties.as_mut(),
        Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
            p.properties.as_mut()
        }
        Packet::SubAck(p) => p.properties.as_mut(),
        Packet::UnsubAck(p) => p.properties.as_mut(),
        Packet::Disconnect(p) | Packet::Auth(p) => p.properties.as_mut(),
        _ => None,
    }
}

/// Removes a control packet's (now empty) properties.
fn clear_properties(packet: &mut Packet) {
    match packet {
        Packet::ConnAck(p) => p.properties = None,
        Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
            p.properties = None;
        }
        Packet::SubAck(p) => p.properties = None,
        Packet::UnsubAck(p) => p.properties = None,
        Packet::Disconnect(p) | Packet::Auth(p) => p.properties = None,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::codec::{ReasonBody, ReasonCode, decode_as};

    fn v5_client(properties: Properties) -> SessionInfo {
        let mut info = SessionInfo::new("c");
        info.protocol = ProtocolVersion::V5;
        info.properties = Some(Box::new(properties));
        info
    }

    /// A message that arrived `ago` with `interval` seconds to live.
    fn aged(qos: QoS, interval: u32, ago: Duration) -> Packet {
        let mut message = Publish::new("t", "x", qos, false);
        message.packet_id = (qos != QoS::AtMostOnce)
            .then(|| crate::codec::PacketId::new(1).expect("as built above"));
        message.properties = Some(Arc::new(Properties {
            message_expiry_interval: Some(interval),
            received_at: Some(Instant::now() - ago),
            ..Properties::default()
        }));
        Packet::Publish(message)
    }

    fn sent(batch: &WriteBatch) -> Publish {
        match decode_as(&mut batch.to_bytes(), 1 << 20, ProtocolVersion::V5) {
            Ok(Some(Packet::Publish(p))) => p,
            other => panic!("expected a PUBLISH, got {other:?}"),
        }
    }

    #[test]
    fn an_expired_qos0_message_in_the_outbox_is_dropped_and_others_carry_the_time_left() {
        assert!(V5Writer::for_client(&SessionInfo::new("old")).is_none());
        let mut writer =
            V5Writer::for_client(&v5_client(Properties::default())).expect("as built above");
        let stats = Stats::default();
        let mut batch = WriteBatch::default();
        let old = aged(QoS::AtMostOnce, 1, Duration::from_secs(2));
        assert!(!writer.encode(&old, &mut batch, &stats, &mut None));
        assert!(batch.is_empty());
        assert_eq!(stats.messages_expired.get(), 1);
        let fresh = aged(QoS::AtLeastOnce, 10, Duration::from_millis(2500));
        assert!(writer.encode(&fresh, &mut batch, &stats, &mut None));
        assert_eq!(
            sent(&batch)
                .properties
                .expect("as built above")
                .message_expiry_interval,
            Some(8)
        );
    }

    #[test]
    fn control_packets_lose_their_reason_string_to_fit_the_maximum_packet_size() {
        let small = Properties {
            maximum_packet_size: std::num::NonZeroU32::new(16),
            ..Properties::default()
        };
        let writer = V5Writer::for_client(&v5_client(small)).expect("as built above");
        let stats = Stats::default();
        let mut batch = WriteBatch::default();
        let mut body = ReasonBody::new(ReasonCode::TopicAliasInvalid);
        body.properties = Some(Box::new(Properties {
            reason_string: Some("a reason far longer than sixteen bytes".into()),
            ..Properties::default()
        }));
        assert!(writer.encode_control(&Packet::Disconnect(body), &mut batch, &stats));
        let decoded = decode_as(&mut batch.to_bytes(), 1 << 20, ProtocolVersion::V5)
            .expect("as built above")
            .expect("as built above");
        assert_eq!(
            decoded,
            Packet::Disconnect(ReasonBody::new(ReasonCode::TopicAliasInvalid))
        );
        assert_eq!(stats.dropped_too_large.get(), 0);
    }
}
