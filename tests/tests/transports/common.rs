//! What the transport tests share: certificates made at run time, brokers started from YAML with
//! several listeners, and MQTT clients over any byte stream, over TLS, and over raw WebSocket
//! frames.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use amqtt_core::broker::Broker;
use amqtt_core::codec::{self, ConnAck, Packet, ProtocolVersion, Publish, QoS, SubAck};
use amqtt_core::config::BrokerConfig;
use amqtt_core::plugin::{Hooks, Plugin, SessionInfo, Verdict};
use amqtt_tests::{RECV_TIMEOUT, TestBroker, connect_packet, pid, publish_packet};
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;

/// A certificate authority made for one test.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-signed CA");
        Ca {
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate and its key (PEM) for `names` (DNS names or IP addresses).
    fn issue(&self, cn: &str, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        (cert.pem(), key.serialize_pem())
    }
}

/// A client certificate: its chain and key.
pub(crate) struct ClientIdentity {
    /// The client certificate (DER).
    pub(crate) cert: CertificateDer<'static>,
    key_pem: String,
    /// The PEM files, for mosquitto.
    pub(crate) cert_file: PathBuf,
    pub(crate) key_file: PathBuf,
}

impl ClientIdentity {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("client key")
    }
}

/// A CA, a server certificate for `localhost` and `127.0.0.1`, a client certificate from that
/// CA, and one from another CA, written to a temporary directory.
pub(crate) struct Pki {
    _dir: tempfile::TempDir,
    /// The CA's certificate file.
    pub(crate) ca_file: PathBuf,
    /// The server's certificate file.
    pub(crate) cert_file: PathBuf,
    /// The server's key file (PKCS#8).
    pub(crate) key_file: PathBuf,
    /// The CA certificate (DER), for the clients' trust store.
    pub(crate) ca_der: CertificateDer<'static>,
    /// A client certificate the CA issued.
    pub(crate) client: ClientIdentity,
    /// A client certificate from another CA.
    pub(crate) rogue: ClientIdentity,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write PEM file");
            path
        };
        let ca = Ca::new("amqtt test CA");
        let (server_cert, server_key) = ca.issue(
            "amqtt test server",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = |ca: &Ca, name: &str| {
            let (cert, key) = ca.issue(name, &[], ExtendedKeyUsagePurpose::ClientAuth);
            ClientIdentity {
                cert: CertificateDer::from_pem_slice(cert.as_bytes()).expect("client cert"),
                cert_file: write(&format!("{name}.crt"), &cert),
                key_file: write(&format!("{name}.key"), &key),
                key_pem: key,
            }
        };
        let other_ca = Ca::new("another CA");
        Pki {
            ca_file: write("ca.crt", &ca.pem),
            cert_file: write("server.crt", &server_cert),
            key_file: write("server.key", &server_key),
            ca_der: ca.der.clone(),
            client: client(&ca, "device-1"),
            rogue: client(&other_ca, "rogue"),
            _dir: dir,
        }
    }

    /// The YAML keys of a TLS listener with this server certificate.
    pub(crate) fn tls_keys(&self) -> String {
        format!(
            "    ssl: true\n    certfile: {}\n    keyfile: {}\n",
            self.cert_file.display(),
            self.key_file.display()
        )
    }

    /// A TLS client trusting the CA, presenting `identity` if any.
    pub(crate) fn client_config(&self, identity: Option<&ClientIdentity>) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("CA in trust store");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(id) => builder
                .with_client_auth_cert(vec![id.cert.clone()], id.key())
                .expect("client certificate"),
        };
        Arc::new(config)
    }
}

/// Binds a broker from `yaml` (listeners on 127.0.0.1:0) over `plugins` and serves it; returns
/// it with the address of each listener.
pub(crate) async fn start<P: Plugin>(
    yaml: &str,
    plugins: P,
) -> (TestBroker<P>, BTreeMap<String, SocketAddr>) {
    let config = BrokerConfig::from_yaml(yaml).expect("test config is valid");
    let names: Vec<String> = config.listeners.keys().cloned().collect();
    let broker = Broker::bind_with(config, |_| Ok(plugins))
        .await
        .expect("broker binds");
    serve_listeners(broker, names)
}

/// Serves a bound `broker`; returns it with the address of each listener in `names` (an
/// external listener has none).
pub(crate) fn serve_listeners<P: Plugin>(
    broker: Broker<P>,
    names: Vec<String>,
) -> (TestBroker<P>, BTreeMap<String, SocketAddr>) {
    let addrs = names
        .into_iter()
        .filter_map(|name| Some((name.clone(), broker.local_addr(&name)?)))
        .collect();
    (TestBroker::serve(broker), addrs)
}

/// Opens TLS to `addr` (checking the server's name `localhost`).
pub(crate) async fn tls_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    TlsConnector::from(config).connect(name, tcp).await
}

/// An MQTT client over any byte stream.
pub(crate) struct Mqtt<S> {
    stream: S,
    buf: BytesMut,
    version: ProtocolVersion,
    /// The largest packet it accepts from the broker.
    max_packet: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Mqtt<S> {
    /// An MQTT 3.1.1 client taking packets up to 1 MiB.
    pub(crate) fn new(stream: S) -> Mqtt<S> {
        Mqtt::speaking(stream, ProtocolVersion::V311, 1 << 20)
    }

    /// A client of protocol `version`, taking packets up to `max_packet` bytes.
    pub(crate) fn speaking(stream: S, version: ProtocolVersion, max_packet: usize) -> Mqtt<S> {
        Mqtt {
            stream,
            buf: BytesMut::new(),
            version,
            max_packet,
        }
    }

    pub(crate) async fn send(&mut self, packet: Packet) -> io::Result<()> {
        let mut out = BytesMut::new();
        packet.encode_as(self.version, &mut out);
        self.stream.write_all(&out).await?;
        self.stream.flush().await
    }

    /// The next packet; `None` when the connection closes (or fails) or after [`RECV_TIMEOUT`].
    pub(crate) async fn try_recv(&mut self) -> Option<Packet> {
        let read = async {
            loop {
                let decoded = codec::decode_as(&mut self.buf, self.max_packet, self.version);
                if let Some(packet) = decoded.expect("well-formed packet") {
                    return Some(packet);
                }
                self.buf.reserve(4096);
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(RECV_TIMEOUT, read)
            .await
            .ok()
            .flatten()
    }

    pub(crate) async fn recv(&mut self) -> Packet {
        self.try_recv().await.expect("a packet from the broker")
    }

    /// Sends CONNECT and returns the CONNACK, or `None` if the connection closes first.
    pub(crate) async fn try_connect(&mut self, client_id: &str) -> Option<ConnAck> {
        self.send(Packet::Connect(Box::new(connect_packet(client_id, true))))
            .await
            .ok()?;
        match self.try_recv().await? {
            Packet::ConnAck(ack) => Some(ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub(crate) async fn connect(&mut self, client_id: &str) {
        let ack = self.try_connect(client_id).await.expect("CONNACK");
        assert_eq!(ack.code, codec::ReasonCode::Success);
    }

    pub(crate) async fn subscribe(&mut self, filter: &str, qos: QoS) -> SubAck {
        self.send(Packet::Subscribe(codec::Subscribe {
            packet_id: pid(1),
            filters: vec![(filter.into(), qos.into())],
            properties: None,
        }))
        .await
        .expect("send SUBSCRIBE");
        match self.recv().await {
            Packet::SubAck(ack) => ack,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publishes at QoS 1 and waits for the PUBACK.
    pub(crate) async fn publish(&mut self, topic: &str, payload: &str) {
        let publish = publish_packet(topic, payload, QoS::AtLeastOnce, false, Some(7));
        self.send(Packet::Publish(publish))
            .await
            .expect("send PUBLISH");
        assert_eq!(self.recv().await, Packet::PubAck(pid(7).into()));
    }

    /// Receives a PUBLISH and acknowledges it if it is QoS 1.
    pub(crate) async fn recv_publish(&mut self) -> Publish {
        match self.recv().await {
            Packet::Publish(p) => {
                if let Some(id) = p.packet_id {
                    self.send(Packet::PubAck(id.into()))
                        .await
                        .expect("send PUBACK");
                }
                p
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
}

/// Connects over TLS and sends CONNECT: the CONNACK, or why there is none.
pub(crate) async fn tls_mqtt_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    client_id: &str,
) -> Result<Mqtt<TlsStream<TcpStream>>, String> {
    let stream = tls_connect(addr, config)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    let mut client = Mqtt::new(stream);
    match client.try_connect(client_id).await {
        Some(ack) if ack.code == codec::ReasonCode::Success => Ok(client),
        Some(ack) => Err(format!("CONNACK {:?}", ack.code)),
        None => Err("closed without CONNACK".into()),
    }
}

/// An MQTT client that controls how its packets are cut into WebSocket frames.
pub(crate) struct WsMqtt<S> {
    ws: WebSocketStream<S>,
    buf: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsMqtt<S> {
    /// Does the WebSocket handshake on `stream`, offering `protocols`; returns the client and
    /// the subprotocol the server chose.
    pub(crate) async fn handshake(
        stream: S,
        addr: SocketAddr,
        scheme: &str,
        protocols: Option<&str>,
    ) -> Result<(WsMqtt<S>, Option<String>), tokio_tungstenite::tungstenite::Error> {
        let mut request = format!("{scheme}://localhost:{}/any/path", addr.port())
            .into_client_request()
            .expect("request");
        if let Some(protocols) = protocols {
            request.headers_mut().insert(
                SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_str(protocols).expect("header"),
            );
        }
        let (ws, response) = tokio_tungstenite::client_async(request, stream).await?;
        let chosen = response
            .headers()
            .get(SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let client = WsMqtt {
            ws,
            buf: BytesMut::new(),
        };
        Ok((client, chosen))
    }

    /// Sends CONNECT and asserts a successful CONNACK.
    pub(crate) async fn connect(&mut self, client_id: &str) {
        self.send(Packet::Connect(Box::new(connect_packet(client_id, true))))
            .await;
        assert!(
            matches!(self.recv().await, Packet::ConnAck(a) if a.code == codec::ReasonCode::Success)
        );
    }

    /// Subscribes to `filter` at QoS 0 and waits for the SUBACK.
    pub(crate) async fn subscribe(&mut self, filter: &str) {
        self.send(Packet::Subscribe(codec::Subscribe {
            packet_id: pid(1),
            filters: vec![(filter.into(), QoS::AtMostOnce.into())],
            properties: None,
        }))
        .await;
        assert!(matches!(self.recv().await, Packet::SubAck(_)));
    }

    /// Sends one frame of any message.
    pub(crate) async fn send_message(&mut self, message: Message) {
        self.ws.send(message).await.expect("send frame");
    }

    /// Sends `bytes` as one binary frame.
    pub(crate) async fn send_frame(&mut self, bytes: &[u8]) {
        self.send_message(Message::Binary(Bytes::copy_from_slice(bytes)))
            .await;
    }

    /// Sends each packet in its own frame.
    pub(crate) async fn send(&mut self, packet: Packet) {
        self.send_frame(&encode(&[packet])).await;
    }

    /// The next packet; `None` when the connection closes or after [`RECV_TIMEOUT`].
    pub(crate) async fn try_recv(&mut self) -> Option<Packet> {
        let read = async {
            loop {
                if let Some(packet) =
                    codec::decode(&mut self.buf, 1 << 20).expect("well-formed packet")
                {
                    return Some(packet);
                }
                match self.ws.next().await? {
                    Ok(Message::Binary(payload)) => self.buf.extend_from_slice(&payload),
                    Ok(Message::Close(_)) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(RECV_TIMEOUT, read)
            .await
            .ok()
            .flatten()
    }

    pub(crate) async fn recv(&mut self) -> Packet {
        self.try_recv().await.expect("a packet from the broker")
    }

    /// The next message of any kind, e.g. a pong.
    pub(crate) async fn next_message(&mut self) -> Option<Message> {
        tokio::time::timeout(RECV_TIMEOUT, self.ws.next())
            .await
            .ok()
            .flatten()
            .and_then(Result::ok)
    }
}

/// A secure WebSocket client on `addr` trusting `pki`'s CA, its subprotocol `mqtt` and its
/// CONNECT accepted.
pub(crate) async fn wss_connected(
    addr: SocketAddr,
    pki: &Pki,
    client_id: &str,
) -> WsMqtt<TlsStream<TcpStream>> {
    let tls = tls_connect(addr, pki.client_config(None))
        .await
        .expect("TLS");
    let (mut client, protocol) = WsMqtt::handshake(tls, addr, "wss", Some("mqtt"))
        .await
        .expect("WebSocket handshake over TLS");
    assert_eq!(protocol.as_deref(), Some("mqtt"));
    client.connect(client_id).await;
    client
}

/// The bytes of `packets`, back to back.
pub(crate) fn encode(packets: &[Packet]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for packet in packets {
        packet.encode(&mut out);
    }
    out.to_vec()
}

/// What [`Recorder`] saw of one client in `authenticate`.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) client_id: String,
    pub(crate) listener: Option<String>,
    pub(crate) remote_addr: Option<SocketAddr>,
    pub(crate) peer_certificates: Vec<Bytes>,
}

/// Admits every client and records what the session tells about its transport.
#[derive(Default)]
pub(crate) struct Recorder {
    seen: std::sync::Mutex<Vec<Seen>>,
}

impl Recorder {
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("recorder lock").clone()
    }
}

impl Plugin for Recorder {
    const HOOKS: Hooks = Hooks::AUTHENTICATE;

    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        self.seen.lock().expect("recorder lock").push(Seen {
            client_id: session.client_id.to_string(),
            listener: session.listener.as_deref().map(str::to_owned),
            remote_addr: session.remote_addr,
            peer_certificates: session.peer_certificates.clone(),
        });
        Verdict::Allow
    }
}
