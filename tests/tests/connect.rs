//! End-to-end tests of the CONNECT handshake: protocol level, client id, the first-packet rule,
//! the connect timeout, a second CONNECT, and the session-present flag of CONNACK.

use std::time::Duration;

use amqtt_core::codec::{ConnAck, Packet, ProtocolVersion, QoS, ReasonCode, decode_as};
use amqtt_tests::{RawClient, TestBroker, connect_packet, read_until_closed};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound for a close the broker should perform promptly.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// A CONNECT frame built by hand: protocol `name` and `level`, connect `flags`, keep-alive 60,
/// then `extra` (e.g. MQTT 5 properties) and the client id.
fn raw_connect(name: &[u8], level: u8, flags: u8, extra: &[u8], client_id: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u16::try_from(name.len()).expect("short name").to_be_bytes());
    body.extend_from_slice(name);
    body.push(level);
    body.push(flags);
    body.extend_from_slice(&60u16.to_be_bytes());
    body.extend_from_slice(extra);
    body.extend_from_slice(
        &u16::try_from(client_id.len())
            .expect("short id")
            .to_be_bytes(),
    );
    body.extend_from_slice(client_id);
    let mut frame = vec![
        0x10,
        u8::try_from(body.len()).expect("fits one length byte"),
    ];
    frame.extend_from_slice(&body);
    frame
}

/// Opens a raw socket, sends `bytes`, and returns everything the broker sends before closing.
async fn send_and_read_until_closed(broker: &TestBroker, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(broker.addr).await.expect("tcp connect");
    stream.write_all(bytes).await.expect("write");
    read_until_closed(&mut stream, CLOSE_WITHIN)
        .await
        .expect("the broker closes the connection")
}

/// Opens a raw socket, sends `bytes`, and returns the first packet the broker answers with,
/// decoded for `version`.
async fn send_and_read_answer(
    broker: &TestBroker,
    bytes: &[u8],
    version: ProtocolVersion,
) -> Packet {
    let mut stream = TcpStream::connect(broker.addr).await.expect("tcp connect");
    stream.write_all(bytes).await.expect("write");
    let mut buf = BytesMut::new();
    tokio::time::timeout(CLOSE_WITHIN, async {
        loop {
            if let Some(packet) = decode_as(&mut buf, usize::MAX, version).expect("valid answer") {
                return packet;
            }
            assert!(stream.read_buf(&mut buf).await.expect("read") > 0, "closed");
        }
    })
    .await
    .expect("an answer in time")
}

#[tokio::test]
async fn unknown_protocol_level_gets_connack_unacceptable_protocol_version_and_close() {
    let broker = TestBroker::start("").await;
    for (name, level) in [(&b"MQTT"[..], 6), (b"MQTT", 3), (b"MQIsdp", 4)] {
        let connect = raw_connect(name, level, 0x02, &[], b"odd-client");
        let received = send_and_read_until_closed(&broker, &connect).await;
        assert_eq!(received, [0x20, 0x02, 0x00, 0x01], "level {level}");
    }
}

#[tokio::test]
async fn mqtt_3_1_is_accepted_without_session_present_and_needs_a_client_id() {
    let broker = TestBroker::start("").await;
    let connect = raw_connect(b"MQIsdp", 3, 0x00, &[], b"old-client");
    let answer = send_and_read_answer(&broker, &connect, ProtocolVersion::V31).await;
    assert_eq!(
        answer,
        Packet::ConnAck(ConnAck::new(false, ReasonCode::Success))
    );
    // 3.1 has no broker-assigned client ids.
    let connect = raw_connect(b"MQIsdp", 3, 0x02, &[], b"");
    let received = send_and_read_until_closed(&broker, &connect).await;
    assert_eq!(received, [0x20, 0x02, 0x00, 0x02]);
}

#[tokio::test]
async fn mqtt_5_gets_a_v5_connack_and_an_assigned_client_id() {
    let broker = TestBroker::start("").await;
    // MQTT 5 has a properties length (here 0) between the keep-alive and the client id.
    let connect = raw_connect(b"MQTT", 5, 0x02, &[0x00], b"new-client");
    let Packet::ConnAck(ack) = send_and_read_answer(&broker, &connect, ProtocolVersion::V5).await
    else {
        panic!("expected CONNACK");
    };
    assert_eq!(ack.code, ReasonCode::Success);
    let props = ack.properties.expect("CONNACK properties");
    assert!(props.assigned_client_identifier.is_none());
    assert!(props.maximum_packet_size.is_some());
    // An empty client id is assigned one, also without clean start.
    let connect = raw_connect(b"MQTT", 5, 0x00, &[0x00], b"");
    let Packet::ConnAck(ack) = send_and_read_answer(&broker, &connect, ProtocolVersion::V5).await
    else {
        panic!("expected CONNACK");
    };
    assert_eq!(ack.code, ReasonCode::Success);
    let assigned = ack
        .properties
        .and_then(|p| p.assigned_client_identifier)
        .expect("an assigned client id");
    assert!(!assigned.is_empty());
}

#[tokio::test]
async fn mqtt_5_enhanced_authentication_is_refused_with_0x8c() {
    let broker = TestBroker::start("").await;
    // Properties: Authentication Method (0x15) "SCRAM".
    let method = [0x08, 0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M'];
    let connect = raw_connect(b"MQTT", 5, 0x02, &method, b"scram-client");
    let answer = send_and_read_answer(&broker, &connect, ProtocolVersion::V5).await;
    assert_eq!(
        answer,
        Packet::ConnAck(ConnAck::new(false, ReasonCode::BadAuthenticationMethod))
    );
}

#[tokio::test]
async fn unknown_protocol_name_closes_without_connack() {
    let broker = TestBroker::start("").await;
    let connect = raw_connect(b"MQTX", 4, 0x02, &[], b"stranger");
    let received = send_and_read_until_closed(&broker, &connect).await;
    assert_eq!(received, [] as [u8; 0], "no CONNACK before the close");
}

#[tokio::test]
async fn connect_with_reserved_flag_closes_without_connack() {
    let broker = TestBroker::start("").await;
    // Clean session plus the reserved bit 0 ([MQTT-3.1.2-3]).
    let connect = raw_connect(b"MQTT", 4, 0x03, &[], b"reserved");
    let received = send_and_read_until_closed(&broker, &connect).await;
    assert_eq!(received, [] as [u8; 0], "no CONNACK before the close");
}

#[tokio::test]
async fn empty_client_id_with_persistent_session_is_rejected() {
    let broker = TestBroker::start("").await;
    let connect = raw_connect(b"MQTT", 4, 0x00, &[], b"");
    let received = send_and_read_until_closed(&broker, &connect).await;
    assert_eq!(received, [0x20, 0x02, 0x00, 0x02]);
}

#[tokio::test]
async fn empty_client_id_with_clean_session_is_accepted_and_works() {
    let broker = TestBroker::start("").await;
    let (mut client, ack) = RawClient::connect_with(broker.addr, connect_packet("", true)).await;
    assert_eq!(ack.code, ReasonCode::Success);
    assert!(!ack.session_present);

    let granted = client.subscribe(1, &[("anon/t", QoS::AtLeastOnce)]).await;
    assert_eq!(granted.codes.len(), 1);
    // QoS 0, so the only packet back is the delivery (a PUBACK may come before or after it).
    client
        .publish("anon/t", "to myself", QoS::AtMostOnce, false)
        .await;
    let message = client.recv_publish().await;
    assert_eq!(message.topic, "anon/t");
    assert_eq!(&message.payload[..], b"to myself");
}

#[tokio::test]
async fn two_anonymous_clients_get_distinct_sessions() {
    let broker = TestBroker::start("").await;
    let (mut a, _) = RawClient::connect_with(broker.addr, connect_packet("", true)).await;
    let (mut b, _) = RawClient::connect_with(broker.addr, connect_packet("", true)).await;
    a.subscribe(1, &[("anon/a", QoS::AtMostOnce)]).await;
    b.subscribe(1, &[("anon/b", QoS::AtMostOnce)]).await;
    // Had both been given the same id, the second would have taken over the first.
    b.publish("anon/a", "for a", QoS::AtMostOnce, false).await;
    assert_eq!(&a.recv_publish().await.payload[..], b"for a");
    a.publish("anon/b", "for b", QoS::AtMostOnce, false).await;
    assert_eq!(&b.recv_publish().await.payload[..], b"for b");
}

#[tokio::test]
async fn pingreq_as_first_packet_closes_without_connack() {
    let broker = TestBroker::start("").await;
    let received = send_and_read_until_closed(&broker, &[0xC0, 0x00]).await;
    assert_eq!(received, [] as [u8; 0], "no CONNACK before the close");
    assert!(broker.handle.stats().protocol_errors.get() >= 1);
}

#[tokio::test]
async fn silent_connection_is_closed_after_connect_timeout() {
    let broker = TestBroker::start("connect_timeout: 0.3\n").await;
    let mut stream = TcpStream::connect(broker.addr).await.expect("tcp connect");
    assert_eq!(
        read_until_closed(&mut stream, Duration::from_millis(100)).await,
        None,
        "closed before the connect timeout of 0.3 s"
    );
    let received = read_until_closed(&mut stream, CLOSE_WITHIN)
        .await
        .expect("closed after the connect timeout");
    assert!(received.is_empty(), "no CONNACK, got {received:?}");
}

#[tokio::test]
async fn second_connect_closes_the_connection() {
    let broker = TestBroker::start("").await;
    let mut client = RawClient::connect(broker.addr, "twice").await;
    let errors_before = broker.handle.stats().protocol_errors.get();
    client
        .send(Packet::Connect(Box::new(connect_packet("twice", true))))
        .await;
    client.expect_closed(CLOSE_WITHIN).await;
    assert!(broker.handle.stats().protocol_errors.get() > errors_before);
}

#[tokio::test]
async fn connect_with_a_connected_client_id_takes_over() {
    let broker = TestBroker::start("").await;
    let mut old = RawClient::connect(broker.addr, "same-id").await;
    let mut new = RawClient::connect(broker.addr, "same-id").await;
    // [MQTT-3.1.4-2]: the existing client is disconnected.
    old.expect_closed(CLOSE_WITHIN).await;
    new.send(Packet::PingReq).await;
    assert_eq!(new.recv().await, Packet::PingResp);
}

/// Connects `client_id` with `clean_session`, returns CONNACK's session-present flag, and
/// disconnects cleanly.
async fn session_present(broker: &TestBroker, client_id: &str, clean_session: bool) -> bool {
    let (client, ack) =
        RawClient::connect_with(broker.addr, connect_packet(client_id, clean_session)).await;
    assert_eq!(ack.code, ReasonCode::Success);
    client.disconnect().await;
    ack.session_present
}

#[tokio::test]
async fn session_present_flag_follows_the_stored_session() {
    let broker = TestBroker::start("").await;
    assert!(!session_present(&broker, "clean", true).await);
    assert!(!session_present(&broker, "clean", true).await);

    assert!(
        !session_present(&broker, "persistent", false).await,
        "first time: no session"
    );
    assert!(
        session_present(&broker, "persistent", false).await,
        "resumed"
    );
    assert!(
        session_present(&broker, "persistent", false).await,
        "resumed again"
    );
    assert!(
        !session_present(&broker, "persistent", true).await,
        "clean discards it"
    );
    assert!(
        !session_present(&broker, "persistent", false).await,
        "nothing left to resume"
    );
    assert!(
        session_present(&broker, "persistent", false).await,
        "stored again"
    );
}

#[tokio::test]
async fn resumed_session_keeps_its_subscriptions() {
    let broker = TestBroker::start("").await;
    let (mut client, _) =
        RawClient::connect_with(broker.addr, connect_packet("keeper", false)).await;
    client.subscribe(1, &[("kept/t", QoS::AtLeastOnce)]).await;
    client.disconnect().await;

    let (mut client, ack) =
        RawClient::connect_with(broker.addr, connect_packet("keeper", false)).await;
    assert!(ack.session_present);
    client
        .publish("kept/t", "still here", QoS::AtMostOnce, false)
        .await;
    assert_eq!(&client.recv_publish().await.payload[..], b"still here");
}
