//! `max_messages_per_second` and `max_bytes_per_second`: a client over its rate is read more
//! slowly; nothing it sent is lost, and other clients are not slowed down.

use std::time::{Duration, Instant};

use amqtt_core::codec::{Packet, QoS};
use amqtt_tests::{RawClient, pid, publish_packet};
use bytes::BytesMut;

use super::{broker_with_sys, sys_shows, sys_watcher};

/// `count` PUBLISH packets to `topic` (payload `payload` plus the index) in one buffer, QoS 1
/// with packet ids from 1.
fn flood(topic: &str, payload: &str, count: usize) -> BytesMut {
    let mut out = BytesMut::new();
    for i in 0..count {
        let id = Some(i as u16 + 1);
        let message = format!("{payload}{i}");
        Packet::Publish(publish_packet(topic, &message, QoS::AtLeastOnce, false, id))
            .encode(&mut out);
    }
    out
}

/// Receives `count` messages of `topic` in order, acknowledging them; returns when the last
/// one came.
async fn receive_all(sub: &mut RawClient, topic: &str, payload: &str, count: usize) -> Instant {
    for i in 0..count {
        sub.expect_publish_and_ack(topic, &format!("{payload}{i}"), QoS::AtLeastOnce, false)
            .await;
    }
    Instant::now()
}

#[tokio::test]
async fn a_client_over_its_message_rate_is_slowed_down_and_loses_nothing() {
    // 20 a second, bursts of 5: 25 messages at once take (25 - 5) / 20 = 1 s.
    let broker =
        broker_with_sys("max_messages_per_second: 20\nmax_messages_per_second_burst: 5\n").await;
    let mut sys = sys_watcher(&broker, "messages/publish/throttled").await;
    let mut sub = RawClient::connect(broker.addr, "sub").await;
    sub.subscribe(
        1,
        &[("fast", QoS::AtLeastOnce), ("other", QoS::AtLeastOnce)],
    )
    .await;
    let mut fast = RawClient::connect(broker.addr, "fast").await;
    let mut other = RawClient::connect(broker.addr, "other").await;

    let started = Instant::now();
    fast.send_raw(&flood("fast", "f", 25)).await;
    // Another client within its burst is not held up by the one over its rate.
    other.send_raw(&flood("other", "o", 5)).await;
    for i in 0..5 {
        assert_eq!(other.recv().await, Packet::PubAck(pid(i + 1).into()));
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the other client waited {:?}",
        started.elapsed()
    );
    let mut fast_acks = 0;
    let mut fast_done = None;
    let mut others = 0;
    // Both publishers' messages reach the subscriber, every one of them.
    while fast_acks < 25 || others < 5 {
        let publish = sub.recv_publish().await;
        sub.ack(publish.qos, publish.packet_id).await;
        if &*publish.topic == "fast" {
            assert_eq!(publish.payload, format!("f{fast_acks}").as_bytes());
            fast_acks += 1;
            if fast_acks == 25 {
                fast_done = Some(started.elapsed());
            }
        } else {
            assert_eq!(publish.payload, format!("o{others}").as_bytes());
            others += 1;
        }
    }
    let took = fast_done.expect("all fast messages");
    assert!(
        took >= Duration::from_millis(900),
        "25 messages at 20/s with a burst of 5 took only {took:?}"
    );
    for i in 0..25 {
        assert_eq!(fast.recv().await, Packet::PubAck(pid(i + 1).into()));
    }
    // Every message past the burst waited (one may have found a token refilled meanwhile).
    let throttled = broker.handle.stats().publishes_throttled.get();
    assert!((19..=20).contains(&throttled), "{throttled} throttled");
    sys_shows(&mut sys, "messages/publish/throttled", throttled).await;
    broker.stop().await;
}

#[tokio::test]
async fn a_client_over_its_byte_rate_is_slowed_down_and_loses_nothing() {
    // 5000 bytes a second, bursts of 1000: ten 500-byte messages (topic "b" and a payload of
    // 499 or 500 bytes) take about (5000 - 1000) / 5000 = 0.8 s.
    let broker =
        broker_with_sys("max_bytes_per_second: 5000\nmax-bytes-per-second-burst: 1000\n").await;
    let mut sub = RawClient::connect(broker.addr, "sub").await;
    sub.subscribe(1, &[("b", QoS::AtLeastOnce)]).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    let payload = "x".repeat(498);
    let started = Instant::now();
    publisher.send_raw(&flood("b", &payload, 10)).await;
    let done = receive_all(&mut sub, "b", &payload, 10).await;
    let took = done.duration_since(started);
    assert!(
        took >= Duration::from_millis(700),
        "5000 bytes at 5000/s with a burst of 1000 took only {took:?}"
    );
    let throttled = broker.handle.stats().publishes_throttled.get();
    assert!((7..=8).contains(&throttled), "{throttled} throttled");
    broker.stop().await;
}
