//! MQTT 5.0 properties (spec 2.2.2): the property block of the v5 variable headers and of the
//! will properties in CONNECT.
//!
//! [`Properties`] is the set (its documentation explains the representation); [`PropertyId`]
//! names each property and tells which packets ([`PacketKind`]) may carry it.

mod id;

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

pub use id::{PacketKind, PropertyId};

use super::field::{Reader, prefixed_len, write_binary};
use super::header::remaining_length_len;
use super::{DecodeError, QoS};

/// The largest value a variable byte integer holds (spec 1.5.5): 268,435,455.
pub const MAX_VAR_INT: u32 = 268_435_455;

/// A set of MQTT 5.0 properties; `Default` is the empty set.
///
/// # Representation
///
/// A plain struct with one `Option` per single-valued property and a `Vec`
/// for each of the two repeatable ones (subscription identifier, user property). Reasons:
///
/// - an empty set allocates nothing: every field is `None` or an empty `Vec`, and building,
///   cloning or dropping it touches no heap; its inline size is 400 bytes on 64-bit targets
///   (ten 32-byte string/binary views, and the broker's `received_at`; a test bounds it), so a packet type that wants a
///   smaller footprint can hold `Option<Box<Properties>>`;
/// - typed fields make the single-occurrence rule free to check while decoding (a second
///   occurrence finds the field already `Some`) and give the broker direct access with no
///   search, where a `Vec` of enum values would need a lookup per property;
/// - the types carry the value rules: non-zero values are `NonZeroU16`/`NonZeroU32`, 0/1
///   bytes are `bool`, so most invalid values cannot be built, only rejected when decoded.
///
/// Strings are [`ByteString`] and binary data [`Bytes`]: zero-copy views of the buffer decoded.
/// Encoding writes the properties in ascending identifier order (the spec sets no order); user
/// properties keep their order and duplicates. Decoding accepts any order.
///
/// Decoding checks the encoding and values of each property and rejects a second occurrence of
/// a single-valued one (each property's section says "It is a Protocol Error to include ...
/// more than once"); whether a property may appear in a given packet is checked by
/// [`Properties::validate`] (or both at once by [`Properties::decode_for`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    /// 0x01 payload format indicator: `true` for UTF-8 payload (1), `false` for unspecified
    /// bytes (0).
    pub payload_format_indicator: Option<bool>,
    /// 0x02 message expiry interval, in seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x03 content type.
    pub content_type: Option<ByteString>,
    /// 0x08 response topic: a topic name (non-empty, no wildcards).
    pub response_topic: Option<ByteString>,
    /// 0x09 correlation data.
    pub correlation_data: Option<Bytes>,
    /// 0x0B subscription identifiers, in wire order: several only in PUBLISH; each at most
    /// [`MAX_VAR_INT`].
    pub subscription_identifiers: Vec<NonZeroU32>,
    /// 0x11 session expiry interval, in seconds.
    pub session_expiry_interval: Option<u32>,
    /// 0x12 assigned client identifier.
    pub assigned_client_identifier: Option<ByteString>,
    /// 0x13 server keep alive, in seconds.
    pub server_keep_alive: Option<u16>,
    /// 0x15 authentication method.
    pub authentication_method: Option<ByteString>,
    /// 0x16 authentication data.
    pub authentication_data: Option<Bytes>,
    /// 0x17 request problem information (0 or 1).
    pub request_problem_information: Option<bool>,
    /// 0x18 will delay interval, in seconds.
    pub will_delay_interval: Option<u32>,
    /// 0x19 request response information (0 or 1).
    pub request_response_information: Option<bool>,
    /// 0x1A response information.
    pub response_information: Option<ByteString>,
    /// 0x1C server reference.
    pub server_reference: Option<ByteString>,
    /// 0x1F reason string.
    pub reason_string: Option<ByteString>,
    /// 0x21 receive maximum.
    pub receive_maximum: Option<NonZeroU16>,
    /// 0x22 topic alias maximum.
    pub topic_alias_maximum: Option<u16>,
    /// 0x23 topic alias.
    pub topic_alias: Option<NonZeroU16>,
    /// 0x24 maximum QoS: only [`QoS::AtMostOnce`] or [`QoS::AtLeastOnce`] are valid.
    pub maximum_qos: Option<QoS>,
    /// 0x25 retain available.
    pub retain_available: Option<bool>,
    /// 0x26 user properties (name, value), in wire order, duplicates kept.
    pub user_properties: Vec<(ByteString, ByteString)>,
    /// 0x27 maximum packet size, in bytes.
    pub maximum_packet_size: Option<NonZeroU32>,
    /// 0x28 wildcard subscription available.
    pub wildcard_subscription_available: Option<bool>,
    /// 0x29 subscription identifier available.
    pub subscription_identifier_available: Option<bool>,
    /// 0x2A shared subscription available.
    pub shared_subscription_available: Option<bool>,
    /// Not a property, never encoded nor decoded: when a broker received the message these
    /// properties came with. The broker sets it only on a message that carries a
    /// [`message_expiry_interval`](Properties::message_expiry_interval), once, where the
    /// decoded set is not yet shared (no allocation), so every copy of the message shares it
    /// and the writer can send each subscriber the time left (3.3.2.3.3).
    pub received_at: Option<std::time::Instant>,
}

/// Reads a property block that `kind` may carry; an empty block is `None`, so a packet
/// without properties allocates nothing.
pub(crate) fn read_block<T: From<Properties>>(
    r: &mut Reader,
    kind: PacketKind,
) -> Result<Option<T>, DecodeError> {
    // A zero property length, the common case, builds no set to compare and drop.
    let len = read_var_int(r)?;
    if len == 0 {
        return Ok(None);
    }
    let props = Properties::read_body(r, len)?;
    props.validate(kind)?;
    Ok((!props.is_empty()).then(|| T::from(props)))
}

/// Bytes [`write_block`] writes for `props`.
pub(crate) fn block_len(props: Option<&Properties>) -> usize {
    props.map_or(1, Properties::encoded_len)
}

/// Writes a property block: `props`, or the empty block (a zero property length).
pub(crate) fn write_block(buf: &mut BytesMut, props: Option<&Properties>) {
    match props {
        Some(props) => props.encode(buf),
        None => buf.put_u8(0),
    }
}

/// Reads a variable byte integer (spec 1.5.5): at most 4 bytes, in its shortest encoding.
pub(crate) fn read_var_int(r: &mut Reader) -> Result<u32, DecodeError> {
    let mut value = 0u32;
    for i in 0..4 {
        let byte = r.u8()?;
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            // A last byte of 0 after others means a longer encoding than needed [MQTT-1.5.5-1].
            if i > 0 && byte == 0 {
                return Err(DecodeError::MalformedVarInt);
            }
            return Ok(value);
        }
    }
    Err(DecodeError::MalformedVarInt)
}

/// Writes `value` (at most [`MAX_VAR_INT`]) as a variable byte integer.
pub(crate) fn write_var_int(buf: &mut BytesMut, value: u32) {
    debug_assert!(value <= MAX_VAR_INT, "{value} exceeds {MAX_VAR_INT}");
    let mut value = value;
    loop {
        // Truncation is intended: the low 7 bits go in this byte.
        let mut byte = (value & 0x7F) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if value == 0 {
            break;
        }
    }
}

/// Bytes the variable byte integer encoding of `value` takes (1 to 4).
fn var_int_len(value: u32) -> usize {
    remaining_length_len(value as usize)
}

/// Reads a four-byte big-endian integer.
fn read_u32(r: &mut Reader) -> Result<u32, DecodeError> {
    Ok(r.take(4)?.get_u32())
}

/// Reads a byte that must be 0 or 1, as a `bool`.
fn read_flag(r: &mut Reader, id: PropertyId) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::InvalidPropertyValue(id)),
    }
}

/// Stores `value` in `slot`, rejecting a second occurrence of property `id`.
fn set<T>(slot: &mut Option<T>, id: PropertyId, value: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::DuplicateProperty(id));
    }
    *slot = Some(value);
    Ok(())
}

impl Properties {
    /// Whether the set holds no property at all.
    pub fn is_empty(&self) -> bool {
        // Field by field, without building a default set to compare with; listing every field
        // makes a new one a compile error here until it is checked.
        let Properties {
            payload_format_indicator,
            message_expiry_interval,
            content_type,
            response_topic,
            correlation_data,
            subscription_identifiers,
            session_expiry_interval,
            assigned_client_identifier,
            server_keep_alive,
            authentication_method,
            authentication_data,
            request_problem_information,
            will_delay_interval,
            request_response_information,
            response_information,
            server_reference,
            reason_string,
            receive_maximum,
            topic_alias_maximum,
            topic_alias,
            maximum_qos,
            retain_available,
            user_properties,
            maximum_packet_size,
            wildcard_subscription_available,
            subscription_identifier_available,
            shared_subscription_available,
            received_at,
        } = self;
        payload_format_indicator.is_none()
            && message_expiry_interval.is_none()
            && content_type.is_none()
            && response_topic.is_none()
            && correlation_data.is_none()
            && subscription_identifiers.is_empty()
            && session_expiry_interval.is_none()
            && assigned_client_identifier.is_none()
            && server_keep_alive.is_none()
            && authentication_method.is_none()
            && authentication_data.is_none()
            && request_problem_information.is_none()
            && will_delay_interval.is_none()
            && request_response_information.is_none()
            && response_information.is_none()
            && server_reference.is_none()
            && reason_string.is_none()
            && receive_maximum.is_none()
            && topic_alias_maximum.is_none()
            && topic_alias.is_none()
            && maximum_qos.is_none()
            && retain_available.is_none()
            && user_properties.is_empty()
            && maximum_packet_size.is_none()
            && wildcard_subscription_available.is_none()
            && subscription_identifier_available.is_none()
            && shared_subscription_available.is_none()
            && received_at.is_none()
    }

    /// The same set with its strings and binary data in allocations of their own, not views of
    /// the frame it was decoded from (see [`Publish::detached`](super::Publish::detached)).
    pub fn detached(&self) -> Properties {
        let s = |o: &Option<ByteString>| o.as_deref().map(|v| ByteString::from(v.to_owned()));
        let b = |o: &Option<Bytes>| o.as_deref().map(Bytes::copy_from_slice);
        Properties {
            content_type: s(&self.content_type),
            response_topic: s(&self.response_topic),
            correlation_data: b(&self.correlation_data),
            assigned_client_identifier: s(&self.assigned_client_identifier),
            authentication_method: s(&self.authentication_method),
            authentication_data: b(&self.authentication_data),
            response_information: s(&self.response_information),
            server_reference: s(&self.server_reference),
            reason_string: s(&self.reason_string),
            user_properties: self
                .user_properties
                .iter()
                .map(|(n, v)| (ByteString::from(&**n), ByteString::from(&**v)))
                .collect(),
            subscription_identifiers: self.subscription_identifiers.clone(),
            ..*self
        }
    }

    /// Decodes a property block (property length, then the properties) from the front of `buf`
    /// and advances `buf` past it; strings and binary data are views of `buf`.
    ///
    /// Rejects a truncated or malformed block, an unknown identifier, an invalid value and a
    /// second occurrence of a single-valued property. Does not check which packet the
    /// properties are in: see [`Properties::validate`] and [`Properties::decode_for`]. After an
    /// error, where `buf` stands is unspecified: the packet is malformed and the connection
    /// should be closed.
    pub fn decode(buf: &mut Bytes) -> Result<Properties, DecodeError> {
        let mut r = Reader::new(std::mem::take(buf));
        let result = Properties::read(&mut r);
        *buf = r.rest();
        result
    }

    /// [`Properties::decode`], then [`Properties::validate`] for `kind`.
    pub fn decode_for(buf: &mut Bytes, kind: PacketKind) -> Result<Properties, DecodeError> {
        let props = Properties::decode(buf)?;
        props.validate(kind)?;
        Ok(props)
    }

    /// Reads a property block from `r`.
    pub(crate) fn read(r: &mut Reader) -> Result<Properties, DecodeError> {
        let len = read_var_int(r)?;
        Properties::read_body(r, len)
    }

    /// Reads the `len` bytes of properties that follow a block's property length.
    fn read_body(r: &mut Reader, len: u32) -> Result<Properties, DecodeError> {
        let mut block = Reader::new(r.take(len as usize)?);
        let mut p = Properties::default();
        while block.remaining() > 0 {
            p.read_one(&mut block)?;
        }
        Ok(p)
    }

    /// Reads one property (identifier and value) into `self`.
    fn read_one(&mut self, r: &mut Reader) -> Result<(), DecodeError> {
        use PropertyId as P;
        let raw = read_var_int(r)?;
        let id = PropertyId::from_u32(raw).ok_or(DecodeError::UnknownProperty(raw))?;
        let invalid = DecodeError::InvalidPropertyValue(id);
        match id {
            P::PayloadFormatIndicator => {
                let v = read_flag(r, id)?;
                set(&mut self.payload_format_indicator, id, v)
            }
            P::MessageExpiryInterval => set(&mut self.message_expiry_interval, id, read_u32(r)?),
            P::ContentType => set(&mut self.content_type, id, r.string()?),
            P::ResponseTopic => set(&mut self.response_topic, id, r.topic_name()?),
            P::CorrelationData => set(&mut self.correlation_data, id, r.binary()?),
            P::SubscriptionIdentifier => {
                let v = NonZeroU32::new(read_var_int(r)?).ok_or(invalid)?;
                self.subscription_identifiers.push(v);
                Ok(())
            }
            P::SessionExpiryInterval => set(&mut self.session_expiry_interval, id, read_u32(r)?),
            P::AssignedClientIdentifier => {
                set(&mut self.assigned_client_identifier, id, r.string()?)
            }
            P::ServerKeepAlive => set(&mut self.server_keep_alive, id, r.u16()?),
            P::AuthenticationMethod => set(&mut self.authentication_method, id, r.string()?),
            P::AuthenticationData => set(&mut self.authentication_data, id, r.binary()?),
            P::RequestProblemInformation => {
                let v = read_flag(r, id)?;
                set(&mut self.request_problem_information, id, v)
            }
            P::WillDelayInterval => set(&mut self.will_delay_interval, id, read_u32(r)?),
            P::RequestResponseInformation => {
                let v = read_flag(r, id)?;
                set(&mut self.request_response_information, id, v)
            }
            P::ResponseInformation => set(&mut self.response_information, id, r.string()?),
            P::ServerReference => set(&mut self.server_reference, id, r.string()?),
            P::ReasonString => set(&mut self.reason_string, id, r.string()?),
            P::ReceiveMaximum => {
                let v = NonZeroU16::new(r.u16()?).ok_or(invalid)?;
                set(&mut self.receive_maximum, id, v)
            }
            P::TopicAliasMaximum => set(&mut self.topic_alias_maximum, id, r.u16()?),
            P::TopicAlias => {
                let v = NonZeroU16::new(r.u16()?).ok_or(invalid)?;
                set(&mut self.topic_alias, id, v)
            }
            P::MaximumQoS => {
                let v = match r.u8()? {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => return Err(invalid),
                };
                set(&mut self.maximum_qos, id, v)
            }
            P::RetainAvailable => {
                let v = read_flag(r, id)?;
                set(&mut self.retain_available, id, v)
            }
            P::UserProperty => {
                let name = r.string()?;
                let value = r.string()?;
                self.user_properties.push((name, value));
                Ok(())
            }
            P::MaximumPacketSize => {
                let v = NonZeroU32::new(read_u32(r)?).ok_or(invalid)?;
                set(&mut self.maximum_packet_size, id, v)
            }
            P::WildcardSubscriptionAvailable => {
                let v = read_flag(r, id)?;
                set(&mut self.wildcard_subscription_available, id, v)
            }
            P::SubscriptionIdentifierAvailable => {
                let v = read_flag(r, id)?;
                set(&mut self.subscription_identifier_available, id, v)
            }
            P::SharedSubscriptionAvailable => {
                let v = read_flag(r, id)?;
                set(&mut self.shared_subscription_available, id, v)
            }
        }
    }

    /// Whether property `id` is present.
    pub fn contains(&self, id: PropertyId) -> bool {
        use PropertyId as P;
        match id {
            P::PayloadFormatIndicator => self.payload_format_indicator.is_some(),
            P::MessageExpiryInterval => self.message_expiry_interval.is_some(),
            P::ContentType => self.content_type.is_some(),
            P::ResponseTopic => self.response_topic.is_some(),
            P::CorrelationData => self.correlation_data.is_some(),
            P::SubscriptionIdentifier => !self.subscription_identifiers.is_empty(),
            P::SessionExpiryInterval => self.session_expiry_interval.is_some(),
            P::AssignedClientIdentifier => self.assigned_client_identifier.is_some(),
            P::ServerKeepAlive => self.server_keep_alive.is_some(),
            P::AuthenticationMethod => self.authentication_method.is_some(),
            P::AuthenticationData => self.authentication_data.is_some(),
            P::RequestProblemInformation => self.request_problem_information.is_some(),
            P::WillDelayInterval => self.will_delay_interval.is_some(),
            P::RequestResponseInformation => self.request_response_information.is_some(),
            P::ResponseInformation => self.response_information.is_some(),
            P::ServerReference => self.server_reference.is_some(),
            P::ReasonString => self.reason_string.is_some(),
            P::ReceiveMaximum => self.receive_maximum.is_some(),
            P::TopicAliasMaximum => self.topic_alias_maximum.is_some(),
            P::TopicAlias => self.topic_alias.is_some(),
            P::MaximumQoS => self.maximum_qos.is_some(),
            P::RetainAvailable => self.retain_available.is_some(),
            P::UserProperty => !self.user_properties.is_empty(),
            P::MaximumPacketSize => self.maximum_packet_size.is_some(),
            P::WildcardSubscriptionAvailable => self.wildcard_subscription_available.is_some(),
            P::SubscriptionIdentifierAvailable => self.subscription_identifier_available.is_some(),
            P::SharedSubscriptionAvailable => self.shared_subscription_available.is_some(),
        }
    }

    /// Checks that every property present may appear in `kind` (spec 2.2.2.2), and that the
    /// subscription identifier repeats only in PUBLISH.
    ///
    /// The first offending property is [`DecodeError::PropertyNotAllowed`]; authentication
    /// data without an authentication method is [`DecodeError::AuthenticationDataWithoutMethod`]
    /// (spec 3.1.2.11.10, 3.2.2.3.18, 3.15.2.2.3); a repeated subscription identifier outside
    /// PUBLISH is [`DecodeError::DuplicateProperty`].
    pub fn validate(&self, kind: PacketKind) -> Result<(), DecodeError> {
        for id in PropertyId::ALL {
            if self.contains(id) && !id.allowed_in(kind) {
                return Err(DecodeError::PropertyNotAllowed { id, packet: kind });
            }
        }
        if self.authentication_data.is_some() && self.authentication_method.is_none() {
            return Err(DecodeError::AuthenticationDataWithoutMethod);
        }
        if kind != PacketKind::Publish && self.subscription_identifiers.len() > 1 {
            return Err(DecodeError::DuplicateProperty(
                PropertyId::SubscriptionIdentifier,
            ));
        }
        Ok(())
    }

    /// Bytes of the properties alone, without the property length in front.
    fn body_len(&self) -> usize {
        let s = |o: &Option<ByteString>| o.as_ref().map_or(0, |v| 1 + prefixed_len(v.len()));
        let b = |o: &Option<Bytes>| o.as_ref().map_or(0, |v| 1 + prefixed_len(v.len()));
        let byte = |present: bool| if present { 2 } else { 0 };
        let two = |present: bool| if present { 3 } else { 0 };
        let four = |present: bool| if present { 5 } else { 0 };
        byte(self.payload_format_indicator.is_some())
            + four(self.message_expiry_interval.is_some())
            + s(&self.content_type)
            + s(&self.response_topic)
            + b(&self.correlation_data)
            + self
                .subscription_identifiers
                .iter()
                .map(|v| 1 + var_int_len(v.get()))
                .sum::<usize>()
            + four(self.session_expiry_interval.is_some())
            + s(&self.assigned_client_identifier)
            + two(self.server_keep_alive.is_some())
            + s(&self.authentication_method)
            + b(&self.authentication_data)
            + byte(self.request_problem_information.is_some())
            + four(self.will_delay_interval.is_some())
            + byte(self.request_response_information.is_some())
            + s(&self.response_information)
            + s(&self.server_reference)
            + s(&self.reason_string)
            + two(self.receive_maximum.is_some())
            + two(self.topic_alias_maximum.is_some())
            + two(self.topic_alias.is_some())
            + byte(self.maximum_qos.is_some())
            + byte(self.retain_available.is_some())
            + self
                .user_properties
                .iter()
                .map(|(n, v)| 1 + prefixed_len(n.len()) + prefixed_len(v.len()))
                .sum::<usize>()
            + four(self.maximum_packet_size.is_some())
            + byte(self.wildcard_subscription_available.is_some())
            + byte(self.subscription_identifier_available.is_some())
            + byte(self.shared_subscription_available.is_some())
    }

    /// Bytes [`Properties::encode`] writes: the property length and the properties.
    pub fn encoded_len(&self) -> usize {
        let body = self.body_len();
        remaining_length_len(body) + body
    }

    /// Writes the property length, then the properties in ascending identifier order.
    ///
    /// Every string and binary value must fit in 65,535 bytes, the whole block in
    /// [`MAX_VAR_INT`] bytes, each subscription identifier in [`MAX_VAR_INT`], and
    /// `maximum_qos` must not be [`QoS::ExactlyOnce`]; a decoded set always satisfies this,
    /// a built one that does not is a bug of the caller (checked in debug builds).
    pub fn encode(&self, out: &mut BytesMut) {
        use PropertyId as P;
        let body = self.body_len();
        debug_assert!(body <= MAX_VAR_INT as usize, "property block too long");
        debug_assert!(self.maximum_qos != Some(QoS::ExactlyOnce), "maximum QoS 2");
        out.reserve(remaining_length_len(body) + body);
        // Truncation only where the precondition above is broken.
        write_var_int(out, body as u32);
        let flag = |out: &mut BytesMut, id: PropertyId, v: Option<bool>| {
            if let Some(v) = v {
                out.put_u8(id as u8);
                out.put_u8(u8::from(v));
            }
        };
        let two = |out: &mut BytesMut, id: PropertyId, v: Option<u16>| {
            if let Some(v) = v {
                out.put_u8(id as u8);
                out.put_u16(v);
            }
        };
        let four = |out: &mut BytesMut, id: PropertyId, v: Option<u32>| {
            if let Some(v) = v {
                out.put_u8(id as u8);
                out.put_u32(v);
            }
        };
        let data = |out: &mut BytesMut, id: PropertyId, v: Option<&[u8]>| {
            if let Some(v) = v {
                out.put_u8(id as u8);
                write_binary(out, v);
            }
        };
        fn s(o: &Option<ByteString>) -> Option<&[u8]> {
            o.as_ref().map(|v| v.as_bytes().as_ref())
        }
        flag(
            out,
            P::PayloadFormatIndicator,
            self.payload_format_indicator,
        );
        four(out, P::MessageExpiryInterval, self.message_expiry_interval);
        data(out, P::ContentType, s(&self.content_type));
        data(out, P::ResponseTopic, s(&self.response_topic));
        data(out, P::CorrelationData, self.correlation_data.as_deref());
        for v in &self.subscription_identifiers {
            out.put_u8(P::SubscriptionIdentifier as u8);
            write_var_int(out, v.get());
        }
        four(out, P::SessionExpiryInterval, self.session_expiry_interval);
        let assigned = s(&self.assigned_client_identifier);
        data(out, P::AssignedClientIdentifier, assigned);
        two(out, P::ServerKeepAlive, self.server_keep_alive);
        data(out, P::AuthenticationMethod, s(&self.authentication_method));
        data(
            out,
            P::AuthenticationData,
            self.authentication_data.as_deref(),
        );
        let problem = self.request_problem_information;
        flag(out, P::RequestProblemInformation, problem);
        four(out, P::WillDelayInterval, self.will_delay_interval);
        let response = self.request_response_information;
        flag(out, P::RequestResponseInformation, response);
        data(out, P::ResponseInformation, s(&self.response_information));
        data(out, P::ServerReference, s(&self.server_reference));
        data(out, P::ReasonString, s(&self.reason_string));
        two(
            out,
            P::ReceiveMaximum,
            self.receive_maximum.map(|v| v.get()),
        );
        two(out, P::TopicAliasMaximum, self.topic_alias_maximum);
        two(out, P::TopicAlias, self.topic_alias.map(|v| v.get()));
        if let Some(qos) = self.maximum_qos {
            out.put_u8(P::MaximumQoS as u8);
            out.put_u8(qos as u8);
        }
        flag(out, P::RetainAvailable, self.retain_available);
        for (name, value) in &self.user_properties {
            out.put_u8(P::UserProperty as u8);
            write_binary(out, name.as_bytes());
            write_binary(out, value.as_bytes());
        }
        let max_size = self.maximum_packet_size.map(|v| v.get());
        four(out, P::MaximumPacketSize, max_size);
        let wildcard = self.wildcard_subscription_available;
        flag(out, P::WildcardSubscriptionAvailable, wildcard);
        let sub_ids = self.subscription_identifier_available;
        flag(out, P::SubscriptionIdentifierAvailable, sub_ids);
        let shared = self.shared_subscription_available;
        flag(out, P::SharedSubscriptionAvailable, shared);
    }
}
