//! End-to-end tests of `my_plugin`: a broker over `MyPlugins` runs in-process on 127.0.0.1:0,
//! and a small MQTT client built on amqtt-core's codec checks what the plugin changes.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use amqtt_core::broker::{Broker, BrokerHandle};
use amqtt_core::codec::{
    self, ByteString, Connect, Packet, Publish, QoS, ReasonCode, SubAckCode, Subscribe,
};
use amqtt_core::config::BrokerConfig;
use bytes::{Bytes, BytesMut};
use my_broker::{DEFAULT_CONFIG, MyPlugins};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// How long a test waits for a packet it expects.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The broker configuration of these tests: the default listener on an ephemeral port.
const CONFIG: &str = "
listeners:
  default:
    bind: 127.0.0.1:0
plugins:
  my_plugin:
    banned_clients: [mallory]
    readonly_prefix: announcements/
    greeting_topic: announcements/welcome
  auth_anonymous:
";

/// A broker running in a task of the test's runtime.
struct RunningBroker {
    addr: SocketAddr,
    handle: BrokerHandle<MyPlugins>,
    task: JoinHandle<()>,
}

impl RunningBroker {
    /// Builds the plugins from `yaml`, binds the listeners and serves in the background.
    async fn start(yaml: &str) -> RunningBroker {
        let config = BrokerConfig::from_yaml(yaml).expect("valid config");
        let broker = Broker::<MyPlugins>::bind(config)
            .await
            .expect("broker starts");
        let addr = broker.local_addr("default").expect("default listener");
        let handle = broker.handle();
        let task = tokio::spawn(broker.run(std::future::pending()));
        RunningBroker { addr, handle, task }
    }

    /// The plugin under test (the first member of the plugin tuple).
    fn my_plugin(&self) -> &my_broker::MyPlugin {
        &self.handle.plugins().0
    }

    /// Stops the broker and waits until it has.
    async fn stop(self) {
        self.handle.shutdown();
        self.task.await.expect("broker stops cleanly");
    }
}

/// A raw MQTT 3.1.1 client: whole packets out and in.
struct Client {
    stream: TcpStream,
    buf: BytesMut,
}

impl Client {
    /// Connects with a clean session and returns the client and the CONNACK's code.
    async fn connect(addr: SocketAddr, client_id: &str) -> (Client, ReasonCode) {
        let stream = TcpStream::connect(addr).await.expect("tcp connect");
        let mut client = Client {
            stream,
            buf: BytesMut::new(),
        };
        client
            .send(Packet::Connect(Box::new(Connect {
                clean_session: true,
                keep_alive: 0,
                client_id: ByteString::from(client_id),
                will: None,
                username: None,
                password: None,
                ..Default::default()
            })))
            .await;
        match client.recv().await {
            Packet::ConnAck(ack) => (client, ack.code),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects and asserts the broker accepted.
    async fn accepted(addr: SocketAddr, client_id: &str) -> Client {
        let (client, code) = Client::connect(addr, client_id).await;
        assert_eq!(code, ReasonCode::Success, "{client_id} is accepted");
        client
    }

    async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.encode(&mut out);
        self.stream.write_all(&out).await.expect("write to broker");
    }

    /// The next packet; fails the test after [`TIMEOUT`] or if the broker closes the connection.
    async fn recv(&mut self) -> Packet {
        let read = async {
            loop {
                if let Some(packet) = codec::decode(&mut self.buf, 1 << 20).expect("valid packet") {
                    return packet;
                }
                let n = self.stream.read_buf(&mut self.buf).await.expect("read");
                assert_ne!(n, 0, "broker closed the connection");
            }
        };
        tokio::time::timeout(TIMEOUT, read)
            .await
            .expect("a packet within the timeout")
    }

    /// Subscribes to `filter` at QoS 1 and asserts it is granted.
    async fn subscribe(&mut self, filter: &str) {
        self.send(Packet::Subscribe(Subscribe {
            packet_id: pid(1),
            filters: vec![(ByteString::from(filter), QoS::AtLeastOnce.into())],
            properties: None,
        }))
        .await;
        match self.recv().await {
            Packet::SubAck(ack) => assert_eq!(ack.codes, [SubAckCode::Success(QoS::AtLeastOnce)]),
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publishes at QoS 1 and waits for the PUBACK.
    async fn publish(&mut self, topic: &str, payload: &'static str, id: u16) {
        self.send(Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: ByteString::from(topic),
            packet_id: Some(pid(id)),
            payload: Bytes::from_static(payload.as_bytes()),
            properties: None,
        }))
        .await;
        assert_eq!(self.recv().await, Packet::PubAck(pid(id).into()));
    }

    /// The next packet, which must be a PUBLISH: its topic and payload.
    async fn message(&mut self) -> (String, String) {
        match self.recv().await {
            Packet::Publish(p) => (
                p.topic.to_string(),
                String::from_utf8_lossy(&p.payload).into_owned(),
            ),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
}

fn pid(id: u16) -> NonZeroU16 {
    NonZeroU16::new(id).expect("non-zero packet id")
}

#[tokio::test]
async fn banned_client_is_not_authorized() {
    let broker = RunningBroker::start(CONFIG).await;

    let (_mallory, code) = Client::connect(broker.addr, "mallory").await;
    assert_eq!(code, ReasonCode::NotAuthorized);
    // Everyone else is left to auth_anonymous, which admits them.
    Client::accepted(broker.addr, "alice").await;

    broker.stop().await;
}

#[tokio::test]
async fn connected_clients_are_greeted_and_counted() {
    let broker = RunningBroker::start(CONFIG).await;
    let mut watcher = Client::accepted(broker.addr, "watcher").await;
    watcher.subscribe("announcements/welcome").await;

    let _alice = Client::accepted(broker.addr, "alice").await;

    let greeting = watcher.message().await;
    assert_eq!(
        greeting,
        (
            "announcements/welcome".to_owned(),
            "welcome alice (connection #2)".to_owned()
        )
    );
    assert_eq!(broker.my_plugin().connections(), 2);

    broker.stop().await;
}

#[tokio::test]
async fn clients_cannot_publish_under_the_readonly_prefix() {
    let broker = RunningBroker::start(CONFIG).await;
    let mut reader = Client::accepted(broker.addr, "reader").await;
    // Subscribing under the prefix is allowed: the plugin only denies publishing there.
    reader.subscribe("announcements/news").await;
    reader.subscribe("news/today").await;

    let mut writer = Client::accepted(broker.addr, "writer").await;
    // Both are acknowledged (MQTT 3.1.1 has no way to refuse a PUBLISH), but the denied one is
    // dropped. The broker routes a message before acknowledging it, so had the first one been
    // delivered, the reader would see it before the second.
    writer.publish("announcements/news", "fake news", 1).await;
    writer.publish("news/today", "real news", 2).await;

    assert_eq!(
        reader.message().await,
        ("news/today".to_owned(), "real news".to_owned())
    );

    broker.stop().await;
}

#[tokio::test]
async fn shipped_config_runs() {
    let yaml = DEFAULT_CONFIG.replace("0.0.0.0:1883", "127.0.0.1:0");
    let broker = RunningBroker::start(&yaml).await;

    let (_mallory, code) = Client::connect(broker.addr, "mallory").await;
    assert_eq!(code, ReasonCode::NotAuthorized);
    Client::accepted(broker.addr, "alice").await;

    broker.stop().await;
}
