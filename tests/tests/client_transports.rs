//! End-to-end tests of the client side of the transports (`amqtt_core::transport::client`):
//! MQTT round trips through `connect()` over `mqtt://`, `mqtts://`, `ws://` and `wss://`, the
//! credentials of the URL, client certificates, `insecure_skip_verify` and `check_hostname`, the
//! `mqtt` subprotocol and extra WebSocket headers, and the errors a user acts on.
//!
//! Certificates are made at run time with rcgen: the transport tests' PKI (a CA, a server
//! certificate for `localhost` and `127.0.0.1`, client certificates), plus a self-signed server
//! and a server certificate for another host name made here.

#[path = "transports/common.rs"]
#[allow(
    dead_code,
    reason = "shared with the transport tests; only part of it is used here"
)]
mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amqtt_core::codec::{Connect, Packet, QoS, ReasonCode, SubAckCode};
use amqtt_core::plugin::{Hooks, Plugin, SessionInfo, Verdict};
use amqtt_core::transport::client::{
    ClientStream, ClientTransport, ClientTransportError, ConnectOptions, Scheme, connect,
};
use bytes::Bytes;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::{Error as WsError, error::ProtocolError};

use common::{Mqtt, Pki, start};

/// A broker with all four listener kinds on the PKI's server certificate, `extra` added to the
/// two TLS listeners.
fn four_listeners(cert: &Path, key: &Path, extra: &str) -> String {
    let (cert, key) = (cert.display(), key.display());
    format!(
        "listeners:
  default:
    type: tcp
    bind: 127.0.0.1:0
  tls:
    bind: 127.0.0.1:0
    ssl: true
    certfile: {cert}
    keyfile: {key}
{extra}  ws:
    type: ws
    bind: 127.0.0.1:0
  wss:
    type: ws
    bind: 127.0.0.1:0
    ssl: true
    certfile: {cert}
    keyfile: {key}
{extra}plugins: {{}}
"
    )
}

/// Opens a subscriber and a publisher through `transport` (checking the stream's variant),
/// and does CONNECT, SUBSCRIBE, and a PUBLISH at QoS 1 from one to the other.
async fn round_trip(transport: &ClientTransport, client_id: &str) {
    let open = || async {
        let stream = transport
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", transport.url()));
        let variant_matches = match transport.url().scheme {
            Scheme::Mqtt => matches!(stream, ClientStream::Tcp(_)),
            Scheme::Mqtts => matches!(stream, ClientStream::Tls(_)),
            Scheme::Ws => matches!(stream, ClientStream::Ws(_)),
            Scheme::Wss => matches!(stream, ClientStream::Wss(_)),
        };
        assert!(variant_matches, "{} gave {stream:?}", transport.url());
        Mqtt::new(stream)
    };
    let mut subscriber = open().await;
    subscriber.connect(&format!("{client_id}-sub")).await;
    let filter = format!("{client_id}/#");
    let ack = subscriber.subscribe(&filter, QoS::AtLeastOnce).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(QoS::AtLeastOnce)]);
    let mut publisher = open().await;
    publisher.connect(&format!("{client_id}-pub")).await;
    let topic = format!("{client_id}/t");
    publisher.publish(&topic, "hello").await;
    let message = subscriber.recv_publish().await;
    assert_eq!(&*message.topic, topic);
    assert_eq!(&message.payload[..], b"hello");
}

/// [`round_trip`] through `url` with `options`.
async fn round_trip_url(url: &str, options: &ConnectOptions, client_id: &str) {
    let transport = ClientTransport::new(url, options).unwrap_or_else(|e| panic!("{url}: {e}"));
    round_trip(&transport, client_id).await;
}

/// Sends CONNECT on `stream`: whether the broker accepted it (`false` also when the connection
/// closed first, as after a TLS 1.3 client certificate refusal).
async fn accepted(stream: ClientStream, client_id: &str) -> bool {
    let mut client = Mqtt::new(stream);
    matches!(client.try_connect(client_id).await, Some(ack) if ack.code == ReasonCode::Success)
}

/// The rustls error inside a TLS handshake failure.
fn rustls_error(e: &ClientTransportError) -> &rustls::Error {
    match e {
        ClientTransportError::TlsHandshake { source, .. } => source
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .unwrap_or_else(|| panic!("not a rustls error: {e:?}")),
        other => panic!("expected a TLS handshake error, got {other:?}"),
    }
}

#[tokio::test]
async fn round_trip_over_each_transport() {
    let pki = Pki::new();
    let yaml = four_listeners(&pki.cert_file, &pki.key_file, "");
    let (broker, addrs) = start(&yaml, ()).await;
    let options = ConnectOptions::new().ca_file(&pki.ca_file);
    let urls = [
        (
            format!("mqtt://127.0.0.1:{}", addrs["default"].port()),
            "tcp",
        ),
        (format!("mqtts://localhost:{}", addrs["tls"].port()), "tls"),
        (format!("ws://127.0.0.1:{}/mqtt", addrs["ws"].port()), "ws"),
        (
            format!("wss://127.0.0.1:{}/any/path?x=1", addrs["wss"].port()),
            "wss",
        ),
    ];
    for (url, name) in &urls {
        round_trip_url(url, &options, name).await;
    }
    // The free function opens one connection the same way.
    let stream = connect(&urls[0].0, &options).await.expect("mqtt://");
    assert!(accepted(stream, "free-function").await);
    broker.stop().await;
}

/// Admits only the user `alice` with the password `p@ss:w/rd`, and records the user names.
#[derive(Default)]
struct OnlyAlice {
    users: Mutex<Vec<Option<String>>>,
}

impl Plugin for OnlyAlice {
    const HOOKS: Hooks = Hooks::AUTHENTICATE;

    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        let user = session.username.as_deref().map(str::to_owned);
        self.users.lock().expect("lock").push(user.clone());
        let ok = user.as_deref() == Some("alice")
            && session.password.as_deref() == Some(&b"p@ss:w/rd"[..]);
        if ok { Verdict::Allow } else { Verdict::Deny }
    }
}

#[tokio::test]
async fn credentials_of_the_url_reach_connect() {
    let yaml = "listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins: {}\n";
    let (broker, _) = start(yaml, OnlyAlice::default()).await;
    let port = broker.addr.port();
    for (url, expect) in [
        (
            format!("mqtt://alice:p%40ss%3Aw%2Frd@127.0.0.1:{port}"),
            true,
        ),
        (format!("mqtt://alice:wrong@127.0.0.1:{port}"), false),
    ] {
        let transport = ClientTransport::new(&url, &ConnectOptions::new()).expect("valid URL");
        let parsed = transport.url();
        assert_eq!(parsed.scheme, Scheme::Mqtt);
        assert_eq!(parsed.username.as_deref(), Some("alice"));
        assert!(
            !parsed.to_string().contains("wrong"),
            "no password in {parsed}"
        );
        let connect_packet = Connect {
            clean_session: true,
            keep_alive: 0,
            client_id: "alice-client".into(),
            will: None,
            username: parsed.username.as_deref().map(Into::into),
            password: parsed.password.clone().map(Bytes::from),
            ..Default::default()
        };
        let mut client = Mqtt::new(transport.connect().await.expect("connects"));
        client
            .send(Packet::Connect(Box::new(connect_packet)))
            .await
            .expect("send CONNECT");
        let ack = match client.recv().await {
            Packet::ConnAck(ack) => ack,
            other => panic!("expected CONNACK, got {other:?}"),
        };
        assert_eq!(ack.code == ReasonCode::Success, expect, "{url}");
    }
    let users = broker.handle.plugins().users.lock().expect("lock").clone();
    assert_eq!(users, vec![Some("alice".into()), Some("alice".into())]);
    broker.stop().await;
}

#[tokio::test]
async fn required_client_certificate() {
    let pki = Pki::new();
    let extra = format!(
        "    cafile: {}\n    require_certificate: true\n",
        pki.ca_file.display()
    );
    let (broker, addrs) = start(&four_listeners(&pki.cert_file, &pki.key_file, &extra), ()).await;
    let with_cert = ConnectOptions::new()
        .ca_file(&pki.ca_file)
        .client_cert(&pki.client.cert_file, &pki.client.key_file);
    let without = ConnectOptions::new().ca_file(&pki.ca_file);
    for url in [
        format!("mqtts://localhost:{}", addrs["tls"].port()),
        format!("wss://localhost:{}/", addrs["wss"].port()),
    ] {
        round_trip_url(&url, &with_cert, "device").await;
        // TLS 1.3 ends the client's handshake before the server checks; the refusal then comes
        // in the handshake (wss: during the upgrade) or at the first read.
        match connect(&url, &without).await {
            Ok(stream) => assert!(!accepted(stream, "anonymous").await, "{url}"),
            Err(
                ClientTransportError::TlsHandshake { .. }
                | ClientTransportError::WsHandshake { .. },
            ) => {}
            Err(other) => panic!("{url}: unexpected {other:?}"),
        }
    }
    // A key file that does not exist is named in the error, before any connection.
    let missing = ConnectOptions::new()
        .ca_file(&pki.ca_file)
        .client_cert(&pki.client.cert_file, "/nonexistent/amqtt/device.key");
    let url = format!("mqtts://localhost:{}", addrs["tls"].port());
    match connect(&url, &missing).await {
        Err(e @ ClientTransportError::TlsFileRead { key: "keyfile", .. }) => {
            assert!(
                e.to_string().contains("/nonexistent/amqtt/device.key"),
                "{e}"
            );
        }
        other => panic!("expected a keyfile error, got {other:?}"),
    }
    broker.stop().await;
}

/// Writes `text` to `dir/name`.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write PEM file");
    path
}

/// A self-signed server certificate for `localhost` and `127.0.0.1` (PEM certificate and key).
fn self_signed() -> (String, String) {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).expect("self-signed certificate");
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// A CA (PEM) and a server certificate and key it issued for `broker.invalid` only.
fn ca_and_server_for_another_name() -> (String, String, String) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "other CA");
    let ca = params.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(params, ca_key);
    let key = KeyPair::generate().expect("key");
    let mut params =
        CertificateParams::new(vec!["broker.invalid".to_owned()]).expect("server params");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn self_signed_server_needs_insecure_skip_verify() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = self_signed();
    let (cert, key) = (
        write(dir.path(), "s.crt", &cert),
        write(dir.path(), "s.key", &key),
    );
    let (broker, addrs) = start(&four_listeners(&cert, &key, ""), ()).await;
    for url in [
        format!("mqtts://localhost:{}", addrs["tls"].port()),
        format!("wss://127.0.0.1:{}", addrs["wss"].port()),
    ] {
        let e = connect(&url, &ConnectOptions::new())
            .await
            .expect_err("a self-signed certificate is not in the webpki roots");
        assert!(
            matches!(
                rustls_error(&e),
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
            ),
            "{e}"
        );
        let insecure = ConnectOptions::new().insecure_skip_verify(true);
        round_trip_url(&url, &insecure, "insecure").await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn check_hostname_false_still_verifies_the_chain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = ca_and_server_for_another_name();
    let (cert, key) = (
        write(dir.path(), "s.crt", &cert),
        write(dir.path(), "s.key", &key),
    );
    let (broker, addrs) = start(&four_listeners(&cert, &key, ""), ()).await;
    let url = format!("mqtts://127.0.0.1:{}", addrs["tls"].port());

    let strict = ConnectOptions::new().ca_data(ca.clone());
    let e = connect(&url, &strict).await.expect_err("wrong host name");
    assert!(
        matches!(
            rustls_error(&e),
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{e}"
    );
    let lenient = ConnectOptions::new().ca_data(ca).check_hostname(false);
    round_trip_url(&url, &lenient, "lenient").await;

    let other_ca = Pki::new();
    let wrong_ca = ConnectOptions::new()
        .ca_file(&other_ca.ca_file)
        .check_hostname(false);
    let e = connect(&url, &wrong_ca).await.expect_err("unknown CA");
    assert!(
        matches!(
            rustls_error(&e),
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{e}"
    );
    broker.stop().await;
}

/// A one-connection WebSocket server that answers with the subprotocol `answer`; returns its
/// port and the request headers it saw.
async fn ws_server(answer: &'static str) -> (u16, Arc<Mutex<Vec<(String, String)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        #[allow(
            clippy::result_large_err,
            reason = "the signature of tungstenite's handshake callback"
        )]
        let callback = move |request: &Request, mut response: Response| {
            let headers = request
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            *record.lock().expect("lock") = headers;
            response
                .headers_mut()
                .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(answer));
            Ok(response)
        };
        let _ = tokio_tungstenite::accept_hdr_async(tcp, callback).await;
    });
    (port, seen)
}

#[tokio::test]
async fn websocket_subprotocol_and_extra_headers() {
    let (port, seen) = ws_server("chat").await;
    let options = ConnectOptions::new().header("Authorization", "Bearer token-1");
    let e = connect(&format!("ws://127.0.0.1:{port}/mqtt"), &options)
        .await
        .expect_err("the server answered another subprotocol");
    match &e {
        ClientTransportError::WsHandshake { source, url } => {
            assert!(
                matches!(
                    **source,
                    WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(_))
                ),
                "{e}"
            );
            assert_eq!(url, &format!("ws://127.0.0.1:{port}/mqtt"));
        }
        other => panic!("expected a WebSocket handshake error, got {other:?}"),
    }
    let headers = seen.lock().expect("lock").clone();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("sec-websocket-protocol").as_deref(), Some("mqtt"));
    assert_eq!(header("authorization").as_deref(), Some("Bearer token-1"));

    let (port, _) = ws_server("mqtt").await;
    connect(&format!("ws://127.0.0.1:{port}"), &ConnectOptions::new())
        .await
        .expect("the server answered `mqtt`");
}

#[tokio::test]
async fn bad_urls_are_reported() {
    let options = ConnectOptions::new();
    match connect("http://127.0.0.1:1883", &options).await {
        Err(e @ ClientTransportError::UnsupportedScheme { .. }) => {
            assert!(e.to_string().contains("`http`"), "{e}");
        }
        other => panic!("expected an unsupported scheme, got {other:?}"),
    }
    for url in [
        "mqtt://",
        "mqtts://user:secret@:8883",
        "ws:///path",
        "127.0.0.1:1883",
    ] {
        match connect(url, &options).await {
            Err(e @ ClientTransportError::BadUrl { .. }) => {
                assert!(!e.to_string().contains("secret"), "{e}");
            }
            other => panic!("{url}: expected a bad URL, got {other:?}"),
        }
    }
    match connect("mqtt://", &options).await {
        Err(ClientTransportError::BadUrl { reason, .. }) => assert_eq!(reason, "no host"),
        other => panic!("expected a bad URL, got {other:?}"),
    }
}

#[tokio::test]
async fn closed_port_and_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    match connect(
        &format!("mqtt://127.0.0.1:{}", addr.port()),
        &ConnectOptions::new(),
    )
    .await
    {
        Err(e @ ClientTransportError::Connect { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&addr.to_string()), "{text}");
            let ClientTransportError::Connect { source, .. } = e else {
                unreachable!()
            };
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
        }
        other => panic!("expected a connect error, got {other:?}"),
    }

    // A server that accepts TCP and never answers the TLS handshake: the timeout ends it.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = silent.local_addr().expect("address").port();
    let options = ConnectOptions::new()
        .insecure_skip_verify(true)
        .connect_timeout(Some(Duration::from_millis(300)));
    match connect(&format!("mqtts://127.0.0.1:{port}"), &options).await {
        Err(ClientTransportError::Timeout { address, after }) => {
            assert_eq!(address, format!("127.0.0.1:{port}"));
            assert_eq!(after, Duration::from_millis(300));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    drop(silent);
}
