//! What the store tests share: a `Restore` that records what a load gives, and one scenario of
//! ops (with the state it must load back as) that every backend runs.

// Each test file uses a part of this module.
#![allow(dead_code)]

use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amqtt_core::codec::{
    ByteString, LastWill, PacketId, Properties, ProtocolVersion, Publish, QoS,
};
use amqtt_core::store::{Grant, MessageState, Restore, StoreOp, StoredMessage, StoredSession};
use amqtt_store::{Config, SqlStore};
use bytes::Bytes;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// One call a load made.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    Session(StoredSession),
    Subscription(String, String, Grant),
    Message(String, StoredMessage),
    Qos2(String, u16),
    Retained(Publish),
    Skipped(String),
}

/// Records every call of a load, in order.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub(crate) events: Vec<Event>,
}

impl Restore for Collected {
    fn session(&mut self, session: StoredSession) {
        self.events.push(Event::Session(session));
    }
    fn subscription(&mut self, client_id: &str, filter: &str, grant: Grant) {
        let event = Event::Subscription(client_id.into(), filter.into(), grant);
        self.events.push(event);
    }
    fn message(&mut self, client_id: &str, message: StoredMessage) {
        self.events.push(Event::Message(client_id.into(), message));
    }
    fn qos2_received(&mut self, client_id: &str, packet_id: PacketId) {
        self.events
            .push(Event::Qos2(client_id.into(), packet_id.get()));
    }
    fn retained(&mut self, message: Publish) {
        self.events.push(Event::Retained(message));
    }
    fn skipped(&mut self, what: &str) {
        self.events.push(Event::Skipped(what.into()));
    }
}

impl Collected {
    pub(crate) fn sessions(&self) -> Vec<&StoredSession> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Session(s) => Some(s),
                _ => None,
            })
            .collect()
    }
    pub(crate) fn subscriptions(&self) -> Vec<(&str, &str, Grant)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Subscription(c, f, q) => Some((c.as_str(), f.as_str(), *q)),
                _ => None,
            })
            .collect()
    }
    pub(crate) fn messages(&self) -> Vec<(&str, &StoredMessage)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(c, m) => Some((c.as_str(), m)),
                _ => None,
            })
            .collect()
    }
    pub(crate) fn qos2(&self) -> Vec<(&str, u16)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Qos2(c, id) => Some((c.as_str(), *id)),
                _ => None,
            })
            .collect()
    }
    pub(crate) fn retained(&self) -> Vec<&Publish> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Retained(m) => Some(m),
                _ => None,
            })
            .collect()
    }
    pub(crate) fn skipped(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Skipped(what) => Some(what.as_str()),
                _ => None,
            })
            .collect()
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// Loads everything `store` holds.
pub(crate) fn load(store: &mut SqlStore) -> Result<Collected, amqtt_core::store::StoreError> {
    use amqtt_core::store::Store;
    let mut collected = Collected::default();
    store.load(&mut collected)?;
    Ok(collected)
}

/// A configuration for `connection`, clearing nothing on shutdown.
pub(crate) fn config(connection: impl Into<String>) -> Config {
    Config {
        connection: Some(connection.into()),
        clear_on_shutdown: false,
        ..Config::default()
    }
}

pub(crate) fn pid(id: u16) -> PacketId {
    NonZeroU16::new(id).unwrap_or(NonZeroU16::MIN)
}

pub(crate) fn bs(s: &str) -> ByteString {
    ByteString::from(s)
}

/// Not UTF-8.
pub(crate) const BINARY: &[u8] = &[0xff, 0x00, 0xfe, 0x80, 0xc3, 0x28];

pub(crate) fn disconnected_at() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
}

pub(crate) fn session_a(keep_alive: u16) -> StoredSession {
    StoredSession {
        client_id: bs("client-a"),
        username: Some(bs("alice")),
        keep_alive,
        will: Some(LastWill {
            topic: bs("will/a"),
            message: Bytes::from_static(BINARY),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Some(Arc::new(Properties {
                will_delay_interval: Some(5),
                ..message_properties()
            })),
        }),
        disconnected_at: Some(disconnected_at()),
        protocol: ProtocolVersion::V5,
        properties: Some(Box::new(Properties {
            session_expiry_interval: Some(300),
            user_properties: vec![(bs("site"), bs("north"))],
            ..Properties::default()
        })),
    }
}

/// MQTT 5.0 message properties that must survive a reload byte for byte.
pub(crate) fn message_properties() -> Properties {
    Properties {
        content_type: Some(bs("text/plain")),
        message_expiry_interval: Some(60),
        user_properties: vec![(bs("k"), bs("v1")), (bs("k"), bs("v2"))],
        correlation_data: Some(Bytes::from_static(BINARY)),
        ..Properties::default()
    }
}

pub(crate) fn session(client_id: &str) -> StoredSession {
    StoredSession {
        client_id: bs(client_id),
        username: None,
        keep_alive: 0,
        will: None,
        disconnected_at: None,
        protocol: ProtocolVersion::V311,
        properties: None,
    }
}

pub(crate) fn publish(topic: &str, qos: QoS, payload: &[u8]) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: bs(topic),
        packet_id: None,
        payload: Bytes::copy_from_slice(payload),
        properties: None,
    }
}

pub(crate) fn queued(
    client_id: &str,
    entry: u64,
    topic: &str,
    qos: QoS,
    payload: &[u8],
) -> StoreOp {
    StoreOp::Message {
        client_id: bs(client_id),
        message: StoredMessage {
            entry,
            state: MessageState::Queued,
            packet_id: None,
            message: publish(topic, qos, payload),
        },
    }
}

pub(crate) fn subscribe(client_id: &str, filter: &str, grant: impl Into<Grant>) -> StoreOp {
    StoreOp::Subscribe {
        client_id: bs(client_id),
        filter: bs(filter),
        grant: grant.into(),
    }
}

/// The MQTT 5.0 grant the scenario re-subscribes `x/#` with: options and an identifier.
fn grant_v5() -> Grant {
    Grant {
        id: NonZeroU32::new(268_435_455),
        qos: QoS::ExactlyOnce,
        no_local: true,
        retain_as_published: true,
    }
}

pub(crate) fn retain(topic: &str, message: Option<(QoS, &[u8])>) -> StoreOp {
    StoreOp::Retained {
        topic: bs(topic),
        message: message.map(|(qos, payload)| Publish {
            retain: true,
            ..publish(topic, qos, payload)
        }),
    }
}

/// `op`'s message with [`message_properties`].
pub(crate) fn with_properties(mut op: StoreOp) -> StoreOp {
    let props = Some(Arc::new(message_properties()));
    match &mut op {
        StoreOp::Message { message, .. } => message.message.properties = props,
        StoreOp::Retained {
            message: Some(m), ..
        } => m.properties = props,
        _ => unreachable!("only messages carry properties"),
    }
    op
}

/// Two batches touching every kind of op; [`check_scenario`] says what they leave.
pub(crate) fn scenario() -> [Vec<StoreOp>; 2] {
    let id = |s: &str| bs(s);
    let first = vec![
        StoreOp::Session(session_a(60)),
        StoreOp::Session(session("client-b")),
        StoreOp::Session(session("client-c")),
        subscribe("client-a", "x/#", QoS::AtLeastOnce),
        subscribe("client-a", "y/+", QoS::ExactlyOnce),
        subscribe("client-b", "z", QoS::AtMostOnce),
        subscribe("client-c", "c/1", QoS::AtLeastOnce),
        queued("client-a", 1, "x/1", QoS::AtLeastOnce, BINARY),
        queued("client-a", 2, "x/2", QoS::ExactlyOnce, b"two"),
        queued("client-a", 3, "x/3", QoS::AtLeastOnce, b"three"),
        queued("client-c", 1, "c/1", QoS::AtLeastOnce, b"c"),
        StoreOp::Qos2Received {
            client_id: id("client-a"),
            packet_id: pid(7),
        },
        StoreOp::Qos2Received {
            client_id: id("client-a"),
            packet_id: pid(9),
        },
        StoreOp::Qos2Received {
            client_id: id("client-c"),
            packet_id: pid(3),
        },
        retain("r/1", Some((QoS::AtLeastOnce, BINARY))),
        retain("r/2", Some((QoS::AtMostOnce, b"gone"))),
    ];
    let second = vec![
        StoreOp::MessageSent {
            client_id: id("client-a"),
            entry: 1,
            packet_id: pid(10),
        },
        StoreOp::MessageSent {
            client_id: id("client-a"),
            entry: 2,
            packet_id: pid(11),
        },
        StoreOp::MessageReleased {
            client_id: id("client-a"),
            entry: 2,
        },
        StoreOp::MessageDone {
            client_id: id("client-a"),
            entry: 3,
        },
        with_properties(queued("client-a", 10, "x/10", QoS::AtLeastOnce, b"ten")),
        queued("client-a", 5, "x/5", QoS::ExactlyOnce, b""),
        StoreOp::Unsubscribe {
            client_id: id("client-a"),
            filter: id("y/+"),
        },
        subscribe("client-a", "x/#", grant_v5()),
        StoreOp::Qos2Released {
            client_id: id("client-a"),
            packet_id: pid(9),
        },
        // A duplicate is ignored.
        StoreOp::Qos2Received {
            client_id: id("client-a"),
            packet_id: pid(7),
        },
        retain("r/2", None),
        with_properties(retain("r/1", Some((QoS::ExactlyOnce, BINARY)))),
        StoreOp::SessionGone {
            client_id: id("client-c"),
        },
        StoreOp::Session(session_a(30)),
    ];
    [first, second]
}

/// What [`scenario`] leaves, as a load gives it back.
pub(crate) fn check_scenario(loaded: &Collected) {
    assert!(loaded.skipped().is_empty(), "{:?}", loaded.skipped());
    // Sessions come first.
    let first_other = loaded
        .events
        .iter()
        .position(|e| !matches!(e, Event::Session(_)))
        .unwrap_or(loaded.events.len());
    assert_eq!(first_other, 2, "{:?}", loaded.events);

    let sessions = loaded.sessions();
    assert_eq!(sessions, [&session_a(30), &session("client-b")]);

    let subscriptions = loaded.subscriptions();
    assert_eq!(
        subscriptions,
        [
            ("client-a", "x/#", grant_v5()),
            ("client-b", "z", QoS::AtMostOnce.into())
        ]
    );

    let messages = loaded.messages();
    let summary: Vec<_> = messages
        .iter()
        .map(|(c, m)| (*c, m.entry, m.state, m.packet_id.map(|id| id.get())))
        .collect();
    assert_eq!(
        summary,
        [
            ("client-a", 1, MessageState::Sent, Some(10)),
            ("client-a", 2, MessageState::Released, Some(11)),
            ("client-a", 5, MessageState::Queued, None),
            ("client-a", 10, MessageState::Queued, None),
        ]
    );
    let sent = &messages[0].1.message;
    assert_eq!(&sent.payload[..], BINARY);
    assert_eq!(&*sent.topic, "x/1");
    assert_eq!(sent.qos, QoS::AtLeastOnce);
    assert_eq!(sent.packet_id, Some(pid(10)));
    assert!(!sent.retain);
    let released = &messages[1].1.message;
    assert!(
        released.payload.is_empty(),
        "a released message keeps no payload"
    );
    assert_eq!(released.qos, QoS::ExactlyOnce);
    assert_eq!(&*messages[3].1.message.topic, "x/10");
    assert_eq!(
        messages[3].1.message.properties.as_deref(),
        Some(&message_properties())
    );
    assert_eq!(messages[2].1.message.properties, None);

    assert_eq!(loaded.qos2(), [("client-a", 7)]);

    let retained = loaded.retained();
    assert_eq!(retained.len(), 1);
    assert_eq!(&*retained[0].topic, "r/1");
    assert_eq!(retained[0].qos, QoS::ExactlyOnce);
    assert!(retained[0].retain);
    assert_eq!(&retained[0].payload[..], BINARY);
    assert_eq!(
        retained[0].properties.as_deref(),
        Some(&message_properties())
    );
}
