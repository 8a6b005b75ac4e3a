//! The fixed header: packet type and flags byte, then the variable-length remaining length.
//!
//! [`frame_len`] is the first thing the reader calls on its buffer: it needs only the fixed
//! header, so an oversize frame is rejected before its body is buffered.

use bytes::{BufMut, BytesMut};

use super::DecodeError;

/// The largest remaining length a 4-byte variable-length integer can hold (256 MiB - 1).
pub const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// The fixed header of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedHeader {
    /// First byte: packet type in the high nibble, flags in the low nibble.
    pub(crate) byte1: u8,
    /// Bytes taken by the fixed header itself (2 to 5).
    pub(crate) header_len: usize,
    /// The remaining length: bytes of the frame after the fixed header.
    pub(crate) remaining_len: usize,
}

impl FixedHeader {
    /// The packet type nibble.
    pub(crate) fn packet_type(self) -> u8 {
        self.byte1 >> 4
    }

    /// The flags nibble.
    pub(crate) fn flags(self) -> u8 {
        self.byte1 & 0x0F
    }

    /// Length of the whole frame, fixed header included.
    pub(crate) fn frame_len(self) -> usize {
        self.header_len + self.remaining_len
    }
}

/// Parses the fixed header at the start of `buf`; `Ok(None)` while it is incomplete.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
    let Some(&byte1) = buf.first() else {
        return Ok(None);
    };
    let mut remaining_len = 0usize;
    for i in 0..4 {
        let Some(&byte) = buf.get(1 + i) else {
            return Ok(None);
        };
        remaining_len |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some(FixedHeader {
                byte1,
                header_len: 2 + i,
                remaining_len,
            }));
        }
    }
    Err(DecodeError::MalformedRemainingLength)
}

/// Length of the frame starting at `buf`, as soon as its fixed header is complete.
///
/// Returns `Ok(Some(len))` with the total frame length (fixed header plus remaining length),
/// `Ok(None)` while the fixed header is still incomplete, and an error for a remaining length
/// of more than 4 bytes or a frame larger than `max_size` — known from the header alone.
///
/// # Examples
///
/// ```
/// use amqtt_core::codec::{DecodeError, frame_len};
///
/// // A PUBLISH header announcing 2 MiB, with none of the body received yet.
/// let header = [0x30, 0x80, 0x80, 0x80, 0x01];
/// assert_eq!(
///     frame_len(&header, 1 << 20),
///     Err(DecodeError::MaxSizeExceeded { size: 5 + (1 << 21), max: 1 << 20 })
/// );
/// assert_eq!(frame_len(&[0xC0], 1024), Ok(None));
/// assert_eq!(frame_len(&[0xC0, 0x00], 1024), Ok(Some(2)));
/// ```
pub fn frame_len(buf: &[u8], max_size: usize) -> Result<Option<usize>, DecodeError> {
    let Some(header) = parse(buf)? else {
        return Ok(None);
    };
    let size = header.frame_len();
    if size > max_size {
        return Err(DecodeError::MaxSizeExceeded {
            size,
            max: max_size,
        });
    }
    Ok(Some(size))
}

/// Bytes the variable-length encoding of `len` takes (1 to 4).
pub(crate) fn remaining_length_len(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Bytes a whole frame with this remaining length takes.
pub(crate) fn frame_len_for(remaining_len: usize) -> usize {
    1 + remaining_length_len(remaining_len) + remaining_len
}

/// Writes the fixed header: `byte1`, then `remaining_len` as a variable-length integer.
///
/// `remaining_len` must not exceed [`MAX_REMAINING_LENGTH`]; the packet types guarantee that
/// only as long as their strings fit in 65,535 bytes and their payload in what is left.
pub(crate) fn write(buf: &mut BytesMut, byte1: u8, remaining_len: usize) {
    debug_assert!(
        remaining_len <= MAX_REMAINING_LENGTH,
        "remaining length {remaining_len} exceeds {MAX_REMAINING_LENGTH}"
    );
    buf.put_u8(byte1);
    let mut len = remaining_len;
    loop {
        // Truncation is intended: the low 7 bits go in this byte.
        let mut byte = (len & 0x7F) as u8;
        len >>= 7;
        if len > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if len == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_bytes(remaining_len: usize) -> BytesMut {
        let mut buf = BytesMut::new();
        write(&mut buf, 0x30, remaining_len);
        buf
    }

    #[test]
    fn remaining_length_boundaries_round_trip() {
        let cases: [(usize, &[u8]); 8] = [
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
            (0, &[0x00]),
        ];
        for (len, encoded) in cases {
            let buf = header_bytes(len);
            assert_eq!(&buf[1..], encoded, "encoding of {len}");
            assert_eq!(remaining_length_len(len), encoded.len());
            let header = parse(&buf).expect("valid header").expect("complete header");
            assert_eq!(header.remaining_len, len);
            assert_eq!(header.header_len, 1 + encoded.len());
            assert_eq!(frame_len(&buf, usize::MAX), Ok(Some(frame_len_for(len))));
        }
    }

    #[test]
    fn five_byte_remaining_length_is_malformed() {
        let buf = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F];
        assert_eq!(
            frame_len(&buf, usize::MAX),
            Err(DecodeError::MalformedRemainingLength)
        );
        // Known as soon as the 4th length byte arrives.
        assert_eq!(
            frame_len(&buf[..5], usize::MAX),
            Err(DecodeError::MalformedRemainingLength)
        );
    }

    #[test]
    fn incomplete_header_needs_more_bytes() {
        assert_eq!(frame_len(&[], 100), Ok(None));
        assert_eq!(frame_len(&[0x30], 100), Ok(None));
        assert_eq!(frame_len(&[0x30, 0x80], 100), Ok(None));
        assert_eq!(frame_len(&[0x30, 0x80, 0x80, 0x80], usize::MAX), Ok(None));
    }

    #[test]
    fn oversize_frame_rejected_from_header_alone() {
        // 2 MiB remaining length, 1 MiB maximum: only the 5 header bytes are present.
        let buf = header_bytes(2 * 1024 * 1024);
        assert_eq!(buf.len(), 5);
        assert_eq!(
            frame_len(&buf, 1024 * 1024),
            Err(DecodeError::MaxSizeExceeded {
                size: 5 + 2 * 1024 * 1024,
                max: 1024 * 1024
            })
        );
        // The limit applies to the whole frame, header included.
        assert_eq!(frame_len(&[0x30, 0x0A], 12), Ok(Some(12)));
        assert_eq!(
            frame_len(&[0x30, 0x0A], 11),
            Err(DecodeError::MaxSizeExceeded { size: 12, max: 11 })
        );
    }
}
