//! Byte framing: reading one packet at a time off a connection, with buffers that grow only as a
//! frame needs and an idle read that holds none.

use std::task::Poll;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::stats::Stats;
use crate::codec::{self, DecodeError, Packet, ProtocolVersion, frame_len};

/// Bytes reserved for a read when the size of the next frame is not known yet.
pub(super) const READ_CHUNK: usize = 4096;
/// Bytes an idle connection reads into its task's own state when data arrives: a full read
/// means more is waiting, and the rest goes to a [`READ_CHUNK`] buffer.
const IDLE_READ: usize = 128;
/// A read buffer larger than this is released once it is empty.
const KEEP_READ_BUFFER: usize = 64 * 1024;
/// Why reading a packet failed.
#[derive(Debug)]
pub(super) enum ReadError {
    Decode(DecodeError),
    Io(std::io::Error),
    /// The peer closed in the middle of a packet.
    Truncated,
}

/// Reads one packet of a `version` connection, growing `buf` only as far as the frame at hand needs and, beyond one chunk,
/// in proportion to what has arrived.
/// Cancel-safe: a partial frame stays in `buf`.
///
/// An idle connection holds no read buffer: when nothing is buffered and nothing is ready to
/// read, `buf` is released and the wait uses [`IDLE_READ`] bytes of the task's own state.
pub(super) async fn read_packet<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    max_packet_size: usize,
    stats: &Stats,
    version: ProtocolVersion,
) -> Result<Option<Packet>, ReadError> {
    loop {
        if let Some(packet) =
            codec::decode_as(buf, max_packet_size, version).map_err(ReadError::Decode)?
        {
            if buf.is_empty() && buf.capacity() > KEEP_READ_BUFFER {
                *buf = BytesMut::new();
            }
            return Ok(Some(packet));
        }
        let needed = match frame_len(buf, max_packet_size).map_err(ReadError::Decode)? {
            Some(total) => total - buf.len(),
            None => 1,
        };
        let read = if buf.is_empty() {
            buf.reserve(READ_CHUNK);
            let ready = {
                let mut read = std::pin::pin!(reader.read_buf(buf));
                std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await
            };
            match ready {
                Poll::Ready(read) => read,
                Poll::Pending => {
                    *buf = BytesMut::new();
                    let mut first = [0u8; IDLE_READ];
                    let read = reader.read(&mut first).await;
                    if let Ok(n @ 1..) = read {
                        if n == IDLE_READ {
                            buf.reserve(READ_CHUNK);
                        }
                        buf.extend_from_slice(&first[..n]);
                    }
                    read
                }
            }
        } else {
            // Room for at least one chunk (a burst of small packets is read at once) and for
            // the rest of the frame, but not more than the bytes already received: a header
            // that declares a huge frame and sends nothing after it reserves little, and a
            // real large frame still grows in a few doublings.
            buf.reserve(needed.min(buf.len()).max(READ_CHUNK));
            reader.read_buf(buf).await
        };
        match read.map_err(ReadError::Io)? {
            0 if buf.is_empty() => return Ok(None),
            0 => return Err(ReadError::Truncated),
            n => stats.bytes_received.add(n as u64),
        }
    }
}
