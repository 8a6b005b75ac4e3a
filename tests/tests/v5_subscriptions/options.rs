//! No Local, Retain As Published (also on a shared message handed to another member) and
//! Retain Handling (MQTT 5.0 section 3.8.3.1).

use std::net::SocketAddr;
use std::time::Duration;

use amqtt_core::codec::{
    Packet, Properties, Publish, QoS, ReasonBody, ReasonCode, RetainHandling, Subscribe,
    SubscriptionOptions,
};
use amqtt_tests::v5::{
    V5Client, as_published, no_local, publish_v5, retain_handling, session_connect,
    subscription_ids,
};
use amqtt_tests::{RawClient, TestBroker, pid};

/// How long a test waits to be sure nothing more comes.
pub(crate) const QUIET: Duration = Duration::from_millis(300);

/// A QoS 0 PUBLISH of `payload` to `topic` with the RETAIN flag `retain`.
pub(crate) fn message(topic: &str, payload: &str, retain: bool) -> Packet {
    Packet::Publish(Publish {
        retain,
        ..publish_v5(topic, payload, QoS::AtMostOnce, None, Properties::default())
    })
}

/// A 5.0 client `client_id` connected with a clean start and no properties.
pub(crate) async fn connected(addr: SocketAddr, client_id: &str) -> V5Client {
    V5Client::connect(addr, client_id, Properties::default()).await
}

/// Retains `payload` on `topic`: published at QoS 1 by a client of its own and acknowledged,
/// so the broker has stored it before any SUBSCRIBE that follows.
pub(crate) async fn retain(addr: SocketAddr, topic: &str, payload: &str) {
    let mut publisher = connected(addr, "retainer").await;
    let message = Publish {
        retain: true,
        ..publish_v5(
            topic,
            payload,
            QoS::AtLeastOnce,
            Some(1),
            Properties::default(),
        )
    };
    publisher.publish_acked(message).await;
}

#[tokio::test]
async fn no_local_drops_the_subscribers_own_messages_and_keeps_the_others() {
    let broker = TestBroker::start("").await;
    let mut own = connected(broker.addr, "own").await;
    own.subscribe_with(1, "nl/#", no_local(), None).await;
    own.subscribe(2, "echo/#", QoS::AtMostOnce).await;
    let mut other = connected(broker.addr, "other").await;

    // Its own message on the No Local filter does not come back: the PUBACK is all it gets.
    let mine = publish_v5(
        "nl/mine",
        "mine",
        QoS::AtLeastOnce,
        Some(1),
        Properties::default(),
    );
    own.publish_acked(mine).await;
    own.expect_silence(QUIET).await;
    // Another client's does.
    other.send(message("nl/theirs", "theirs", false)).await;
    assert_eq!(&own.recv_publish().await.payload[..], b"theirs");
    // Its own message on a filter without the option comes back as before.
    own.send(message("echo/mine", "echo", false)).await;
    assert_eq!(&own.recv_publish().await.payload[..], b"echo");
    broker.stop().await;
}

#[tokio::test]
async fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    let broker = TestBroker::start("").await;
    let mut client = connected(broker.addr, "shared").await;
    client
        .send(Packet::Subscribe(Subscribe {
            packet_id: pid(1),
            filters: vec![("$share/g/jobs".into(), no_local())],
            properties: None,
        }))
        .await;
    client.expect_disconnect(ReasonCode::ProtocolError).await;
    broker.stop().await;
}

#[tokio::test]
async fn retain_as_published_keeps_the_flag_and_the_others_get_retain_0() {
    let broker = TestBroker::start("").await;
    let mut keep = connected(broker.addr, "keep").await;

    keep.subscribe_with(1, "rap/#", as_published(), None).await;
    let mut clear = connected(broker.addr, "clear").await;
    clear.subscribe(1, "rap/#", QoS::AtMostOnce).await;
    let mut old = RawClient::connect(broker.addr, "old").await;
    old.subscribe(1, &[("rap/#", QoS::AtMostOnce)]).await;
    let mut publisher = connected(broker.addr, "pub").await;

    publisher.send(message("rap/r", "retained", true)).await;
    assert!(keep.recv_publish().await.retain, "kept as published");
    assert!(!clear.recv_publish().await.retain, "0 without the option");
    assert!(!old.recv_publish().await.retain, "0 for 3.1.1");
    publisher.send(message("rap/p", "plain", false)).await;
    assert!(
        !keep.recv_publish().await.retain,
        "a message published without RETAIN"
    );

    // A retained message sent for a new subscription has RETAIN 1 with or without the option.
    let mut late = connected(broker.addr, "late").await;
    late.subscribe(1, "rap/r", QoS::AtMostOnce).await;
    assert!(late.recv_publish().await.retain);
    broker.stop().await;
}

#[tokio::test]
async fn retain_handling_sends_at_every_subscribe_only_when_new_or_never() {
    let broker = TestBroker::start("").await;
    retain(broker.addr, "rh/t", "kept").await;
    let mut client = connected(broker.addr, "rh").await;

    // 0: at every SUBSCRIBE, new or not.
    for id in 1..3 {
        let always = retain_handling(RetainHandling::SendAtSubscribe);
        client.subscribe_with(id, "rh/t", always, None).await;
        assert_eq!(&client.recv_publish().await.payload[..], b"kept");
    }
    // 1: for a new subscription only.
    let if_new = retain_handling(RetainHandling::SendIfNew);
    client.subscribe_with(3, "rh/+", if_new, None).await;
    assert_eq!(&client.recv_publish().await.payload[..], b"kept");
    client.subscribe_with(4, "rh/+", if_new, None).await;
    client.expect_silence(QUIET).await;
    // 2: never.
    let never = retain_handling(RetainHandling::DoNotSend);
    client.subscribe_with(5, "rh/#", never, None).await;
    client.expect_silence(QUIET).await;
    broker.stop().await;
}

#[tokio::test]
async fn a_resumed_session_keeps_its_options_and_identifiers() {
    let broker = TestBroker::start("").await;
    let connect = session_connect("resumed", true, Some(60));
    let (mut client, _) = V5Client::connect_with(broker.addr, connect).await;
    client.subscribe_with(1, "res/#", no_local(), Some(4)).await;
    drop(client);
    // Resumed by a new connection (the old one may still be closing: a takeover then).
    let (mut client, present) =
        V5Client::connect_session(broker.addr, "resumed", false, Some(60)).await;
    assert!(present);
    client.send(message("res/own", "own", false)).await;
    client.expect_silence(QUIET).await;
    let mut other = connected(broker.addr, "other").await;
    other.send(message("res/other", "other", false)).await;
    let got = client.recv_publish().await;
    assert_eq!(&got.payload[..], b"other");
    assert_eq!(subscription_ids(&got), [4]);
    broker.stop().await;
}

#[tokio::test]
async fn a_shared_message_handed_on_gets_retain_as_the_next_members_option_makes_it() {
    let broker = TestBroker::start("").await;
    let mut publisher = connected(broker.addr, "hand-pub").await;
    // (first member's Retain As Published, next member's).
    for (round, (first_keeps, next_keeps)) in [(false, true), (true, false)].into_iter().enumerate()
    {
        let options = |keeps| SubscriptionOptions {
            retain_as_published: keeps,
            ..QoS::AtLeastOnce.into()
        };
        let filter = "$share/g/hand/t";
        let mut first = connected(broker.addr, &format!("first-{round}")).await;
        first
            .subscribe_with(1, filter, options(first_keeps), None)
            .await;
        let id = u16::try_from(round + 1).expect("small");
        let retained = Publish {
            retain: true,
            ..publish_v5(
                "hand/t",
                "r",
                QoS::AtLeastOnce,
                Some(id),
                Properties::default(),
            )
        };
        publisher.publish_acked(retained).await;
        assert_eq!(first.recv_publish().await.retain, first_keeps);
        // The next member joins; the first leaves without acknowledging (its session ends).
        let mut next = connected(broker.addr, &format!("next-{round}")).await;
        next.subscribe_with(1, filter, options(next_keeps), None)
            .await;
        first.reset();
        let handed = next.recv_publish().await;
        assert_eq!(&handed.payload[..], b"r");
        assert_eq!(
            handed.retain, next_keeps,
            "round {round}: as published, by its own option"
        );
        next.disconnect_with(ReasonBody::default()).await;
    }
    broker.stop().await;
}
