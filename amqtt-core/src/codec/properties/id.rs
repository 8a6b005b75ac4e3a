//! The identifiers of MQTT 5.0 properties and the packets that may carry each (spec 2.2.2.2).

/// The packets (and the will properties of CONNECT) that carry MQTT 5.0 properties or reason
/// codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// CONNECT's own properties.
    Connect,
    /// The will properties in the CONNECT payload.
    Will,
    /// CONNACK.
    ConnAck,
    /// PUBLISH.
    Publish,
    /// PUBACK.
    PubAck,
    /// PUBREC.
    PubRec,
    /// PUBREL.
    PubRel,
    /// PUBCOMP.
    PubComp,
    /// SUBSCRIBE.
    Subscribe,
    /// SUBACK.
    SubAck,
    /// UNSUBSCRIBE.
    Unsubscribe,
    /// UNSUBACK.
    UnsubAck,
    /// DISCONNECT.
    Disconnect,
    /// AUTH.
    Auth,
}

/// The identifier of an MQTT 5.0 property, with its wire value (spec 2.2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum PropertyId {
    /// 0x01: payload format indicator (byte 0 or 1).
    PayloadFormatIndicator = 0x01,
    /// 0x02: message expiry interval (four-byte integer, seconds).
    MessageExpiryInterval = 0x02,
    /// 0x03: content type (UTF-8 string).
    ContentType = 0x03,
    /// 0x08: response topic (UTF-8 topic name).
    ResponseTopic = 0x08,
    /// 0x09: correlation data (binary data).
    CorrelationData = 0x09,
    /// 0x0B: subscription identifier (variable byte integer, 1 to 268,435,455).
    SubscriptionIdentifier = 0x0B,
    /// 0x11: session expiry interval (four-byte integer, seconds).
    SessionExpiryInterval = 0x11,
    /// 0x12: assigned client identifier (UTF-8 string).
    AssignedClientIdentifier = 0x12,
    /// 0x13: server keep alive (two-byte integer, seconds).
    ServerKeepAlive = 0x13,
    /// 0x15: authentication method (UTF-8 string).
    AuthenticationMethod = 0x15,
    /// 0x16: authentication data (binary data).
    AuthenticationData = 0x16,
    /// 0x17: request problem information (byte 0 or 1).
    RequestProblemInformation = 0x17,
    /// 0x18: will delay interval (four-byte integer, seconds).
    WillDelayInterval = 0x18,
    /// 0x19: request response information (byte 0 or 1).
    RequestResponseInformation = 0x19,
    /// 0x1A: response information (UTF-8 string).
    ResponseInformation = 0x1A,
    /// 0x1C: server reference (UTF-8 string).
    ServerReference = 0x1C,
    /// 0x1F: reason string (UTF-8 string).
    ReasonString = 0x1F,
    /// 0x21: receive maximum (two-byte integer, not 0).
    ReceiveMaximum = 0x21,
    /// 0x22: topic alias maximum (two-byte integer).
    TopicAliasMaximum = 0x22,
    /// 0x23: topic alias (two-byte integer, not 0).
    TopicAlias = 0x23,
    /// 0x24: maximum QoS (byte 0 or 1).
    MaximumQoS = 0x24,
    /// 0x25: retain available (byte 0 or 1).
    RetainAvailable = 0x25,
    /// 0x26: user property (UTF-8 string pair; repeatable).
    UserProperty = 0x26,
    /// 0x27: maximum packet size (four-byte integer, not 0).
    MaximumPacketSize = 0x27,
    /// 0x28: wildcard subscription available (byte 0 or 1).
    WildcardSubscriptionAvailable = 0x28,
    /// 0x29: subscription identifier available (byte 0 or 1).
    SubscriptionIdentifierAvailable = 0x29,
    /// 0x2A: shared subscription available (byte 0 or 1).
    SharedSubscriptionAvailable = 0x2A,
}

impl PropertyId {
    /// All 27 identifiers in ascending order.
    pub const ALL: [PropertyId; 27] = [
        PropertyId::PayloadFormatIndicator,
        PropertyId::MessageExpiryInterval,
        PropertyId::ContentType,
        PropertyId::ResponseTopic,
        PropertyId::CorrelationData,
        PropertyId::SubscriptionIdentifier,
        PropertyId::SessionExpiryInterval,
        PropertyId::AssignedClientIdentifier,
        PropertyId::ServerKeepAlive,
        PropertyId::AuthenticationMethod,
        PropertyId::AuthenticationData,
        PropertyId::RequestProblemInformation,
        PropertyId::WillDelayInterval,
        PropertyId::RequestResponseInformation,
        PropertyId::ResponseInformation,
        PropertyId::ServerReference,
        PropertyId::ReasonString,
        PropertyId::ReceiveMaximum,
        PropertyId::TopicAliasMaximum,
        PropertyId::TopicAlias,
        PropertyId::MaximumQoS,
        PropertyId::RetainAvailable,
        PropertyId::UserProperty,
        PropertyId::MaximumPacketSize,
        PropertyId::WildcardSubscriptionAvailable,
        PropertyId::SubscriptionIdentifierAvailable,
        PropertyId::SharedSubscriptionAvailable,
    ];

    /// The identifier for `value`, or `None` if the spec defines no property with it.
    pub fn from_u32(value: u32) -> Option<PropertyId> {
        PropertyId::ALL.into_iter().find(|id| *id as u32 == value)
    }

    /// Whether this property may appear in the properties of `kind` (spec 2.2.2.2 table).
    pub fn allowed_in(self, kind: PacketKind) -> bool {
        use PacketKind as K;
        use PropertyId as P;
        match self {
            P::PayloadFormatIndicator
            | P::MessageExpiryInterval
            | P::ContentType
            | P::ResponseTopic
            | P::CorrelationData => matches!(kind, K::Publish | K::Will),
            P::SubscriptionIdentifier => matches!(kind, K::Publish | K::Subscribe),
            P::SessionExpiryInterval => matches!(kind, K::Connect | K::ConnAck | K::Disconnect),
            P::AssignedClientIdentifier
            | P::ServerKeepAlive
            | P::ResponseInformation
            | P::MaximumQoS
            | P::RetainAvailable
            | P::WildcardSubscriptionAvailable
            | P::SubscriptionIdentifierAvailable
            | P::SharedSubscriptionAvailable => kind == K::ConnAck,
            P::AuthenticationMethod | P::AuthenticationData => {
                matches!(kind, K::Connect | K::ConnAck | K::Auth)
            }
            P::RequestProblemInformation | P::RequestResponseInformation => kind == K::Connect,
            P::WillDelayInterval => kind == K::Will,
            P::ServerReference => matches!(kind, K::ConnAck | K::Disconnect),
            P::ReasonString => !matches!(
                kind,
                K::Connect | K::Will | K::Publish | K::Subscribe | K::Unsubscribe
            ),
            P::ReceiveMaximum | P::TopicAliasMaximum | P::MaximumPacketSize => {
                matches!(kind, K::Connect | K::ConnAck)
            }
            P::TopicAlias => kind == K::Publish,
            P::UserProperty => true,
        }
    }
}
