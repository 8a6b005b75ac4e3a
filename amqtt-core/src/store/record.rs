//! The records a store keeps: the changes the broker journals, and the rows it reads back.

use std::time::SystemTime;

use crate::codec::{ByteString, LastWill, PacketId, Properties, ProtocolVersion, Publish, QoS};

/// One change to the stored state, journaled by the broker in the order it happened. Only
/// persistent sessions (`clean_session = 0`) and retained messages are journaled.
#[derive(Debug, Clone)]
pub enum StoreOp {
    /// A persistent session was created or changed (connected, or went offline).
    Session(StoredSession),
    /// The session of `client_id` ended (expired, or replaced by a clean one): it and
    /// everything stored for it is gone.
    SessionGone {
        /// The client identifier.
        client_id: ByteString,
    },
    /// The session subscribed to `filter` (a new subscription, or a new QoS for it).
    Subscribe {
        /// The client identifier.
        client_id: ByteString,
        /// The topic filter.
        filter: ByteString,
        /// The granted QoS.
        qos: QoS,
    },
    /// The session unsubscribed from `filter`.
    Unsubscribe {
        /// The client identifier.
        client_id: ByteString,
        /// The topic filter.
        filter: ByteString,
    },
    /// A QoS 1/2 message was queued for the session (or sent at once: see its state).
    Message {
        /// The client identifier.
        client_id: ByteString,
        /// The message and where it stands.
        message: StoredMessage,
    },
    /// The queued message `entry` was sent with `packet_id` and awaits PUBACK or PUBREC.
    MessageSent {
        /// The client identifier.
        client_id: ByteString,
        /// The message's entry number in its session.
        entry: u64,
        /// The packet id it was sent with.
        packet_id: PacketId,
    },
    /// The QoS 2 message `entry` was received by the client (PUBREC): only its PUBREL/PUBCOMP
    /// exchange remains, and its payload is no longer needed.
    MessageReleased {
        /// The client identifier.
        client_id: ByteString,
        /// The message's entry number in its session.
        entry: u64,
    },
    /// The message `entry` is done (PUBACK or PUBCOMP received).
    MessageDone {
        /// The client identifier.
        client_id: ByteString,
        /// The message's entry number in its session.
        entry: u64,
    },
    /// The client sent a QoS 2 message with `packet_id` and was answered PUBREC: a
    /// retransmission with this id is not routed again until PUBREL.
    Qos2Received {
        /// The client identifier.
        client_id: ByteString,
        /// The packet id.
        packet_id: PacketId,
    },
    /// PUBREL for `packet_id` arrived: the id is free again.
    Qos2Released {
        /// The client identifier.
        client_id: ByteString,
        /// The packet id.
        packet_id: PacketId,
    },
    /// The retained message of `topic` was set (`Some`) or cleared (`None`).
    Retained {
        /// The topic name.
        topic: ByteString,
        /// The message (QoS, payload; its retain flag is set).
        message: Option<Publish>,
    },
}

/// A persistent session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The client identifier.
    pub client_id: ByteString,
    /// User name of its latest CONNECT.
    pub username: Option<ByteString>,
    /// Keep-alive of its latest CONNECT, in seconds.
    pub keep_alive: u16,
    /// The will of its latest CONNECT.
    pub will: Option<LastWill>,
    /// When the client went offline; `None` while it is connected. Wall-clock time, so that
    /// session expiry keeps counting across a restart.
    pub disconnected_at: Option<SystemTime>,
    /// The protocol of its latest CONNECT.
    pub protocol: ProtocolVersion,
    /// The MQTT 5.0 properties of its latest CONNECT (session expiry interval, user
    /// properties...).
    pub properties: Option<Box<Properties>>,
}

/// Where a stored message stands in its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    /// Waiting for the client or for room in its in-flight window.
    Queued,
    /// Sent with a packet id; awaits PUBACK (QoS 1) or PUBREC (QoS 2).
    Sent,
    /// QoS 2, PUBREC received, PUBREL sent: awaits PUBCOMP.
    Released,
}

impl MessageState {
    /// The state's number in a stored row.
    pub fn code(self) -> u8 {
        match self {
            MessageState::Queued => 0,
            MessageState::Sent => 1,
            MessageState::Released => 2,
        }
    }

    /// The state stored as `code`.
    pub fn from_code(code: u8) -> Option<MessageState> {
        match code {
            0 => Some(MessageState::Queued),
            1 => Some(MessageState::Sent),
            2 => Some(MessageState::Released),
            _ => None,
        }
    }
}

/// A message of a session's queue or in-flight window, as stored.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Its number in the session: increasing in the order messages were queued, which is the
    /// order they are delivered in.
    pub entry: u64,
    /// Where it stands.
    pub state: MessageState,
    /// The packet id it was sent with (`Sent`, `Released`).
    pub packet_id: Option<PacketId>,
    /// The message as delivered: topic, payload, the delivery QoS (1 or 2) and retain flag.
    pub message: Publish,
}
