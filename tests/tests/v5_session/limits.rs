//! Limits a 5.0 client is held to: the server keep-alive (`max_keep_alive`), the receive maximum
//! towards the broker (`receive_maximum`, DISCONNECT 0x93) and the maximum packet size
//! (`max_packet_size`, DISCONNECT 0x95).

use std::time::Duration;

use amqtt_core::codec::{Ack, Packet, QoS, ReasonCode};
use amqtt_tests::{RawClient, TestBroker, connect_packet, pid, publish_packet};

use amqtt_tests::v5::{V5Client, session_connect};

/// Connects a 5.0 client asking for `keep_alive` and returns it with the Server Keep Alive.
async fn with_keep_alive(
    broker: &TestBroker,
    client_id: &str,
    keep_alive: u16,
) -> (V5Client, Option<u16>) {
    let mut connect = session_connect(client_id, true, None);
    connect.keep_alive = keep_alive;
    let (client, ack) = V5Client::connect_with(broker.addr, connect).await;
    (client, ack.properties.and_then(|p| p.server_keep_alive))
}

#[tokio::test]
async fn server_keep_alive_holds_5_0_clients_to_the_maximum() {
    let broker = TestBroker::start("max_keep_alive: 1\n").await;
    let (mut greedy, server) = with_keep_alive(&broker, "greedy", 60).await;
    assert_eq!(server, Some(1));
    let (_none, server) = with_keep_alive(&broker, "none", 0).await;
    assert_eq!(server, Some(1));
    let (_modest, server) = with_keep_alive(&broker, "modest", 1).await;
    assert_eq!(server, None);
    // Held to 1 s: closed after 1.5 s of silence, not 90.
    greedy.expect_disconnect(ReasonCode::KeepAliveTimeout).await;
    broker.stop().await;
}

#[tokio::test]
async fn a_3_1_1_client_keeps_its_own_keep_alive() {
    let broker = TestBroker::start("max_keep_alive: 1\n").await;
    let mut connect = connect_packet("old", true);
    connect.keep_alive = 60;
    let (mut client, ack) = RawClient::connect_with(broker.addr, connect).await;
    assert_eq!(ack.code, ReasonCode::Success);
    client.expect_silence(Duration::from_millis(2500)).await;
    broker.stop().await;
}

#[tokio::test]
async fn receive_maximum_is_announced_and_enforced() {
    let broker = TestBroker::start("receive_maximum: 2\n").await;
    let (mut client, ack) =
        V5Client::connect_with(broker.addr, session_connect("busy", true, None)).await;
    let announced = ack
        .properties
        .and_then(|p| p.receive_maximum)
        .map(|m| m.get());
    assert_eq!(announced, Some(2));
    let qos2 = |id| {
        Packet::Publish(publish_packet(
            "t/busy",
            "x",
            QoS::ExactlyOnce,
            false,
            Some(id),
        ))
    };
    // Nobody subscribes: each PUBREC says 0x10 No matching subscribers, a success.
    let pubrec = |id| {
        Packet::PubRec(Ack {
            reason: ReasonCode::NoMatchingSubscribers,
            ..Ack::new(pid(id))
        })
    };
    for id in [1, 2] {
        client.send(qos2(id)).await;
        assert_eq!(client.recv().await, pubrec(id));
    }
    // A retransmission is not one more (and, not routed again, is answered plain Success); a
    // PUBCOMP frees a slot.
    client.send(qos2(2)).await;
    assert_eq!(client.recv().await, Packet::PubRec(pid(2).into()));
    client.send(Packet::PubRel(pid(1).into())).await;
    assert_eq!(client.recv().await, Packet::PubComp(pid(1).into()));
    client.send(qos2(3)).await;
    assert_eq!(client.recv().await, pubrec(3));
    // A QoS 1 publish counts too: three QoS 2 would be in flight with it.
    client
        .send(Packet::Publish(publish_packet(
            "t/busy",
            "y",
            QoS::AtLeastOnce,
            false,
            Some(4),
        )))
        .await;
    client
        .expect_disconnect(ReasonCode::ReceiveMaximumExceeded)
        .await;
    broker.stop().await;
}

#[tokio::test]
async fn default_receive_maximum_is_not_sent() {
    let broker = TestBroker::start("").await;
    let (_client, ack) =
        V5Client::connect_with(broker.addr, session_connect("plain", true, None)).await;
    assert_eq!(ack.properties.and_then(|p| p.receive_maximum), None);
    broker.stop().await;
}

#[tokio::test]
async fn packet_too_large_is_told() {
    let broker = TestBroker::start("max_packet_size: 64\n").await;
    let (mut client, _) = V5Client::connect_session(broker.addr, "big", true, None).await;
    let payload = "x".repeat(4000);
    client
        .send(Packet::Publish(publish_packet(
            "t/big",
            &payload,
            QoS::AtMostOnce,
            false,
            None,
        )))
        .await;
    client.expect_disconnect(ReasonCode::PacketTooLarge).await;
    broker.stop().await;
}
