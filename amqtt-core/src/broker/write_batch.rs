//! What a connection's writer sends in one go: the packets it drained, encoded, with large
//! payloads not copied.
//!
//! Packets and the heads of PUBLISH packets (fixed header, topic, packet id, properties) are
//! encoded into one buffer; a payload of at least [`SHARED_PAYLOAD_MIN`] bytes stays the
//! message's own refcounted [`Bytes`], so a message fanned out to many subscribers is never
//! copied per subscriber. [`WriteBatch::write_to`] hands the pieces to the stream in order with
//! vectored writes. A stream that does not write vectored (`is_write_vectored` false) still gets
//! every piece, one per call: tokio's default `poll_write_vectored` writes the first non-empty
//! slice. TLS (tokio-rustls) takes vectored writes and copies the slices into its records, which
//! it must encrypt anyway.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWrite;

use crate::codec::{Packet, ProtocolVersion, Publish};

/// The smallest payload kept as a shared piece of the batch; a smaller one is copied into the
/// buffer, which costs less than a slice of its own in the write.
pub(crate) const SHARED_PAYLOAD_MIN: usize = 2 * 1024;

/// Slices handed to one vectored write (Linux takes up to 1024; more buys nothing here).
const MAX_SLICES: usize = 64;

/// A buffer larger than this is released once it has been written.
const KEEP_WRITE_BUFFER: usize = 64 * 1024;

/// Shared payloads kept room for once written; more is released with the buffer.
const KEEP_SHARED: usize = 64;

/// Encoded packets waiting to be written: a buffer, and the shared payloads that go between its
/// bytes.
#[derive(Debug, Default)]
pub(crate) struct WriteBatch {
    /// Every byte but the shared payloads.
    inline: BytesMut,
    /// The shared payloads in order, each with the length `inline` had when it was added: the
    /// payload goes after those bytes.
    shared: Vec<(usize, Bytes)>,
    /// Bytes in the shared payloads.
    shared_len: usize,
}

impl WriteBatch {
    /// Appends `packet` encoded for a `version` connection.
    pub(crate) fn push_packet(&mut self, packet: &Packet, version: ProtocolVersion) {
        match packet {
            Packet::Publish(publish) => self.push_publish(publish, version),
            other => other.encode_as(version, &mut self.inline),
        }
    }

    /// Appends `publish` encoded for a `version` connection; a payload of at least
    /// [`SHARED_PAYLOAD_MIN`] bytes is shared, not copied.
    pub(crate) fn push_publish(&mut self, publish: &Publish, version: ProtocolVersion) {
        if publish.payload.len() < SHARED_PAYLOAD_MIN {
            return publish.encode_as(version, &mut self.inline);
        }
        publish.encode_head_as(version, &mut self.inline);
        self.shared_len += publish.payload.len();
        self.shared
            .push((self.inline.len(), publish.payload.clone()));
    }

    /// Bytes in the batch.
    pub(crate) fn len(&self) -> usize {
        self.inline.len() + self.shared_len
    }

    /// Whether the batch holds no bytes.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frees the batch's storage (an idle connection holds none).
    pub(crate) fn release(&mut self) {
        *self = WriteBatch::default();
    }

    /// Writes the whole batch to `writer`, in order, with vectored writes of at most
    /// [`MAX_SLICES`] slices, then empties it, keeping its storage unless it grew large. A write
    /// that takes no bytes is an error (`WriteZero`); the batch is left as it was on error.
    pub(crate) async fn write_to<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
    ) -> io::Result<()> {
        // The next piece to write, how many of its bytes are written already, and the bytes
        // left in all.
        let (mut piece, mut skip, mut left) = (0, 0, self.len());
        while left > 0 {
            // The slices are made in each poll, so the writer's future does not hold them
            // while it waits.
            let mut written = poll_fn(|cx| {
                if self.shared.is_empty() {
                    // One piece (no large payload, the common case): a plain write, without
                    // making slices.
                    return Pin::new(&mut *writer).poll_write(cx, &self.inline[skip..]);
                }
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let count = self.gather(piece, skip, &mut slices);
                Pin::new(&mut *writer).poll_write_vectored(cx, &slices[..count])
            })
            .await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            left -= written;
            while written > 0 {
                let rest = self.piece(piece).len() - skip;
                if written < rest {
                    skip += written;
                    break;
                }
                written -= rest;
                piece += 1;
                skip = 0;
            }
        }
        self.clear();
        Ok(())
    }

    /// Fills `slices` with the non-empty pieces from `piece` on, less the `skip` bytes of it
    /// already written; returns how many it filled.
    fn gather<'a>(&'a self, piece: usize, skip: usize, slices: &mut [IoSlice<'a>]) -> usize {
        let mut count = 0;
        for k in piece..self.pieces() {
            if count == slices.len() {
                break;
            }
            let from = if k == piece { skip } else { 0 };
            let bytes = self.piece(k);
            if bytes.len() > from {
                slices[count] = IoSlice::new(&bytes[from..]);
                count += 1;
            }
        }
        count
    }

    /// Empties the batch, keeping its storage unless it grew large.
    fn clear(&mut self) {
        self.inline.clear();
        self.shared.clear();
        self.shared_len = 0;
        if self.inline.capacity() > KEEP_WRITE_BUFFER {
            self.inline = BytesMut::new();
        }
        if self.shared.capacity() > KEEP_SHARED {
            self.shared = Vec::new();
        }
    }

    /// Pieces in write order: a run of the buffer before each shared payload, the payload, and
    /// the buffer's rest.
    fn pieces(&self) -> usize {
        2 * self.shared.len() + 1
    }

    /// Piece `k` (see [`WriteBatch::pieces`]); possibly empty.
    fn piece(&self, k: usize) -> &[u8] {
        let run_start = |i: usize| if i == 0 { 0 } else { self.shared[i - 1].0 };
        let i = k / 2;
        if k % 2 == 1 {
            &self.shared[i].1
        } else {
            let end = self.shared.get(i).map_or(self.inline.len(), |&(at, _)| at);
            &self.inline[run_start(i)..end]
        }
    }
}

#[cfg(test)]
impl WriteBatch {
    /// The batch's bytes in write order, in one buffer.
    pub(crate) fn to_bytes(&self) -> BytesMut {
        let mut all = BytesMut::with_capacity(self.len());
        for k in 0..self.pieces() {
            all.extend_from_slice(self.piece(k));
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Context, Poll};

    use bytes::Bytes;

    use super::*;
    use crate::codec::{PacketId, QoS, decode_as};

    /// A writer that takes at most `step` bytes a call, across slices, and records the calls.
    #[derive(Default)]
    struct Trickle {
        written: Vec<u8>,
        step: usize,
        calls: usize,
        /// Most slices any call was given.
        widest: usize,
        /// After this many calls, every write takes nothing.
        zero_after: Option<usize>,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_write_vectored(cx, &[IoSlice::new(buf)])
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.calls += 1;
            this.widest = this.widest.max(bufs.len());
            if this.zero_after.is_some_and(|n| this.calls > n) {
                return Poll::Ready(Ok(0));
            }
            let mut left = this.step;
            for buf in bufs {
                let n = buf.len().min(left);
                this.written.extend_from_slice(&buf[..n]);
                left -= n;
            }
            Poll::Ready(Ok(this.step - left))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A QoS 1 message on `topic` whose payload is `len` bytes counting up from `seed`.
    fn message(topic: &str, len: usize, seed: u8) -> Publish {
        let payload: Vec<u8> = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
        let mut publish = Publish::new(topic, payload, QoS::AtLeastOnce, false);
        publish.packet_id = PacketId::new(7);
        publish
    }

    /// A batch of small and large messages and a control packet, and the same packets encoded
    /// one after another into one buffer.
    fn mixed(version: ProtocolVersion) -> (WriteBatch, Vec<Packet>, BytesMut) {
        let packets = vec![
            Packet::Publish(message("a", 3000, 1)),
            Packet::PingResp,
            Packet::Publish(message("bb", 10, 2)),
            Packet::Publish(message("c", SHARED_PAYLOAD_MIN, 3)),
            Packet::Publish(message("d", 70_000, 4)),
            Packet::Publish(message("e", SHARED_PAYLOAD_MIN - 1, 5)),
        ];
        let mut batch = WriteBatch::default();
        let mut expected = BytesMut::new();
        for packet in &packets {
            batch.push_packet(packet, version);
            packet.encode_as(version, &mut expected);
        }
        (batch, packets, expected)
    }

    #[test]
    fn large_payloads_are_shared_and_small_ones_copied() {
        let (batch, packets, expected) = mixed(ProtocolVersion::V5);
        let shared: Vec<usize> = batch.shared.iter().map(|(_, p)| p.len()).collect();
        assert_eq!(shared, [3000, SHARED_PAYLOAD_MIN, 70_000]);
        let Packet::Publish(first) = &packets[0] else {
            panic!("as built above");
        };
        assert_eq!(
            batch.shared[0].1.as_ptr(),
            first.payload.as_ptr(),
            "not copied"
        );
        assert_eq!(batch.len(), expected.len());
        assert_eq!(batch.to_bytes(), expected);
    }

    #[tokio::test]
    async fn partial_writes_across_slice_boundaries_keep_every_byte_in_order() {
        for step in [1, 7, 2999, 3001, 65_536] {
            let (mut batch, packets, expected) = mixed(ProtocolVersion::V311);
            let mut writer = Trickle {
                step,
                ..Trickle::default()
            };
            batch.write_to(&mut writer).await.expect("written");
            assert_eq!(writer.written, expected, "step {step}");
            assert!(batch.is_empty());
            let mut read = BytesMut::from(&writer.written[..]);
            for packet in packets {
                let decoded = decode_as(&mut read, 1 << 20, ProtocolVersion::V311);
                assert_eq!(decoded, Ok(Some(packet)));
            }
        }
    }

    #[tokio::test]
    async fn a_batch_of_small_packets_is_written_whole_across_partial_writes() {
        let packets = [
            Packet::Publish(message("a", 100, 1)),
            Packet::PingResp,
            Packet::Publish(message("b", SHARED_PAYLOAD_MIN - 1, 2)),
        ];
        let mut batch = WriteBatch::default();
        let mut expected = BytesMut::new();
        for packet in &packets {
            batch.push_packet(packet, ProtocolVersion::V311);
            packet.encode_as(ProtocolVersion::V311, &mut expected);
        }
        assert!(batch.shared.is_empty(), "one piece: the plain write");
        let mut writer = Trickle {
            step: 5,
            ..Trickle::default()
        };
        batch.write_to(&mut writer).await.expect("written");
        assert_eq!(writer.written, expected);
        assert_eq!(writer.widest, 1);
        assert!(batch.is_empty());
    }

    #[tokio::test]
    async fn at_most_64_slices_go_to_one_write() {
        let mut batch = WriteBatch::default();
        let mut expected = BytesMut::new();
        for seed in 0..100 {
            let publish = message("t", SHARED_PAYLOAD_MIN, seed);
            batch.push_publish(&publish, ProtocolVersion::V311);
            publish.encode(&mut expected);
        }
        let mut writer = Trickle {
            step: usize::MAX,
            ..Trickle::default()
        };
        batch.write_to(&mut writer).await.expect("written");
        assert_eq!(writer.widest, MAX_SLICES);
        assert_eq!(writer.calls, 4, "201 pieces, the last one empty");
        assert_eq!(writer.written, expected);
    }

    #[tokio::test]
    async fn a_write_that_takes_nothing_is_an_error() {
        let (mut batch, _, _) = mixed(ProtocolVersion::V311);
        let mut writer = Trickle {
            step: 100,
            zero_after: Some(2),
            ..Trickle::default()
        };
        let error = batch.write_to(&mut writer).await.expect_err("write zero");
        assert_eq!(error.kind(), io::ErrorKind::WriteZero);
    }

    #[tokio::test]
    async fn a_large_buffer_is_released_once_written_and_a_small_one_kept() {
        let mut batch = WriteBatch::default();
        batch.push_publish(
            &Publish::new("t", Bytes::from_static(b"x"), QoS::AtMostOnce, false),
            ProtocolVersion::V311,
        );
        let mut sink = Vec::new();
        batch.write_to(&mut sink).await.expect("written");
        assert!(batch.inline.capacity() > 0);
        for _ in 0..100 {
            batch.push_publish(&message("t", 1000, 0), ProtocolVersion::V311);
        }
        batch.write_to(&mut sink).await.expect("written");
        assert_eq!(batch.inline.capacity(), 0);
        assert!(batch.is_empty());
    }
}
