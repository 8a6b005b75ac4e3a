//! Stored rows to records and back, for both backends: a row whose values do not make a valid
//! record is reported with the reason it is skipped.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amqtt_core::codec::{
    ByteString, LastWill, PacketId, Properties, ProtocolVersion, Publish, QoS,
};
use amqtt_core::store::{Grant, MessageState, StoredMessage, StoredSession};
use bytes::{Bytes, BytesMut};

/// Why a row is skipped: the text given to `Restore::skipped`.
pub(crate) type Skip = &'static str;

/// The columns of a session row.
pub(crate) struct SessionRow<'a> {
    pub(crate) client_id: &'a [u8],
    pub(crate) username: Option<&'a [u8]>,
    pub(crate) keep_alive: i64,
    pub(crate) will_topic: Option<&'a [u8]>,
    pub(crate) will_payload: Option<&'a [u8]>,
    pub(crate) will_qos: Option<i64>,
    pub(crate) will_retain: Option<i64>,
    pub(crate) disconnected_at_ms: Option<i64>,
    pub(crate) protocol: Option<i64>,
    pub(crate) properties: Option<&'a [u8]>,
    pub(crate) will_properties: Option<&'a [u8]>,
}

impl SessionRow<'_> {
    /// The session the row holds.
    pub(crate) fn decode(self) -> Result<StoredSession, Skip> {
        let client_id = text(self.client_id).ok_or("a session whose client id is not UTF-8")?;
        let username = match self.username {
            Some(name) => Some(text(name).ok_or("a session whose username is not UTF-8")?),
            None => None,
        };
        let keep_alive =
            u16::try_from(self.keep_alive).map_err(|_| "a session with an invalid keep-alive")?;
        let will = match self.will_topic {
            None => None,
            Some(topic) => Some(LastWill {
                topic: text(topic).ok_or("a session whose will topic is not UTF-8")?,
                message: Bytes::copy_from_slice(self.will_payload.unwrap_or_default()),
                qos: self
                    .will_qos
                    .and_then(qos)
                    .ok_or("a session with an invalid will QoS")?,
                retain: self
                    .will_retain
                    .and_then(flag)
                    .ok_or("a session with an invalid will retain flag")?,
                properties: properties(self.will_properties)?.map(Arc::new),
            }),
        };
        let protocol = match self.protocol {
            None | Some(4) => ProtocolVersion::V311,
            Some(3) => ProtocolVersion::V31,
            Some(5) => ProtocolVersion::V5,
            Some(_) => return Err("a session with an unknown protocol level"),
        };
        let disconnected_at = match self.disconnected_at_ms {
            Some(ms) => Some(time(ms).ok_or("a session with an invalid disconnection time")?),
            None => None,
        };
        Ok(StoredSession {
            client_id,
            username,
            keep_alive,
            will,
            disconnected_at,
            protocol,
            properties: properties(self.properties)?.map(Box::new),
        })
    }
}

/// The columns of a message row, less its client id.
pub(crate) struct MessageRow<'a> {
    pub(crate) entry: i64,
    pub(crate) state: i64,
    pub(crate) packet_id: Option<i64>,
    pub(crate) qos: i64,
    pub(crate) retain: i64,
    pub(crate) topic: &'a [u8],
    pub(crate) payload: &'a [u8],
    pub(crate) properties: Option<&'a [u8]>,
}

impl MessageRow<'_> {
    /// The message the row holds.
    pub(crate) fn decode(self) -> Result<StoredMessage, Skip> {
        let entry = u64::try_from(self.entry).map_err(|_| "a message with a negative entry")?;
        let state = u8::try_from(self.state)
            .ok()
            .and_then(MessageState::from_code)
            .ok_or("a message with an invalid state")?;
        let packet_id = match self.packet_id {
            Some(id) => Some(packet_id(id).ok_or("a message with an invalid packet id")?),
            None => None,
        };
        let qos = qos(self.qos).ok_or("a message with an invalid QoS")?;
        let retain = flag(self.retain).ok_or("a message with an invalid retain flag")?;
        let topic = text(self.topic).ok_or("a message whose topic is not UTF-8")?;
        Ok(StoredMessage {
            entry,
            state,
            packet_id,
            message: Publish {
                dup: false,
                qos,
                retain,
                topic,
                packet_id,
                payload: Bytes::copy_from_slice(self.payload),
                properties: properties(self.properties)?.map(Arc::new),
            },
        })
    }
}

/// A retained message row: topic, QoS, payload, properties.
pub(crate) fn retained(
    topic: &[u8],
    qos_code: i64,
    payload: &[u8],
    props: Option<&[u8]>,
) -> Result<Publish, Skip> {
    Ok(Publish {
        dup: false,
        qos: qos(qos_code).ok_or("a retained message with an invalid QoS")?,
        retain: true,
        topic: text(topic).ok_or("a retained message whose topic is not UTF-8")?,
        packet_id: None,
        payload: Bytes::copy_from_slice(payload),
        properties: properties(props)?.map(Arc::new),
    })
}

/// A stored property block (MQTT 5.0's encoding, length first); `None` for none.
pub(crate) fn encode_properties(props: Option<&Properties>) -> Option<Vec<u8>> {
    let props = props.filter(|p| !p.is_empty())?;
    let mut out = BytesMut::with_capacity(props.encoded_len());
    props.encode(&mut out);
    Some(out.to_vec())
}

/// The properties a stored block holds.
fn properties(block: Option<&[u8]>) -> Result<Option<Properties>, Skip> {
    let Some(block) = block else {
        return Ok(None);
    };
    let mut bytes = Bytes::copy_from_slice(block);
    let props =
        Properties::decode(&mut bytes).map_err(|_| "a row with invalid MQTT 5.0 properties")?;
    if !bytes.is_empty() {
        return Err("a row with bytes after its MQTT 5.0 properties");
    }
    Ok((!props.is_empty()).then_some(props))
}

/// A text column.
pub(crate) fn text(bytes: &[u8]) -> Option<ByteString> {
    std::str::from_utf8(bytes).ok().map(ByteString::from)
}

/// A QoS column.
pub(crate) fn qos(code: i64) -> Option<QoS> {
    u8::try_from(code).ok().and_then(QoS::from_u8)
}

/// A subscription's QoS, options and identifier columns (NULL options or identifier: none, as
/// in a row written before MQTT 5.0).
pub(crate) fn grant(qos_code: i64, options: Option<i64>, id: Option<i64>) -> Option<Grant> {
    let options = u8::try_from(options.unwrap_or(0)).ok()?;
    let id = u32::try_from(id.unwrap_or(0)).ok()?;
    Grant::from_stored(qos(qos_code)?, options, id)
}

/// A packet id column: 1 to 65535.
pub(crate) fn packet_id(id: i64) -> Option<PacketId> {
    u16::try_from(id).ok().and_then(PacketId::new)
}

/// A 0/1 flag column.
fn flag(value: i64) -> Option<bool> {
    match value {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

/// Unix milliseconds to a time.
fn time(ms: i64) -> Option<SystemTime> {
    let offset = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    }
}

/// A time as unix milliseconds (saturating far outside the years a broker runs in).
pub(crate) fn millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// An entry number as stored (entries count up from 0 and never reach 2^63).
pub(crate) fn entry(entry: u64) -> i64 {
    i64::try_from(entry).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_to_the_millisecond() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(time(millis(t)), Some(t));
        let before = UNIX_EPOCH - Duration::from_millis(5);
        assert_eq!(time(millis(before)), Some(before));
    }

    #[test]
    fn invalid_codes_are_refused() {
        assert_eq!(qos(3), None);
        assert_eq!(qos(-1), None);
        assert_eq!(packet_id(0), None);
        assert_eq!(packet_id(65536), None);
        assert_eq!(flag(2), None);
        assert!(text(&[0xff, 0xfe]).is_none());
    }
}
