//! MQTT packet codec for 3.1, 3.1.1 and 5.0: the 15 packet types, zero-copy decoding over
//! [`bytes`], and encoding, both for the protocol version of the connection.
//!
//! Decoding is frame-first: [`frame_len`] reads the fixed header and rejects an oversize frame
//! before its body is buffered; [`decode`] then splits the frame off the buffer, freezes it, and
//! every string and payload in the packet is a [`Bytes`] view of that one allocation.
//! Every malformed input is a [`DecodeError`]; nothing in this module panics on input.
//!
//! The wire format differs by version only in MQTT 5.0's additions ([`Properties`], validated
//! per [`PacketKind`], and [`ReasonCode`]s) and in CONNECT's protocol name and level: the
//! `_as` functions take the connection's [`ProtocolVersion`], the others speak 3.1.1.

mod ack;
mod connack;
mod connect;
mod error;
mod field;
mod header;
mod packet;
mod properties;
mod publish;
mod reason;
mod subscribe;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests_v5;
#[cfg(test)]
mod tests_v5_packets;
mod types;

use bytes::BytesMut;
pub use bytestring::ByteString;

pub use error::DecodeError;
pub use header::{MAX_REMAINING_LENGTH, frame_len};
pub use properties::{MAX_VAR_INT, PacketKind, Properties, PropertyId};
pub use reason::ReasonCode;
pub use types::{
    Ack, ConnAck, Connect, ConnectReturnCode, LastWill, Packet, PacketId, ProtocolVersion, Publish,
    QoS, ReasonBody, RetainHandling, SubAck, SubAckCode, Subscribe, SubscriptionOptions, UnsubAck,
    Unsubscribe,
};

/// The protocol level of MQTT 3.1.1.
pub const PROTOCOL_LEVEL_V311: u8 = 4;

/// Decodes the next MQTT 3.1.1 packet from the front of `buf`: [`decode_as`] for
/// [`ProtocolVersion::V311`].
///
/// # Examples
///
/// ```
/// use amqtt_core::codec::{Packet, decode};
/// use bytes::BytesMut;
///
/// let mut buf = BytesMut::from(&[0xC0, 0x00, 0x40][..]);
/// assert_eq!(decode(&mut buf, 1024), Ok(Some(Packet::PingReq)));
/// assert_eq!(decode(&mut buf, 1024), Ok(None)); // half a PUBACK
/// assert_eq!(&buf[..], &[0x40]);
/// ```
pub fn decode(buf: &mut BytesMut, max_size: usize) -> Result<Option<Packet>, DecodeError> {
    decode_as(buf, max_size, ProtocolVersion::V311)
}

/// Decodes the next packet of a `version` connection from the front of `buf`, if all of it has
/// been received. A CONNECT is read as the version it names, whatever `version` is.
///
/// Returns `Ok(None)` and leaves `buf` untouched while the frame is incomplete. Once it is
/// complete, the frame is split off `buf` and frozen, and the packet's strings and payload are
/// views of it. A frame larger than `max_size` (fixed header included) is rejected as soon as
/// its fixed header is in `buf`; after any error the connection should be closed, since `buf`
/// is no longer at a frame boundary.
pub fn decode_as(
    buf: &mut BytesMut,
    max_size: usize,
    version: ProtocolVersion,
) -> Result<Option<Packet>, DecodeError> {
    match frame_len(buf, max_size)? {
        Some(len) if buf.len() >= len => {
            Packet::decode_frame_as(buf.split_to(len).freeze(), version).map(Some)
        }
        _ => Ok(None),
    }
}
