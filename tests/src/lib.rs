//! Helpers for the end-to-end tests: a broker on `127.0.0.1:0` and a raw MQTT test client that
//! asserts on the exact packets the broker sends.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use amqtt_core::broker::{Broker, BrokerHandle};
use amqtt_core::codec::{
    self, ByteString, ConnAck, Connect, LastWill, Packet, Publish, QoS, SubAck, Subscribe,
    Unsubscribe,
};
use amqtt_core::config::BrokerConfig;
use amqtt_core::plugin::{BuildPlugins, Plugin};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

mod process;
pub mod v5;

pub use process::{AmqttProcess, slow_file};

/// How long a test waits for a packet it expects.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// A broker serving on an ephemeral port of 127.0.0.1, stopped when dropped.
pub struct TestBroker<P: Plugin = ()> {
    /// The address of its `default` listener.
    pub addr: SocketAddr,
    /// Counters, the plugin set, and shutdown.
    pub handle: BrokerHandle<P>,
    task: Option<JoinHandle<()>>,
}

impl TestBroker<()> {
    /// Starts a broker without plugins, the default listener on 127.0.0.1:0, and `extra` YAML
    /// broker keys (e.g. `"session_expiry_interval: 1\n"`).
    pub async fn start(extra: &str) -> TestBroker<()> {
        TestBroker::start_with_plugins(&format!("plugins: {{}}\n{extra}")).await
    }
}

impl<P: BuildPlugins> TestBroker<P> {
    /// Starts a broker over the plugin set `P`, the default listener on 127.0.0.1:0, and `extra`
    /// YAML broker keys, which may include a `plugins:` section.
    pub async fn start_with_plugins(extra: &str) -> TestBroker<P> {
        let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:0\n{extra}");
        let config = BrokerConfig::from_yaml(&yaml).expect("test config is valid");
        let broker = Broker::<P>::bind(config).await.expect("broker binds");
        TestBroker::serve(broker)
    }
}

impl<P: Plugin> TestBroker<P> {
    /// Runs a bound broker in the background.
    pub fn serve(broker: Broker<P>) -> TestBroker<P> {
        let addr = broker.local_addr("default").expect("default listener");
        let handle = broker.handle();
        let task = tokio::spawn(broker.run(std::future::pending()));
        TestBroker {
            addr,
            handle,
            task: Some(task),
        }
    }

    /// Asserts the broker's internal invariants ([`BrokerHandle::check_consistency`]): every
    /// subscription belongs to a live session. Retries for a while, since a session that is
    /// ending leaves the index a slice at a time.
    pub async fn assert_consistent(&self) {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        loop {
            match self.handle.check_consistency() {
                Ok(()) => return,
                Err(violation) if tokio::time::Instant::now() >= deadline => {
                    panic!("broker state is inconsistent: {violation}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Checks the broker's invariants ([`TestBroker::assert_consistent`]), then stops it and
    /// waits for it to finish.
    pub async fn stop(mut self) {
        self.assert_consistent().await;
        self.handle.shutdown();
        if let Some(task) = self.task.take() {
            task.await.expect("broker task ends cleanly");
        }
    }
}

impl<P: Plugin> Drop for TestBroker<P> {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// A packet id for tests.
pub fn pid(id: u16) -> NonZeroU16 {
    NonZeroU16::new(id).expect("non-zero packet id")
}

/// A CONNECT with the given client id and clean-session flag, keep-alive 0, no will.
pub fn connect_packet(client_id: &str, clean_session: bool) -> Connect {
    Connect {
        clean_session,
        keep_alive: 0,
        client_id: ByteString::from(client_id),
        will: None,
        username: None,
        password: None,
        ..Default::default()
    }
}

/// A will message for a CONNECT.
pub fn will(topic: &str, message: &str, qos: QoS, retain: bool) -> LastWill {
    LastWill {
        topic: ByteString::from(topic),
        message: Bytes::copy_from_slice(message.as_bytes()),
        qos,
        retain,
        properties: None,
    }
}

/// A PUBLISH as a client sends it.
pub fn publish_packet(
    topic: &str,
    payload: &str,
    qos: QoS,
    retain: bool,
    id: Option<u16>,
) -> Publish {
    publish_bytes(topic, payload.as_bytes(), qos, retain, id)
}

/// A PUBLISH as a client sends it, with any payload bytes.
pub fn publish_bytes(
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    id: Option<u16>,
) -> Publish {
    Publish {
        dup: false,
        qos,
        retain,
        topic: ByteString::from(topic),
        packet_id: id.map(pid),
        payload: Bytes::copy_from_slice(payload),
        properties: None,
    }
}

/// A raw MQTT client over TCP that sends and receives whole packets.
pub struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
}

impl RawClient {
    /// Opens a TCP connection without sending anything.
    pub async fn open(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).await.expect("tcp connect");
        stream.set_nodelay(true).expect("nodelay");
        RawClient {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Connects with `connect` and returns the client and the CONNACK.
    pub async fn connect_with(addr: SocketAddr, connect: Connect) -> (RawClient, ConnAck) {
        let mut client = RawClient::open(addr).await;
        client.send(Packet::Connect(Box::new(connect))).await;
        match client.recv().await {
            Packet::ConnAck(ack) => (client, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with a clean session and asserts the connection is accepted.
    pub async fn connect(addr: SocketAddr, client_id: &str) -> RawClient {
        let (client, ack) = RawClient::connect_with(addr, connect_packet(client_id, true)).await;
        assert_eq!(ack.code, codec::ReasonCode::Success);
        client
    }

    /// Closes the connection abruptly: with linger 0 the close sends RST, as from a client that
    /// vanished.
    pub fn reset(self) {
        // A socket that cannot take the option still closes, just with FIN.
        let _ = self.stream.set_zero_linger();
    }

    /// Sends one packet.
    pub async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.encode(&mut out);
        self.send_raw(&out).await;
    }

    /// Sends raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to broker");
    }

    /// Receives the next packet, failing the test after [`RECV_TIMEOUT`] or if the broker closes.
    pub async fn recv(&mut self) -> Packet {
        match self.recv_within(RECV_TIMEOUT).await {
            Some(packet) => packet,
            None => panic!("no packet from the broker within {RECV_TIMEOUT:?}"),
        }
    }

    /// The next packet if one arrives within `wait`; panics if the connection closes.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Packet> {
        match tokio::time::timeout(wait, self.read_packet()).await {
            Err(_) => None,
            Ok(Some(packet)) => Some(packet),
            Ok(None) => panic!("broker closed the connection"),
        }
    }

    /// Asserts no packet arrives within `wait` (and the connection stays open).
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(packet) = self.recv_within(wait).await {
            panic!("expected no packet, got {packet:?}");
        }
    }

    /// Asserts the broker closes the connection within `wait` (packets sent before are skipped).
    pub async fn expect_closed(&mut self, wait: Duration) {
        let closed =
            tokio::time::timeout(wait, async { while self.read_packet().await.is_some() {} }).await;
        assert!(
            closed.is_ok(),
            "broker did not close the connection within {wait:?}"
        );
    }

    /// Reads one packet; `None` when the broker closed the connection.
    async fn read_packet(&mut self) -> Option<Packet> {
        loop {
            match codec::decode(&mut self.buf, codec::MAX_REMAINING_LENGTH + 5) {
                Ok(Some(packet)) => return Some(packet),
                Ok(None) => {}
                Err(e) => panic!("broker sent a malformed packet: {e}"),
            }
            self.buf.reserve(4096);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Receives a PUBLISH, failing on any other packet.
    pub async fn recv_publish(&mut self) -> Publish {
        match self.recv().await {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Subscribes to `filters` and returns the SUBACK.
    pub async fn subscribe(&mut self, id: u16, filters: &[(&str, QoS)]) -> SubAck {
        self.send(Packet::Subscribe(Subscribe {
            packet_id: pid(id),
            filters: filters
                .iter()
                .map(|(f, q)| (ByteString::from(*f), (*q).into()))
                .collect(),
            properties: None,
        }))
        .await;
        match self.recv().await {
            Packet::SubAck(ack) => {
                assert_eq!(ack.packet_id, pid(id));
                ack
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Unsubscribes from `filters` and waits for the UNSUBACK.
    pub async fn unsubscribe(&mut self, id: u16, filters: &[&str]) {
        self.send(Packet::Unsubscribe(Unsubscribe {
            packet_id: pid(id),
            filters: filters.iter().map(|f| ByteString::from(*f)).collect(),
            properties: None,
        }))
        .await;
        assert_eq!(self.recv().await, Packet::UnsubAck(pid(id).into()));
    }

    /// Publishes and completes the handshake of its QoS (PUBACK, or PUBREC/PUBREL/PUBCOMP).
    pub async fn publish(&mut self, topic: &str, payload: &str, qos: QoS, retain: bool) {
        let id = (qos != QoS::AtMostOnce).then_some(4242);
        self.send(Packet::Publish(publish_packet(
            topic, payload, qos, retain, id,
        )))
        .await;
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => assert_eq!(self.recv().await, Packet::PubAck(pid(4242).into())),
            QoS::ExactlyOnce => {
                assert_eq!(self.recv().await, Packet::PubRec(pid(4242).into()));
                self.send(Packet::PubRel(pid(4242).into())).await;
                assert_eq!(self.recv().await, Packet::PubComp(pid(4242).into()));
            }
        }
    }

    /// Sends DISCONNECT and closes the socket.
    pub async fn disconnect(mut self) {
        self.send(Packet::Disconnect(Default::default())).await;
        let _ = self.stream.shutdown().await;
    }
}

/// Reads everything the broker sends on a raw `stream` until it closes the connection (end of
/// stream or reset): `Some(bytes)` with all it sent first, or `None` if it is still open after
/// `wait`. For asserting the exact bytes before a close, e.g. a refusing CONNACK or nothing.
pub async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let read_all = async {
        let mut chunk = [0u8; 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(wait, read_all).await.ok()?;
    Some(received)
}

/// Polls `condition` every 10 ms until it holds, failing the test (naming `what`) after
/// [`RECV_TIMEOUT`]. For broker state that changes after the packet a test can observe, e.g.
/// `handle.session_count()` once a connection has been closed.
pub async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl RawClient {
    /// Receives a PUBLISH and asserts it is exactly `topic`/`payload` at `qos` with `retain` and
    /// DUP 0, carrying a packet id if and only if `qos` is 1 or 2. Returns that id.
    pub async fn expect_publish(
        &mut self,
        topic: &str,
        payload: &str,
        qos: QoS,
        retain: bool,
    ) -> Option<NonZeroU16> {
        let publish = self.recv_publish().await;
        let id = publish.packet_id;
        assert_eq!(
            id.is_some(),
            qos != QoS::AtMostOnce,
            "packet id of {publish:?}"
        );
        assert_eq!(
            publish,
            publish_packet(topic, payload, qos, retain, id.map(NonZeroU16::get))
        );
        id
    }

    /// Completes the receiver's side of the handshake for a PUBLISH the broker sent at `qos`
    /// with `id`: nothing (QoS 0), PUBACK (QoS 1), or PUBREC, then asserts the next packet is
    /// the PUBREL, then PUBCOMP (QoS 2).
    pub async fn ack(&mut self, qos: QoS, id: Option<NonZeroU16>) {
        match (qos, id) {
            (QoS::AtMostOnce, _) => {}
            (QoS::AtLeastOnce, Some(id)) => self.send(Packet::PubAck(id.into())).await,
            (QoS::ExactlyOnce, Some(id)) => {
                self.send(Packet::PubRec(id.into())).await;
                assert_eq!(self.recv().await, Packet::PubRel(id.into()));
                self.send(Packet::PubComp(id.into())).await;
            }
            (qos, None) => panic!("a QoS {qos:?} PUBLISH needs a packet id"),
        }
    }

    /// [`RawClient::expect_publish`] then [`RawClient::ack`].
    pub async fn expect_publish_and_ack(
        &mut self,
        topic: &str,
        payload: &str,
        qos: QoS,
        retain: bool,
    ) {
        let id = self.expect_publish(topic, payload, qos, retain).await;
        self.ack(qos, id).await;
    }
}

/// The path of the `amqtt-bin` binary `name` (`amqtt`, `amqtt_pub`, `amqtt_passwd`, ...), built
/// once per test process into this test's target directory and profile: Cargo does not build
/// another package's binaries for integration tests.
pub fn amqtt_binary(name: &str) -> std::path::PathBuf {
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;
    static PROFILE_DIR: OnceLock<PathBuf> = OnceLock::new();
    let profile_dir = PROFILE_DIR.get_or_init(|| {
        // A test executable is <target-dir>/<profile>/deps/<name>-<hash>.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("executable under <target>/<profile>/deps");
        let target_dir = profile_dir
            .parent()
            .expect("profile directory has a parent");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = std::process::Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "-p",
                "amqtt-bin",
                "--bins",
                "--target-dir",
            ])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(
            status.success(),
            "cargo build of amqtt-bin failed: {status}"
        );
        profile_dir.to_path_buf()
    });
    let binary = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.is_file(), "{} was not built", binary.display());
    binary
}

/// Whether the service `name` (PostgreSQL, MariaDB, OpenLDAP, ...) accepts TCP connections at
/// `addr`. When it does not, the test is to be skipped: this says so in one line, and under CI
/// (`CI` set), where every service must run, it fails the test instead.
pub async fn service_reachable(name: &str, addr: &str) -> bool {
    let probe = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await;
    if matches!(probe, Ok(Ok(_))) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{name} not reachable at {addr}, and CI is set"
    );
    println!("skipping: {name} not reachable at {addr}");
    false
}
