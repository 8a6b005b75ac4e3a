//! Backpressure: publishers feeding a congested subscriber are held back instead of having
//! their messages dropped; a subscriber that stops reading altogether is capped after
//! `backpressure_timeout` and its overflow is dropped and counted.

use std::time::{Duration, Instant};

use amqtt_core::broker::Broker;
use amqtt_core::codec::{Packet, QoS};
use amqtt_core::config::BrokerConfig;
use amqtt_plugins::PackagedPlugins;
use amqtt_tests::{RawClient, TestBroker, pid, publish_packet};
use bytes::BytesMut;

/// Payload of publisher `publisher`'s `index`-th message.
fn payload(publisher: usize, index: usize) -> String {
    format!("p{publisher}-{index}")
}

#[tokio::test]
async fn every_acknowledged_qos1_message_reaches_a_slow_subscriber() {
    const PUBLISHERS: usize = 4;
    const MESSAGES: usize = 400;
    // Queues far smaller than the flood: without backpressure most messages would be dropped.
    let broker = TestBroker::start("max_inflight: 4\nmax_queued: 8\nmax_outbound: 8\n").await;
    let mut sub = RawClient::connect(broker.addr, "sub").await;
    sub.subscribe(1, &[("flood/#", QoS::AtLeastOnce)]).await;

    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let addr = broker.addr;
            tokio::spawn(async move {
                let mut client = RawClient::connect(addr, &format!("pub{p}")).await;
                let mut out = BytesMut::new();
                for i in 0..MESSAGES {
                    let id = Some(i as u16 + 1);
                    Packet::Publish(publish_packet(
                        &format!("flood/{p}"),
                        &payload(p, i),
                        QoS::AtLeastOnce,
                        false,
                        id,
                    ))
                    .encode(&mut out);
                }
                client.send_raw(&out).await;
                for i in 0..MESSAGES {
                    assert_eq!(
                        client.recv().await,
                        Packet::PubAck(pid(i as u16 + 1).into())
                    );
                }
                client
            })
        })
        .collect();

    // A slow subscriber: it pauses now and then, so its queues keep filling up.
    let mut next = [0usize; PUBLISHERS];
    for n in 0..PUBLISHERS * MESSAGES {
        let publish = sub.recv_publish().await;
        let p: usize = publish.topic["flood/".len()..]
            .parse()
            .expect("publisher index");
        assert_eq!(
            &publish.payload[..],
            payload(p, next[p]).as_bytes(),
            "out of order or lost"
        );
        next[p] += 1;
        sub.send(Packet::PubAck(
            publish.packet_id.expect("QoS 1 has an id").into(),
        ))
        .await;
        if n % 50 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for publisher in publishers {
        publisher.await.expect("publisher task");
    }
    assert_eq!(broker.handle.stats().dropped_queue_full.get(), 0);
    sub.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn qos0_publisher_is_held_back_while_the_subscriber_does_not_read() {
    const MESSAGES: usize = 300;
    let broker = TestBroker::start("max_outbound: 4\nbackpressure_timeout: 30\n").await;
    let mut sub = RawClient::connect(broker.addr, "sub").await;
    sub.subscribe(1, &[("big", QoS::AtMostOnce)]).await;

    // 64 KiB messages, far more than the socket buffers hold: the broker's writer blocks, the
    // outbox fills and the publisher must stop being read.
    let body = "x".repeat(64 * 1024);
    let publisher = {
        let addr = broker.addr;
        tokio::spawn(async move {
            let mut client = RawClient::connect(addr, "pub").await;
            for i in 0..MESSAGES {
                let message = format!("{i:04}{body}");
                client
                    .send(Packet::Publish(publish_packet(
                        "big",
                        &message,
                        QoS::AtMostOnce,
                        false,
                        None,
                    )))
                    .await;
            }
            client
        })
    };
    let stats = broker.handle.stats();
    // Wait until the broker stops taking messages in: the publisher is held back.
    let mut last = (stats.messages_received.get(), Instant::now());
    while last.1.elapsed() < Duration::from_millis(300) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let received = stats.messages_received.get();
        if received != last.0 {
            last = (received, Instant::now());
        }
    }
    assert!(
        (last.0 as usize) < MESSAGES,
        "the publisher was never held back ({} of {MESSAGES} taken in)",
        last.0
    );
    assert_eq!(stats.dropped_qos0.get(), 0);

    // The subscriber reads again: every message arrives, in order.
    for i in 0..MESSAGES {
        let publish = sub.recv_publish().await;
        assert_eq!(&publish.payload[..4], format!("{i:04}").as_bytes());
    }
    publisher.await.expect("publisher task");
    assert_eq!(stats.dropped_qos0.get(), 0);
}

#[tokio::test]
async fn a_stalled_subscriber_holds_publishers_back_only_for_the_timeout() {
    let config = BrokerConfig::from_yaml(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n\
         max_inflight: 2\nmax_queued: 3\nbackpressure_timeout: 0.3\n\
         plugins:\n  auth_anonymous:\n  broker_sys:\n    sys_interval: 1\n",
    )
    .expect("valid config");
    let broker = TestBroker::serve(
        Broker::<PackagedPlugins>::bind(config)
            .await
            .expect("broker binds"),
    );
    let mut sys = RawClient::connect(broker.addr, "sys").await;
    sys.subscribe(
        1,
        &[("$SYS/broker/messages/publish/dropped/#", QoS::AtMostOnce)],
    )
    .await;
    let mut sub = RawClient::connect(broker.addr, "stalled").await;
    sub.subscribe(1, &[("t", QoS::AtLeastOnce)]).await;
    let mut other = RawClient::connect(broker.addr, "other").await;
    other.subscribe(1, &[("t", QoS::AtMostOnce)]).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    // The stalled subscriber never acks: two messages in flight and three queued fill it.
    let started = Instant::now();
    for i in 0..5 {
        publisher
            .publish("t", &format!("m{i}"), QoS::AtLeastOnce, false)
            .await;
    }
    // The publisher is held back before its next message is read, then let go.
    publisher.publish("t", "m5", QoS::AtLeastOnce, false).await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the publisher was not held back"
    );
    // From now on the stalled subscriber's overflow is dropped without holding anyone back.
    let started = Instant::now();
    for i in 6..10 {
        publisher
            .publish("t", &format!("m{i}"), QoS::AtLeastOnce, false)
            .await;
    }
    assert!(started.elapsed() < Duration::from_millis(300));
    assert_eq!(broker.handle.stats().dropped_queue_full.get(), 5);
    // The other subscriber got everything.
    for i in 0..10 {
        other
            .expect_publish("t", &format!("m{i}"), QoS::AtMostOnce, false)
            .await;
    }
    // Once the stalled subscriber acks, it gets what it was sent and what was queued.
    for i in 0..5 {
        sub.expect_publish_and_ack("t", &format!("m{i}"), QoS::AtLeastOnce, false)
            .await;
    }
    sub.expect_silence(Duration::from_millis(200)).await;

    // `$SYS` shows the drops.
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        assert!(Instant::now() < deadline, "$SYS showed only {seen:?}");
        let publish = sys.recv_publish().await;
        if &publish.payload[..] == b"5" {
            seen.push(publish.topic.to_string());
            seen.sort();
            seen.dedup();
        }
    }
    assert_eq!(
        seen,
        [
            "$SYS/broker/messages/publish/dropped",
            "$SYS/broker/messages/publish/dropped/queue_full"
        ]
    );
}

#[tokio::test]
async fn a_stalled_subscriber_that_drains_holds_publishers_back_again() {
    let broker =
        TestBroker::start("max_inflight: 2\nmax_queued: 3\nbackpressure_timeout: 0.3\n").await;
    let mut sub = RawClient::connect(broker.addr, "slow").await;
    sub.subscribe(1, &[("t", QoS::AtLeastOnce)]).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    // Fill it (2 in flight, 3 queued), wait out the timeout: stalled, the next two dropped.
    for i in 0..7 {
        publisher
            .publish("t", &format!("a{i}"), QoS::AtLeastOnce, false)
            .await;
    }
    assert_eq!(broker.handle.stats().dropped_queue_full.get(), 2);
    // It reads and acks everything: drained, so the stalled mark goes at the next message.
    for i in 0..5 {
        sub.expect_publish_and_ack("t", &format!("a{i}"), QoS::AtLeastOnce, false)
            .await;
    }
    // Filled again: the publisher is held back again before its sixth message is read (which
    // is then dropped, the subscriber being stalled once more).
    let started = Instant::now();
    for i in 0..6 {
        publisher
            .publish("t", &format!("b{i}"), QoS::AtLeastOnce, false)
            .await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the publisher was not held back after the subscriber drained"
    );
    assert_eq!(broker.handle.stats().dropped_queue_full.get(), 3);
}
