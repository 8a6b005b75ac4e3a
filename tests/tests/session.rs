//! End-to-end tests of sessions: clean sessions end with their connection, persistent ones keep
//! their subscriptions and queue QoS 1/2 messages (bounded by `max_queued`) until the client
//! returns or `session_expiry_interval` passes; a second connection takes a client id over.

use std::time::Duration;

use amqtt_core::codec::{Packet, Publish, QoS, ReasonCode, SubAckCode};
use amqtt_tests::{RawClient, TestBroker, connect_packet, publish_packet, wait_until};

const SILENCE: Duration = Duration::from_millis(400);
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Connects `client_id` with the clean-session flag `clean`; asserts CONNACK's session-present.
async fn connect(broker: &TestBroker, client_id: &str, clean: bool, present: bool) -> RawClient {
    let (client, ack) =
        RawClient::connect_with(broker.addr, connect_packet(client_id, clean)).await;
    assert_eq!(ack.code, ReasonCode::Success);
    assert_eq!(
        ack.session_present, present,
        "session present for {client_id}"
    );
    client
}

/// Subscribes `client` to `filter` at `qos` and asserts it was granted.
async fn subscribe(client: &mut RawClient, filter: &str, qos: QoS) {
    let ack = client.subscribe(1, &[(filter, qos)]).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(qos)]);
}

/// Waits until the broker has finished with every connection but `online` ones.
async fn wait_for_connected(broker: &TestBroker, online: u64) {
    wait_until(&format!("{online} clients are connected"), || {
        broker.handle.stats().clients_connected.get() == online
    })
    .await;
}

/// Waits until the broker holds `n` sessions.
async fn wait_for_sessions(broker: &TestBroker, n: usize) {
    wait_until(&format!("the broker holds {n} sessions"), || {
        broker.handle.session_count() == n
    })
    .await;
}

#[tokio::test]
async fn clean_session_state_is_dropped_at_disconnect() {
    let broker = TestBroker::start("").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    let mut client = connect(&broker, "c", true, false).await;
    subscribe(&mut client, "t", QoS::AtLeastOnce).await;
    assert_eq!(broker.handle.session_count(), 2);

    client.disconnect().await;
    // The session ends with the connection [MQTT-3.1.2-6].
    wait_for_sessions(&broker, 1).await;
    publisher
        .publish("t", "while away", QoS::AtLeastOnce, false)
        .await;

    // Nothing to resume, even when asking to [MQTT-3.2.2-3]; no messages kept, no subscription.
    let mut client = connect(&broker, "c", false, false).await;
    client.expect_silence(SILENCE).await;
    publisher
        .publish("t", "after", QoS::AtLeastOnce, false)
        .await;
    client.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn clean_session_1_discards_a_persistent_session() {
    let broker = TestBroker::start("").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    let mut client = connect(&broker, "c", false, false).await;
    subscribe(&mut client, "t", QoS::AtLeastOnce).await;
    client.disconnect().await;
    wait_for_connected(&broker, 1).await;
    publisher
        .publish("t", "queued", QoS::AtLeastOnce, false)
        .await;

    // [MQTT-3.1.2-6]: the stored session, its subscription and its queued message are discarded.
    let mut client = connect(&broker, "c", true, false).await;
    client.expect_silence(SILENCE).await;
    publisher
        .publish("t", "after", QoS::AtLeastOnce, false)
        .await;
    client.expect_silence(SILENCE).await;
    client.disconnect().await;
    wait_for_sessions(&broker, 1).await;
}

#[tokio::test]
async fn persistent_session_keeps_subscriptions_and_queues_qos1_and_qos2() {
    let broker = TestBroker::start("").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    let mut client = connect(&broker, "p", false, false).await;
    subscribe(&mut client, "t", QoS::ExactlyOnce).await;
    client.disconnect().await;
    wait_for_connected(&broker, 1).await;
    // The offline session is kept.
    assert_eq!(broker.handle.session_count(), 2);

    publisher.publish("t", "m1", QoS::AtLeastOnce, false).await;
    publisher.publish("t", "m2", QoS::AtMostOnce, false).await;
    publisher.publish("t", "m3", QoS::ExactlyOnce, false).await;
    publisher.publish("t", "m4", QoS::AtLeastOnce, false).await;

    // [MQTT-3.1.2-4], [MQTT-3.2.2-2]; QoS 1 and 2 were kept [MQTT-3.1.2-5], in order; QoS 0 was not.
    let mut client = connect(&broker, "p", false, true).await;
    let id1 = client
        .expect_publish("t", "m1", QoS::AtLeastOnce, false)
        .await;
    let id3 = client
        .expect_publish("t", "m3", QoS::ExactlyOnce, false)
        .await;
    let id4 = client
        .expect_publish("t", "m4", QoS::AtLeastOnce, false)
        .await;
    client.expect_silence(SILENCE).await;
    client.ack(QoS::AtLeastOnce, id1).await;
    client.ack(QoS::ExactlyOnce, id3).await;
    client.ack(QoS::AtLeastOnce, id4).await;

    // The subscription is still there for live messages.
    publisher
        .publish("t", "live", QoS::AtLeastOnce, false)
        .await;
    client
        .expect_publish_and_ack("t", "live", QoS::AtLeastOnce, false)
        .await;
    client.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn offline_queue_is_bounded_by_max_queued() {
    let broker = TestBroker::start("max_queued: 5\n").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    let mut client = connect(&broker, "q", false, false).await;
    subscribe(&mut client, "t", QoS::AtLeastOnce).await;
    client.disconnect().await;
    wait_for_connected(&broker, 1).await;

    for i in 0..8 {
        publisher
            .publish("t", &format!("m{i}"), QoS::AtLeastOnce, false)
            .await;
    }
    assert_eq!(broker.handle.stats().dropped_queue_full.get(), 3);

    // The first five, in order; the last three were dropped.
    let mut client = connect(&broker, "q", false, true).await;
    for i in 0..5 {
        client
            .expect_publish_and_ack("t", &format!("m{i}"), QoS::AtLeastOnce, false)
            .await;
    }
    client.expect_silence(SILENCE).await;
    assert_eq!(broker.handle.stats().dropped_queue_full.get(), 3);
}

#[tokio::test]
async fn persistent_session_expires_after_session_expiry_interval() {
    let broker = TestBroker::start("session_expiry_interval: 0.5\n").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    let mut client = connect(&broker, "e", false, false).await;
    subscribe(&mut client, "t", QoS::AtLeastOnce).await;
    client.disconnect().await;
    wait_for_connected(&broker, 1).await;

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        broker.handle.session_count(),
        1,
        "the offline session has expired"
    );
    publisher
        .publish("t", "after expiry", QoS::AtLeastOnce, false)
        .await;

    let mut client = connect(&broker, "e", false, false).await;
    client.expect_silence(SILENCE).await;
    publisher
        .publish("t", "live", QoS::AtLeastOnce, false)
        .await;
    client.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn second_connection_takes_the_client_id_over() {
    let broker = TestBroker::start("").await;
    let mut first = connect(&broker, "twin", true, false).await;
    let mut second = connect(&broker, "twin", true, false).await;
    // [MQTT-3.1.4-2].
    first.expect_closed(CLOSE_WAIT).await;
    wait_for_connected(&broker, 1).await;
    assert_eq!(broker.handle.session_count(), 1);

    // The new connection works.
    subscribe(&mut second, "t", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publisher
        .publish("t", "hello", QoS::AtLeastOnce, false)
        .await;
    second
        .expect_publish("t", "hello", QoS::AtMostOnce, false)
        .await;
    second.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn takeover_with_clean_0_keeps_the_session() {
    let broker = TestBroker::start("").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    let mut first = connect(&broker, "twin", false, false).await;
    subscribe(&mut first, "t", QoS::AtLeastOnce).await;
    publisher
        .publish("t", "unacked", QoS::AtLeastOnce, false)
        .await;
    let id = first
        .expect_publish("t", "unacked", QoS::AtLeastOnce, false)
        .await;

    let mut second = connect(&broker, "twin", false, true).await;
    first.expect_closed(CLOSE_WAIT).await;
    // The message the first connection did not acknowledge is re-sent [MQTT-4.4.0-1].
    assert_eq!(
        second.recv().await,
        Packet::Publish(Publish {
            dup: true,
            ..publish_packet(
                "t",
                "unacked",
                QoS::AtLeastOnce,
                false,
                id.map(|id| id.get())
            )
        })
    );
    second.ack(QoS::AtLeastOnce, id).await;

    // The subscription carried over.
    publisher
        .publish("t", "after", QoS::AtLeastOnce, false)
        .await;
    second
        .expect_publish_and_ack("t", "after", QoS::AtLeastOnce, false)
        .await;
    second.expect_silence(SILENCE).await;
    assert_eq!(broker.handle.session_count(), 2);
}

#[tokio::test]
async fn resent_messages_come_before_queued_ones() {
    let broker = TestBroker::start("max_inflight: 2\n").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    let mut client = connect(&broker, "o", false, false).await;
    subscribe(&mut client, "t", QoS::AtLeastOnce).await;
    for i in 0..2 {
        publisher
            .publish("t", &format!("m{i}"), QoS::AtLeastOnce, false)
            .await;
    }
    let mut ids = Vec::new();
    for i in 0..2 {
        ids.push(
            client
                .expect_publish("t", &format!("m{i}"), QoS::AtLeastOnce, false)
                .await,
        );
    }
    client.disconnect().await;
    wait_for_connected(&broker, 1).await;
    for i in 2..4 {
        publisher
            .publish("t", &format!("m{i}"), QoS::AtLeastOnce, false)
            .await;
    }

    // The unacknowledged m0 and m1 again (DUP=1, same ids); m2 and m3 wait for room in the window.
    let mut client = connect(&broker, "o", false, true).await;
    for (i, id) in ids.iter().enumerate() {
        let resent = publish_packet(
            "t",
            &format!("m{i}"),
            QoS::AtLeastOnce,
            false,
            id.map(|id| id.get()),
        );
        assert_eq!(
            client.recv().await,
            Packet::Publish(Publish {
                dup: true,
                ..resent
            })
        );
    }
    client.expect_silence(SILENCE).await;
    // Each PUBACK lets the next queued message in, in order.
    for (i, id) in ids.into_iter().enumerate() {
        client.ack(QoS::AtLeastOnce, id).await;
        client
            .expect_publish_and_ack("t", &format!("m{}", i + 2), QoS::AtLeastOnce, false)
            .await;
    }
    client.expect_silence(SILENCE).await;
}
