//! Case 1: mutated packets of every MQTT 3.1.1 type (the server-only ones included), sent from
//! several sockets at once, some after a valid CONNECT and some as the first packet.
//!
//! The client-side codec is the oracle: when it rejects the bytes (or they hold a packet a
//! client may not send, or do not start with CONNECT), the broker must close the connection on
//! its own; otherwise it may answer, and must close once the client ends its stream.

use std::net::SocketAddr;
use std::num::NonZeroU16;

use amqtt_core::codec::{
    self, ByteString, ConnAck, Packet, QoS, ReasonCode, SubAck, SubAckCode, Subscribe, Unsubscribe,
};
use amqtt_tests::{connect_packet, publish_packet, read_until_closed, will};
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use crate::support::{CLOSE_WITHIN, LiveBroker, Probe, XorShift, encode, open_raw};

/// The broker's `max_packet_size` in this test (the oracle decodes with the same limit).
const MAX_PACKET_SIZE: usize = 64 * 1024;
/// Concurrent sockets.
const WORKERS: u64 = 6;
/// Connections each worker opens, one after the other.
const CONNECTIONS_PER_WORKER: usize = 300;

/// A packet id.
fn id(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("non-zero packet id")
}

/// Valid encodings of every packet type: CONNECT (plain, and with will, credentials and clean
/// session 0) with client id `client_id`, PUBLISH at each QoS with and without retain, every
/// ack, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT, and the server-only CONNACK, SUBACK,
/// UNSUBACK and PINGRESP.
fn valid_packets(client_id: &str) -> Vec<Vec<u8>> {
    let full_connect = codec::Connect {
        keep_alive: 30,
        will: Some(will("hostile/will", "gone", QoS::AtLeastOnce, true)),
        username: Some(ByteString::from("user")),
        password: Some(Bytes::from_static(b"secret")),
        ..connect_packet(client_id, false)
    };
    let mut packets = vec![
        Packet::Connect(Box::new(connect_packet(client_id, true))),
        Packet::Connect(Box::new(full_connect)),
    ];
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        for retain in [false, true] {
            let packet_id = (qos != QoS::AtMostOnce).then_some(7);
            packets.push(Packet::Publish(publish_packet(
                "hostile/mutated",
                "payload",
                qos,
                retain,
                packet_id,
            )));
        }
    }
    packets.extend([
        Packet::PubAck(id(1).into()),
        Packet::PubRec(id(2).into()),
        Packet::PubRel(id(3).into()),
        Packet::PubComp(id(4).into()),
        Packet::Subscribe(Subscribe {
            packet_id: id(5),
            filters: vec![
                (ByteString::from("hostile/+/x"), QoS::AtLeastOnce.into()),
                (ByteString::from("hostile/#"), QoS::ExactlyOnce.into()),
            ],
            properties: None,
        }),
        Packet::Unsubscribe(Unsubscribe {
            packet_id: id(6),
            filters: vec![ByteString::from("hostile/#")],
            properties: None,
        }),
        Packet::PingReq,
        Packet::Disconnect(Default::default()),
        Packet::ConnAck(ConnAck {
            session_present: false,
            code: ReasonCode::Success,
            properties: None,
        }),
        Packet::SubAck(SubAck {
            packet_id: id(5),
            codes: vec![SubAckCode::Success(QoS::AtLeastOnce), SubAckCode::FAILURE],
            properties: None,
        }),
        Packet::UnsubAck(id(6).into()),
        Packet::PingResp,
    ]);
    packets.iter().map(encode).collect()
}

/// The variable-length encoding of a remaining length (up to 4 bytes).
fn remaining_length_bytes(mut len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = u8::try_from(len % 128).expect("below 128");
        len /= 128;
        if len == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// `frame` with its remaining length replaced by a lie (the body is unchanged).
fn lie_about_length(rng: &mut XorShift, frame: &[u8]) -> Vec<u8> {
    // The header's length field ends at the first byte without the continuation bit.
    let field_end = frame[1..]
        .iter()
        .position(|b| b & 0x80 == 0)
        .map_or(frame.len(), |p| p + 2);
    let real = frame.len() - field_end;
    let lies = [
        0,
        real.saturating_sub(1),
        real + 1,
        real + 100,
        127,
        128,
        16_383,
        16_384,
        MAX_PACKET_SIZE - 2,
        MAX_PACKET_SIZE + 1,
        2_097_152,
        codec::MAX_REMAINING_LENGTH,
    ];
    let mut out = vec![frame[0]];
    out.extend(remaining_length_bytes(lies[rng.below(lies.len())]));
    out.extend_from_slice(&frame[field_end.min(frame.len())..]);
    out
}

/// One mutation of a packet picked from `base`: bit flips, inserted or deleted bytes, a
/// truncation, a lie in the remaining length, a splice of two packets, or two of these.
fn mutate(rng: &mut XorShift, base: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = base[rng.below(base.len())].clone();
    let rounds = if rng.chance(20) { 2 } else { 1 };
    for _ in 0..rounds {
        match rng.below(6) {
            0 => {
                for _ in 0..=rng.below(3) {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
            1 => {
                for _ in 0..=rng.below(3) {
                    let at = rng.below(bytes.len() + 1);
                    bytes.insert(at, rng.byte());
                }
            }
            2 if bytes.len() > 1 => {
                for _ in 0..=rng.below(2) {
                    if bytes.len() > 1 {
                        let at = rng.below(bytes.len());
                        bytes.remove(at);
                    }
                }
            }
            3 if bytes.len() > 1 => bytes.truncate(1 + rng.below(bytes.len() - 1)),
            4 if bytes.len() > 1 => bytes = lie_about_length(rng, &bytes),
            _ => {
                let other = &base[rng.below(base.len())];
                let cut = rng.below(bytes.len() + 1);
                bytes.truncate(cut);
                bytes.extend_from_slice(&other[rng.below(other.len())..]);
                if bytes.is_empty() {
                    bytes.push(rng.byte());
                }
            }
        }
    }
    bytes
}

/// What the broker must do with a byte stream, as the client-side codec sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// It holds a malformed packet, a packet only a server sends, a second CONNECT, a
    /// DISCONNECT, or does not start with CONNECT: the broker closes on its own.
    Closes,
    /// Every complete packet is acceptable (a partial one may follow): the broker answers and
    /// closes only when the stream ends.
    MayStayOpen,
}

/// Judges `stream` (everything one connection sends) packet by packet.
fn judge(stream: &[u8]) -> Verdict {
    let mut buf = BytesMut::from(stream);
    let mut first = true;
    // The broker reads what follows a CONNECT in the version the CONNECT names.
    let mut version = codec::ProtocolVersion::V311;
    loop {
        let packet = match codec::decode_as(&mut buf, MAX_PACKET_SIZE, version) {
            Err(_) => return Verdict::Closes,
            Ok(None) => return Verdict::MayStayOpen,
            Ok(Some(packet)) => packet,
        };
        let allowed = match packet {
            Packet::Connect(c) => {
                version = c.protocol;
                first
            }
            Packet::Publish(_)
            | Packet::PubAck(_)
            | Packet::PubRec(_)
            | Packet::PubRel(_)
            | Packet::PubComp(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq => !first,
            Packet::Disconnect(_)
            | Packet::ConnAck(_)
            | Packet::SubAck(_)
            | Packet::UnsubAck(_)
            | Packet::PingResp
            | Packet::Auth(_) => false,
        };
        if !allowed {
            return Verdict::Closes;
        }
        first = false;
    }
}

/// One worker: [`CONNECTIONS_PER_WORKER`] connections one after the other, each sending either
/// mutated packets as its very first bytes, or a valid CONNECT and then mutated (and sometimes
/// valid) packets. Returns how many the oracle judged must-close.
async fn worker(addr: SocketAddr, seed: u64) -> usize {
    let mut rng = XorShift::new(seed);
    let mut must_close = 0;
    for n in 0..CONNECTIONS_PER_WORKER {
        // Random client ids, so no two live connections share one by a mutation's chance.
        let client_id = format!("mut-{:016x}", rng.next_u64());
        let base = valid_packets(&client_id);
        let mut bytes = Vec::new();
        let after_connect = rng.chance(60);
        if after_connect {
            bytes.extend(encode(&Packet::Connect(Box::new(connect_packet(
                &client_id, true,
            )))));
        }
        for _ in 0..=rng.below(6) {
            if after_connect && rng.chance(25) {
                // A valid client packet: a PUBLISH, an ack, SUBSCRIBE, UNSUBSCRIBE or PINGREQ.
                bytes.extend_from_slice(&base[2 + rng.below(base.len() - 7)]);
            }
            bytes.extend(mutate(&mut rng, &base));
        }
        let verdict = judge(&bytes);
        let mut stream = open_raw(addr).await;
        // A write may fail once the broker has closed the connection: that is its answer.
        let _ = stream.write_all(&bytes).await;
        if verdict == Verdict::Closes {
            must_close += 1;
        } else {
            let _ = stream.shutdown().await;
        }
        if read_until_closed(&mut stream, CLOSE_WITHIN).await.is_none() {
            panic!(
                "broker did not close connection {n} of seed {seed} ({verdict:?}) within \
                 {CLOSE_WITHIN:?}; it sent {bytes:02x?}"
            );
        }
    }
    must_close
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_packets_of_every_type_close_only_their_own_connections() {
    let broker = LiveBroker::start(&format!(
        "max_packet_size: {MAX_PACKET_SIZE}\nconnect_timeout: 2\nbackpressure_timeout: 0.5\n"
    ))
    .await;
    let probe = Probe::start(broker.addr(), "mutation").await;
    let errors_before = broker.stats().protocol_errors.get();

    let tasks: Vec<_> = (1..=WORKERS)
        .map(|seed| tokio::spawn(worker(broker.addr(), seed)))
        .collect();
    let mut must_close = 0;
    for task in tasks {
        must_close += task.await.expect("mutation worker");
    }

    let (report, _probe) = probe.finish().await;
    let errors = broker.stats().protocol_errors.get() - errors_before;
    println!(
        "mutation: {must_close} must-close connections, {errors} protocol errors, probe {report:?}"
    );
    // The mix really was hostile: most streams are malformed, and the broker noticed.
    let total = usize::try_from(WORKERS).expect("small") * CONNECTIONS_PER_WORKER;
    assert!(
        must_close * 2 > total,
        "only {must_close} of {total} streams were invalid: the mutations are too mild"
    );
    assert!(
        errors * 2 > u64::try_from(must_close).expect("small"),
        "{errors} protocol errors counted for {must_close} must-close streams"
    );
    // Only the probe is still connected, and the state is consistent.
    broker.settle(1).await;
    broker.assert_consistent().await;
}
