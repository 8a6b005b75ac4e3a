//! What the packet logger costs when debug logging is off: its two per-packet hooks on a PUBLISH,
//! against the empty plugin set, under a `tracing` subscriber at the broker's default level (info).

use std::hint::black_box;
use std::num::NonZeroU16;

use amqtt_core::codec::{ByteString, Packet, Publish, QoS};
use amqtt_core::plugin::{Hooks, Plugin, SessionInfo};
use amqtt_plugins::PacketLogger;
use bytes::Bytes;
use criterion::{Criterion, criterion_main};

/// The two per-packet hooks, guarded as the broker guards them.
fn per_packet<P: Plugin>(plugins: &P, packet: &Packet, session: &SessionInfo) {
    if P::HOOKS.contains(Hooks::PACKET_RECEIVED) {
        plugins.on_mqtt_packet_received(packet, Some(session));
    }
    if P::HOOKS.contains(Hooks::PACKET_SENT) {
        plugins.on_mqtt_packet_sent(packet, Some(session));
    }
}

fn packet_logger(c: &mut Criterion) {
    // The broker's default: info and above, so the logger's debug lines are disabled.
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .try_init();
    let packet = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: ByteString::from_static("site/42/device/1337/telemetry"),
        packet_id: NonZeroU16::new(7),
        payload: Bytes::from_static(&[0x5A; 64]),
        properties: None,
    });
    let session = SessionInfo::new("client-1");
    let mut group = c.benchmark_group("packet_logger_debug_off");
    group.bench_function("none", |b| {
        b.iter(|| per_packet(black_box(&()), black_box(&packet), &session))
    });
    group.bench_function("packet_logger", |b| {
        b.iter(|| per_packet(black_box(&PacketLogger), black_box(&packet), &session))
    });
    group.finish();
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::packet_logger);
}
criterion_main!(group::benches);
