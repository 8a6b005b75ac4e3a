//! Case 5: QoS 2 packet-id abuse. One packet id reused for different messages before PUBREL,
//! PUBREL for ids never received, PUBREC/PUBCOMP/PUBACK for ids never sent, all 65 535 ids left
//! un-released by one client, and a subscriber that never acknowledges what it is sent.
//!
//! What the broker does with the 65 535 ids: it remembers each un-released id (a set of `u16`
//! per session), so one client holds at most 65 535 entries; they go with PUBREL.

use std::num::NonZeroU16;
use std::time::Duration;

use amqtt_core::codec::{Packet, Publish, QoS};
use amqtt_tests::publish_packet;
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::support::{Hostile, LiveBroker, Probe, encode, open_raw, reset};

/// A packet id.
fn id(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("non-zero packet id")
}

/// Receives the next PUBLISH on `client` (skipping nothing else: any other packet fails).
async fn next_publish(client: &mut Hostile) -> Publish {
    match client.recv().await {
        Packet::Publish(p) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

/// Completes the receiver's side of a QoS 2 delivery of `p`: PUBREC, the PUBREL, PUBCOMP.
async fn complete_qos2(client: &mut Hostile, p: &Publish) {
    let pid = p.packet_id.expect("QoS 2 PUBLISH has an id");
    client.send(&Packet::PubRec(pid.into())).await;
    assert_eq!(client.recv().await, Packet::PubRel(pid.into()));
    client.send(&Packet::PubComp(pid.into())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_and_unknown_qos2_ids_are_handled_per_the_spec() {
    let broker = LiveBroker::start("").await;
    let probe = Probe::start(broker.addr(), "qos2-ids").await;
    let mut subscriber = Hostile::connect(broker.addr(), "q2-sub", true).await;
    subscriber
        .subscribe(1, &[("q2/reuse", QoS::ExactlyOnce)])
        .await;
    let mut publisher = Hostile::connect(broker.addr(), "q2-pub", true).await;

    // The same id for a different message before PUBREL: a duplicate, acknowledged again and
    // not delivered again [MQTT-4.3.3-2].
    for payload in ["first", "second (same id)"] {
        let publish = publish_packet("q2/reuse", payload, QoS::ExactlyOnce, false, Some(7));
        publisher.send(&Packet::Publish(publish)).await;
        assert_eq!(
            publisher.recv().await,
            Packet::PubRec(id(7).into()),
            "{payload}"
        );
    }
    let first = next_publish(&mut subscriber).await;
    assert_eq!(&first.payload[..], b"first");
    complete_qos2(&mut subscriber, &first).await;
    assert_eq!(
        subscriber.recv_within(Duration::from_millis(300)).await,
        None,
        "a reused id before PUBREL must not deliver again"
    );
    // After PUBREL the id is free: the next message with it is new.
    publisher.send(&Packet::PubRel(id(7).into())).await;
    assert_eq!(publisher.recv().await, Packet::PubComp(id(7).into()));
    let third = publish_packet("q2/reuse", "third", QoS::ExactlyOnce, false, Some(7));
    publisher.send(&Packet::Publish(third)).await;
    assert_eq!(publisher.recv().await, Packet::PubRec(id(7).into()));
    let third = next_publish(&mut subscriber).await;
    assert_eq!(&third.payload[..], b"third");
    complete_qos2(&mut subscriber, &third).await;
    publisher.send(&Packet::PubRel(id(7).into())).await;
    assert_eq!(publisher.recv().await, Packet::PubComp(id(7).into()));

    // PUBREL for ids never received: PUBCOMP all the same [MQTT-4.3.3-2].
    for n in [999, 1000, 65_535] {
        publisher.send(&Packet::PubRel(id(n).into())).await;
        assert_eq!(publisher.recv().await, Packet::PubComp(id(n).into()));
    }
    // PUBREC, PUBCOMP and PUBACK for ids the broker never sent: the connection survives (a
    // PUBREC may be answered with a PUBREL) and still answers a PINGREQ.
    for stray in [
        Packet::PubRec(id(555).into()),
        Packet::PubComp(id(556).into()),
        Packet::PubAck(id(557).into()),
    ] {
        publisher.send(&stray).await;
    }
    publisher.send(&Packet::PingReq).await;
    loop {
        match publisher.recv().await {
            Packet::PingResp => break,
            Packet::PubRel(amqtt_core::codec::Ack { packet_id: n, .. }) if n == id(555) => {}
            other => panic!("unexpected answer to stray acks: {other:?}"),
        }
    }
    let incoming = broker
        .ctx
        .session("q2-pub")
        .expect("publisher's session")
        .incoming_pending;
    assert_eq!(incoming, 0, "no QoS 2 id left un-released");

    let (report, _probe) = probe.finish().await;
    println!("qos2 ids: probe {report:?}");
    publisher.reset();
    subscriber.reset();
    broker.settle(1).await;
    broker.assert_consistent().await;
}

/// The broker's in-flight window and queue in the flood test.
const MAX_INFLIGHT: usize = 20;
const MAX_QUEUED: usize = 100;

/// Sends one packet per id in `1..=65535`, made by `packet`, in large writes on `writer`.
async fn send_for_every_id(writer: &mut OwnedWriteHalf, packet: impl Fn(NonZeroU16) -> Packet) {
    let mut out = Vec::new();
    for n in 1..=u16::MAX {
        out.extend(encode(&packet(id(n))));
        if out.len() > 64 * 1024 || n == u16::MAX {
            writer.write_all(&out).await.expect("write to the broker");
            out.clear();
        }
    }
}

/// Reads packets from `reader` until one answer per id in `1..=65535` of the kind `answer`
/// recognises has arrived (each id once, in order); fails on anything else or after `within`.
async fn expect_every_id(
    reader: &mut OwnedReadHalf,
    answer: impl Fn(&Packet) -> Option<NonZeroU16>,
    within: Duration,
) {
    let mut buf = BytesMut::new();
    let mut next: u32 = 1;
    let read_all = async {
        while next <= u32::from(u16::MAX) {
            while let Some(packet) =
                amqtt_core::codec::decode(&mut buf, 1024).expect("broker sends valid packets")
            {
                let got = answer(&packet).unwrap_or_else(|| panic!("unexpected {packet:?}"));
                assert_eq!(u32::from(got.get()), next, "answers in order");
                next += 1;
            }
            if next > u32::from(u16::MAX) {
                break;
            }
            buf.reserve(64 * 1024);
            let n = reader
                .read_buf(&mut buf)
                .await
                .expect("read from the broker");
            assert!(
                n > 0,
                "the broker closed the connection after {next} answers"
            );
        }
    };
    let finished = tokio::time::timeout(within, read_all).await.is_ok();
    assert!(
        finished,
        "only {} of 65535 answers within {within:?}",
        next - 1
    );
}

/// Sends `packet` for every packet id from a task of its own while it expects the broker's
/// `answer` for every id in order (within 20 s), and hands the writer back.
async fn exchange_every_id(
    mut writer: OwnedWriteHalf,
    reader: &mut OwnedReadHalf,
    answer: fn(&Packet) -> Option<NonZeroU16>,
    packet: impl Fn(NonZeroU16) -> Packet + Send + 'static,
) -> OwnedWriteHalf {
    let sending = tokio::spawn(async move {
        send_for_every_id(&mut writer, packet).await;
        writer
    });
    expect_every_id(reader, answer, Duration::from_secs(20)).await;
    sending.await.expect("writer task")
}

/// The id of a PUBREC.
fn pubrec_id(packet: &Packet) -> Option<NonZeroU16> {
    match packet {
        Packet::PubRec(amqtt_core::codec::Ack { packet_id: n, .. }) => Some(*n),
        _ => None,
    }
}

/// The id of a PUBCOMP.
fn pubcomp_id(packet: &Packet) -> Option<NonZeroU16> {
    match packet {
        Packet::PubComp(amqtt_core::codec::Ack { packet_id: n, .. }) => Some(*n),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_65535_unreleased_qos2_ids_are_bounded_and_a_subscriber_that_never_acks_is_capped() {
    let broker = LiveBroker::start(&format!(
        "max_inflight: {MAX_INFLIGHT}\nmax_queued: {MAX_QUEUED}\nbackpressure_timeout: 0.2\n"
    ))
    .await;
    let probe = Probe::start(broker.addr(), "qos2-flood").await;
    let dropped_before = broker.stats().dropped_queue_full.get();

    // The subscriber reads everything it is sent and acknowledges none of it.
    let mut silent = Hostile::connect(broker.addr(), "never-acks", true).await;
    silent.subscribe(1, &[("flood/#", QoS::ExactlyOnce)]).await;
    let drain = tokio::spawn(async move {
        while silent.recv_within(Duration::from_secs(30)).await.is_some() {}
        silent
    });

    let stream = open_raw(broker.addr()).await;
    let (mut reader, mut writer) = stream.into_split();
    let connect = amqtt_tests::connect_packet("flooder", true);
    writer
        .write_all(&encode(&Packet::Connect(Box::new(connect))))
        .await
        .expect("send CONNECT");
    let mut connack = [0u8; 4];
    reader.read_exact(&mut connack).await.expect("CONNACK");
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);

    // Every id, QoS 2, never released: one PUBREC each.
    let writer = exchange_every_id(writer, &mut reader, pubrec_id, |n| {
        Packet::Publish(publish_packet(
            "flood/x",
            "unreleased",
            QoS::ExactlyOnce,
            false,
            Some(n.get()),
        ))
    })
    .await;

    let flooder = broker.ctx.session("flooder").expect("flooder's session");
    assert_eq!(
        flooder.incoming_pending, 65_535,
        "one entry per un-released id, no more"
    );
    // The subscriber that never acknowledges holds its window and a capped queue; the rest
    // was dropped and counted.
    let never = broker
        .ctx
        .session("never-acks")
        .expect("subscriber's session");
    assert!(
        never.inflight <= MAX_INFLIGHT,
        "in flight: {}",
        never.inflight
    );
    assert!(never.queued <= MAX_QUEUED + 1, "queued: {}", never.queued);
    let dropped = broker.stats().dropped_queue_full.get() - dropped_before;
    let kept = u64::try_from(MAX_INFLIGHT + MAX_QUEUED).expect("small");
    assert!(
        dropped + kept + 10 >= 65_535,
        "only {dropped} messages beyond the stalled subscriber's queue were dropped"
    );

    // Retransmitting them all (DUP) does not grow the set and routes nothing again (a routed
    // message would be dropped at the stalled subscriber, and counted).
    let dropped_before = broker.stats().dropped_queue_full.get();
    let writer = exchange_every_id(writer, &mut reader, pubrec_id, |n| {
        let mut p = publish_packet("flood/x", "again", QoS::ExactlyOnce, false, Some(n.get()));
        p.dup = true;
        Packet::Publish(p)
    })
    .await;
    let flooder = broker.ctx.session("flooder").expect("flooder's session");
    assert_eq!(flooder.incoming_pending, 65_535, "DUP retransmissions");

    assert_eq!(
        broker.stats().dropped_queue_full.get(),
        dropped_before,
        "DUP retransmissions were routed again"
    );

    // Releasing every id empties the set.
    let writer = exchange_every_id(writer, &mut reader, pubcomp_id, |n| {
        Packet::PubRel(n.into())
    })
    .await;
    let flooder = broker.ctx.session("flooder").expect("flooder's session");
    assert_eq!(flooder.incoming_pending, 0, "after PUBREL for every id");

    let (report, _probe) = probe.finish().await;
    println!("qos2 flood: probe {report:?}");
    reset(reader.reunite(writer).expect("halves of one stream"));
    // Ends the subscriber's reading task, which drops (closes) its socket.
    drain.abort();
    broker.settle(1).await;
    broker.assert_consistent().await;
}
