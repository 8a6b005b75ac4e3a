//! Fuzz target: the MQTT packet decoder, driven the way the broker's read loop drives it.
//!
//! Input: byte 0 picks the maximum packet size, byte 1 the size of each read, and the rest is
//! the byte stream a peer sends. The stream is decoded twice, once read by read and once whole,
//! with `frame_len` + `decode` as in `read_packet` (amqtt-core/src/broker/connection.rs).
//!
//! Checked besides "no panic":
//! - `decode` returning `Ok(None)` leaves the buffer untouched, and `frame_len` then agrees
//!   that the frame is incomplete;
//! - how the stream is split into reads changes nothing (same packets, same end);
//! - every decoded packet re-encodes to `encoded_len` bytes, no longer than the frame it came
//!   from and byte for byte equal to it when as long, and the re-encoding decodes to an equal
//!   packet (the round trip).
#![no_main]

use amqtt_core::codec::{DecodeError, MAX_REMAINING_LENGTH, Packet, decode, frame_len};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| run(data));

/// How a read loop over a stream ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The stream ended on a frame boundary.
    Clean,
    /// The stream ended inside a frame.
    Truncated,
    /// The decoder rejected the input; the broker closes the connection here.
    Error(DecodeError),
}

/// Decodes `data`'s stream read by read and whole, and compares the two.
fn run(data: &[u8]) {
    let [max_byte, read_byte, stream @ ..] = data else {
        return;
    };
    let max = max_packet_size(*max_byte);
    let read_size = usize::from(*read_byte % 64) + 1;
    let by_reads = read_loop(stream, max, read_size);
    let whole = read_loop(stream, max, stream.len().max(1));
    assert_eq!(
        by_reads, whole,
        "decoding depends on how the stream is split into reads"
    );
}

/// A maximum packet size: every small value (to hit the limit at each header length), then
/// steps of 256 bytes, then the protocol's own limit.
fn max_packet_size(byte: u8) -> usize {
    match byte {
        0..=127 => usize::from(byte),
        255 => MAX_REMAINING_LENGTH + 5,
        _ => 128 + usize::from(byte - 128) * 256,
    }
}

/// The broker's read loop over `stream`, delivered `read_size` bytes at a time: the packets
/// decoded, and how the loop ended.
fn read_loop(stream: &[u8], max: usize, read_size: usize) -> (Vec<Packet>, End) {
    let mut buf = BytesMut::new();
    let (mut packets, mut fed, mut frame_start) = (Vec::new(), 0, 0);
    loop {
        let before = buf.len();
        match decode(&mut buf, max) {
            Err(e) => return (packets, End::Error(e)),
            Ok(Some(packet)) => {
                let used = before - buf.len();
                check_round_trip(&packet, &stream[frame_start..frame_start + used]);
                frame_start += used;
                packets.push(packet);
                continue;
            }
            Ok(None) => assert_eq!(buf.len(), before, "Ok(None) consumed bytes"),
        }
        match frame_len(&buf, max) {
            Ok(Some(total)) => assert!(total > buf.len(), "complete frame of {total} not decoded"),
            Ok(None) => {}
            Err(e) => panic!("decode gave Ok(None) but frame_len gives {e:?}"),
        }
        if fed == stream.len() {
            let end = if buf.is_empty() {
                End::Clean
            } else {
                End::Truncated
            };
            return (packets, end);
        }
        let n = read_size.min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
    }
}

/// Re-encodes `packet`, decoded from `frame`, and checks the round trip.
fn check_round_trip(packet: &Packet, frame: &[u8]) {
    let mut encoded = BytesMut::new();
    packet.encode(&mut encoded);
    assert_eq!(
        encoded.len(),
        packet.encoded_len(),
        "encoded_len of {packet:?}"
    );
    assert!(
        encoded.len() <= frame.len(),
        "{packet:?} re-encodes to {} bytes, more than its {}-byte frame",
        encoded.len(),
        frame.len()
    );
    if encoded.len() == frame.len() {
        assert_eq!(
            &encoded[..],
            frame,
            "re-encoding of {packet:?} differs from its frame"
        );
    }
    let mut again = encoded.clone();
    let decoded = decode(&mut again, encoded.len());
    assert_eq!(
        decoded.as_ref(),
        Ok(&Some(packet.clone())),
        "round trip of {packet:?}"
    );
    assert!(
        again.is_empty(),
        "round trip of {packet:?} left bytes behind"
    );
}
