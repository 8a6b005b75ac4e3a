//! Case 4: giant and malformed frames, all at once on their own sockets while the probe runs:
//! a remaining length at the protocol maximum with no body, frames one byte over
//! `max_packet_size`, a 5th remaining-length byte, lengths inside the packet that run past the
//! frame, SUBSCRIBE/UNSUBSCRIBE without filters, invalid UTF-8 and U+0000 in topics, filters and
//! CONNECT fields. Each closes its own connection (with a CONNACK only where the CONNECT came
//! first) and nothing else.
//!
//! A second test runs the broker binary with `max_packet_size` at the protocol maximum, where
//! a giant header passes the size check, and checks that headers alone cost no memory.

use std::time::Duration;

use amqtt_core::codec::{Connect, Packet, QoS};
use amqtt_tests::{connect_packet, publish_packet, read_until_closed};
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use crate::support::{CLOSE_WITHIN, ChildBroker, LiveBroker, Probe, encode, open_raw, reset};

/// The broker's `max_packet_size` in the first test.
const MAX_PACKET_SIZE: usize = 4096;
/// The CONNACK accepting a clean session.
const CONNACK_ACCEPTED: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

/// A QoS 0 PUBLISH frame of exactly `frame_len` bytes (128 to 16 383 bytes of remaining length).
fn publish_frame(frame_len: usize) -> Vec<u8> {
    let mut publish = publish_packet("big/frame", "", QoS::AtMostOnce, false, None);
    let head = Packet::Publish(publish.clone()).encoded_len();
    publish.payload = vec![b'x'; frame_len - head - 1].into();
    let frame = encode(&Packet::Publish(publish));
    assert_eq!(frame.len(), frame_len, "size of the test PUBLISH");
    frame
}

/// A CONNECT frame of exactly `frame_len` bytes (128 to 16 383 bytes of remaining length),
/// made long by its password.
fn connect_frame(frame_len: usize) -> Vec<u8> {
    let mut connect = Connect {
        username: Some("u".into()),
        password: Some(Bytes::new()),
        ..connect_packet("big-connect", true)
    };
    let head = Packet::Connect(Box::new(connect.clone())).encoded_len();
    connect.password = Some(vec![b'p'; frame_len - head - 1].into());
    let frame = encode(&Packet::Connect(Box::new(connect)));
    assert_eq!(frame.len(), frame_len, "size of the test CONNECT");
    frame
}

/// The encoding of `connect` with the string field whose bytes are `field` replaced by `bad`
/// (same length): how a CONNECT with invalid UTF-8 is made.
fn connect_with_patched(connect: Connect, field: &[u8], bad: &[u8]) -> Vec<u8> {
    assert_eq!(field.len(), bad.len(), "patch keeps the length");
    let mut frame = encode(&Packet::Connect(Box::new(connect)));
    let at = frame
        .windows(field.len())
        .position(|w| w == field)
        .expect("field in the CONNECT");
    frame[at..at + field.len()].copy_from_slice(bad);
    frame
}

/// The hostile frames sent after a valid CONNECT: (what, bytes).
fn after_connect_cases() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "remaining length at the maximum, no body",
            vec![0x30, 0xFF, 0xFF, 0xFF, 0x7F],
        ),
        (
            "PUBLISH one byte over max_packet_size, sent whole",
            publish_frame(MAX_PACKET_SIZE + 1),
        ),
        (
            "a 5th remaining-length byte",
            vec![0x30, 0x80, 0x80, 0x80, 0x80, 0x01],
        ),
        (
            "PUBLISH topic length past the frame",
            vec![0x30, 0x05, 0x00, 0x40, b'a', b'b', b'c'],
        ),
        (
            "QoS 1 PUBLISH topic length 65535 in a 4-byte frame",
            vec![0x32, 0x04, 0xFF, 0xFF, b'a', b'b'],
        ),
        ("SUBSCRIBE with zero filters", vec![0x82, 0x02, 0x00, 0x01]),
        (
            "UNSUBSCRIBE with zero filters",
            vec![0xA2, 0x02, 0x00, 0x01],
        ),
        (
            "SUBSCRIBE filter length past the frame",
            vec![0x82, 0x06, 0x00, 0x01, 0x00, 0x09, b'a', 0x01],
        ),
        (
            "SUBSCRIBE without the requested QoS byte",
            vec![0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'],
        ),
        (
            "PUBLISH topic with invalid UTF-8 (C3 28)",
            vec![0x30, 0x05, 0x00, 0x02, 0xC3, 0x28, b'x'],
        ),
        (
            "PUBLISH topic with overlong UTF-8 (C0 AF)",
            vec![0x30, 0x05, 0x00, 0x02, 0xC0, 0xAF, b'x'],
        ),
        (
            "PUBLISH topic with a UTF-16 surrogate (ED A0 80)",
            vec![0x30, 0x06, 0x00, 0x03, 0xED, 0xA0, 0x80, b'x'],
        ),
        (
            "PUBLISH topic with U+0000",
            vec![0x30, 0x06, 0x00, 0x03, b'a', 0x00, b'b', b'x'],
        ),
        (
            "SUBSCRIBE filter with invalid UTF-8 (FF)",
            vec![0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0xFF, 0x00],
        ),
        (
            "UNSUBSCRIBE filter with a lone continuation byte (80)",
            vec![0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 0x80],
        ),
        ("PINGREQ with a body", vec![0xC0, 0x01, 0x00]),
        ("PUBACK one byte short", vec![0x40, 0x01, 0x00]),
    ]
}

/// The hostile frames sent as the very first bytes: (what, bytes).
fn first_packet_cases() -> Vec<(&'static str, Vec<u8>)> {
    let with_will = Connect {
        will: Some(amqtt_tests::will("wt", "m", QoS::AtMostOnce, false)),
        ..connect_packet("will-utf8", true)
    };
    vec![
        (
            "CONNECT header at the maximum remaining length",
            vec![0x10, 0xFF, 0xFF, 0xFF, 0x7F],
        ),
        (
            "CONNECT one byte over max_packet_size",
            connect_frame(MAX_PACKET_SIZE + 1),
        ),
        (
            "CONNECT with a 5th remaining-length byte",
            vec![0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        ),
        ("CONNECT with remaining length 0", vec![0x10, 0x00]),
        (
            "CONNECT protocol name length past the frame",
            vec![0x10, 0x04, 0x00, 0x20, b'M', b'Q'],
        ),
        (
            "CONNECT client id with invalid UTF-8",
            connect_with_patched(
                connect_packet("idXY", true),
                b"idXY",
                &[b'i', b'd', 0xC3, 0x28],
            ),
        ),
        (
            "CONNECT will topic with invalid UTF-8",
            connect_with_patched(with_will, b"\x00\x02wt", &[0x00, 0x02, 0xFF, 0xFE]),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn giant_and_malformed_frames_close_only_their_own_connection() {
    let broker = LiveBroker::start(&format!("max_packet_size: {MAX_PACKET_SIZE}\n")).await;
    let probe = Probe::start(broker.addr(), "frames").await;
    let errors_before = broker.stats().protocol_errors.get();

    let connect = encode(&Packet::Connect(Box::new(connect_packet("", true))));
    let mut tasks = Vec::new();
    let cases = after_connect_cases()
        .into_iter()
        .map(|case| (case, true))
        .chain(first_packet_cases().into_iter().map(|case| (case, false)));
    for ((what, bad), after_connect) in cases {
        let addr = broker.addr();
        let connect = connect.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = open_raw(addr).await;
            let mut bytes = if after_connect { connect } else { Vec::new() };
            bytes.extend(bad);
            // The broker may close before the whole frame is written: a failed write is fine.
            let _ = stream.write_all(&bytes).await;
            let received = read_until_closed(&mut stream, CLOSE_WITHIN)
                .await
                .unwrap_or_else(|| panic!("{what}: still open after {CLOSE_WITHIN:?}"));
            let expected: &[u8] = if after_connect {
                &CONNACK_ACCEPTED
            } else {
                &[]
            };
            assert_eq!(
                received, expected,
                "{what}: what the broker sent before closing"
            );
        }));
    }
    let cases = u64::try_from(tasks.len()).expect("few cases");
    for task in tasks {
        task.await.expect("frame case");
    }

    let (report, _probe) = probe.finish().await;
    println!("frames: probe {report:?}");
    let errors = broker.stats().protocol_errors.get() - errors_before;
    assert!(
        errors >= cases,
        "{errors} protocol errors counted for {cases} malformed frames"
    );
    broker.settle(1).await;
    broker.assert_consistent().await;
}

/// Sockets that each send a header declaring a 256 MiB frame, in the giant-header test.
const GIANT_HEADERS: usize = 8;
/// Body bytes each of them then sends.
const GIANT_BODY: usize = 64 * 1024;
/// Resident memory the broker may gain while those sockets are open.
const GIANT_RSS_BUDGET_KIB: u64 = 64 * 1024;
/// Address space the broker may reserve meanwhile: a buffer grows with what arrived, not with
/// what a header declares (reserving the declared 256 MiB each took 2 GiB here).
const GIANT_VIRTUAL_BUDGET_KIB: u64 = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn giant_headers_at_the_protocol_maximum_cost_no_memory() {
    // Remaining length 268 435 455 plus a 5-byte fixed header: the largest frame MQTT allows.
    let mut broker = ChildBroker::start("max_packet_size: 268435460\n").await;
    let probe = Probe::start(broker.addr, "giant").await;
    let start = broker.rss_kib();
    let start_virtual = broker.status_kib("VmSize:");

    let connect = encode(&Packet::Connect(Box::new(connect_packet("", true))));
    let mut streams = Vec::new();
    for i in 0..GIANT_HEADERS {
        let mut stream = open_raw(broker.addr).await;
        let mut bytes = if i % 2 == 0 {
            connect.clone()
        } else {
            Vec::new()
        };
        // PUBLISH (or, as a first packet, CONNECT) of the maximum remaining length.
        bytes.extend([if i % 2 == 0 { 0x30 } else { 0x10 }, 0xFF, 0xFF, 0xFF, 0x7F]);
        bytes.extend([0, 4, b'g', b'/', b'i', b'g']);
        bytes.extend(vec![b'x'; GIANT_BODY]);
        stream
            .write_all(&bytes)
            .await
            .expect("the broker reads a frame within its limit");
        streams.push(stream);
    }
    // Let the broker read what was sent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.assert_running();
    let during = broker.rss_kib();
    let during_virtual = broker.status_kib("VmSize:");
    for stream in streams {
        reset(stream);
    }
    let (report, _probe) = probe.finish().await;
    broker.assert_running();
    println!(
        "giant headers: RSS {start} -> {during} KiB, VmSize {start_virtual} -> \
         {during_virtual} KiB; probe {report:?}"
    );
    assert!(
        during <= start + GIANT_RSS_BUDGET_KIB,
        "{GIANT_HEADERS} giant headers with {GIANT_BODY} bytes of body each took the broker \
         from {start} KiB to {during} KiB resident"
    );
    assert!(
        during_virtual <= start_virtual + GIANT_VIRTUAL_BUDGET_KIB,
        "{GIANT_HEADERS} giant headers took the broker's address space from {start_virtual} KiB \
         to {during_virtual} KiB"
    );
}
