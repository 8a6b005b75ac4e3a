//! The client library (`amqtt_core::client`) against a real broker, and against a scripted
//! raw server for acknowledgement timeouts and resumption after a reconnect.

#[path = "transports/common.rs"]
#[allow(
    dead_code,
    reason = "shared with the transport tests; only the PKI and `start` are used here"
)]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use amqtt_core::broker::Broker;
use amqtt_core::client::{ClientConfig, ClientError, ClientOptions, MqttClient};
use amqtt_core::codec::{self, ConnAck, Connect, Packet, QoS, ReasonCode, SubAckCode};
use amqtt_core::config::BrokerConfig;
use amqtt_core::plugin::{Plugin, SessionInfo};
use amqtt_core::transport::client::ConnectOptions;
use amqtt_plugins::PackagedPlugins;
use amqtt_tests::{TestBroker, in_time, next_message};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a test waits to be sure nothing arrives.
const SILENCE: Duration = Duration::from_millis(300);

fn url(addr: SocketAddr) -> String {
    format!("mqtt://{addr}")
}

/// Options for a test client: no auto-reconnect, so a lost connection fails fast.
fn options(id: &str) -> ClientOptions {
    ClientOptions::new().client_id(id).auto_reconnect(false)
}

async fn client(addr: SocketAddr, id: &str) -> MqttClient {
    in_time(MqttClient::connect(&url(addr), options(id)))
        .await
        .expect("client connects")
}

/// Runs `future`, failing the test after [`RECV_TIMEOUT`].
#[tokio::test]
async fn connects_and_disconnects_cleanly() {
    let broker = TestBroker::start("").await;
    let client = client(broker.addr, "c1").await;
    assert!(!client.session_present());
    in_time(client.disconnect()).await.expect("disconnect");
}

#[tokio::test]
async fn generates_a_client_id_for_a_clean_session() {
    let broker = TestBroker::start("").await;
    let a = in_time(MqttClient::connect(&url(broker.addr), ClientOptions::new()))
        .await
        .expect("connects without id");
    let b = in_time(MqttClient::connect(&url(broker.addr), ClientOptions::new()))
        .await
        .expect("connects without id");
    // Distinct ids: neither took over the other's session.
    assert_eq!(
        in_time(a.subscribe(&[("x", QoS::AtMostOnce)])).await.ok(),
        Some(vec![SubAckCode::Success(QoS::AtMostOnce)])
    );
    in_time(b.disconnect()).await.expect("b disconnects");
    in_time(a.disconnect()).await.expect("a disconnects");
}

#[tokio::test]
async fn refused_connect_is_a_typed_error() {
    let broker = TestBroker::<PackagedPlugins>::start_with_plugins(
        "plugins:\n  auth_anonymous:\n    allow_anonymous: false\n",
    )
    .await;
    let result = in_time(MqttClient::connect(&url(broker.addr), options("anon"))).await;
    assert!(
        matches!(result, Err(ClientError::Refused(ReasonCode::NotAuthorized))),
        "{result:?}"
    );
}

#[tokio::test]
async fn unreachable_broker_is_a_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let result = in_time(MqttClient::connect(&url(addr), options("x"))).await;
    assert!(
        matches!(result, Err(ClientError::Transport(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn publish_and_subscribe_round_trip_at_each_qos() {
    let broker = TestBroker::start("").await;
    let mut sub = client(broker.addr, "sub").await;
    let publisher = client(broker.addr, "pub").await;
    let codes = in_time(sub.subscribe(&[("t/#", QoS::ExactlyOnce)]))
        .await
        .expect("subscribe");
    assert_eq!(codes, vec![SubAckCode::Success(QoS::ExactlyOnce)]);
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let payload = format!("m{}", qos as u8);
        in_time(publisher.publish("t/a", payload.clone(), qos, false))
            .await
            .expect("publish completes");
        let message = next_message(&mut sub).await;
        assert_eq!(&message.topic[..], "t/a");
        assert_eq!(&message.payload[..], payload.as_bytes());
        assert_eq!(message.qos, qos);
        assert!(!message.retain);
    }
    // QoS 2 is delivered exactly once.
    assert_eq!(sub.deliver_message(SILENCE).await, None);
    in_time(publisher.disconnect()).await.expect("disconnect");
    in_time(sub.disconnect()).await.expect("disconnect");
}

#[tokio::test]
async fn default_qos_retain_and_message_stream() {
    let broker = TestBroker::start("").await;
    let publisher = in_time(MqttClient::connect(
        &url(broker.addr),
        options("pub").defaults(QoS::AtLeastOnce, true),
    ))
    .await
    .expect("connects");
    in_time(publisher.publish_default("r/1", "kept"))
        .await
        .expect("publish");
    let mut sub = client(broker.addr, "sub").await;
    in_time(sub.subscribe(&[("r/#", QoS::AtLeastOnce)]))
        .await
        .expect("subscribe");
    let message = in_time(sub.messages().recv()).await.expect("retained");
    assert_eq!(&message.payload[..], b"kept");
    assert!(message.retain);
    assert_eq!(message.qos, QoS::AtLeastOnce);
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let broker = TestBroker::start("").await;
    let mut sub = client(broker.addr, "sub").await;
    let publisher = client(broker.addr, "pub").await;
    in_time(sub.subscribe(&[("u/1", QoS::AtLeastOnce), ("u/2", QoS::AtLeastOnce)]))
        .await
        .expect("subscribe");
    in_time(sub.unsubscribe(&["u/1"]))
        .await
        .expect("unsubscribe");
    in_time(publisher.publish("u/1", "gone", QoS::AtLeastOnce, false))
        .await
        .expect("publish");
    in_time(publisher.publish("u/2", "here", QoS::AtLeastOnce, false))
        .await
        .expect("publish");
    let message = next_message(&mut sub).await;
    assert_eq!(&message.topic[..], "u/2");
    assert_eq!(sub.deliver_message(SILENCE).await, None);
}

async fn will_watcher(addr: SocketAddr) -> MqttClient {
    let watcher = client(addr, "watcher").await;
    in_time(watcher.subscribe(&[("will/#", QoS::AtLeastOnce)]))
        .await
        .expect("subscribe");
    watcher
}

#[tokio::test]
async fn will_is_published_when_the_connection_dies() {
    let broker = TestBroker::start("").await;
    let mut watcher = will_watcher(broker.addr).await;
    let dying = in_time(MqttClient::connect(
        &url(broker.addr),
        options("dying").will("will/dying", "gone", QoS::AtLeastOnce, false),
    ))
    .await
    .expect("connects");
    dying.kill();
    let message = next_message(&mut watcher).await;
    assert_eq!(&message.topic[..], "will/dying");
    assert_eq!(&message.payload[..], b"gone");
}

#[tokio::test]
async fn disconnect_publishes_no_will() {
    let broker = TestBroker::start("").await;
    let mut watcher = will_watcher(broker.addr).await;
    let leaving = in_time(MqttClient::connect(
        &url(broker.addr),
        options("leaving").will("will/leaving", "gone", QoS::AtLeastOnce, false),
    ))
    .await
    .expect("connects");
    in_time(leaving.disconnect()).await.expect("disconnect");
    assert_eq!(watcher.deliver_message(SILENCE).await, None);
}

/// A client plugin counting the PINGREQs sent and PINGRESPs received.
#[derive(Default)]
struct PingCounter {
    sent: AtomicUsize,
    received: AtomicUsize,
}

impl Plugin for PingCounter {
    fn on_mqtt_packet_sent(&self, packet: &Packet, _session: Option<&SessionInfo>) {
        if *packet == Packet::PingReq {
            self.sent.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn on_mqtt_packet_received(&self, packet: &Packet, _session: Option<&SessionInfo>) {
        if *packet == Packet::PingResp {
            self.received.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[tokio::test]
async fn keep_alive_pings_keep_an_idle_connection_open() {
    let broker = TestBroker::start("").await;
    let options = ClientOptions::with_plugins(PingCounter::default())
        .client_id("idle")
        .keep_alive(1)
        .auto_reconnect(false);
    let counter = Arc::clone(&options.plugins);
    let mut idle = in_time(MqttClient::connect(&url(broker.addr), options))
        .await
        .expect("connects");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(counter.sent.load(Ordering::Relaxed) >= 2);
    assert!(counter.received.load(Ordering::Relaxed) >= 2);
    // Still connected: a round trip through the broker works.
    in_time(idle.subscribe(&[("k", QoS::AtLeastOnce)]))
        .await
        .expect("subscribe");
    in_time(idle.publish("k", "alive", QoS::AtLeastOnce, false))
        .await
        .expect("publish");
    assert_eq!(&next_message(&mut idle).await.payload[..], b"alive");
}

/// Binds a broker on `port`, retrying briefly while the port is still held.
async fn broker_on_port(port: u16) -> TestBroker {
    let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:{port}\nplugins: {{}}\n");
    for _ in 0..50 {
        let config = BrokerConfig::from_yaml(&yaml).expect("config");
        if let Ok(broker) = Broker::<()>::bind(config).await {
            return TestBroker::serve(broker);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot bind a broker on port {port}");
}

#[tokio::test]
async fn reconnects_resubscribes_and_keeps_receiving_after_a_broker_restart() {
    let first = TestBroker::start("").await;
    let addr = first.addr;
    let mut sub = in_time(MqttClient::connect(
        &url(addr),
        ClientOptions::new()
            .client_id("survivor")
            .reconnect_retries(-1)
            .reconnect_max_interval(Duration::from_millis(400)),
    ))
    .await
    .expect("connects");
    in_time(sub.subscribe(&[("r/#", QoS::AtLeastOnce)]))
        .await
        .expect("subscribe");
    in_time(first.stop()).await;
    let second = broker_on_port(addr.port()).await;
    let publisher = client(addr, "publisher").await;
    // Publish until the resubscribed client receives one (it reconnects within a backoff).
    let received = in_time(async {
        loop {
            publisher
                .publish("r/x", "again", QoS::AtLeastOnce, false)
                .await
                .expect("publish");
            if let Some(message) = sub.deliver_message(Duration::from_millis(200)).await {
                return message;
            }
        }
    })
    .await;
    assert_eq!(&received.payload[..], b"again");
    in_time(sub.disconnect()).await.expect("disconnect");
    drop(second);
}

/// A scripted server connection: reads packets, writes packets.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    /// Accepts a client and answers its CONNECT.
    async fn accept(listener: &TcpListener) -> Raw {
        Raw::accept_connect(listener).await.0
    }

    /// Accepts a client, answers its CONNECT and returns it.
    async fn accept_connect(listener: &TcpListener) -> (Raw, Connect) {
        let (stream, _) = in_time(listener.accept()).await.expect("accept");
        let mut raw = Raw {
            stream,
            buf: BytesMut::new(),
        };
        let Packet::Connect(connect) = raw.recv().await else {
            panic!("expected CONNECT");
        };
        raw.send(Packet::ConnAck(ConnAck {
            session_present: false,
            code: ReasonCode::Success,
            properties: None,
        }))
        .await;
        (raw, *connect)
    }

    async fn recv(&mut self) -> Packet {
        in_time(async {
            loop {
                if let Some(packet) =
                    codec::decode(&mut self.buf, 1 << 20).expect("well-formed packet")
                {
                    return packet;
                }
                let n = self.stream.read_buf(&mut self.buf).await.expect("read");
                assert!(n > 0, "client closed the connection");
            }
        })
        .await
    }

    async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.encode(&mut out);
        self.stream.write_all(&out).await.expect("write");
    }
}

#[tokio::test]
async fn publish_fails_with_ack_timeout_when_unacknowledged() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let mut raw = Raw::accept(&listener).await;
        assert!(matches!(raw.recv().await, Packet::Publish(_)));
        raw
    });
    let client = in_time(MqttClient::connect(
        &url(addr),
        options("slow").ack_timeout(Duration::from_millis(200)),
    ))
    .await
    .expect("connects");
    let result = in_time(client.publish("t", "x", QoS::AtLeastOnce, false)).await;
    assert!(
        matches!(result, Err(ClientError::AckTimeout(_))),
        "{result:?}"
    );
    drop(server.await.expect("server"));
}

#[tokio::test]
async fn unacknowledged_publishes_are_resumed_after_a_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        // First connection: take a QoS 1 and a QoS 2 publish, answer PUBREC, then drop.
        let mut raw = Raw::accept(&listener).await;
        let mut ids = Vec::new();
        for _ in 0..2 {
            let Packet::Publish(p) = raw.recv().await else {
                panic!("expected PUBLISH");
            };
            assert!(!p.dup);
            ids.push((p.qos, p.packet_id.expect("id")));
        }
        let (_, id2) = *ids
            .iter()
            .find(|(q, _)| *q == QoS::ExactlyOnce)
            .expect("QoS 2");
        raw.send(Packet::PubRec(id2.into())).await;
        assert_eq!(raw.recv().await, Packet::PubRel(id2.into()));
        drop(raw);
        // Second connection: the QoS 1 publish again with DUP, and the PUBREL again.
        let mut raw = Raw::accept(&listener).await;
        let (_, id1) = *ids
            .iter()
            .find(|(q, _)| *q == QoS::AtLeastOnce)
            .expect("QoS 1");
        for _ in 0..2 {
            match raw.recv().await {
                Packet::Publish(p) => {
                    assert!(p.dup);
                    assert_eq!(p.packet_id, Some(id1));
                    raw.send(Packet::PubAck(id1.into())).await;
                }
                Packet::PubRel(amqtt_core::codec::Ack { packet_id: id, .. }) => {
                    assert_eq!(id, id2);
                    raw.send(Packet::PubComp(id2.into())).await;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        raw
    });
    let client = in_time(MqttClient::connect(
        &url(addr),
        ClientOptions::new()
            .client_id("resumer")
            .reconnect_retries(5)
            .reconnect_max_interval(Duration::from_millis(200)),
    ))
    .await
    .expect("connects");
    let (one, two) = in_time(async {
        tokio::join!(
            client.publish("t", "one", QoS::AtLeastOnce, false),
            client.publish("t", "two", QoS::ExactlyOnce, false),
        )
    })
    .await;
    one.expect("QoS 1 completes after the reconnect");
    two.expect("QoS 2 completes after the reconnect");
    drop(server.await.expect("server"));
}

/// A server that accepts one client, answers its CONNACK, then goes away entirely.
async fn vanishing_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let raw = Raw::accept(&listener).await;
        drop(raw);
        drop(listener);
    });
    (addr, server)
}

#[tokio::test]
async fn disconnect_returns_while_reconnecting_to_a_dead_broker() {
    let (addr, server) = vanishing_server().await;
    let client = in_time(MqttClient::connect(
        &url(addr),
        ClientOptions::new()
            .reconnect_retries(-1)
            .reconnect_max_interval(Duration::from_millis(200)),
    ))
    .await
    .expect("connects");
    server.await.expect("server");
    tokio::time::sleep(Duration::from_millis(300)).await;
    in_time(client.disconnect())
        .await
        .expect("disconnect while reconnecting");
}

#[tokio::test]
async fn pending_publish_fails_once_reconnect_retries_are_exhausted() {
    let (addr, server) = vanishing_server().await;
    let client = in_time(MqttClient::connect(
        &url(addr),
        ClientOptions::new()
            .reconnect_retries(2)
            .reconnect_max_interval(Duration::from_millis(100)),
    ))
    .await
    .expect("connects");
    server.await.expect("server");
    let result = in_time(client.publish("t", "lost", QoS::AtLeastOnce, false)).await;
    assert!(
        matches!(result, Err(ClientError::ConnectionClosed)),
        "{result:?}"
    );
}

#[tokio::test]
async fn client_configured_from_amqtt_yaml() {
    // The YAML gives the URL, per-topic flags and defaults.
    let broker = TestBroker::start("").await;
    let yaml = format!(
        "keep_alive: 2\nping_delay: 1\ndefault_qos: 1\nauto_reconnect: false\n\
         topics:\n  cfg/retained:\n    qos: 2\n    retain: true\n\
         connection:\n  uri: mqtt://user:secret@{}\n",
        broker.addr
    );
    let config = ClientConfig::from_yaml(&yaml).expect("valid config");
    let publisher = in_time(MqttClient::connect(
        config.uri().expect("uri"),
        config.options().expect("options"),
    ))
    .await
    .expect("connects");
    in_time(publisher.publish_default("cfg/retained", "r"))
        .await
        .expect("publish");
    in_time(publisher.publish_default("cfg/plain", "p"))
        .await
        .expect("publish");
    let mut sub = client(broker.addr, "cfg-sub").await;
    in_time(sub.subscribe(&[("cfg/#", QoS::ExactlyOnce)]))
        .await
        .expect("subscribe");
    let retained = next_message(&mut sub).await;
    assert_eq!(&retained.topic[..], "cfg/retained");
    assert_eq!((retained.qos, retained.retain), (QoS::ExactlyOnce, true));
    // cfg/plain was not retained, so nothing else arrives.
    assert_eq!(sub.deliver_message(SILENCE).await, None);
}

#[tokio::test]
async fn connect_packet_carries_the_options_and_url_credentials_win() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { Raw::accept_connect(&listener).await });
    let client = in_time(MqttClient::connect(
        &format!("mqtt://user:secret@{addr}"),
        ClientOptions::new()
            .client_id("ident")
            .clean_session(false)
            .keep_alive(42)
            .credentials("other", "wrong")
            .will("w/t", "bye", QoS::ExactlyOnce, true)
            .auto_reconnect(false),
    ))
    .await
    .expect("connects");
    let (raw, connect) = server.await.expect("server");
    assert_eq!(&connect.client_id[..], "ident");
    assert!(!connect.clean_session);
    assert_eq!(connect.keep_alive, 42);
    assert_eq!(connect.username.as_deref(), Some("user"));
    assert_eq!(connect.password.as_deref(), Some(&b"secret"[..]));
    let will = connect.will.expect("will");
    assert_eq!((&will.topic[..], &will.message[..]), ("w/t", &b"bye"[..]));
    assert_eq!((will.qos, will.retain), (QoS::ExactlyOnce, true));
    drop(raw);
    drop(client);
}

#[tokio::test]
async fn round_trip_over_tls_and_websocket() {
    let pki = common::Pki::new();
    let (cert, key) = (pki.cert_file.display(), pki.key_file.display());
    let yaml = format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n  tls:\n    bind: 127.0.0.1:0\n    ssl: true\n    certfile: {cert}\n    keyfile: {key}\n  ws:\n    type: ws\n    bind: 127.0.0.1:0\n  wss:\n    type: ws\n    bind: 127.0.0.1:0\n    ssl: true\n    certfile: {cert}\n    keyfile: {key}\nplugins: {{}}\n"
    );
    let (broker, addrs) = common::start(&yaml, ()).await;
    let urls = [
        format!("mqtts://localhost:{}", addrs["tls"].port()),
        format!("ws://127.0.0.1:{}/mqtt", addrs["ws"].port()),
        format!("wss://localhost:{}/mqtt", addrs["wss"].port()),
    ];
    let connection = ConnectOptions::new().ca_file(&pki.ca_file);
    for (i, url) in urls.iter().enumerate() {
        let connect =
            |id: String| MqttClient::connect(url, options(&id).connection(connection.clone()));
        let mut sub = in_time(connect(format!("sub{i}"))).await.expect(url);
        let publisher = in_time(connect(format!("pub{i}"))).await.expect(url);
        in_time(sub.subscribe(&[("x/#", QoS::ExactlyOnce)]))
            .await
            .expect("subscribe");
        in_time(publisher.publish("x/y", url.clone(), QoS::ExactlyOnce, false))
            .await
            .expect("publish");
        let message = next_message(&mut sub).await;
        assert_eq!(&message.payload[..], url.as_bytes());
        in_time(publisher.disconnect()).await.expect("disconnect");
        in_time(sub.disconnect()).await.expect("disconnect");
    }
    broker.stop().await;
}

#[tokio::test]
async fn a_broker_that_stops_answering_pings_is_a_lost_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let mut raw = Raw::accept(&listener).await;
        // Reads the PINGREQ and never answers.
        assert_eq!(raw.recv().await, Packet::PingReq);
        raw
    });
    let client = in_time(MqttClient::connect(
        &url(addr),
        options("pinger").keep_alive(1),
    ))
    .await
    .expect("connects");
    let raw = server.await.expect("server");
    // The task gives up about a second after its PINGREQ.
    in_time(async {
        loop {
            match client.publish("t", "x", QoS::AtMostOnce, false).await {
                Err(ClientError::ConnectionClosed) => return,
                Err(e) => panic!("unexpected {e}"),
                Ok(()) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await;
    drop(raw);
}

#[tokio::test]
async fn incoming_qos2_is_delivered_once_and_acknowledged() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let mut raw = Raw::accept(&listener).await;
        let id = amqtt_tests::pid(7);
        let mut publish =
            amqtt_tests::publish_packet("q2", "once", QoS::ExactlyOnce, false, Some(7));
        raw.send(Packet::Publish(publish.clone())).await;
        assert_eq!(raw.recv().await, Packet::PubRec(id.into()));
        publish.dup = true;
        raw.send(Packet::Publish(publish)).await;
        assert_eq!(raw.recv().await, Packet::PubRec(id.into()));
        raw.send(Packet::PubRel(id.into())).await;
        assert_eq!(raw.recv().await, Packet::PubComp(id.into()));
        // And QoS 1 is answered with PUBACK.
        let q1 = amqtt_tests::publish_packet("q1", "one", QoS::AtLeastOnce, false, Some(8));
        raw.send(Packet::Publish(q1)).await;
        assert_eq!(raw.recv().await, Packet::PubAck(amqtt_tests::pid(8).into()));
        raw
    });
    let mut client = client_raw(addr).await;
    let first = next_message(&mut client).await;
    assert_eq!((&first.topic[..], first.qos), ("q2", QoS::ExactlyOnce));
    let second = next_message(&mut client).await;
    assert_eq!(&second.topic[..], "q1");
    drop(server.await.expect("server"));
    assert_eq!(client.deliver_message(SILENCE).await, None);
}

/// A client of a scripted server, without keep-alive pings to keep the script simple.
async fn client_raw(addr: SocketAddr) -> MqttClient {
    in_time(MqttClient::connect(
        &url(addr),
        options("scripted").keep_alive(0),
    ))
    .await
    .expect("connects")
}
