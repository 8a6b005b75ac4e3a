//! The DISCONNECT the broker sends a 5.0 client before it closes it: session taken over (0x8E),
//! keep-alive timeout (0x8D), server shutting down (0x8B). A 3.1.1 client gets no packet.

use std::time::Duration;

use amqtt_core::codec::{ConnAck, Packet, ProtocolVersion, QoS, ReasonCode};
use amqtt_tests::{RawClient, TestBroker, connect_packet, read_until_closed, will};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use amqtt_tests::v5::{V5Client, session_connect};

#[tokio::test]
async fn takeover_tells_the_old_connection() {
    let broker = TestBroker::start("").await;
    let mut watcher = RawClient::connect(broker.addr, "watcher").await;
    watcher.subscribe(1, &[("will/#", QoS::AtMostOnce)]).await;
    let mut connect = session_connect("twice", false, Some(60));
    connect.will = Some(will("will/twice", "gone", QoS::AtMostOnce, false));
    let (mut old, _) = V5Client::connect_with(broker.addr, connect).await;
    let (_new, present) = V5Client::connect_session(broker.addr, "twice", false, Some(60)).await;
    assert!(present);
    old.expect_disconnect(ReasonCode::SessionTakenOver).await;
    // The session continues: the client is back, not gone.
    watcher.expect_silence(Duration::from_millis(300)).await;
    broker.stop().await;
}

#[tokio::test]
async fn keep_alive_timeout_is_told() {
    let broker = TestBroker::start("").await;
    let mut connect = session_connect("silent", true, None);
    connect.keep_alive = 1;
    let (mut client, _) = V5Client::connect_with(broker.addr, connect).await;
    client.expect_disconnect(ReasonCode::KeepAliveTimeout).await;
    broker.stop().await;
}

#[tokio::test]
async fn shutdown_is_told_to_5_0_clients_only() {
    let broker = TestBroker::start("").await;
    let (mut client, _) = V5Client::connect_session(broker.addr, "v5", true, None).await;
    let mut old = TcpStream::connect(broker.addr).await.expect("connect");
    let mut out = BytesMut::new();
    Packet::Connect(Box::new(connect_packet("v311", true))).encode(&mut out);
    old.write_all(&out).await.expect("write");
    let mut connack = [0u8; 4];
    old.read_exact(&mut connack).await.expect("CONNACK");
    let mut expected = BytesMut::new();
    Packet::ConnAck(ConnAck::new(false, ReasonCode::Success))
        .encode_as(ProtocolVersion::V311, &mut expected);
    assert_eq!(&connack[..], &expected[..]);
    broker.handle.shutdown();
    client
        .expect_disconnect(ReasonCode::ServerShuttingDown)
        .await;
    let rest = read_until_closed(&mut old, Duration::from_secs(5)).await;
    assert_eq!(
        rest,
        Some(Vec::new()),
        "a 3.1.1 client is closed without a packet"
    );
}
