//! End-to-end tests of how the broker survives bad clients: oversize frames, malformed packets,
//! publishes to `$` topics, invalid filters, random garbage, and a full listener. A bad client
//! loses its own connection and nothing else.

use std::net::SocketAddr;
use std::time::Duration;

use amqtt_core::broker::{Broker, BrokerHandle};
use amqtt_core::codec::{Packet, QoS, SubAckCode};
use amqtt_core::config::BrokerConfig;
use amqtt_tests::{RawClient, TestBroker, connect_packet, publish_packet, read_until_closed};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound for a close the broker should perform promptly.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// The encoded bytes of `packet`.
fn encode(packet: Packet) -> Vec<u8> {
    let mut out = BytesMut::new();
    packet.encode(&mut out);
    out.to_vec()
}

#[tokio::test]
async fn oversize_frame_is_refused_from_its_header_alone() {
    let broker = TestBroker::start("max_packet_size: 1024\n").await;
    let mut client = RawClient::connect(broker.addr, "big").await;
    let errors_before = broker.handle.stats().protocol_errors.get();
    // A PUBLISH header declaring a remaining length of 2 MiB; the body is never sent, so a
    // broker that waited for it would keep the connection open.
    client.send_raw(&[0x30, 0x80, 0x80, 0x80, 0x01]).await;
    client.expect_closed(CLOSE_WITHIN).await;
    assert!(broker.handle.stats().protocol_errors.get() > errors_before);
}

/// A QoS 0 PUBLISH to `topic` whose whole frame is exactly `frame_len` bytes.
fn publish_of_size(topic: &str, frame_len: usize) -> Packet {
    let mut packet = publish_packet(topic, "", QoS::AtMostOnce, false, None);
    let head = packet.encoded_len();
    // Remaining lengths from 128 to 16,383 take two bytes, so the header size does not change.
    packet.payload = vec![b'x'; frame_len - head - 1].into();
    assert_eq!(
        packet.encoded_len(),
        frame_len,
        "frame size of the test packet"
    );
    Packet::Publish(packet)
}

#[tokio::test]
async fn frame_at_the_size_limit_is_accepted_and_one_byte_more_is_not() {
    let broker = TestBroker::start("max_packet_size: 1024\n").await;
    let mut client = RawClient::connect(broker.addr, "sizes").await;
    client.subscribe(1, &[("size/#", QoS::AtMostOnce)]).await;

    for frame_len in [1023, 1024] {
        let packet = publish_of_size("size/ok", frame_len);
        let Packet::Publish(sent) = packet.clone() else {
            unreachable!("publish_of_size builds a PUBLISH")
        };
        client.send(packet).await;
        let received = client.recv_publish().await;
        assert_eq!(received.payload, sent.payload, "frame of {frame_len} bytes");
    }

    client.send(publish_of_size("size/big", 1025)).await;
    client.expect_closed(CLOSE_WITHIN).await;
}

/// Checks that sending `bad` on one connection closes it while a bystander on the same broker
/// publishes and receives before and after, and that the broker counts a protocol error.
async fn bad_packet_closes_only_its_connection(bad: &[u8]) {
    let broker = TestBroker::start("").await;
    let mut bystander = RawClient::connect(broker.addr, "bystander").await;
    bystander.subscribe(1, &[("chat/#", QoS::AtMostOnce)]).await;
    bystander
        .publish("chat/a", "before", QoS::AtMostOnce, false)
        .await;
    assert_eq!(&bystander.recv_publish().await.payload[..], b"before");

    let mut culprit = RawClient::connect(broker.addr, "culprit").await;
    let errors_before = broker.handle.stats().protocol_errors.get();
    culprit.send_raw(bad).await;
    culprit.expect_closed(CLOSE_WITHIN).await;
    assert!(
        broker.handle.stats().protocol_errors.get() > errors_before,
        "protocol_errors did not increase"
    );

    bystander
        .publish("chat/a", "after", QoS::AtMostOnce, false)
        .await;
    assert_eq!(&bystander.recv_publish().await.payload[..], b"after");
    // A new client can still connect and reach the bystander.
    let mut newcomer = RawClient::connect(broker.addr, "newcomer").await;
    newcomer
        .publish("chat/b", "hello", QoS::AtMostOnce, false)
        .await;
    assert_eq!(&bystander.recv_publish().await.payload[..], b"hello");
}

#[tokio::test]
async fn garbage_bytes_close_only_that_connection() {
    // A remaining length that goes on for more than 4 bytes.
    bad_packet_closes_only_its_connection(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).await;
}

#[tokio::test]
async fn publish_with_qos_3_closes_only_that_connection() {
    // PUBLISH, QoS bits 11, topic "chat/a", packet id 1, payload "x".
    let mut frame = vec![0x36, 11, 0x00, 0x06];
    frame.extend_from_slice(b"chat/a");
    frame.extend_from_slice(&[0x00, 0x01, b'x']);
    bad_packet_closes_only_its_connection(&frame).await;
}

#[tokio::test]
async fn reserved_packet_type_15_closes_only_that_connection() {
    bad_packet_closes_only_its_connection(&[0xF0, 0x00]).await;
}

#[tokio::test]
async fn publish_to_a_wildcard_topic_closes_only_that_connection() {
    // PUBLISH at QoS 0 to "chat/+" with payload "x".
    let mut frame = vec![0x30, 9, 0x00, 0x06];
    frame.extend_from_slice(b"chat/+");
    frame.push(b'x');
    bad_packet_closes_only_its_connection(&frame).await;
}

#[tokio::test]
async fn other_malformed_packets_close_only_their_connection() {
    let cases: [(&str, &[u8]); 6] = [
        (
            "PUBLISH QoS 1 with packet id 0",
            &[0x32, 0x07, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x00],
        ),
        (
            "PUBLISH QoS 0 with DUP",
            &[0x38, 0x05, 0x00, 0x03, b'a', b'/', b'b'],
        ),
        ("PUBREL with flags 0", &[0x60, 0x02, 0x00, 0x01]),
        (
            "SUBSCRIBE with flags 0",
            &[0x80, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x00],
        ),
        (
            "SUBSCRIBE asking QoS 3",
            &[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x03],
        ),
        ("SUBSCRIBE without filters", &[0x82, 0x02, 0x00, 0x01]),
    ];
    for (what, bytes) in cases {
        println!("case: {what}");
        bad_packet_closes_only_its_connection(bytes).await;
    }
}

#[tokio::test]
async fn oversize_first_packet_closes_without_connack() {
    let broker = TestBroker::start("max_packet_size: 1024\n").await;
    let mut stream = TcpStream::connect(broker.addr).await.expect("tcp connect");
    // A CONNECT header declaring 2 MiB, and no body.
    stream
        .write_all(&[0x10, 0x80, 0x80, 0x80, 0x01])
        .await
        .expect("write");
    let received = read_until_closed(&mut stream, CLOSE_WITHIN)
        .await
        .expect("closed without waiting for the body");
    assert!(received.is_empty(), "no CONNACK, got {received:?}");
}

#[tokio::test]
async fn client_publish_to_a_dollar_topic_is_acknowledged_but_not_delivered() {
    let broker = TestBroker::start("").await;
    let mut sys_watcher = RawClient::connect(broker.addr, "sys-watcher").await;
    sys_watcher
        .subscribe(1, &[("$SYS/#", QoS::AtLeastOnce)])
        .await;

    let mut client = RawClient::connect(broker.addr, "forger").await;
    // `publish` asserts the PUBACK.
    client
        .publish("$SYS/x", "forged", QoS::AtLeastOnce, false)
        .await;
    sys_watcher.expect_silence(Duration::from_millis(500)).await;

    // The connection stays open and usable.
    client.subscribe(2, &[("normal/t", QoS::AtMostOnce)]).await;
    client
        .publish("normal/t", "fine", QoS::AtMostOnce, false)
        .await;
    assert_eq!(&client.recv_publish().await.payload[..], b"fine");
}

#[tokio::test]
async fn invalid_filter_fails_only_its_own_suback_slot() {
    let broker = TestBroker::start("").await;
    let mut client = RawClient::connect(broker.addr, "filters").await;
    let ack = client
        .subscribe(
            7,
            &[
                ("ok/one", QoS::AtLeastOnce),
                ("bad/#/filter", QoS::AtMostOnce),
                ("ok/+", QoS::ExactlyOnce),
                ("bad+", QoS::AtMostOnce),
            ],
        )
        .await;
    assert_eq!(
        ack.codes,
        [
            SubAckCode::Success(QoS::AtLeastOnce),
            SubAckCode::FAILURE,
            SubAckCode::Success(QoS::ExactlyOnce),
            SubAckCode::FAILURE,
        ]
    );
    // The valid subscriptions are in force.
    client
        .publish("ok/one", "via both", QoS::AtMostOnce, false)
        .await;
    assert_eq!(&client.recv_publish().await.payload[..], b"via both");
    client.expect_silence(Duration::from_millis(200)).await;
}

/// A small deterministic pseudo-random generator (xorshift64*), so a failure can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next_byte(&mut self) -> u8 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D).to_be_bytes()[0]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_byte()).collect()
    }
}

#[tokio::test]
async fn random_garbage_from_many_sockets_does_not_take_the_broker_down() {
    let broker = TestBroker::start("connect_timeout: 0.5\n").await;
    let mut bystander = RawClient::connect(broker.addr, "bystander").await;
    bystander.subscribe(1, &[("chat/#", QoS::AtMostOnce)]).await;

    let connect = encode(Packet::Connect(Box::new(connect_packet("", true))));
    let mut tasks = Vec::new();
    for seed in 1..=16u64 {
        let addr = broker.addr;
        let connect = connect.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
            // Half of them get past CONNECT first, so garbage reaches the packet loop too.
            if seed % 2 == 0 {
                let _ = stream.write_all(&connect).await;
            }
            for round in 0..8 {
                let chunk = rng.bytes(64 + 97 * round);
                if stream.write_all(&chunk).await.is_err() {
                    break; // the broker has closed this one
                }
            }
            // End of stream: whatever partial frame is left, the broker must now close.
            let _ = stream.shutdown().await;
            read_until_closed(&mut stream, Duration::from_secs(5)).await
        }));
    }
    for (seed, task) in (1..).zip(tasks) {
        let closed = task.await.expect("garbage task");
        assert!(closed.is_some(), "garbage connection {seed} still open");
    }
    // Only the bystander is left connected.
    assert_eq!(broker.handle.stats().clients_connected.get(), 1);

    // The broker still serves the bystander and new clients.
    let mut newcomer = RawClient::connect(broker.addr, "newcomer").await;
    newcomer
        .publish("chat/t", "still up", QoS::AtMostOnce, false)
        .await;
    assert_eq!(&bystander.recv_publish().await.payload[..], b"still up");
}

/// A broker whose default listener accepts at most `max_connections` at once.
async fn start_limited(max_connections: usize) -> (SocketAddr, BrokerHandle) {
    let yaml = format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n    max_connections: {max_connections}\nplugins: {{}}\n"
    );
    let config = BrokerConfig::from_yaml(&yaml).expect("test config is valid");
    let broker = Broker::<()>::bind(config).await.expect("broker binds");
    let addr = broker.local_addr("default").expect("default listener");
    let handle = broker.handle();
    tokio::spawn(broker.run(std::future::pending()));
    (addr, handle)
}

#[tokio::test]
async fn full_listener_refuses_a_third_connection_at_once() {
    let (addr, handle) = start_limited(2).await;
    let mut first = RawClient::connect(addr, "first").await;
    let mut second = RawClient::connect(addr, "second").await;
    first.subscribe(1, &[("t", QoS::AtMostOnce)]).await;

    let mut third = TcpStream::connect(addr).await.expect("tcp connect");
    // Ignore a write error: the broker may already have closed the socket.
    let _ = third
        .write_all(&encode(Packet::Connect(Box::new(connect_packet(
            "third", true,
        )))))
        .await;
    // The default connect timeout is 10 s: a close within 2 s is the refusal, not the timeout.
    let received = read_until_closed(&mut third, CLOSE_WITHIN)
        .await
        .expect("the third connection is closed at once");
    assert!(received.is_empty(), "no CONNACK, got {received:?}");
    assert_eq!(handle.stats().connections_refused.get(), 1);

    second
        .publish("t", "both still work", QoS::AtMostOnce, false)
        .await;
    assert_eq!(&first.recv_publish().await.payload[..], b"both still work");
    handle.shutdown();
}

#[tokio::test]
async fn full_listener_accepts_again_once_a_client_leaves() {
    let (addr, handle) = start_limited(2).await;
    let first = RawClient::connect(addr, "first").await;
    let _second = RawClient::connect(addr, "second").await;
    first.disconnect().await;

    // The slot frees once the broker has finished with the first connection: retry until then.
    let connect = encode(Packet::Connect(Box::new(connect_packet("third", true))));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
        let _ = stream.write_all(&connect).await;
        let mut connack = [0u8; 4];
        let read = tokio::time::timeout(CLOSE_WITHIN, stream.read_exact(&mut connack)).await;
        match read {
            Ok(Ok(_)) => {
                assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
                break;
            }
            // Closed without a CONNACK: refused, the slot is not free yet.
            Ok(Err(_)) => {}
            Err(_) => panic!("neither CONNACK nor close within {CLOSE_WITHIN:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no connection accepted after a client left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    handle.shutdown();
}
