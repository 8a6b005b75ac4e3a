//! Builders of the MQTT 3.1.1 packets tests send: CONNECT, will, PUBLISH, packet ids.

use std::num::NonZeroU16;

use amqtt_core::codec::{ByteString, Connect, LastWill, Publish, QoS};
use bytes::Bytes;

/// The packet id `id`; panics on 0, which MQTT does not allow.
pub fn pid(id: u16) -> NonZeroU16 {
    NonZeroU16::new(id).expect("non-zero packet id")
}

/// A CONNECT with the given client id and clean-session flag, keep-alive 0, no will, no
/// credentials.
pub fn connect_packet(client_id: &str, clean_session: bool) -> Connect {
    Connect {
        clean_session,
        keep_alive: 0,
        client_id: ByteString::from(client_id),
        will: None,
        username: None,
        password: None,
        ..Default::default()
    }
}

/// A will message for a CONNECT, without properties.
pub fn will(topic: &str, message: &str, qos: QoS, retain: bool) -> LastWill {
    LastWill {
        topic: ByteString::from(topic),
        message: Bytes::copy_from_slice(message.as_bytes()),
        qos,
        retain,
        properties: None,
    }
}

/// A PUBLISH as a client sends it (DUP 0, no properties) with a text payload; `id` is its
/// packet id, which QoS 1 and 2 need.
pub fn publish_packet(
    topic: &str,
    payload: &str,
    qos: QoS,
    retain: bool,
    id: Option<u16>,
) -> Publish {
    publish_bytes(topic, payload.as_bytes(), qos, retain, id)
}

/// [`publish_packet`] with any payload bytes.
pub fn publish_bytes(
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    id: Option<u16>,
) -> Publish {
    Publish {
        dup: false,
        qos,
        retain,
        topic: ByteString::from(topic),
        packet_id: id.map(pid),
        payload: Bytes::copy_from_slice(payload),
        properties: None,
    }
}
