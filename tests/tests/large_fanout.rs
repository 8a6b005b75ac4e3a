//! Large messages fanned out to subscribers on every transport: 64 KiB and 1 MiB payloads at
//! QoS 0 and 1 reach MQTT 3.1.1 subscribers over TCP, TLS, WebSocket and secure WebSocket and an
//! MQTT 5.0 subscriber byte for byte, in order. The broker's writer sends such payloads as
//! shared pieces of a vectored write (`broker/write_batch.rs`), never copied per subscriber.

#[path = "transports/common.rs"]
#[allow(
    dead_code,
    reason = "shared with the transport tests; only the PKI, `start`, `tls_connect` and `Mqtt` are used here"
)]
mod common;

use std::net::SocketAddr;

use amqtt_core::codec::{self, Packet, Properties, ProtocolVersion, Publish, QoS, Subscribe};
use amqtt_core::transport::WsStream;
use amqtt_tests::v5::connect_v5;
use amqtt_tests::{RECV_TIMEOUT, connect_packet, pid};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;

use common::{Mqtt, Pki, start, tls_connect};

/// The largest packet the broker and the clients take: a 1 MiB payload and its head.
const MAX_PACKET: usize = 2 * 1024 * 1024;

/// Subscribers per MQTT 3.1.1 transport.
const PER_TRANSPORT: usize = 2;

/// A byte stream of any transport.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An MQTT client over any transport, speaking one protocol version, named in its failures.
struct Client {
    mqtt: Mqtt<Box<dyn Io>>,
    name: String,
}

impl Client {
    /// A client over `stream`, not connected yet.
    fn new(stream: Box<dyn Io>, version: ProtocolVersion, name: &str) -> Client {
        Client {
            mqtt: Mqtt::speaking(stream, version, MAX_PACKET),
            name: name.to_owned(),
        }
    }

    async fn send(&mut self, packet: Packet) {
        let sent = self.mqtt.send(packet).await;
        assert!(sent.is_ok(), "{}: write to broker: {sent:?}", self.name);
    }

    async fn recv(&mut self) -> Packet {
        let received = self.mqtt.try_recv().await;
        received.unwrap_or_else(|| {
            panic!(
                "{}: the broker closed, or no packet within {RECV_TIMEOUT:?}",
                self.name
            )
        })
    }

    /// Connects over `stream` as `name` and subscribes to `big/#` at QoS 1.
    async fn subscriber(stream: Box<dyn Io>, version: ProtocolVersion, name: &str) -> Client {
        let mut client = Client::new(stream, version, name);
        let connect = if version.is_v5() {
            connect_v5(name, Properties::default())
        } else {
            connect_packet(name, true)
        };
        client.send(Packet::Connect(Box::new(connect))).await;
        assert!(
            matches!(client.recv().await, Packet::ConnAck(a) if a.code == codec::ReasonCode::Success),
            "{name}: CONNACK"
        );
        client
            .send(Packet::Subscribe(Subscribe {
                packet_id: pid(1),
                filters: vec![("big/#".into(), QoS::AtLeastOnce.into())],
                properties: None,
            }))
            .await;
        assert!(
            matches!(client.recv().await, Packet::SubAck(_)),
            "{name}: SUBACK"
        );
        client
    }

    /// Receives `expected.len()` messages, acknowledging those at QoS 1, and asserts each is the
    /// expected one byte for byte.
    async fn expect_messages(mut self, expected: Vec<Publish>) {
        for want in expected {
            let got = match self.recv().await {
                Packet::Publish(p) => p,
                other => panic!("{}: expected PUBLISH, got {other:?}", self.name),
            };
            if let Some(id) = got.packet_id {
                self.send(Packet::PubAck(id.into())).await;
            }
            assert_eq!(got.topic, want.topic, "{}", self.name);
            assert_eq!(got.qos, want.qos, "{}: {}", self.name, want.topic);
            assert!(
                got.payload == want.payload,
                "{}: the payload of {} ({} bytes) differs from the one published",
                self.name,
                want.topic,
                got.payload.len()
            );
        }
    }
}

/// `len` bytes no two messages share at the same offset.
fn payload(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// A WebSocket (subprotocol `mqtt`) over `stream`, as a byte stream.
async fn websocket<S: Io + 'static>(stream: S, addr: SocketAddr, scheme: &str) -> Box<dyn Io> {
    let mut request = format!("{scheme}://localhost:{}/mqtt", addr.port())
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("mqtt"));
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("WebSocket handshake");
    Box::new(WsStream::new(ws))
}

#[tokio::test]
async fn large_payloads_reach_every_subscriber_on_every_transport_byte_exact() {
    let pki = Pki::new();
    let yaml = format!(
        "max_packet_size: {MAX_PACKET}
listeners:
  default:
    type: tcp
    bind: 127.0.0.1:0
  tls:
    bind: 127.0.0.1:0
{tls}  ws:
    type: ws
    bind: 127.0.0.1:0
  wss:
    type: ws
    bind: 127.0.0.1:0
{tls}plugins: {{}}
",
        tls = pki.tls_keys()
    );
    let (broker, addrs) = start(&yaml, ()).await;
    let tls = pki.client_config(None);

    let mut subscribers = Vec::new();
    for n in 0..PER_TRANSPORT {
        let tcp = || TcpStream::connect(addrs["default"]);
        let v311 = ProtocolVersion::V311;
        let stream = Box::new(tcp().await.expect("tcp"));
        subscribers.push(Client::subscriber(stream, v311, &format!("tcp-{n}")).await);
        let stream = Box::new(tls_connect(addrs["tls"], tls.clone()).await.expect("tls"));
        subscribers.push(Client::subscriber(stream, v311, &format!("tls-{n}")).await);
        let tcp = TcpStream::connect(addrs["ws"]).await.expect("tcp");
        let stream = websocket(tcp, addrs["ws"], "ws").await;
        subscribers.push(Client::subscriber(stream, v311, &format!("ws-{n}")).await);
        let tls = tls_connect(addrs["wss"], tls.clone()).await.expect("tls");
        let stream = websocket(tls, addrs["wss"], "wss").await;
        subscribers.push(Client::subscriber(stream, v311, &format!("wss-{n}")).await);
    }
    let stream = Box::new(TcpStream::connect(addrs["default"]).await.expect("tcp"));
    subscribers.push(Client::subscriber(stream, ProtocolVersion::V5, "tcp-v5").await);

    // Back to back, so one batch of a writer may hold several large payloads.
    let messages: Vec<Publish> = [(64 * 1024, QoS::AtMostOnce), (1 << 20, QoS::AtMostOnce)]
        .into_iter()
        .chain([(64 * 1024, QoS::AtLeastOnce), (1 << 20, QoS::AtLeastOnce)])
        .enumerate()
        .map(|(n, (len, qos))| {
            let mut message = Publish::new(format!("big/{n}"), payload(len, n as u8), qos, false);
            message.packet_id = (qos == QoS::AtLeastOnce).then(|| pid(10 + n as u16));
            message
        })
        .collect();
    let receiving: Vec<_> = subscribers
        .into_iter()
        .map(|client| tokio::spawn(client.expect_messages(messages.clone())))
        .collect();
    let stream = Box::new(TcpStream::connect(addrs["default"]).await.expect("tcp"));
    let mut publisher = Client::new(stream, ProtocolVersion::V311, "publisher");
    publisher
        .send(Packet::Connect(Box::new(connect_packet("publisher", true))))
        .await;
    assert!(matches!(publisher.recv().await, Packet::ConnAck(_)));
    for message in &messages {
        publisher.send(Packet::Publish(message.clone())).await;
    }
    for id in messages.iter().filter_map(|m| m.packet_id) {
        assert_eq!(publisher.recv().await, Packet::PubAck(id.into()));
    }
    for receiver in receiving {
        receiver.await.expect("every subscriber got every message");
    }
    broker.stop().await;
}
