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
    /// A session of its own: no subscriptions, messages or QoS 2 ids yet.
    pub fn new(session: StoredSession) -> Handoff {
        Handoff {
            session,
            subscriptions: Vec::new(),
            messages: Vec::new(),
            qos2_received: Vec::new(),
        }
    }

    /// The client the session belongs to.
    pub fn client_id(&self) -> &str {
        &self.session.client_id
    }

    /// Its subscriptions: filter and grant.
    pub fn subscriptions(&self) -> &[(Box<str>, Grant)] {
        &self.subscriptions
    }

    /// The entries of its queued and in-flight messages.
    pub fn message_entries(&self) -> impl Iterator<Item = u64> + '_ {
        self.messages.iter().map(|m| m.entry)
    }

    /// Adds a subscription.
    pub fn add_subscription(&mut self, filter: Box<str>, grant: Grant) {
        self.subscriptions.push((filter, grant));
    }

    /// Adds a queued or in-flight message; messages are kept in entry order.
    pub fn add_message(&mut self, message: StoredMessage) {
        let at = self.messages.partition_point(|m| m.entry < message.entry);
        self.messages.insert(at, message);
    }

    /// Adds a QoS 2 packet id the client sent that awaits PUBREL.
    pub fn add_qos2_received(&mut self, packet_id: PacketId) {
        self.qos2_received.push(packet_id);
    }

    /// The session as bytes for another node: its CONNECT packet, then the subscriptions
    /// ([`encode_subscription`]), the messages ([`encode_stored_message`]) and the QoS 2 ids,
    /// each list counted.
    pub fn encode(&self) -> Bytes {
        self.encode_within(usize::MAX).0
    }

    /// [`Handoff::encode`] in at most `limit` bytes where the messages allow it: the newest
    /// messages that do not fit are left out. Returns the bytes and how many were left out.
    pub fn encode_within(&self, limit: usize) -> (Bytes, usize) {
        let mut head = BytesMut::new();
        put_session(&mut head, &self.session);
        head.put_u32(count(self.subscriptions.len()));
        for (filter, grant) in &self.subscriptions {
            put_subscription(&mut head, filter, *grant);
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
            put_stored_message(&mut message, stored);
            if messages.len() + message.len() > room {
                break;
            }
            messages.extend_from_slice(&message);
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
        let session = get_session(&mut buf)?;
        let mut buf = buf.freeze();
        let mut handoff = Handoff::new(session);
        for _ in 0..get_u32(&mut buf).ok_or_else(short)? {
            let (filter, grant) = get_subscription(&mut buf)?;
            handoff.subscriptions.push((filter, grant));
        }
        for _ in 0..get_u32(&mut buf).ok_or_else(short)? {
            handoff.messages.push(get_stored_message(&mut buf)?);
        }
        for _ in 0..get_u32(&mut buf).ok_or_else(short)? {
            let id = get_u16(&mut buf)
                .and_then(PacketId::new)
                .ok_or_else(short)?;
            handoff.qos2_received.push(id);
        }
        Ok(handoff)
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

/// A session as bytes (its client's CONNECT packet), as [`Handoff::encode`] begins.
pub fn encode_session(session: &StoredSession) -> Bytes {
    let mut buf = BytesMut::new();
    put_session(&mut buf, session);
    buf.freeze()
}

/// Reads what [`encode_session`] wrote; the session counts as offline from now.
pub fn decode_session(bytes: Bytes) -> Result<StoredSession, WireError> {
    let mut buf = BytesMut::from(bytes);
    let session = get_session(&mut buf)?;
    nothing_after(buf.is_empty())?;
    Ok(session)
}

/// A subscription as bytes: filter, QoS, options, identifier.
pub fn encode_subscription(filter: &str, grant: Grant) -> Bytes {
    let mut buf = BytesMut::new();
    put_subscription(&mut buf, filter, grant);
    buf.freeze()
}

/// Reads what [`encode_subscription`] wrote.
pub fn decode_subscription(mut bytes: Bytes) -> Result<(Box<str>, Grant), WireError> {
    let subscription = get_subscription(&mut bytes)?;
    nothing_after(!bytes.has_remaining())?;
    Ok(subscription)
}

/// A queued or in-flight message as bytes: entry, state, packet id, then the message
/// ([`encode_message`]).
pub fn encode_stored_message(stored: &StoredMessage) -> Bytes {
    let mut buf = BytesMut::new();
    put_stored_message(&mut buf, stored);
    buf.freeze()
}

/// Reads what [`encode_stored_message`] wrote.
pub fn decode_stored_message(mut bytes: Bytes) -> Result<StoredMessage, WireError> {
    let message = get_stored_message(&mut bytes)?;
    nothing_after(!bytes.has_remaining())?;
    Ok(message)
}

/// An error unless a record's bytes `ended` with it.
fn nothing_after(ended: bool) -> Result<(), WireError> {
    if ended {
        Ok(())
    } else {
        Err(WireError("bytes after the record".into()))
    }
}

fn put_session(buf: &mut BytesMut, session: &StoredSession) {
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
    Packet::Connect(Box::new(connect)).encode_as(session.protocol, buf);
}

fn get_session(buf: &mut BytesMut) -> Result<StoredSession, WireError> {
    let connect = match codec::decode_as(buf, usize::MAX, ProtocolVersion::V5) {
        Ok(Some(Packet::Connect(connect))) => *connect,
        _ => {
            return Err(WireError(
                "a session that does not start with CONNECT".into(),
            ));
        }
    };
    let properties =
        (connect.properties != codec::Properties::default()).then(|| Box::new(connect.properties));
    Ok(StoredSession {
        client_id: connect.client_id,
        username: connect.username,
        keep_alive: connect.keep_alive,
        will: connect.will,
        disconnected_at: Some(std::time::SystemTime::now()),
        protocol: connect.protocol,
        properties,
    })
}

fn put_subscription(buf: &mut BytesMut, filter: &str, grant: Grant) {
    put_text(buf, filter);
    buf.put_u8(grant.qos as u8);
    buf.put_u8(grant.stored_options());
    buf.put_u32(grant.id.map_or(0, |id| id.get()));
}

fn get_subscription(buf: &mut Bytes) -> Result<(Box<str>, Grant), WireError> {
    let filter = get_text(buf).ok_or_else(short)?;
    let (qos, options, id) = (get_u8(buf), get_u8(buf), get_u32(buf));
    let (Some(qos), Some(options), Some(id)) = (qos, options, id) else {
        return Err(short());
    };
    let qos = QoS::from_u8(qos).ok_or_else(|| WireError("a bad QoS".into()))?;
    let grant = Grant::from_stored(qos, options, id)
        .ok_or_else(|| WireError("bad subscription options".into()))?;
    Ok((filter, grant))
}

fn put_stored_message(buf: &mut BytesMut, stored: &StoredMessage) {
    let mut message = BytesMut::new();
    encode_message(&stored.message, &mut message);
    buf.put_u64(stored.entry);
    buf.put_u8(stored.state.code());
    buf.put_u16(stored.packet_id.map_or(0, PacketId::get));
    buf.put_u32(count(message.len()));
    buf.put_slice(&message);
}

fn get_stored_message(buf: &mut Bytes) -> Result<StoredMessage, WireError> {
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
    Ok(StoredMessage {
        entry,
        state,
        packet_id,
        message,
    })
}

/// The error for bytes that end before what they describe.
fn short() -> WireError {
    WireError("a session cut short".into())
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
