//! The certificate authentication plugin (`auth_cert`, aMQTT's `UserAuthCertPlugin`) end to end:
//! a CA, a server certificate and device certificates made by the `ca_creds`, `server_creds` and
//! `device_creds` tools (one more, without a URI, by rcgen with the same CA), a TLS listener that
//! verifies client certificates, and rustls clients presenting each certificate.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use amqtt_contrib::cert::UserAuthCert;
use amqtt_core::broker::{Broker, BrokerError};
use amqtt_core::codec::{self, Packet, ReasonCode};
use amqtt_core::config::BrokerConfig;
use amqtt_tests::{RECV_TIMEOUT, TestBroker, amqtt_binary, connect_packet};
use bytes::BytesMut;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

type Plugins = Option<UserAuthCert>;

const DOMAIN: &str = "test.amqtt.io";

/// Runs one of the credential tools in `dir` and asserts it succeeded.
fn tool(dir: &Path, name: &str, args: &[&str]) {
    let output = Command::new(amqtt_binary(name))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    assert!(
        output.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Makes, in `dir`: `ca.{key,crt}`, `server.{key,crt}` (for localhost and 127.0.0.1), the
/// device certificates `dev-1` (URI in `DOMAIN`) and `dev-2` (URI in another domain); and,
/// with rcgen and the same CA, `nouri` (no URI), `twouris` (its own URI and another) and `slash`
/// (device id `a/b`).
fn make_credentials(dir: &Path) {
    let org = ["--country", "US", "--org-name", "aMQTT Test Org"];
    let ca = [
        "--state",
        "NY",
        "--locality",
        "NYC",
        "--cn",
        "aMQTT test CA",
    ];
    tool(dir, "ca_creds", &[&org[..], &ca[..]].concat());
    tool(
        dir,
        "server_creds",
        &[&org[..], &["--cn", "localhost"]].concat(),
    );
    for (device, domain) in [("dev-1", DOMAIN), ("dev-2", "other.example")] {
        let args = ["--device-id", device, "--uri", domain];
        tool(dir, "device_creds", &[&org[..], &args[..]].concat());
    }
    let ca_key = std::fs::read_to_string(dir.join("ca.key")).expect("read ca.key");
    let ca_crt = std::fs::read_to_string(dir.join("ca.crt")).expect("read ca.crt");
    let issuer = Issuer::from_ca_cert_pem(&ca_crt, KeyPair::from_pem(&ca_key).expect("CA key"))
        .expect("CA issuer");
    let uri = |device: &str| {
        let uri = format!("spiffe://{DOMAIN}/device/{device}");
        SanType::URI(uri.try_into().expect("ASCII URI"))
    };
    let dns = SanType::DnsName("device.local".try_into().expect("DNS name"));
    for (name, sans) in [
        ("nouri", vec![dns]),
        ("twouris", vec![uri("twouris"), uri("other")]),
        ("slash", vec![uri("a/b")]),
    ] {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &issuer).expect("signed");
        std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).expect("write certificate");
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).expect("write key");
    }
}

/// A TLS client trusting `ca.crt`, presenting `<identity>.{crt,key}` if any.
fn client_config(dir: &Path, identity: Option<&str>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(dir.join("ca.crt")).expect("ca.crt");
    roots.add(ca).expect("CA in trust store");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let cert = CertificateDer::from_pem_file(dir.join(format!("{name}.crt")))
                .expect("client certificate");
            let key =
                PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).expect("client key");
            builder
                .with_client_auth_cert(vec![cert], key)
                .expect("client certificate and key")
        }
    };
    Arc::new(config)
}

/// Connects over TLS as `client_id` and returns the CONNACK's code.
async fn connack(addr: SocketAddr, config: Arc<ClientConfig>, client_id: &str) -> ReasonCode {
    let tcp = TcpStream::connect(addr).await.expect("TCP connect");
    let name = ServerName::try_from("localhost").expect("server name");
    let mut tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    let mut out = BytesMut::new();
    Packet::Connect(Box::new(connect_packet(client_id, true))).encode(&mut out);
    tls.write_all(&out).await.expect("send CONNECT");
    let mut buf = BytesMut::new();
    let read = async {
        loop {
            if let Some(packet) = codec::decode(&mut buf, 1 << 16).expect("well-formed packet") {
                return packet;
            }
            let n = tls.read_buf(&mut buf).await.expect("read");
            assert_ne!(n, 0, "{client_id}: closed without CONNACK");
        }
    };
    match tokio::time::timeout(RECV_TIMEOUT, read)
        .await
        .expect("CONNACK in time")
    {
        Packet::ConnAck(ack) => ack.code,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

#[tokio::test]
async fn the_certificate_must_name_the_client_id_in_the_domain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path();
    make_credentials(path);
    // Client certificates are verified against the CA but optional, so a client without one
    // reaches CONNECT and the plugin.
    let listener = format!(
        "    ssl: true\n    certfile: {}\n    keyfile: {}\n    cafile: {}\n",
        path.join("server.crt").display(),
        path.join("server.key").display(),
        path.join("ca.crt").display()
    );
    let broker: TestBroker<Plugins> = TestBroker::start_with_plugins(&format!(
        "{listener}plugins:\n  amqtt.contrib.cert.UserAuthCertPlugin:\n    uri_domain: {DOMAIN}\n"
    ))
    .await;
    let addr = broker.addr;
    use ReasonCode::{NotAuthorized, Success as Accepted};
    let cases = [
        (Some("dev-1"), "dev-1", Accepted),
        (Some("dev-1"), "dev-2", NotAuthorized),
        (Some("dev-1"), "dev", NotAuthorized),
        (Some("dev-2"), "dev-2", NotAuthorized), // spiffe://other.example/device/dev-2
        (Some("nouri"), "nouri", NotAuthorized),
        (Some("twouris"), "twouris", NotAuthorized),
        (Some("slash"), "a/b", NotAuthorized),
        (None, "dev-1", NotAuthorized),
    ];
    for (identity, client_id, expected) in cases {
        let code = connack(addr, client_config(path, identity), client_id).await;
        assert_eq!(
            code, expected,
            "certificate {identity:?}, client id {client_id}"
        );
    }
    broker.stop().await;
}

/// Binds a broker with `plugins` as its `plugins:` section, expecting an error.
async fn bind_error(plugins: &str) -> String {
    let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins:\n{plugins}");
    let config = BrokerConfig::from_yaml(&yaml).expect("the YAML itself is valid");
    let result: Result<Broker<Plugins>, BrokerError> = Broker::<Plugins>::bind(config).await;
    match result {
        Ok(_) => panic!("`{plugins}` must not bind"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_missing_or_malformed_uri_domain_stops_the_broker() {
    for (section, expected) in [
        ("  auth_cert: {}\n", "`uri_domain`: required"),
        (
            "  auth_cert:\n    uri_domain: spiffe://test.amqtt.io\n",
            "`uri_domain`: expected a domain",
        ),
        (
            "  auth_cert:\n    uri_domain: test.amqtt.io\n    domain: x\n",
            "`domain`",
        ),
    ] {
        let error = bind_error(section).await;
        assert!(
            error.contains("auth_cert") && error.contains(expected),
            "{error}"
        );
    }
}
