//! End-to-end tests of PUBLISH: the QoS 0, 1 and 2 handshakes in both directions, the delivered
//! QoS, packet id allocation, QoS 2 exactly-once reception, redelivery on reconnect and the
//! in-flight window.

use std::collections::HashSet;
use std::time::Duration;

use amqtt_core::codec::{Packet, PacketId, Publish, QoS, SubAckCode};
use amqtt_tests::{RawClient, TestBroker, connect_packet, pid, publish_packet, wait_until};
use bytes::BytesMut;

const SILENCE: Duration = Duration::from_millis(400);

const ALL_QOS: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];

/// A subscriber connected as `client_id` (clean session) and subscribed to `filter` at `qos`.
async fn subscriber(broker: &TestBroker, client_id: &str, filter: &str, qos: QoS) -> RawClient {
    let mut client = RawClient::connect(broker.addr, client_id).await;
    let ack = client.subscribe(1, &[(filter, qos)]).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(qos)]);
    client
}

/// Receives a PUBLISH the broker sends at QoS 1 or 2 and returns its packet id.
async fn recv_id(client: &mut RawClient, topic: &str, payload: &str, qos: QoS) -> PacketId {
    client
        .expect_publish(topic, payload, qos, false)
        .await
        .expect("QoS 1/2 PUBLISH has a packet id")
}

#[tokio::test]
async fn qos0_publish_is_forwarded_without_any_ack() {
    let broker = TestBroker::start("").await;
    let mut sub = subscriber(&broker, "sub", "t", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    publisher
        .send(Packet::Publish(publish_packet(
            "t",
            "zero",
            QoS::AtMostOnce,
            false,
            None,
        )))
        .await;

    assert_eq!(
        sub.recv().await,
        Packet::Publish(publish_packet("t", "zero", QoS::AtMostOnce, false, None))
    );
    // Neither side is sent an acknowledgement for QoS 0 [MQTT-4.3.1-1].
    publisher.expect_silence(SILENCE).await;
    sub.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn qos1_handshakes_in_both_directions() {
    let broker = TestBroker::start("").await;
    let mut sub = subscriber(&broker, "sub", "t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    // Client -> broker: PUBLISH id 10, PUBACK 10 [MQTT-4.3.2-2].
    publisher
        .send(Packet::Publish(publish_packet(
            "t",
            "one",
            QoS::AtLeastOnce,
            false,
            Some(10),
        )))
        .await;
    assert_eq!(publisher.recv().await, Packet::PubAck(pid(10).into()));

    // Broker -> client: PUBLISH with a (non-zero) packet id of the broker's choosing, DUP 0.
    let id = recv_id(&mut sub, "t", "one", QoS::AtLeastOnce).await;
    sub.send(Packet::PubAck(id.into())).await;

    // Acknowledged: nothing is re-sent, on either side.
    sub.expect_silence(SILENCE).await;
    publisher.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn qos2_handshakes_in_both_directions() {
    let broker = TestBroker::start("").await;
    let mut sub = subscriber(&broker, "sub", "t", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    // Client -> broker: PUBLISH, PUBREC, PUBREL, PUBCOMP [MQTT-4.3.3-2].
    publisher
        .send(Packet::Publish(publish_packet(
            "t",
            "two",
            QoS::ExactlyOnce,
            false,
            Some(11),
        )))
        .await;
    assert_eq!(publisher.recv().await, Packet::PubRec(pid(11).into()));
    publisher.send(Packet::PubRel(pid(11).into())).await;
    assert_eq!(publisher.recv().await, Packet::PubComp(pid(11).into()));

    // Broker -> client: PUBLISH, PUBREC from the subscriber, PUBREL, PUBCOMP [MQTT-4.3.3-1].
    let id = recv_id(&mut sub, "t", "two", QoS::ExactlyOnce).await;
    sub.send(Packet::PubRec(id.into())).await;
    assert_eq!(sub.recv().await, Packet::PubRel(id.into()));
    sub.send(Packet::PubComp(id.into())).await;

    sub.expect_silence(SILENCE).await;
    publisher.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn delivered_qos_is_min_of_published_and_granted() {
    let broker = TestBroker::start("").await;
    // One subscriber per granted QoS, all on the same topic.
    let mut subs = Vec::new();
    for (i, granted) in ALL_QOS.into_iter().enumerate() {
        subs.push((
            granted,
            subscriber(&broker, &format!("sub{i}"), "t", granted).await,
        ));
    }
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    for published in ALL_QOS {
        let payload = format!("published at {published:?}");
        publisher.publish("t", &payload, published, false).await;
        for (granted, sub) in &mut subs {
            // [MQTT-3.8.4-6]: min(published QoS, granted QoS).
            let qos = published.min(*granted);
            sub.expect_publish_and_ack("t", &payload, qos, false).await;
        }
    }
    for (_, sub) in &mut subs {
        sub.expect_silence(SILENCE).await;
    }
}

#[tokio::test]
async fn unacked_packet_ids_are_distinct() {
    let broker = TestBroker::start("max_inflight: 300\n").await;
    let mut sub = subscriber(&broker, "sub", "t", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    let mut ids = HashSet::new();
    for i in 0..200 {
        let qos = if i % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        let payload = i.to_string();
        publisher.publish("t", &payload, qos, false).await;
        let id = recv_id(&mut sub, "t", &payload, qos).await;
        // Nothing is acknowledged, so every id is still in use [MQTT-2.3.1-2].
        assert!(ids.insert(id), "packet id {id} reused while unacknowledged");
    }
}

/// Encodes `packets` into one buffer, so a burst costs one write.
fn encode_all(packets: impl IntoIterator<Item = Packet>) -> BytesMut {
    let mut out = BytesMut::new();
    for packet in packets {
        packet.encode(&mut out);
    }
    out
}

#[tokio::test]
async fn packet_ids_skip_ids_still_in_flight() {
    // Enough messages to exhaust the 16-bit id space, so every id comes around again while
    // the first message stays unacknowledged: its id must be skipped each time.
    const BATCH: usize = 500;
    const TOTAL: usize = 65_535 + 2 * BATCH;
    let broker = TestBroker::start("max_inflight: 2000\nmax_queued: 100000\n").await;
    let mut sub = subscriber(&broker, "sub", "t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    publisher
        .publish("t", "held", QoS::AtLeastOnce, false)
        .await;
    let held = recv_id(&mut sub, "t", "held", QoS::AtLeastOnce).await;

    let mut seen = HashSet::new();
    let mut sent = 0;
    while sent < TOTAL {
        let publishes = (1..=BATCH as u16)
            .map(|i| Packet::Publish(publish_packet("t", "m", QoS::AtLeastOnce, false, Some(i))));
        publisher.send_raw(&encode_all(publishes)).await;
        for i in 1..=BATCH as u16 {
            assert_eq!(publisher.recv().await, Packet::PubAck(pid(i).into()));
        }
        let mut acks = Vec::with_capacity(BATCH);
        for _ in 0..BATCH {
            let id = recv_id(&mut sub, "t", "m", QoS::AtLeastOnce).await;
            assert_ne!(
                id, held,
                "packet id of an unacknowledged message reused (after {sent} messages)"
            );
            seen.insert(id);
            acks.push(Packet::PubAck(id.into()));
        }
        sub.send_raw(&encode_all(acks)).await;
        sent += BATCH;
    }
    // Every other id has been used: the id space really was exhausted.
    assert_eq!(seen.len(), 65_534);
    sub.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn qos2_retransmission_before_pubrel_is_delivered_once() {
    let broker = TestBroker::start("").await;
    let mut sub = subscriber(&broker, "sub", "t", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    let first = publish_packet("t", "first", QoS::ExactlyOnce, false, Some(7));
    publisher.send(Packet::Publish(first.clone())).await;
    assert_eq!(publisher.recv().await, Packet::PubRec(pid(7).into()));
    // The same message again with DUP=1, before PUBREL: acknowledged again, not delivered again
    // [MQTT-4.3.3-2].
    publisher
        .send(Packet::Publish(Publish { dup: true, ..first }))
        .await;
    assert_eq!(publisher.recv().await, Packet::PubRec(pid(7).into()));
    publisher.send(Packet::PubRel(pid(7).into())).await;
    assert_eq!(publisher.recv().await, Packet::PubComp(pid(7).into()));

    sub.expect_publish("t", "first", QoS::AtMostOnce, false)
        .await;
    sub.expect_silence(SILENCE).await;

    // After PUBCOMP, id 7 is free: a PUBLISH with it is a new message.
    publisher
        .send(Packet::Publish(publish_packet(
            "t",
            "second",
            QoS::ExactlyOnce,
            false,
            Some(7),
        )))
        .await;
    assert_eq!(publisher.recv().await, Packet::PubRec(pid(7).into()));
    sub.expect_publish("t", "second", QoS::AtMostOnce, false)
        .await;
    publisher.send(Packet::PubRel(pid(7).into())).await;
    assert_eq!(publisher.recv().await, Packet::PubComp(pid(7).into()));
    sub.expect_silence(SILENCE).await;
}

/// Waits until the broker has detached every connection but `online` ones.
async fn wait_for_connected(broker: &TestBroker, online: u64) {
    wait_until(&format!("{online} clients are connected"), || {
        broker.handle.stats().clients_connected.get() == online
    })
    .await;
}

/// Reconnects `client_id` with clean session 0 and asserts the session was resumed.
async fn resume(broker: &TestBroker, client_id: &str) -> RawClient {
    let (client, ack) =
        RawClient::connect_with(broker.addr, connect_packet(client_id, false)).await;
    assert!(ack.session_present, "session of {client_id} not resumed");
    client
}

#[tokio::test]
async fn unacked_publishes_are_resent_with_dup_on_reconnect() {
    let broker = TestBroker::start("").await;
    let (mut sub, _) = RawClient::connect_with(broker.addr, connect_packet("sub", false)).await;
    sub.subscribe(1, &[("t/#", QoS::ExactlyOnce)]).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    publisher
        .publish("t/1", "one", QoS::AtLeastOnce, false)
        .await;
    publisher
        .publish("t/2", "two", QoS::ExactlyOnce, false)
        .await;
    let id1 = recv_id(&mut sub, "t/1", "one", QoS::AtLeastOnce).await;
    let id2 = recv_id(&mut sub, "t/2", "two", QoS::ExactlyOnce).await;
    // Neither is acknowledged; the connection drops.
    drop(sub);
    wait_for_connected(&broker, 1).await;

    // Re-sent in the original order, with the same ids and payloads and DUP=1 [MQTT-4.4.0-1],
    // [MQTT-2.2.2-3] (QoS 1 and 2 are re-sent in order, section 4.6).
    let mut sub = resume(&broker, "sub").await;
    let mut resent1 = publish_packet("t/1", "one", QoS::AtLeastOnce, false, Some(id1.get()));
    resent1.dup = true;
    let mut resent2 = publish_packet("t/2", "two", QoS::ExactlyOnce, false, Some(id2.get()));
    resent2.dup = true;
    assert_eq!(sub.recv().await, Packet::Publish(resent1));
    assert_eq!(sub.recv().await, Packet::Publish(resent2));
    sub.expect_silence(SILENCE).await;

    // Acknowledged now: a further reconnect re-sends nothing.
    sub.ack(QoS::AtLeastOnce, Some(id1)).await;
    sub.ack(QoS::ExactlyOnce, Some(id2)).await;
    sub.disconnect().await;
    wait_for_connected(&broker, 1).await;
    let mut sub = resume(&broker, "sub").await;
    sub.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn released_qos2_message_is_resumed_with_pubrel_on_reconnect() {
    let broker = TestBroker::start("").await;
    let (mut sub, _) = RawClient::connect_with(broker.addr, connect_packet("sub", false)).await;
    sub.subscribe(1, &[("t", QoS::ExactlyOnce)]).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    publisher.publish("t", "two", QoS::ExactlyOnce, false).await;
    let id = recv_id(&mut sub, "t", "two", QoS::ExactlyOnce).await;
    sub.send(Packet::PubRec(id.into())).await;
    assert_eq!(sub.recv().await, Packet::PubRel(id.into()));
    // PUBCOMP never sent; the connection drops.
    drop(sub);
    wait_for_connected(&broker, 1).await;

    // The PUBLISH is not re-sent (the subscriber has it); the PUBREL is [MQTT-4.4.0-1].
    let mut sub = resume(&broker, "sub").await;
    assert_eq!(sub.recv().await, Packet::PubRel(id.into()));
    sub.expect_silence(SILENCE).await;
    sub.send(Packet::PubComp(id.into())).await;
    sub.disconnect().await;
    wait_for_connected(&broker, 1).await;

    let mut sub = resume(&broker, "sub").await;
    sub.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn max_inflight_holds_back_messages_until_acked() {
    let broker = TestBroker::start("max_inflight: 2\n").await;
    let mut sub = subscriber(&broker, "sub", "t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    for i in 0..5 {
        publisher
            .publish("t", &format!("m{i}"), QoS::AtLeastOnce, false)
            .await;
    }

    let mut unacked = Vec::new();
    for i in 0..2 {
        unacked.push(recv_id(&mut sub, "t", &format!("m{i}"), QoS::AtLeastOnce).await);
    }
    // The window is full: m2 waits.
    sub.expect_silence(SILENCE).await;

    // Each PUBACK frees one slot and releases exactly the next message, in order.
    for i in 2..5 {
        sub.send(Packet::PubAck(unacked.remove(0).into())).await;
        unacked.push(recv_id(&mut sub, "t", &format!("m{i}"), QoS::AtLeastOnce).await);
        sub.expect_silence(SILENCE).await;
    }
    for id in unacked {
        sub.send(Packet::PubAck(id.into())).await;
    }
    sub.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn message_held_back_by_a_full_outbox_is_sent_once_it_drains() {
    // Backpressure gives up on the subscriber that reads nothing after 0.2 s: then QoS 0
    // overflow is dropped.
    let broker = TestBroker::start("max_outbound: 4\nbackpressure_timeout: 0.2\n").await;
    let mut sub = RawClient::connect(broker.addr, "sub").await;
    sub.subscribe(1, &[("big", QoS::AtMostOnce), ("t", QoS::AtLeastOnce)])
        .await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    // The subscriber reads nothing: once the socket buffers are full the broker's writer blocks
    // and the outbox fills up, shown by the first QoS 0 message dropped.
    let big = "x".repeat(256 * 1024);
    let mut sent = 0;
    while broker.handle.stats().dropped_qos0.get() == 0 {
        assert!(sent < 400, "the outbox never filled up");
        publisher
            .publish("big", &big, QoS::AtLeastOnce, false)
            .await;
        sent += 1;
    }
    // A QoS 1 message now finds no room in the outbox and waits in the session.
    publisher
        .publish("t", "waiting", QoS::AtLeastOnce, false)
        .await;

    // Once the subscriber reads again the outbox drains, and the message must follow without
    // needing another publish or ack to push it [MQTT-4.5.0-1].
    let waiting = loop {
        let publish = sub.recv_publish().await;
        if &*publish.topic != "big" {
            break publish;
        }
    };
    let id = waiting.packet_id.expect("QoS 1 PUBLISH has a packet id");
    assert_eq!(
        waiting,
        publish_packet("t", "waiting", QoS::AtLeastOnce, false, Some(id.get()))
    );
}

#[tokio::test]
async fn messages_beyond_the_window_are_bounded_by_max_queued() {
    // The subscriber never acks: backpressure holds the publisher back for 0.2 s, then the
    // subscriber counts as stalled and its queue is capped.
    let broker =
        TestBroker::start("max_inflight: 2\nmax_queued: 3\nbackpressure_timeout: 0.2\n").await;
    let mut sub = subscriber(&broker, "sub", "t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    for i in 0..7 {
        publisher
            .publish("t", &format!("m{i}"), QoS::AtLeastOnce, false)
            .await;
    }
    // Two in flight, three queued behind them, two dropped.
    assert_eq!(broker.handle.stats().dropped_queue_full.get(), 2);
    for i in 0..5 {
        sub.expect_publish_and_ack("t", &format!("m{i}"), QoS::AtLeastOnce, false)
            .await;
    }
    sub.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn incoming_dup_flag_is_not_propagated() {
    let broker = TestBroker::start("").await;
    let mut sub = subscriber(&broker, "sub", "t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    // A retransmission the broker has not seen before is a new message for it; its DUP flag is
    // not passed on [MQTT-3.3.1-3].
    publisher
        .send(Packet::Publish(Publish {
            dup: true,
            ..publish_packet("t", "again", QoS::AtLeastOnce, false, Some(3))
        }))
        .await;
    assert_eq!(publisher.recv().await, Packet::PubAck(pid(3).into()));
    sub.expect_publish_and_ack("t", "again", QoS::AtLeastOnce, false)
        .await;
    sub.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn incoming_qos2_state_survives_a_reconnect() {
    let broker = TestBroker::start("").await;
    let mut sub = subscriber(&broker, "sub", "t", QoS::AtMostOnce).await;
    let (mut publisher, _) =
        RawClient::connect_with(broker.addr, connect_packet("pub", false)).await;
    let message = publish_packet("t", "once", QoS::ExactlyOnce, false, Some(7));
    publisher.send(Packet::Publish(message.clone())).await;
    assert_eq!(publisher.recv().await, Packet::PubRec(pid(7).into()));
    sub.expect_publish("t", "once", QoS::AtMostOnce, false)
        .await;
    // The PUBREC is lost with the connection; the publisher re-sends on its resumed session
    // [MQTT-4.4.0-1], and the broker must still not deliver it twice [MQTT-4.3.3-2].
    drop(publisher);
    wait_for_connected(&broker, 1).await;
    let mut publisher = resume(&broker, "pub").await;
    publisher
        .send(Packet::Publish(Publish {
            dup: true,
            ..message
        }))
        .await;
    assert_eq!(publisher.recv().await, Packet::PubRec(pid(7).into()));
    publisher.send(Packet::PubRel(pid(7).into())).await;
    assert_eq!(publisher.recv().await, Packet::PubComp(pid(7).into()));
    sub.expect_silence(SILENCE).await;
}

/// A publisher subscribed to its own topic gets its PUBACK/PUBREC before the copy of its
/// message routed back to it.
#[tokio::test]
async fn the_publishers_ack_goes_out_before_its_own_copy() {
    let broker = TestBroker::start("").await;
    let mut client = RawClient::connect(broker.addr, "echo").await;
    let ack = client.subscribe(1, &[("echo/#", QoS::ExactlyOnce)]).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(QoS::ExactlyOnce)]);

    let first = publish_packet("echo/1", "one", QoS::AtLeastOnce, false, Some(7));
    client.send(Packet::Publish(first)).await;
    assert_eq!(client.recv().await, Packet::PubAck(pid(7).into()));
    client
        .expect_publish_and_ack("echo/1", "one", QoS::AtLeastOnce, false)
        .await;

    let second = publish_packet("echo/2", "two", QoS::ExactlyOnce, false, Some(8));
    client.send(Packet::Publish(second)).await;
    assert_eq!(client.recv().await, Packet::PubRec(pid(8).into()));
    let copy = client.recv_publish().await;
    assert_eq!((&*copy.topic, copy.qos), ("echo/2", QoS::ExactlyOnce));
    broker.stop().await;
}
