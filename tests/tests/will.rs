//! End-to-end tests of the will message: published with its QoS and retain flag when the network
//! connection ends without DISCONNECT (socket closed, protocol error, session takeover), and never
//! after DISCONNECT. Keep-alive expiry is covered with the keep-alive tests.

use std::time::Duration;

use amqtt_core::codec::{Connect, Packet, QoS, ReasonCode, SubAckCode};
use amqtt_tests::{RawClient, TestBroker, connect_packet, wait_until, will};

const SILENCE: Duration = Duration::from_millis(500);
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// A client connected as `client_id` with a will on `topic`.
async fn with_will(
    broker: &TestBroker,
    client_id: &str,
    topic: &str,
    qos: QoS,
    retain: bool,
) -> RawClient {
    let connect = Connect {
        will: Some(will(topic, "gone", qos, retain)),
        ..connect_packet(client_id, true)
    };
    let (client, ack) = RawClient::connect_with(broker.addr, connect).await;
    assert_eq!(ack.code, ReasonCode::Success);
    client
}

/// A client subscribed to `filter` at QoS 2.
async fn watcher(broker: &TestBroker, client_id: &str, filter: &str) -> RawClient {
    let mut client = RawClient::connect(broker.addr, client_id).await;
    let ack = client.subscribe(1, &[(filter, QoS::ExactlyOnce)]).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(QoS::ExactlyOnce)]);
    client
}

/// Asserts a new subscriber to `topic` is sent the retained will at `qos`, with RETAIN=1.
async fn assert_will_retained(broker: &TestBroker, topic: &str, qos: QoS) {
    let mut late = watcher(broker, "late", topic).await;
    late.expect_publish_and_ack(topic, "gone", qos, true).await;
    late.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn will_is_published_when_the_socket_closes_without_disconnect() {
    let broker = TestBroker::start("").await;
    let mut sub = watcher(&broker, "sub", "will/#").await;
    let dying = with_will(&broker, "dying", "will/a", QoS::AtLeastOnce, true).await;

    drop(dying);
    // [MQTT-3.1.2-8]; forwarded live with RETAIN=0 at the will's QoS.
    sub.expect_publish_and_ack("will/a", "gone", QoS::AtLeastOnce, false)
        .await;
    sub.expect_silence(SILENCE).await;
    assert_will_retained(&broker, "will/a", QoS::AtLeastOnce).await;
}

#[tokio::test]
async fn will_without_retain_is_not_stored() {
    let broker = TestBroker::start("").await;
    let mut sub = watcher(&broker, "sub", "will/#").await;
    let dying = with_will(&broker, "dying", "will/a", QoS::AtMostOnce, false).await;

    drop(dying);
    sub.expect_publish("will/a", "gone", QoS::AtMostOnce, false)
        .await;
    assert_eq!(broker.handle.retained_count(), 0);
    let mut late = watcher(&broker, "late", "will/a").await;
    late.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn will_is_published_after_a_second_connect() {
    let broker = TestBroker::start("").await;
    let mut sub = watcher(&broker, "sub", "will/#").await;
    let mut dying = with_will(&broker, "dying", "will/b", QoS::ExactlyOnce, true).await;

    // A second CONNECT is a protocol violation: the connection is closed [MQTT-3.1.0-2] and the
    // will published.
    dying
        .send(Packet::Connect(Box::new(connect_packet("dying", true))))
        .await;
    dying.expect_closed(CLOSE_WAIT).await;
    sub.expect_publish_and_ack("will/b", "gone", QoS::ExactlyOnce, false)
        .await;
    sub.expect_silence(SILENCE).await;
    assert_will_retained(&broker, "will/b", QoS::ExactlyOnce).await;
}

#[tokio::test]
async fn will_is_published_after_a_malformed_packet() {
    let broker = TestBroker::start("").await;
    let mut sub = watcher(&broker, "sub", "will/#").await;
    let mut dying = with_will(&broker, "dying", "will/c", QoS::AtMostOnce, true).await;

    // Packet type 0 is reserved: a malformed packet closes the connection.
    dying.send_raw(&[0x00, 0x00]).await;
    dying.expect_closed(CLOSE_WAIT).await;
    sub.expect_publish("will/c", "gone", QoS::AtMostOnce, false)
        .await;
    sub.expect_silence(SILENCE).await;
    assert_will_retained(&broker, "will/c", QoS::AtMostOnce).await;
}

#[tokio::test]
async fn will_is_published_on_session_takeover() {
    let broker = TestBroker::start("").await;
    let mut sub = watcher(&broker, "sub", "will/#").await;
    let mut first = with_will(&broker, "twin", "will/d", QoS::AtLeastOnce, true).await;

    // The same client id again: the first connection is closed [MQTT-3.1.4-2], without DISCONNECT
    // from its client, so its will is published.
    let mut second = RawClient::connect(broker.addr, "twin").await;
    first.expect_closed(CLOSE_WAIT).await;
    sub.expect_publish_and_ack("will/d", "gone", QoS::AtLeastOnce, false)
        .await;
    sub.expect_silence(SILENCE).await;
    assert_will_retained(&broker, "will/d", QoS::AtLeastOnce).await;

    // The new connection is alive.
    second.send(Packet::PingReq).await;
    assert_eq!(second.recv().await, Packet::PingResp);
}

#[tokio::test]
async fn no_will_after_disconnect() {
    let broker = TestBroker::start("").await;
    let mut sub = watcher(&broker, "sub", "will/#").await;
    let leaving = with_will(&broker, "leaving", "will/e", QoS::AtLeastOnce, true).await;

    leaving.disconnect().await;
    // The broker has finished with the connection (a will would be published before this)...
    wait_until("the leaving client is gone", || {
        broker.handle.stats().clients_connected.get() == 1
    })
    .await;
    // ...and the will was discarded [MQTT-3.1.2-10], [MQTT-3.14.4-3].
    sub.expect_silence(SILENCE).await;
    assert_eq!(broker.handle.retained_count(), 0);
}

#[tokio::test]
async fn no_will_when_the_broker_shuts_down() {
    let broker = TestBroker::start("").await;
    let mut staying = with_will(&broker, "staying", "will/f", QoS::AtLeastOnce, true).await;
    let handle = broker.handle.clone();

    broker.stop().await;
    // The broker closed the connection; the will, retained if it had been published, was not.
    staying.expect_closed(CLOSE_WAIT).await;
    assert_eq!(handle.stats().clients_connected.get(), 0);
    assert_eq!(handle.retained_count(), 0);
}

/// Connects `client_id` with clean session 0 and a will on `topic`.
async fn persistent_with_will(broker: &TestBroker, client_id: &str, topic: &str) -> RawClient {
    let connect = Connect {
        will: Some(will(topic, "gone", QoS::AtLeastOnce, false)),
        ..connect_packet(client_id, false)
    };
    let (client, ack) = RawClient::connect_with(broker.addr, connect).await;
    assert_eq!(ack.code, ReasonCode::Success);
    client
}

#[tokio::test]
async fn no_will_when_a_new_connection_continues_the_session() {
    let broker = TestBroker::start("").await;
    let mut sub = watcher(&broker, "sub", "will/#").await;
    let mut first = persistent_with_will(&broker, "device", "will/f").await;

    // The device is back before its old socket timed out, and continues its session: the old
    // connection is closed, but the client is not gone, so no will.
    let (second, ack) = RawClient::connect_with(broker.addr, connect_packet("device", false)).await;
    assert_eq!(ack.code, ReasonCode::Success);
    assert!(ack.session_present);
    first.expect_closed(CLOSE_WAIT).await;
    sub.expect_silence(SILENCE).await;

    // A takeover that does not continue the session (clean session 1) ends it: the will of the
    // connection it replaces is published.
    second.disconnect().await;
    let mut third = persistent_with_will(&broker, "device", "will/g").await;
    let (mut fourth, _) =
        RawClient::connect_with(broker.addr, connect_packet("device", true)).await;
    third.expect_closed(CLOSE_WAIT).await;
    sub.expect_publish_and_ack("will/g", "gone", QoS::AtLeastOnce, false)
        .await;
    fourth.send(Packet::PingReq).await;
    assert_eq!(fourth.recv().await, Packet::PingResp);
    broker.stop().await;
}
