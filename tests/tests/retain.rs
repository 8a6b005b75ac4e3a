//! End-to-end tests of retained messages: stored per topic, replaced, deleted by an empty payload,
//! sent with RETAIN=1 to a new subscription only, forwarded live with RETAIN=0, at min(QoS).

use std::time::Duration;

use amqtt_core::codec::{QoS, SubAckCode};
use amqtt_tests::{RawClient, TestBroker, wait_until};

const SILENCE: Duration = Duration::from_millis(400);

/// Waits until the broker holds `n` retained messages.
async fn wait_for_retained(broker: &TestBroker, n: usize) {
    wait_until(&format!("{n} messages are retained"), || {
        broker.handle.retained_count() == n
    })
    .await;
}

/// Subscribes `client` to `filter` at `qos` and asserts it was granted.
async fn subscribe(client: &mut RawClient, id: u16, filter: &str, qos: QoS) {
    let ack = client.subscribe(id, &[(filter, qos)]).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(qos)]);
}

#[tokio::test]
async fn retained_message_is_sent_to_a_new_subscriber_with_retain_1() {
    let broker = TestBroker::start("").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publisher
        .publish("r/a", "kept", QoS::AtMostOnce, true)
        .await;
    wait_for_retained(&broker, 1).await;

    let mut sub = RawClient::connect(broker.addr, "sub").await;
    subscribe(&mut sub, 1, "r/a", QoS::AtMostOnce).await;
    // [MQTT-3.3.1-6], [MQTT-3.3.1-8].
    sub.expect_publish("r/a", "kept", QoS::AtMostOnce, true)
        .await;
    sub.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn newer_retained_message_replaces_the_older_one() {
    let broker = TestBroker::start("").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    // QoS 1, so each has been handled once its PUBACK arrives.
    publisher
        .publish("r/a", "old", QoS::AtLeastOnce, true)
        .await;
    publisher
        .publish("r/a", "new", QoS::AtLeastOnce, true)
        .await;
    // A non-retained publish leaves the retained message alone [MQTT-3.3.1-12].
    publisher
        .publish("r/a", "not kept", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(broker.handle.retained_count(), 1);

    let mut sub = RawClient::connect(broker.addr, "sub").await;
    subscribe(&mut sub, 1, "r/a", QoS::AtMostOnce).await;
    sub.expect_publish("r/a", "new", QoS::AtMostOnce, true)
        .await;
    sub.expect_silence(SILENCE).await;
    assert_eq!(broker.handle.retained_count(), 1);
}

#[tokio::test]
async fn empty_retained_payload_deletes_the_retained_message() {
    let broker = TestBroker::start("").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publisher.publish("r/a", "a", QoS::AtLeastOnce, true).await;
    publisher.publish("r/b", "b", QoS::AtLeastOnce, true).await;
    wait_for_retained(&broker, 2).await;

    let mut existing = RawClient::connect(broker.addr, "existing").await;
    subscribe(&mut existing, 1, "r/a", QoS::AtMostOnce).await;
    existing
        .expect_publish("r/a", "a", QoS::AtMostOnce, true)
        .await;

    publisher.publish("r/a", "", QoS::AtLeastOnce, true).await;
    wait_for_retained(&broker, 1).await;
    // The empty message is still forwarded, as any other, to existing subscribers [MQTT-3.3.1-10].
    existing
        .expect_publish("r/a", "", QoS::AtMostOnce, false)
        .await;

    // It is not stored [MQTT-3.3.1-11]: a new subscriber to r/# gets only r/b.
    let mut sub = RawClient::connect(broker.addr, "sub").await;
    subscribe(&mut sub, 1, "r/#", QoS::AtMostOnce).await;
    sub.expect_publish("r/b", "b", QoS::AtMostOnce, true).await;
    sub.expect_silence(SILENCE).await;
    existing.expect_silence(SILENCE).await;
    assert_eq!(broker.handle.retained_count(), 1);
}

#[tokio::test]
async fn retained_message_goes_only_to_the_new_subscriber() {
    let broker = TestBroker::start("").await;
    let mut old = RawClient::connect(broker.addr, "old").await;
    subscribe(&mut old, 1, "r/#", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publisher
        .publish("r/a", "kept", QoS::AtMostOnce, true)
        .await;
    // Live forwarding to the established subscription carries RETAIN=0 [MQTT-3.3.1-9].
    old.expect_publish("r/a", "kept", QoS::AtMostOnce, false)
        .await;

    let mut new = RawClient::connect(broker.addr, "new").await;
    subscribe(&mut new, 1, "r/#", QoS::AtMostOnce).await;
    new.expect_publish("r/a", "kept", QoS::AtMostOnce, true)
        .await;
    // The client already subscribed is not sent it again.
    old.expect_silence(SILENCE).await;
    new.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn live_forwarding_of_a_retained_publish_has_retain_0() {
    let broker = TestBroker::start("").await;
    let mut sub = RawClient::connect(broker.addr, "sub").await;
    subscribe(&mut sub, 1, "r/a", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let payload = format!("{qos:?}");
        publisher.publish("r/a", &payload, qos, true).await;
        // [MQTT-3.3.1-9].
        sub.expect_publish_and_ack("r/a", &payload, qos, false)
            .await;
    }
    sub.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn retained_messages_are_sent_only_for_the_filter_just_subscribed() {
    let broker = TestBroker::start("").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publisher.publish("r/a", "ra", QoS::AtMostOnce, true).await;
    publisher.publish("r/b", "rb", QoS::AtMostOnce, true).await;
    publisher.publish("s/c", "sc", QoS::AtMostOnce, true).await;
    wait_for_retained(&broker, 3).await;

    let mut sub = RawClient::connect(broker.addr, "sub").await;
    subscribe(&mut sub, 1, "r/a", QoS::AtMostOnce).await;
    sub.expect_publish("r/a", "ra", QoS::AtMostOnce, true).await;
    sub.expect_silence(SILENCE).await;

    // A second filter later: only its own retained messages, not r/a again nor r/b.
    subscribe(&mut sub, 2, "s/#", QoS::AtMostOnce).await;
    sub.expect_publish("s/c", "sc", QoS::AtMostOnce, true).await;
    sub.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn subscribing_again_resends_the_retained_message() {
    let broker = TestBroker::start("").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publisher
        .publish("r/a", "kept", QoS::AtMostOnce, true)
        .await;
    wait_for_retained(&broker, 1).await;

    let mut sub = RawClient::connect(broker.addr, "sub").await;
    subscribe(&mut sub, 1, "r/a", QoS::AtMostOnce).await;
    sub.expect_publish("r/a", "kept", QoS::AtMostOnce, true)
        .await;
    // An identical filter replaces the subscription and re-sends retained messages [MQTT-3.8.4-3].
    subscribe(&mut sub, 2, "r/a", QoS::AtMostOnce).await;
    sub.expect_publish("r/a", "kept", QoS::AtMostOnce, true)
        .await;
    sub.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn retained_qos_is_min_of_stored_and_granted() {
    let broker = TestBroker::start("").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    let stored = [
        ("r/0", QoS::AtMostOnce),
        ("r/1", QoS::AtLeastOnce),
        ("r/2", QoS::ExactlyOnce),
    ];
    for (topic, qos) in stored {
        publisher.publish(topic, topic, qos, true).await;
    }
    wait_for_retained(&broker, 3).await;

    for (i, granted) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let mut sub = RawClient::connect(broker.addr, &format!("sub{granted:?}")).await;
        // One filter per SUBSCRIBE, so the order of arrival is known.
        for (j, (topic, qos)) in stored.into_iter().enumerate() {
            let packet_id = u16::try_from(10 * i + j + 1).expect("small id");
            subscribe(&mut sub, packet_id, topic, granted).await;
            sub.expect_publish_and_ack(topic, topic, qos.min(granted), true)
                .await;
        }
        sub.expect_silence(SILENCE).await;
    }
}
