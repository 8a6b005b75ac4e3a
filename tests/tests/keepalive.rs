//! End-to-end tests of keep-alive: a client silent for 1.5 times its keep-alive (plus
//! `timeout_disconnect_delay`) is closed and its will published; PINGREQ keeps it open;
//! keep-alive 0 turns the check off.

use std::time::{Duration, Instant};

use amqtt_core::codec::{Connect, Packet, QoS, ReasonCode};
use amqtt_tests::{RawClient, TestBroker, connect_packet, publish_packet, will};

/// Connects `client_id` with `keep_alive` seconds and an optional will.
async fn connect_keep_alive(
    broker: &TestBroker,
    client_id: &str,
    keep_alive: u16,
    with_will: bool,
) -> RawClient {
    let connect = Connect {
        keep_alive,
        will: with_will.then(|| will("wills/silent", "gone quiet", QoS::AtLeastOnce, false)),
        ..connect_packet(client_id, true)
    };
    let (client, ack) = RawClient::connect_with(broker.addr, connect).await;
    assert_eq!(ack.code, ReasonCode::Success);
    client
}

#[tokio::test]
async fn silent_client_is_closed_after_one_and_a_half_keep_alives_and_its_will_published() {
    let broker = TestBroker::start("timeout_disconnect_delay: 0\n").await;
    let mut watcher = RawClient::connect(broker.addr, "watcher").await;
    watcher.subscribe(1, &[("wills/#", QoS::AtLeastOnce)]).await;

    let mut silent = connect_keep_alive(&broker, "silent", 1, true).await;
    // The limit is 1.5 s: still open at 1.0 s (silence panics if the broker closes)...
    silent.expect_silence(Duration::from_secs(1)).await;
    // ...and closed well before 3 s.
    silent.expect_closed(Duration::from_secs(2)).await;

    let message = watcher.recv_publish().await;
    assert_eq!(message.topic, "wills/silent");
    assert_eq!(&message.payload[..], b"gone quiet");
    assert_eq!(message.qos, QoS::AtLeastOnce);
}

#[tokio::test]
async fn pingreq_keeps_the_connection_open() {
    let broker = TestBroker::start("timeout_disconnect_delay: 0\n").await;
    let mut watcher = RawClient::connect(broker.addr, "watcher").await;
    watcher.subscribe(1, &[("wills/#", QoS::AtLeastOnce)]).await;

    let mut client = connect_keep_alive(&broker, "pinger", 1, true).await;
    // 7 pings 0.5 s apart: 3.5 s in all, more than twice the 1.5 s limit.
    for _ in 0..7 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.send(Packet::PingReq).await;
        let answer = client.recv_within(Duration::from_secs(2)).await;
        assert_eq!(answer, Some(Packet::PingResp));
    }
    // Still connected: it can still subscribe, and no will was published.
    client
        .subscribe(2, &[("still/here", QoS::AtMostOnce)])
        .await;
    watcher.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn keep_alive_zero_is_never_closed() {
    let broker = TestBroker::start("timeout_disconnect_delay: 0\n").await;
    let mut client = connect_keep_alive(&broker, "forever", 0, false).await;
    client.expect_silence(Duration::from_secs(2)).await;
    client.send(Packet::PingReq).await;
    assert_eq!(client.recv().await, Packet::PingResp);
}

#[tokio::test]
async fn timeout_disconnect_delay_extends_the_limit() {
    let broker = TestBroker::start("timeout_disconnect_delay: 1\n").await;
    let mut client = connect_keep_alive(&broker, "delayed", 1, false).await;
    // The limit is 1.5 s + 1 s = 2.5 s: still open at 2.0 s...
    client.expect_silence(Duration::from_secs(2)).await;
    // ...and closed by 4.5 s.
    client.expect_closed(Duration::from_millis(2500)).await;
}

#[tokio::test]
async fn client_that_stops_reading_is_still_closed_by_keep_alive() {
    // One packet of outbound queue, so a few unread PINGRESPs overfill it. The client feeds its
    // own subscription, so backpressure holds it back first: briefly, for this test.
    let broker = TestBroker::start(
        "timeout_disconnect_delay: 0\nmax_outbound: 1\nbackpressure_timeout: 0.2\n",
    )
    .await;
    let mut watcher = RawClient::connect(broker.addr, "watcher").await;
    watcher.subscribe(1, &[("wills/#", QoS::AtLeastOnce)]).await;

    let mut stuck = connect_keep_alive(&broker, "stuck", 1, true).await;
    stuck.subscribe(1, &[("flood", QoS::AtMostOnce)]).await;
    // Publish 64 KiB messages to its own subscription, never reading them, until the socket
    // buffers are full and the broker's writer for this connection is blocked: bytes_sent stops
    // growing although messages keep coming.
    let payload = "x".repeat(64 * 1024);
    let flood = Packet::Publish(publish_packet(
        "flood",
        &payload,
        QoS::AtMostOnce,
        false,
        None,
    ));
    let stats = broker.handle.stats();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut last_sent, mut last_change) = (stats.bytes_sent.get(), Instant::now());
    while last_change.elapsed() < Duration::from_millis(300) {
        assert!(
            Instant::now() < deadline,
            "the broker's writer never blocked"
        );
        stuck.send(flood.clone()).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        if stats.bytes_sent.get() != last_sent {
            (last_sent, last_change) = (stats.bytes_sent.get(), Instant::now());
        }
    }
    // One more message fills the queue; the PINGRESPs overfill it.
    stuck.send(flood).await;
    for _ in 0..4 {
        stuck.send(Packet::PingReq).await;
    }
    // Then silence, still without reading: 1.5 s later the broker must give up on the client
    // and publish its will ([MQTT-3.1.2-24]).
    let will = watcher.recv_within(Duration::from_secs(4)).await;
    let Some(Packet::Publish(will)) = will else {
        panic!("no will within 4 s of the client going silent: got {will:?}");
    };
    assert_eq!(will.topic, "wills/silent");
    // The will goes out just before the connection is unregistered.
    let deadline = Instant::now() + Duration::from_secs(2);
    while stats.clients_connected.get() != 1 {
        assert!(
            Instant::now() < deadline,
            "the silent client is still registered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
