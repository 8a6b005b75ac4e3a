//! Subscription Identifiers (MQTT 5.0 sections 3.8.2.1.2 and 3.3.4): on delivered messages,
//! all of a session's matching subscriptions' in its one copy, on retained messages sent at
//! subscribe, on a shared subscription's member; replaced on re-subscribe; 0 and a client's
//! own a Protocol Error; announced in CONNACK.

use amqtt_core::codec::{Packet, Properties, QoS, ReasonCode, SubscriptionOptions};
use amqtt_tests::v5::{V5Client, as_published, connect_v5, publish_v5, subscription_ids};
use amqtt_tests::{RawClient, TestBroker};

use super::options::{QUIET, connected, message, retain};

#[tokio::test]
async fn connack_announces_subscription_identifiers() {
    let broker = TestBroker::start("").await;
    let (_client, ack) =
        V5Client::connect_with(broker.addr, connect_v5("c", Properties::default())).await;
    let available = ack
        .properties
        .and_then(|p| p.subscription_identifier_available);
    assert_ne!(available, Some(false));
    broker.stop().await;
}

#[tokio::test]
async fn one_copy_carries_every_matching_subscriptions_identifier() {
    let broker = TestBroker::start("").await;
    let mut client = connected(broker.addr, "ids").await;
    let at = SubscriptionOptions::from;
    client
        .subscribe_with(1, "id/#", at(QoS::AtMostOnce), Some(7))
        .await;
    let mut publisher = connected(broker.addr, "pub").await;
    publisher.send(message("id/a", "one", false)).await;
    assert_eq!(subscription_ids(&client.recv_publish().await), [7]);

    // Overlapping: one copy, at the highest QoS, with both identifiers; a matching
    // subscription without one adds none, one with an identifier already there adds nothing.
    client
        .subscribe_with(2, "id/+", at(QoS::AtLeastOnce), Some(268_435_455))
        .await;
    client.subscribe(3, "id/b", QoS::AtMostOnce).await;
    client
        .subscribe_with(4, "+/b", at(QoS::AtMostOnce), Some(7))
        .await;
    let both = publish_v5(
        "id/b",
        "two",
        QoS::AtLeastOnce,
        Some(1),
        Properties::default(),
    );
    publisher.publish_acked(both).await;
    let got = client.recv_publish().await;
    assert_eq!(got.qos, QoS::AtLeastOnce);
    assert_eq!(subscription_ids(&got), [7, 268_435_455]);
    client.puback(got.packet_id.expect("QoS 1")).await;
    client.expect_silence(QUIET).await;
    broker.stop().await;
}

#[tokio::test]
async fn resubscribing_replaces_the_identifier_and_without_one_removes_it() {
    let broker = TestBroker::start("").await;
    let mut client = connected(broker.addr, "re").await;
    let plain = SubscriptionOptions::from(QoS::AtMostOnce);
    let mut publisher = connected(broker.addr, "pub").await;
    for (n, id, expected) in [
        (1, Some(5), vec![5]),
        (2, Some(6), vec![6]),
        (3, None, vec![]),
    ] {
        client.subscribe_with(n, "re/t", plain, id).await;
        publisher.send(message("re/t", "m", false)).await;
        let got = client.recv_publish().await;
        assert_eq!(subscription_ids(&got), expected, "after SUBSCRIBE {n}");
        if id.is_none() {
            assert_eq!(got.properties, None, "no properties left");
        }
    }
    broker.stop().await;
}

#[tokio::test]
async fn a_retained_message_sent_at_subscribe_carries_the_identifier() {
    let broker = TestBroker::start("").await;
    retain(broker.addr, "ret/t", "kept").await;
    let mut client = connected(broker.addr, "sub").await;
    let plain = SubscriptionOptions::from(QoS::AtMostOnce);
    client.subscribe_with(1, "ret/#", plain, Some(12)).await;
    let got = client.recv_publish().await;
    assert!(got.retain);
    assert_eq!(subscription_ids(&got), [12]);
    broker.stop().await;
}

#[tokio::test]
async fn a_shared_subscriptions_member_gets_its_identifier_and_options() {
    let broker = TestBroker::start("").await;
    let mut member = connected(broker.addr, "member").await;
    member
        .subscribe_with(1, "$share/g/sh/#", as_published(), Some(11))
        .await;
    let mut publisher = connected(broker.addr, "pub").await;
    publisher.send(message("sh/x", "job", true)).await;
    let got = member.recv_publish().await;
    assert!(got.retain, "Retain As Published applies to the member");
    assert_eq!(subscription_ids(&got), [11]);
    broker.stop().await;
}

#[tokio::test]
async fn a_3_1_1_subscriber_beside_a_v5_one_is_unaffected() {
    let broker = TestBroker::start("").await;
    let mut old = RawClient::connect(broker.addr, "old").await;
    old.subscribe(1, &[("mix/#", QoS::AtMostOnce)]).await;
    let mut new = connected(broker.addr, "new").await;
    new.subscribe_with(1, "mix/#", as_published(), Some(3))
        .await;
    let mut publisher = connected(broker.addr, "pub").await;
    publisher.send(message("mix/a", "both", true)).await;
    let got = new.recv_publish().await;
    assert!(got.retain);
    assert_eq!(subscription_ids(&got), [3]);
    let got = old.recv_publish().await;
    assert!(!got.retain);
    assert_eq!(&got.payload[..], b"both");
    assert_eq!(got.properties, None);
    broker.stop().await;
}

#[tokio::test]
async fn a_subscription_identifier_of_0_or_a_second_one_is_a_protocol_error() {
    let broker = TestBroker::start("").await;
    // SUBSCRIBE, packet id 1, properties, filter "a" at QoS 0; the properties: Subscription
    // Identifier 0, then identifiers 1 and 2.
    let zero: &[u8] = &[0x82, 9, 0, 1, 2, 0x0B, 0, 0, 1, b'a', 0];
    let two: &[u8] = &[0x82, 11, 0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, b'a', 0];
    for subscribe in [zero, two] {
        let mut client = connected(broker.addr, "invalid").await;
        client.send_bytes(subscribe).await;
        client.expect_disconnect(ReasonCode::ProtocolError).await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn a_client_publish_with_a_subscription_identifier_is_a_protocol_error() {
    let broker = TestBroker::start("").await;
    let mut subscriber = connected(broker.addr, "sub").await;
    subscriber.subscribe(1, "forged/#", QoS::AtMostOnce).await;
    let mut client = connected(broker.addr, "forger").await;
    let forged = Properties {
        subscription_identifiers: vec![std::num::NonZeroU32::new(9).expect("non-zero")],
        ..Properties::default()
    };
    let publish = publish_v5("forged/t", "x", QoS::AtMostOnce, None, forged);
    client.send(Packet::Publish(publish)).await;
    client.expect_disconnect(ReasonCode::ProtocolError).await;
    subscriber.expect_silence(QUIET).await;
    broker.stop().await;
}
