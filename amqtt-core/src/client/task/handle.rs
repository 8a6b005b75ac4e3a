//! The packet bookkeeping of a client connection: commands from the API become packets,
//! packets from the broker complete operations and deliver messages.

use super::{Command, Connection, Outgoing};
use crate::client::{ClientError, Message};
use crate::codec::{
    Packet, PacketId, Publish, QoS, ReasonBody, SubAckCode, Subscribe, Unsubscribe,
};
use crate::plugin::{Hooks, Plugin};

impl<P: Plugin> Connection<P> {
    /// Encodes a packet for the next write.
    pub(super) fn send(&mut self, packet: Packet) {
        if P::HOOKS.contains(Hooks::PACKET_SENT) {
            self.plugins.on_mqtt_packet_sent(&packet, None);
        }
        packet.encode(&mut self.out);
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
            Command::Publish {
                topic,
                payload,
                qos,
                retain,
                done,
            } => {
                let mut publish = Publish::new(topic, payload, qos, retain);
                if qos == QoS::AtMostOnce {
                    self.send(Packet::Publish(publish));
                    let _ = done.send(Ok(()));
                    return;
                }
                let Some(id) = self.allocate_id() else {
                    let _ = done.send(Err(ClientError::NoPacketId));
                    return;
                };
                publish.packet_id = Some(id);
                self.send(Packet::Publish(publish.clone()));
                let outgoing = Outgoing {
                    publish,
                    released: false,
                    done: Some(done),
                };
                self.outgoing.insert(id.get(), outgoing);
            }
            Command::Subscribe { filters, done } => {
                let Some(packet_id) = self.allocate_id() else {
                    let _ = done.send(Err(ClientError::NoPacketId));
                    return;
                };
                let subscribe = Subscribe {
                    packet_id,
                    filters: filters
                        .iter()
                        .map(|(f, q)| (f.clone(), (*q).into()))
                        .collect(),
                    properties: None,
                };
                self.send(Packet::Subscribe(subscribe));
                self.subscribing
                    .insert(packet_id.get(), (filters, Some(done)));
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
        }
    }

    /// Handles a packet from the broker.
    pub(super) fn packet(&mut self, packet: Packet) {
        self.received(&packet);
        match packet {
            Packet::Publish(publish) => self.incoming_publish(publish),
            Packet::PubAck(ack) => {
                let id = ack.packet_id;
                if self
                    .outgoing
                    .get(&id.get())
                    .is_some_and(|o| o.publish.qos == QoS::AtLeastOnce)
                {
                    self.complete(id);
                }
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
            Packet::PubComp(ack) => {
                let id = ack.packet_id;
                if self
                    .outgoing
                    .get(&id.get())
                    .is_some_and(|o| o.publish.qos == QoS::ExactlyOnce)
                {
                    self.complete(id);
                }
            }
            Packet::PubRel(ack) => {
                let id = ack.packet_id;
                self.incoming.remove(&id.get());
                self.send(Packet::PubComp(id.into()));
            }
            Packet::SubAck(ack) => {
                if let Some((filters, done)) = self.subscribing.remove(&ack.packet_id.get()) {
                    for ((filter, _), code) in filters.into_iter().zip(&ack.codes) {
                        if let SubAckCode::Success(qos) = code {
                            self.subscriptions.retain(|(f, _)| *f != filter);
                            self.subscriptions.push((filter, *qos));
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
            other => tracing::debug!("client ignores an unexpected {}", other.name()),
        }
    }

    fn complete(&mut self, id: PacketId) {
        if let Some(outgoing) = self.outgoing.remove(&id.get())
            && let Some(done) = outgoing.done
        {
            let _ = done.send(Ok(()));
        }
    }

    fn incoming_publish(&mut self, publish: Publish) {
        let message = Message {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            dup: publish.dup,
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
