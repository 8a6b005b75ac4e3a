//! MQTT 5.0 reason codes (spec 2.4): one byte in CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP,
//! SUBACK, UNSUBACK, DISCONNECT and AUTH telling the result of an operation.
//!
//! The value 0x00 has three names in the spec (Success, Normal disconnection, Granted QoS 0);
//! it is the one variant [`ReasonCode::Success`], with the other names as associated constants.

use super::{DecodeError, PacketKind};

/// An MQTT 5.0 reason code; the discriminant is its byte value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(u8)]
pub enum ReasonCode {
    /// 0x00: Success (Normal disconnection in DISCONNECT, Granted QoS 0 in SUBACK).
    #[default]
    Success = 0x00,
    /// 0x01: Granted QoS 1.
    GrantedQoS1 = 0x01,
    /// 0x02: Granted QoS 2.
    GrantedQoS2 = 0x02,
    /// 0x04: Disconnect with Will Message.
    DisconnectWithWillMessage = 0x04,
    /// 0x10: No matching subscribers.
    NoMatchingSubscribers = 0x10,
    /// 0x11: No subscription existed.
    NoSubscriptionExisted = 0x11,
    /// 0x18: Continue authentication.
    ContinueAuthentication = 0x18,
    /// 0x19: Re-authenticate.
    ReAuthenticate = 0x19,
    /// 0x80: Unspecified error.
    UnspecifiedError = 0x80,
    /// 0x81: Malformed Packet.
    MalformedPacket = 0x81,
    /// 0x82: Protocol Error.
    ProtocolError = 0x82,
    /// 0x83: Implementation specific error.
    ImplementationSpecificError = 0x83,
    /// 0x84: Unsupported Protocol Version.
    UnsupportedProtocolVersion = 0x84,
    /// 0x85: Client Identifier not valid.
    ClientIdentifierNotValid = 0x85,
    /// 0x86: Bad User Name or Password.
    BadUserNameOrPassword = 0x86,
    /// 0x87: Not authorized.
    NotAuthorized = 0x87,
    /// 0x88: Server unavailable.
    ServerUnavailable = 0x88,
    /// 0x89: Server busy.
    ServerBusy = 0x89,
    /// 0x8A: Banned.
    Banned = 0x8A,
    /// 0x8B: Server shutting down.
    ServerShuttingDown = 0x8B,
    /// 0x8C: Bad authentication method.
    BadAuthenticationMethod = 0x8C,
    /// 0x8D: Keep Alive timeout.
    KeepAliveTimeout = 0x8D,
    /// 0x8E: Session taken over.
    SessionTakenOver = 0x8E,
    /// 0x8F: Topic Filter invalid.
    TopicFilterInvalid = 0x8F,
    /// 0x90: Topic Name invalid.
    TopicNameInvalid = 0x90,
    /// 0x91: Packet Identifier in use.
    PacketIdentifierInUse = 0x91,
    /// 0x92: Packet Identifier not found.
    PacketIdentifierNotFound = 0x92,
    /// 0x93: Receive Maximum exceeded.
    ReceiveMaximumExceeded = 0x93,
    /// 0x94: Topic Alias invalid.
    TopicAliasInvalid = 0x94,
    /// 0x95: Packet too large.
    PacketTooLarge = 0x95,
    /// 0x96: Message rate too high.
    MessageRateTooHigh = 0x96,
    /// 0x97: Quota exceeded.
    QuotaExceeded = 0x97,
    /// 0x98: Administrative action.
    AdministrativeAction = 0x98,
    /// 0x99: Payload format invalid.
    PayloadFormatInvalid = 0x99,
    /// 0x9A: Retain not supported.
    RetainNotSupported = 0x9A,
    /// 0x9B: QoS not supported.
    QoSNotSupported = 0x9B,
    /// 0x9C: Use another server.
    UseAnotherServer = 0x9C,
    /// 0x9D: Server moved.
    ServerMoved = 0x9D,
    /// 0x9E: Shared Subscriptions not supported.
    SharedSubscriptionsNotSupported = 0x9E,
    /// 0x9F: Connection rate exceeded.
    ConnectionRateExceeded = 0x9F,
    /// 0xA0: Maximum connect time.
    MaximumConnectTime = 0xA0,
    /// 0xA1: Subscription Identifiers not supported.
    SubscriptionIdentifiersNotSupported = 0xA1,
    /// 0xA2: Wildcard Subscriptions not supported.
    WildcardSubscriptionsNotSupported = 0xA2,
}

impl ReasonCode {
    /// 0x00 under its DISCONNECT name.
    pub const NORMAL_DISCONNECTION: ReasonCode = ReasonCode::Success;
    /// 0x00 under its SUBACK name.
    pub const GRANTED_QOS_0: ReasonCode = ReasonCode::Success;

    /// All 43 reason codes in ascending byte order.
    pub const ALL: [ReasonCode; 43] = [
        ReasonCode::Success,
        ReasonCode::GrantedQoS1,
        ReasonCode::GrantedQoS2,
        ReasonCode::DisconnectWithWillMessage,
        ReasonCode::NoMatchingSubscribers,
        ReasonCode::NoSubscriptionExisted,
        ReasonCode::ContinueAuthentication,
        ReasonCode::ReAuthenticate,
        ReasonCode::UnspecifiedError,
        ReasonCode::MalformedPacket,
        ReasonCode::ProtocolError,
        ReasonCode::ImplementationSpecificError,
        ReasonCode::UnsupportedProtocolVersion,
        ReasonCode::ClientIdentifierNotValid,
        ReasonCode::BadUserNameOrPassword,
        ReasonCode::NotAuthorized,
        ReasonCode::ServerUnavailable,
        ReasonCode::ServerBusy,
        ReasonCode::Banned,
        ReasonCode::ServerShuttingDown,
        ReasonCode::BadAuthenticationMethod,
        ReasonCode::KeepAliveTimeout,
        ReasonCode::SessionTakenOver,
        ReasonCode::TopicFilterInvalid,
        ReasonCode::TopicNameInvalid,
        ReasonCode::PacketIdentifierInUse,
        ReasonCode::PacketIdentifierNotFound,
        ReasonCode::ReceiveMaximumExceeded,
        ReasonCode::TopicAliasInvalid,
        ReasonCode::PacketTooLarge,
        ReasonCode::MessageRateTooHigh,
        ReasonCode::QuotaExceeded,
        ReasonCode::AdministrativeAction,
        ReasonCode::PayloadFormatInvalid,
        ReasonCode::RetainNotSupported,
        ReasonCode::QoSNotSupported,
        ReasonCode::UseAnotherServer,
        ReasonCode::ServerMoved,
        ReasonCode::SharedSubscriptionsNotSupported,
        ReasonCode::ConnectionRateExceeded,
        ReasonCode::MaximumConnectTime,
        ReasonCode::SubscriptionIdentifiersNotSupported,
        ReasonCode::WildcardSubscriptionsNotSupported,
    ];

    /// The byte value on the wire.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The reason code for `value`, or `None` if the spec defines none with it.
    pub fn from_u8(value: u8) -> Option<ReasonCode> {
        ReasonCode::ALL.into_iter().find(|c| *c as u8 == value)
    }

    /// Whether the code reports a failure (0x80 and above).
    pub fn is_error(self) -> bool {
        self as u8 >= 0x80
    }

    /// The spec's name of the code (for 0x00, its general name "Success").
    pub fn description(self) -> &'static str {
        use ReasonCode as R;
        match self {
            R::Success => "Success",
            R::GrantedQoS1 => "Granted QoS 1",
            R::GrantedQoS2 => "Granted QoS 2",
            R::DisconnectWithWillMessage => "Disconnect with Will Message",
            R::NoMatchingSubscribers => "No matching subscribers",
            R::NoSubscriptionExisted => "No subscription existed",
            R::ContinueAuthentication => "Continue authentication",
            R::ReAuthenticate => "Re-authenticate",
            R::UnspecifiedError => "Unspecified error",
            R::MalformedPacket => "Malformed Packet",
            R::ProtocolError => "Protocol Error",
            R::ImplementationSpecificError => "Implementation specific error",
            R::UnsupportedProtocolVersion => "Unsupported Protocol Version",
            R::ClientIdentifierNotValid => "Client Identifier not valid",
            R::BadUserNameOrPassword => "Bad User Name or Password",
            R::NotAuthorized => "Not authorized",
            R::ServerUnavailable => "Server unavailable",
            R::ServerBusy => "Server busy",
            R::Banned => "Banned",
            R::ServerShuttingDown => "Server shutting down",
            R::BadAuthenticationMethod => "Bad authentication method",
            R::KeepAliveTimeout => "Keep Alive timeout",
            R::SessionTakenOver => "Session taken over",
            R::TopicFilterInvalid => "Topic Filter invalid",
            R::TopicNameInvalid => "Topic Name invalid",
            R::PacketIdentifierInUse => "Packet Identifier in use",
            R::PacketIdentifierNotFound => "Packet Identifier not found",
            R::ReceiveMaximumExceeded => "Receive Maximum exceeded",
            R::TopicAliasInvalid => "Topic Alias invalid",
            R::PacketTooLarge => "Packet too large",
            R::MessageRateTooHigh => "Message rate too high",
            R::QuotaExceeded => "Quota exceeded",
            R::AdministrativeAction => "Administrative action",
            R::PayloadFormatInvalid => "Payload format invalid",
            R::RetainNotSupported => "Retain not supported",
            R::QoSNotSupported => "QoS not supported",
            R::UseAnotherServer => "Use another server",
            R::ServerMoved => "Server moved",
            R::SharedSubscriptionsNotSupported => "Shared Subscriptions not supported",
            R::ConnectionRateExceeded => "Connection rate exceeded",
            R::MaximumConnectTime => "Maximum connect time",
            R::SubscriptionIdentifiersNotSupported => "Subscription Identifiers not supported",
            R::WildcardSubscriptionsNotSupported => "Wildcard Subscriptions not supported",
        }
    }

    /// Whether this code may appear in `kind` (spec 2.4 table). Always `false` for the kinds
    /// that carry no reason code (CONNECT, will properties, PUBLISH, SUBSCRIBE, UNSUBSCRIBE).
    pub fn allowed_in(self, kind: PacketKind) -> bool {
        use PacketKind as K;
        use ReasonCode as R;
        match self {
            R::Success => matches!(
                kind,
                K::ConnAck
                    | K::PubAck
                    | K::PubRec
                    | K::PubRel
                    | K::PubComp
                    | K::SubAck
                    | K::UnsubAck
                    | K::Disconnect
                    | K::Auth
            ),
            R::GrantedQoS1 | R::GrantedQoS2 => kind == K::SubAck,
            R::DisconnectWithWillMessage
            | R::ServerShuttingDown
            | R::KeepAliveTimeout
            | R::SessionTakenOver
            | R::ReceiveMaximumExceeded
            | R::TopicAliasInvalid
            | R::MessageRateTooHigh
            | R::AdministrativeAction
            | R::MaximumConnectTime => kind == K::Disconnect,
            R::NoMatchingSubscribers => matches!(kind, K::PubAck | K::PubRec),
            R::NoSubscriptionExisted => kind == K::UnsubAck,
            R::ContinueAuthentication | R::ReAuthenticate => kind == K::Auth,
            R::UnspecifiedError | R::ImplementationSpecificError | R::NotAuthorized => matches!(
                kind,
                K::ConnAck | K::PubAck | K::PubRec | K::SubAck | K::UnsubAck | K::Disconnect
            ),
            R::MalformedPacket
            | R::ProtocolError
            | R::ServerBusy
            | R::BadAuthenticationMethod
            | R::PacketTooLarge
            | R::RetainNotSupported
            | R::QoSNotSupported
            | R::UseAnotherServer
            | R::ServerMoved
            | R::ConnectionRateExceeded => matches!(kind, K::ConnAck | K::Disconnect),
            R::UnsupportedProtocolVersion
            | R::ClientIdentifierNotValid
            | R::BadUserNameOrPassword
            | R::ServerUnavailable
            | R::Banned => kind == K::ConnAck,
            R::TopicFilterInvalid => matches!(kind, K::SubAck | K::UnsubAck | K::Disconnect),
            R::TopicNameInvalid | R::PayloadFormatInvalid => {
                matches!(kind, K::ConnAck | K::PubAck | K::PubRec | K::Disconnect)
            }
            R::PacketIdentifierInUse => {
                matches!(kind, K::PubAck | K::PubRec | K::SubAck | K::UnsubAck)
            }
            R::PacketIdentifierNotFound => matches!(kind, K::PubRel | K::PubComp),
            R::QuotaExceeded => matches!(
                kind,
                K::ConnAck | K::PubAck | K::PubRec | K::SubAck | K::Disconnect
            ),
            R::SharedSubscriptionsNotSupported
            | R::SubscriptionIdentifiersNotSupported
            | R::WildcardSubscriptionsNotSupported => matches!(kind, K::SubAck | K::Disconnect),
        }
    }

    /// `Ok` if this code may appear in `kind`, else [`DecodeError::ReasonCodeNotAllowed`].
    pub fn check(self, kind: PacketKind) -> Result<(), DecodeError> {
        if self.allowed_in(kind) {
            Ok(())
        } else {
            Err(DecodeError::ReasonCodeNotAllowed {
                code: self,
                packet: kind,
            })
        }
    }

    /// The reason code for the byte `value` received in `kind`: an unknown byte is
    /// [`DecodeError::UnknownReasonCode`], a known one not allowed there
    /// [`DecodeError::ReasonCodeNotAllowed`].
    pub fn decode_for(value: u8, kind: PacketKind) -> Result<ReasonCode, DecodeError> {
        let code = ReasonCode::from_u8(value).ok_or(DecodeError::UnknownReasonCode(value))?;
        code.check(kind)?;
        Ok(code)
    }
}

impl From<ReasonCode> for u8 {
    fn from(code: ReasonCode) -> u8 {
        code as u8
    }
}
