//! Benchmarks of the MQTT codec: decoding and encoding a QoS 1 PUBLISH with a 64-byte and with
//! a 4 KiB payload, one packet per iteration.

use std::hint::black_box;
use std::num::NonZeroU16;

use amqtt_core::codec::{ByteString, Packet, Publish, QoS, decode};
use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_main};

/// Payload sizes benchmarked: a small telemetry message and a larger one.
const PAYLOADS: [(&str, usize); 2] = [("64B", 64), ("4KiB", 4096)];

/// Maximum packet size passed to `decode`, as a broker would configure it.
const MAX_SIZE: usize = 1 << 20;

/// A QoS 1 PUBLISH with a realistic topic and a payload of `len` bytes.
fn publish(len: usize) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: ByteString::from_static("site/42/device/1337/telemetry/temperature"),
        packet_id: NonZeroU16::new(4711),
        payload: Bytes::from(vec![0x5A; len]),
        properties: None,
    })
}

fn decoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec/decode_publish");
    group.throughput(Throughput::Elements(1));
    for (name, len) in PAYLOADS {
        let mut wire = BytesMut::new();
        publish(len).encode(&mut wire);
        let wire = wire.freeze();
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || BytesMut::from(&wire[..]),
                |buf| black_box(decode(buf, MAX_SIZE)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn encoding(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec/encode_publish");
    group.throughput(Throughput::Elements(1));
    for (name, len) in PAYLOADS {
        let packet = publish(len);
        let mut buf = BytesMut::with_capacity(packet.encoded_len());
        group.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                black_box(&packet).encode(&mut buf);
                black_box(buf.len())
            });
        });
    }
    group.finish();
}

// `criterion_group!` generates a public function it cannot document.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::decoding, super::encoding);
}
criterion_main!(group::benches);
