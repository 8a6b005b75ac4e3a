//! A persistent session moving between nodes ([`Handoff`]), and the one encoding of a message
//! between nodes ([`encode_message`], [`decode_message`]): an MQTT 5.0 PUBLISH packet, which
//! carries the topic, QoS, RETAIN, payload and every property.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

use crate::codec::{self, Connect, Packet, PacketId, ProtocolVersion, Publish, QoS};
use crate::store::{Grant, MessageState, Restore, StoredMessage, StoredSession};

/// Why bytes from another node are not a message or a session.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct WireError(String);

impl WireError {
    /// An error saying `what` is wrong.
    pub fn new(what: impl Into<String>) -> WireError {
        WireError(what.into())
    }
}

/// Appends `message` as an MQTT 5.0 PUBLISH packet (a QoS 1/2 one with packet id 1 when it
/// has none: the receiving node gives its own).
pub fn encode_message(message: &Publish, buf: &mut BytesMut) {
    if message.qos != QoS::AtMostOnce && message.packet_id.is_none() {
        let copy = Publish {
            packet_id: PacketId::new(1),
            ..message.clone()
        };
        return copy.encode_as(ProtocolVersion::V5, buf);
    }
    message.encode_as(ProtocolVersion::V5, buf);
}

/// Reads what [`encode_message`] wrote: the message without packet id or DUP.
pub fn decode_message(bytes: Bytes) -> Result<Publish, WireError> {
    let mut buf = BytesMut::from(bytes);
    match codec::decode_as(&mut buf, usize::MAX, ProtocolVersion::V5) {
        Ok(Some(Packet::Publish(mut message))) => {
            message.packet_id = None;
            message.dup = false;
            Ok(message)
        }
        Ok(Some(other)) => Err(WireError(format!("{} instead of PUBLISH", other.name()))),
        Ok(None) => Err(WireError("an incomplete PUBLISH".into())),
        Err(e) => Err(WireError(e.to_string())),
    }
}

/// A persistent session leaving this node for another one, where its client connected: what
/// the client sent in its CONNECT, its subscriptions, the QoS 1/2 messages queued or in flight
/// for it, and the QoS 2 ids it sent that await PUBREL.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub(crate) session: StoredSession,
    pub(crate) subscriptions: Vec<(Box<str>, Grant)>,
    pub(crate) messages: Vec<StoredMessage>,
    pub(crate) qos2_received: Vec<PacketId>,
}

impl Handoff {
    /// The client the session belongs to.
    pub fn client_id(&self) -> &str {
        &self.session.client_id
    }

    /// The session as bytes for another node: its CONNECT packet, then the subscriptions
    /// (filter, QoS, options, identifier), the messages (entry, state, packet id, PUBLISH) and
    /// the QoS 2 ids, each list counted.
    pub fn encode(&self) -> Bytes {
        self.encode_within(usize::MAX).0
    }

    /// [`Handoff::encode`] in at most `limit` bytes where the messages allow it: the newest
    /// messages that do not fit are left out. Returns the bytes and how many were left out.
    pub fn encode_within(&self, limit: usize) -> (Bytes, usize) {
        let mut head = BytesMut::new();
        let session = &self.session;
        let connect = Connect {
            protocol: session.protocol,
            clean_session: false,
            keep_alive: session.keep_alive,
            client_id: session.client_id.clone(),
            will: session.will.clone(),
            username: session.username.clone(),
            password: None,
            properties: session.properties.as_deref().cloned().unwrap_or_default(),
        };
        Packet::Connect(Box::new(connect)).encode_as(session.protocol, &mut head);
        head.put_u32(count(self.subscriptions.len()));
        for (filter, grant) in &self.subscriptions {
            put_text(&mut head, filter);
            head.put_u8(grant.qos as u8);
            head.put_u8(grant.stored_options());
            head.put_u32(grant.id.map_or(0, |id| id.get()));
        }
        let mut tail = BytesMut::new();
        tail.put_u32(count(self.qos2_received.len()));
        for id in &self.qos2_received {
            tail.put_u16(id.get());
        }
        let mut messages = BytesMut::new();
        let mut kept = 0;
        let room = limit.saturating_sub(head.len() + tail.len() + 4);
        for stored in &self.messages {
            let mut message = BytesMut::new();
            encode_message(&stored.message, &mut message);
            if messages.len() + 15 + message.len() > room {
                break;
            }
            messages.put_u64(stored.entry);
            messages.put_u8(stored.state.code());
            messages.put_u16(stored.packet_id.map_or(0, PacketId::get));
            messages.put_u32(count(message.len()));
            messages.put_slice(&message);
            kept += 1;
        }
        head.put_u32(count(kept));
        head.extend_from_slice(&messages);
        head.extend_from_slice(&tail);
        (head.freeze(), self.messages.len() - kept)
    }

    /// Reads what [`Handoff::encode`] wrote.
    pub fn decode(bytes: Bytes) -> Result<Handoff, WireError> {
        let mut buf = BytesMut::from(bytes);
        let connect = match codec::decode_as(&mut buf, usize::MAX, ProtocolVersion::V5) {
            Ok(Some(Packet::Connect(connect))) => *connect,
            _ => {
                return Err(WireError(
                    "a session that does not start with CONNECT".into(),
                ));
            }
        };
        let mut buf = buf.freeze();
        let properties = (connect.properties != codec::Properties::default())
            .then(|| Box::new(connect.properties));
        let session = StoredSession {
            client_id: connect.client_id,
            username: connect.username,
            keep_alive: connect.keep_alive,
            will: connect.will,
            disconnected_at: Some(std::time::SystemTime::now()),
            protocol: connect.protocol,
            properties,
        };
        let short = || WireError("a session cut short".into());
        let mut subscriptions = Vec::new();
        for _ in 0..get_u32(&mut buf).ok_or_else(short)? {
            let filter = get_text(&mut buf).ok_or_else(short)?;
            let (qos, options, id) = (get_u8(&mut buf), get_u8(&mut buf), get_u32(&mut buf));
            let (Some(qos), Some(options), Some(id)) = (qos, options, id) else {
                return Err(short());
            };
            let qos = QoS::from_u8(qos).ok_or_else(|| WireError("a bad QoS".into()))?;
            let grant = Grant::from_stored(qos, options, id)
                .ok_or_else(|| WireError("bad subscription options".into()))?;
            subscriptions.push((filter, grant));
        }
        let mut messages = Vec::new();
        for _ in 0..get_u32(&mut buf).ok_or_else(short)? {
            if buf.remaining() < 8 + 1 + 2 + 4 {
                return Err(short());
            }
            let entry = buf.get_u64();
            let state = MessageState::from_code(buf.get_u8())
                .ok_or_else(|| WireError("a bad message state".into()))?;
            let packet_id = PacketId::new(buf.get_u16());
            let len = buf.get_u32() as usize;
            if buf.remaining() < len {
                return Err(short());
            }
            let message = decode_message(buf.split_to(len))?;
            messages.push(StoredMessage {
                entry,
                state,
                packet_id,
                message,
            });
        }
        let mut qos2_received = Vec::new();
        for _ in 0..get_u32(&mut buf).ok_or_else(short)? {
            let id = get_u16(&mut buf)
                .and_then(PacketId::new)
                .ok_or_else(short)?;
            qos2_received.push(id);
        }
        Ok(Handoff {
            session,
            subscriptions,
            messages,
            qos2_received,
        })
    }

    /// Puts the session into `restore` (the broker's registry, index and queues).
    pub(crate) fn restore_into(self, restore: &mut impl Restore) {
        let client_id = self.session.client_id.clone();
        restore.session(self.session);
        for (filter, grant) in self.subscriptions {
            restore.subscription(&client_id, &filter, grant);
        }
        for message in self.messages {
            restore.message(&client_id, message);
        }
        for id in self.qos2_received {
            restore.qos2_received(&client_id, id);
        }
    }
}

/// A list's length as written (a session holds far fewer than 2^32 of anything).
fn count(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn put_text(buf: &mut BytesMut, text: &str) {
    buf.put_u32(count(text.len()));
    buf.put_slice(text.as_bytes());
}

fn get_text(buf: &mut Bytes) -> Option<Box<str>> {
    let len = get_u32(buf)? as usize;
    if buf.remaining() < len {
        return None;
    }
    std::str::from_utf8(&buf.split_to(len)).ok().map(Box::from)
}

fn get_u8(buf: &mut Bytes) -> Option<u8> {
    (buf.remaining() >= 1).then(|| buf.get_u8())
}

fn get_u16(buf: &mut Bytes) -> Option<u16> {
    (buf.remaining() >= 2).then(|| buf.get_u16())
}

fn get_u32(buf: &mut Bytes) -> Option<u32> {
    (buf.remaining() >= 4).then(|| buf.get_u32())
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::*;
    use crate::codec::{ByteString, LastWill};

    #[test]
    fn a_session_comes_back_as_handed_over() {
        let properties = codec::Properties {
            session_expiry_interval: Some(60),
            ..codec::Properties::default()
        };
        let handoff = Handoff {
            session: StoredSession {
                client_id: ByteString::from("dev-1"),
                username: Some(ByteString::from("u")),
                keep_alive: 30,
                will: Some(LastWill {
                    topic: ByteString::from("w"),
                    message: Bytes::from_static(b"gone"),
                    qos: QoS::AtLeastOnce,
                    retain: true,
                    properties: None,
                }),
                disconnected_at: None,
                protocol: ProtocolVersion::V5,
                properties: Some(Box::new(properties)),
            },
            subscriptions: vec![(
                "a/+".into(),
                Grant {
                    id: NonZeroU32::new(7),
                    qos: QoS::ExactlyOnce,
                    no_local: true,
                    retain_as_published: false,
                },
            )],
            messages: vec![StoredMessage {
                entry: 3,
                state: MessageState::Sent,
                packet_id: PacketId::new(9),
                message: Publish::new("a/b", Bytes::from_static(b"x"), QoS::AtLeastOnce, false),
            }],
            qos2_received: vec![PacketId::new(4).expect("non-zero")],
        };
        let back = Handoff::decode(handoff.encode()).expect("decodes");
        assert_eq!(back.session.client_id, handoff.session.client_id);
        assert_eq!(back.session.username, handoff.session.username);
        assert_eq!(back.session.keep_alive, 30);
        assert_eq!(back.session.will, handoff.session.will);
        assert_eq!(back.session.properties, handoff.session.properties);
        assert_eq!(back.subscriptions, handoff.subscriptions);
        assert_eq!(back.messages.len(), 1);
        let message = &back.messages[0];
        assert_eq!((message.entry, message.state), (3, MessageState::Sent));
        assert_eq!(message.packet_id, PacketId::new(9));
        assert_eq!(&*message.message.topic, "a/b");
        assert_eq!(back.qos2_received, handoff.qos2_received);
        let cut = handoff.encode().slice(..handoff.encode().len() - 1);
        assert!(Handoff::decode(cut).is_err());
        let whole = handoff.encode().len();
        let (smaller, left_out) = handoff.encode_within(whole - 1);
        assert_eq!(left_out, 1);
        let without = Handoff::decode(smaller).expect("decodes");
        assert!(without.messages.is_empty());
        assert_eq!(without.subscriptions, handoff.subscriptions);
        assert_eq!(without.qos2_received, handoff.qos2_received);
    }
}
