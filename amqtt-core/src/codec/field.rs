//! Checked reads and plain writes of the field types every packet is made of.
//!
//! [`Reader`] walks the body of one frozen frame: each read checks the length first and returns
//! [`DecodeError::UnexpectedEof`] instead of panicking, and every string or binary field it
//! returns is a zero-copy view of the frame.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use super::{DecodeError, PacketId};

/// A cursor over the body of one frame (the bytes after the fixed header).
#[derive(Debug)]
pub(crate) struct Reader {
    buf: Bytes,
}

impl Reader {
    /// A reader over `body`.
    pub(crate) fn new(body: Bytes) -> Reader {
        Reader { buf: body }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        if self.buf.is_empty() {
            return Err(DecodeError::UnexpectedEof);
        }
        Ok(self.buf.get_u8())
    }

    /// Reads a big-endian two-byte integer.
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        if self.buf.len() < 2 {
            return Err(DecodeError::UnexpectedEof);
        }
        Ok(self.buf.get_u16())
    }

    /// Reads a packet identifier, rejecting 0.
    pub(crate) fn packet_id(&mut self) -> Result<PacketId, DecodeError> {
        PacketId::new(self.u16()?).ok_or(DecodeError::ZeroPacketId)
    }

    /// Reads the next `len` bytes as a view of the frame.
    pub(crate) fn take(&mut self, len: usize) -> Result<Bytes, DecodeError> {
        if self.buf.len() < len {
            return Err(DecodeError::UnexpectedEof);
        }
        Ok(self.buf.split_to(len))
    }

    /// Reads binary data: a two-byte length, then that many bytes.
    pub(crate) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// Reads a UTF-8 string, rejecting invalid UTF-8 and U+0000.
    pub(crate) fn string(&mut self) -> Result<ByteString, DecodeError> {
        let bytes = self.binary()?;
        let string = ByteString::try_from(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
        if string.as_bytes().contains(&0) {
            return Err(DecodeError::NullCharacter);
        }
        Ok(string)
    }

    /// Reads a topic name: a string that is non-empty and has no `+` or `#`.
    pub(crate) fn topic_name(&mut self) -> Result<ByteString, DecodeError> {
        let topic = self.topic_name_or_empty()?;
        if topic.is_empty() {
            return Err(DecodeError::EmptyTopicName);
        }
        Ok(topic)
    }

    /// Reads a topic name that may be empty (an MQTT 5.0 PUBLISH with a topic alias).
    pub(crate) fn topic_name_or_empty(&mut self) -> Result<ByteString, DecodeError> {
        let topic = self.string()?;
        if topic.as_bytes().iter().any(|&b| b == b'+' || b == b'#') {
            return Err(DecodeError::WildcardInTopicName);
        }
        Ok(topic)
    }

    /// Reads a topic filter: a non-empty string (wildcard placement is the broker's to judge).
    pub(crate) fn topic_filter(&mut self) -> Result<ByteString, DecodeError> {
        let filter = self.string()?;
        if filter.is_empty() {
            return Err(DecodeError::EmptyTopicFilter);
        }
        Ok(filter)
    }

    /// Takes everything not read yet.
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// Ends the read: bytes left over are [`DecodeError::TrailingBytes`].
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes)
        }
    }
}

/// Bytes a length-prefixed string or binary field of `len` bytes takes.
pub(crate) fn prefixed_len(len: usize) -> usize {
    2 + len
}

/// Writes a two-byte length, then `data`.
///
/// `data` must fit in 65,535 bytes, which every decoded field does; a longer one is a bug of
/// the caller (checked in debug builds).
pub(crate) fn write_binary(buf: &mut BytesMut, data: &[u8]) {
    debug_assert!(
        data.len() <= usize::from(u16::MAX),
        "field of {} bytes does not fit a two-byte length",
        data.len()
    );
    // Truncation only where the precondition above is broken.
    buf.put_u16(data.len() as u16);
    buf.put_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_checked() {
        let mut r = Reader::new(Bytes::from_static(&[0x00, 0x05, b'a']));
        assert_eq!(r.binary(), Err(DecodeError::UnexpectedEof));
        let mut r = Reader::new(Bytes::from_static(&[0x01]));
        assert_eq!(r.u16(), Err(DecodeError::UnexpectedEof));
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u8(), Err(DecodeError::UnexpectedEof));
        r.finish().expect("nothing left");
    }

    #[test]
    fn strings_are_zero_copy_views() {
        let frame = Bytes::from_static(&[0x00, 0x03, b'a', b'/', b'b', 0xFF]);
        let mut r = Reader::new(frame.clone());
        let topic = r.topic_name().expect("valid topic");
        assert_eq!(topic, "a/b");
        assert_eq!(topic.as_bytes().as_ptr(), frame[2..].as_ptr());
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes));
    }

    #[test]
    fn string_rejects_surrogates_encoded_in_utf8() {
        // U+D800 encoded as if it were a scalar value: ill-formed UTF-8 ([MQTT-1.5.3-1]).
        let mut r = Reader::new(Bytes::from_static(&[0x00, 0x03, 0xED, 0xA0, 0x80]));
        assert_eq!(r.string(), Err(DecodeError::InvalidUtf8));
    }
}
