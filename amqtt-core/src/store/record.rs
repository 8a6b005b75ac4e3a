//! The records a store keeps: the changes the broker journals, and the rows it reads back.

use std::num::NonZeroU32;
use std::time::SystemTime;

use crate::codec::{
    ByteString, LastWill, MAX_VAR_INT, PacketId, Properties, ProtocolVersion, Publish, QoS,
    SubscriptionOptions,
};

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
    /// The session subscribed to `filter` (a new subscription, or new options for it).
    Subscribe {
        /// The client identifier.
        client_id: ByteString,
        /// The topic filter.
        filter: ByteString,
        /// The granted QoS, options and subscription identifier.
        grant: Grant,
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

/// A subscription as the broker keeps it (in its index, its sessions and the store): the
/// granted QoS and what of the SUBSCRIBE applies to each message delivered through it, the
/// MQTT 5.0 options No Local and Retain As Published and the Subscription Identifier. Retain
/// Handling applies at the SUBSCRIBE only and is not kept. Eight bytes, `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grant {
    /// The Subscription Identifier (MQTT 5.0; 1 to [`MAX_VAR_INT`]), if the SUBSCRIBE had one.
    pub id: Option<NonZeroU32>,
    /// The granted QoS: the maximum QoS of the messages delivered through it.
    pub qos: QoS,
    /// MQTT 5.0 No Local: messages its own client published are not delivered through it.
    pub no_local: bool,
    /// MQTT 5.0 Retain As Published: messages keep the RETAIN flag they were published with
    /// (otherwise it is 0 on normal forwarding).
    pub retain_as_published: bool,
}

/// The stored options' bit for No Local (as in the SUBSCRIBE options byte).
const STORED_NO_LOCAL: u8 = 0x04;
/// The stored options' bit for Retain As Published (as in the SUBSCRIBE options byte).
const STORED_RETAIN_AS_PUBLISHED: u8 = 0x08;

impl Grant {
    /// The grant of a SUBSCRIBE's `options` (QoS as asked) with its Subscription Identifier
    /// `id`.
    pub fn new(options: SubscriptionOptions, id: Option<NonZeroU32>) -> Grant {
        Grant {
            id,
            qos: options.qos,
            no_local: options.no_local,
            retain_as_published: options.retain_as_published,
        }
    }

    /// No Local and Retain As Published as a stored row keeps them: their bits of the
    /// SUBSCRIBE options byte (0x04, 0x08).
    pub fn stored_options(self) -> u8 {
        let mut bits = 0;
        if self.no_local {
            bits |= STORED_NO_LOCAL;
        }
        if self.retain_as_published {
            bits |= STORED_RETAIN_AS_PUBLISHED;
        }
        bits
    }

    /// The grant a stored row describes: `qos`, the [`Grant::stored_options`] bits `options`
    /// and the identifier `id` (0: none). `None` for unknown bits or an identifier over
    /// [`MAX_VAR_INT`].
    pub fn from_stored(qos: QoS, options: u8, id: u32) -> Option<Grant> {
        if options & !(STORED_NO_LOCAL | STORED_RETAIN_AS_PUBLISHED) != 0 || id > MAX_VAR_INT {
            return None;
        }
        Some(Grant {
            id: NonZeroU32::new(id),
            qos,
            no_local: options & STORED_NO_LOCAL != 0,
            retain_as_published: options & STORED_RETAIN_AS_PUBLISHED != 0,
        })
    }

    /// The grant of a session with several subscriptions matching one message, which gets one
    /// copy: the highest QoS, the RETAIN flag kept if any keeps it, and the first identifier
    /// (the others travel beside it, see `index::Target`).
    pub(crate) fn merged(self, other: Grant) -> Grant {
        Grant {
            id: self.id.or(other.id),
            qos: self.qos.max(other.qos),
            no_local: self.no_local && other.no_local,
            retain_as_published: self.retain_as_published || other.retain_as_published,
        }
    }
}

impl From<QoS> for Grant {
    /// A subscription at `qos` without options (MQTT 3.1.1, or a plugin's).
    fn from(qos: QoS) -> Grant {
        Grant {
            qos,
            ..Grant::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use super::Grant;
    use crate::codec::{MAX_VAR_INT, QoS, SubscriptionOptions};

    #[test]
    fn a_grant_is_eight_bytes() {
        assert_eq!(size_of::<Grant>(), 8);
    }

    #[test]
    fn stored_options_round_trip() {
        let options = SubscriptionOptions {
            no_local: true,
            retain_as_published: true,
            ..QoS::ExactlyOnce.into()
        };
        let grant = Grant::new(options, NonZeroU32::new(MAX_VAR_INT));
        assert_eq!(grant.stored_options(), 0x0C);
        let stored = Grant::from_stored(QoS::ExactlyOnce, 0x0C, MAX_VAR_INT);
        assert_eq!(stored, Some(grant));
        assert_eq!(
            Grant::from_stored(QoS::AtMostOnce, 0, 0),
            Some(QoS::AtMostOnce.into())
        );
        assert_eq!(Grant::from_stored(QoS::AtMostOnce, 0x10, 0), None);
        assert_eq!(
            Grant::from_stored(QoS::AtMostOnce, 0, MAX_VAR_INT + 1),
            None
        );
    }

    #[test]
    fn merging_keeps_the_most_a_subscription_grants() {
        let plain = Grant::from(QoS::AtMostOnce);
        let rich = Grant {
            id: NonZeroU32::new(9),
            qos: QoS::AtLeastOnce,
            no_local: false,
            retain_as_published: true,
        };
        assert_eq!(plain.merged(rich), rich);
        assert_eq!(rich.merged(plain), rich);
    }
}
