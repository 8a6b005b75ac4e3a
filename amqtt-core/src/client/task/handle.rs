//! The packet bookkeeping of a client connection: commands from the API become packets,
//! packets from the broker complete operations and deliver messages.

use std::sync::Arc;

use super::{Command, Connection, Outgoing};
use crate::client::{ClientError, Message};
use crate::codec::{
    Ack, ByteString, Packet, PacketId, Publish, QoS, ReasonBody, ReasonCode, SubAckCode, Subscribe,
    Unsubscribe,
};
use crate::plugin::{Hooks, Plugin};
use crate::topic::alias::OutboundAliases;

impl<P: Plugin> Connection<P> {
    /// Encodes a packet for the next write.
    pub(super) fn send(&mut self, packet: Packet) {
        if P::HOOKS.contains(Hooks::PACKET_SENT) {
            self.plugins.on_mqtt_packet_sent(&packet, None);
        }
        match (&packet, &mut self.outbound_aliases) {
            (Packet::Publish(publish), Some(aliases)) => {
                aliased(publish, aliases).encode_as(self.version, &mut self.out);
            }
            _ => packet.encode_as(self.version, &mut self.out),
        }
    }

    /// Refuses a publish the broker said it does not take: above its Maximum QoS, retained
    /// without Retain Available, or larger than its Maximum Packet Size (3.2.2.3).
    fn check_publish(&self, publish: &Publish) -> Result<(), ClientError> {
        if publish.qos > self.server.maximum_qos {
            return Err(ClientError::NotSupported(
                "QoS above the broker's maximum QoS",
            ));
        }
        if publish.retain && !self.server.retain_available {
            return Err(ClientError::NotSupported(
                "retained messages (the broker has none)",
            ));
        }
        // With a packet id: at QoS 1/2 the id takes two bytes more than at QoS 0.
        let size = publish.encoded_len_as(self.version) + 2;
        if let Some(maximum) = self.server.maximum_packet_size
            && size > maximum as usize
        {
            return Err(ClientError::PacketTooLarge { size, maximum });
        }
        Ok(())
    }

    /// QoS 1/2 publishes sent and not yet acknowledged.
    fn in_flight(&self) -> usize {
        self.outgoing.len()
    }

    pub(super) fn received(&self, packet: &Packet) {
        if P::HOOKS.contains(Hooks::PACKET_RECEIVED) {
            self.plugins.on_mqtt_packet_received(packet, None);
        }
    }

    /// A free packet id, skipping ids in flight.
    pub(super) fn allocate_id(&mut self) -> Option<PacketId> {
        for _ in 0..u16::MAX {
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            let id = self.next_id;
            if !self.outgoing.contains_key(&id)
                && !self.subscribing.contains_key(&id)
                && !self.unsubscribing.contains_key(&id)
            {
                return PacketId::new(id);
            }
        }
        None
    }

    pub(super) fn command(&mut self, command: Command) {
        match command {
            Command::Publish { publish, done } => {
                if let Err(e) = self.check_publish(&publish) {
                    let _ = done.send(Err(e));
                    return;
                }
                if publish.qos == QoS::AtMostOnce {
                    self.send(Packet::Publish(publish));
                    let _ = done.send(Ok(()));
                    return;
                }
                let outgoing = Outgoing {
                    publish,
                    released: false,
                    done: Some(done),
                };
                if self.in_flight() < usize::from(self.server.receive_maximum) {
                    self.start(outgoing);
                } else {
                    // Flow control (4.9): started when an acknowledgement makes room.
                    self.waiting.push_back(outgoing);
                }
            }
            Command::Subscribe {
                filters,
                properties,
                done,
            } => {
                let Some(packet_id) = self.allocate_id() else {
                    let _ = done.send(Err(ClientError::NoPacketId));
                    return;
                };
                let subscribe = Subscribe {
                    packet_id,
                    filters: filters.clone(),
                    properties: properties.clone(),
                };
                self.send(Packet::Subscribe(subscribe));
                self.subscribing
                    .insert(packet_id.get(), (filters, properties, Some(done)));
            }
            Command::Unsubscribe { filters, done } => {
                let Some(packet_id) = self.allocate_id() else {
                    let _ = done.send(Err(ClientError::NoPacketId));
                    return;
                };
                self.subscriptions.retain(|(f, _)| !filters.contains(f));
                let unsubscribe = Unsubscribe {
                    packet_id,
                    filters: filters.clone(),
                    properties: None,
                };
                self.send(Packet::Unsubscribe(unsubscribe));
                self.unsubscribing.insert(packet_id.get(), (filters, done));
            }
            Command::Disconnect { done } => {
                self.send(Packet::Disconnect(ReasonBody::default()));
                self.disconnecting = Some(done);
            }
            Command::Reauthenticate { done } => self.start_reauthentication(done),
        }
    }

    /// Handles a packet from the broker.
    pub(super) fn packet(&mut self, packet: Packet) {
        self.received(&packet);
        match packet {
            Packet::Publish(publish) => self.incoming_publish(publish),
            Packet::PubAck(ack) => self.complete_at(&ack, QoS::AtLeastOnce),
            // A PUBREC with a failure code ends the exchange: no PUBREL (4.3.3).
            Packet::PubRec(ack) if ack.reason.is_error() => {
                self.complete_at(&ack, QoS::ExactlyOnce);
            }
            Packet::PubRec(ack) => {
                let id = ack.packet_id;
                if let Some(o) = self.outgoing.get_mut(&id.get())
                    && o.publish.qos == QoS::ExactlyOnce
                {
                    o.released = true;
                }
                self.send(Packet::PubRel(id.into()));
            }
            Packet::PubComp(ack) => self.complete_at(&ack, QoS::ExactlyOnce),
            Packet::PubRel(ack) => {
                let id = ack.packet_id;
                self.incoming.remove(&id.get());
                self.send(Packet::PubComp(id.into()));
            }
            Packet::SubAck(ack) => {
                if let Some((filters, _, done)) = self.subscribing.remove(&ack.packet_id.get()) {
                    for ((filter, options), code) in filters.into_iter().zip(&ack.codes) {
                        if let SubAckCode::Success(_) = code {
                            self.subscriptions.retain(|(f, _)| *f != filter);
                            self.subscriptions.push((filter, options));
                        }
                    }
                    if let Some(done) = done {
                        let _ = done.send(Ok(ack.codes));
                    }
                }
            }
            Packet::UnsubAck(ack) => {
                if let Some((_, done)) = self.unsubscribing.remove(&ack.packet_id.get()) {
                    let _ = done.send(Ok(()));
                }
            }
            Packet::Auth(body) => self.reauthentication_step(&body),
            other => tracing::debug!("client ignores an unexpected {}", other.name()),
        }
    }

    /// Ends the exchange `ack` answers if its publish is in flight at `qos` (an ack for another
    /// QoS's exchange, or for nothing, is ignored).
    fn complete_at(&mut self, ack: &Ack, qos: QoS) {
        let id = ack.packet_id;
        if self
            .outgoing
            .get(&id.get())
            .is_some_and(|o| o.publish.qos == qos)
        {
            self.complete(id, ack.reason);
        }
    }

    /// Ends the exchange of the publish `id`, with the broker's `reason` (a failure code is
    /// the publish's error), and sends what waited for room under the Receive Maximum.
    fn complete(&mut self, id: PacketId, reason: ReasonCode) {
        if let Some(outgoing) = self.outgoing.remove(&id.get())
            && let Some(done) = outgoing.done
        {
            let result = if reason.is_error() {
                Err(ClientError::PublishRefused(reason))
            } else {
                Ok(())
            };
            let _ = done.send(result);
        }
        while self.in_flight() < usize::from(self.server.receive_maximum)
            && let Some(next) = self.waiting.pop_front()
        {
            self.start(next);
        }
    }

    /// Sends a QoS 1/2 publish with a fresh packet id and keeps it in flight.
    fn start(&mut self, mut outgoing: Outgoing) {
        let Some(id) = self.allocate_id() else {
            if let Some(done) = outgoing.done {
                let _ = done.send(Err(ClientError::NoPacketId));
            }
            return;
        };
        outgoing.publish.packet_id = Some(id);
        self.send(Packet::Publish(outgoing.publish.clone()));
        self.outgoing.insert(id.get(), outgoing);
    }

    fn incoming_publish(&mut self, publish: Publish) {
        let message = Message {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            dup: publish.dup,
            properties: publish.properties,
        };
        match (publish.qos, publish.packet_id) {
            (QoS::AtMostOnce, _) => {
                let _ = self.messages.send(message);
            }
            (QoS::AtLeastOnce, Some(id)) => {
                let _ = self.messages.send(message);
                self.send(Packet::PubAck(id.into()));
            }
            (QoS::ExactlyOnce, Some(id)) => {
                if self.incoming.insert(id.get()) {
                    let _ = self.messages.send(message);
                }
                self.send(Packet::PubRec(id.into()));
            }
            (_, None) => tracing::debug!("client: QoS 1/2 PUBLISH without packet id"),
        }
    }
}

/// `publish` as it goes out on a connection with outbound topic aliases: with the alias of its
/// topic, and an empty topic once the broker knows that alias; unchanged when its topic has none
/// and none is left. The message kept for a resend keeps its topic: aliases end with the
/// connection.
fn aliased(publish: &Publish, aliases: &mut OutboundAliases) -> Publish {
    let Some((alias, known)) = aliases.alias(&publish.topic, true) else {
        return publish.clone();
    };
    let mut properties = publish.properties.clone().unwrap_or_default();
    Arc::make_mut(&mut properties).topic_alias = Some(alias);
    Publish {
        topic: if known {
            ByteString::new()
        } else {
            publish.topic.clone()
        },
        properties: Some(properties),
        ..publish.clone()
    }
}
