//! End-to-end tests of MQTT 5.0 enhanced authentication (AUTH exchanges, spec 4.12) through
//! the `authenticate_exchange` hook, with the SCRAM-SHA-256 plugin `auth_scram`: the exchange
//! at CONNECT, re-authentication, the protocol errors, the clients that do not use it, and
//! `amqtt_pub`/`amqtt_sub --auth-method`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use amqtt_core::client::{Authenticator, ClientError, ClientOptions, MqttClient};
use amqtt_core::codec::{
    ByteString, ConnAck, Connect, Packet, Properties, ProtocolVersion, QoS, ReasonBody, ReasonCode,
};
use amqtt_core::plugin::{Plugin, SessionInfo, Verdict, plugin};
use amqtt_plugins::scram::{ScramClient, ScramCredential};
use amqtt_plugins::{FileAuth, ScramAuth};
use amqtt_tests::v5::{V5Client, connect_v5, publish_v5};
use amqtt_tests::{RawClient, TestBroker, amqtt_binary, connect_packet};
use bytes::Bytes;
use tempfile::TempDir;

const METHOD: &str = "SCRAM-SHA-256";

/// Denies every user name and password login: proves a client admitted by method is not asked.
#[derive(Default)]
struct DenyPasswords;

#[plugin(name = "deny_passwords")]
impl Plugin for DenyPasswords {
    async fn authenticate(&self, _session: &SessionInfo) -> Verdict {
        Verdict::Deny
    }
}

/// Writes down whether each CONNECT carried a password: proves a SCRAM login sends none.
#[derive(Default)]
struct ConnectPasswords(Mutex<Vec<bool>>);

#[plugin(name = "connect_passwords")]
impl Plugin for ConnectPasswords {
    fn on_mqtt_packet_received(&self, packet: &Packet, _session: Option<&SessionInfo>) {
        if let Packet::Connect(connect) = packet {
            let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            seen.push(connect.password.is_some());
        }
    }
}

type Plugins = (
    Option<ScramAuth>,
    Option<FileAuth>,
    Option<DenyPasswords>,
    Option<ConnectPasswords>,
);

/// A password file with `alice` (password `wonderland`) and `bob` (`builder`) as SCRAM
/// verifiers, written once.
fn password_file(dir: &TempDir) -> PathBuf {
    let path = dir.path().join("passwd");
    if path.exists() {
        return path;
    }
    let lines = format!(
        "alice:{}\nbob:{}\n",
        ScramCredential::generate(b"wonderland"),
        ScramCredential::generate(b"builder")
    );
    std::fs::write(&path, lines).expect("write password file");
    path
}

/// A broker with `auth_scram` on `password_file`, and the plugin sections of `more`.
async fn broker(dir: &TempDir, more: &str) -> TestBroker<Plugins> {
    let file = password_file(dir);
    let yaml = format!(
        "connect_timeout: 1\nplugins:\n  auth_scram:\n    password_file: '{}'\n{more}",
        file.display()
    );
    TestBroker::start_with_plugins(&yaml).await
}

fn auth_properties(method: &str, data: Option<Bytes>) -> Properties {
    Properties {
        authentication_method: Some(ByteString::from(method)),
        authentication_data: data,
        ..Properties::default()
    }
}

fn auth(reason: ReasonCode, method: &str, data: Option<Bytes>) -> Packet {
    Packet::Auth(ReasonBody {
        reason,
        properties: Some(Box::new(auth_properties(method, data))),
    })
}

/// The AUTH the broker sent: asserts its reason and method, returns its data.
fn expect_auth(packet: Packet, reason: ReasonCode) -> Option<Bytes> {
    let Packet::Auth(body) = packet else {
        panic!("expected AUTH {reason:?}, got {packet:?}");
    };
    assert_eq!(body.reason, reason, "{body:?}");
    let properties = body.properties.expect("AUTH properties");
    assert_eq!(properties.authentication_method.as_deref(), Some(METHOD));
    properties.authentication_data
}

/// Runs a raw SCRAM exchange at CONNECT for `client_id`; returns the client, the CONNACK and
/// the history the authenticator needs to check the broker's final word.
async fn scram_connect(
    broker: &TestBroker<Plugins>,
    client_id: &str,
    scram: &ScramClient,
) -> (V5Client, ConnAck, Vec<Bytes>) {
    let first = scram.start().expect("client-first");
    let connect = connect_v5(client_id, auth_properties(METHOD, Some(first.clone())));
    let mut client = V5Client::start(broker.addr, connect).await;
    let (ack, history) = answer_challenge(&mut client, scram, first).await;
    let Packet::ConnAck(ack) = ack else {
        panic!("expected CONNACK, got {ack:?}");
    };
    (client, ack, history)
}

/// Answers the broker's challenge to `first` and returns its next packet.
async fn answer_challenge(
    client: &mut V5Client,
    scram: &ScramClient,
    first: Bytes,
) -> (Packet, Vec<Bytes>) {
    let challenge = expect_auth(client.recv().await, ReasonCode::ContinueAuthentication);
    answer(client, scram, first, challenge).await
}

/// Answers the broker's `challenge` to `first`; returns the broker's next packet and the data
/// exchanged.
async fn answer(
    client: &mut V5Client,
    scram: &ScramClient,
    first: Bytes,
    challenge: Option<Bytes>,
) -> (Packet, Vec<Bytes>) {
    let mut history = vec![first];
    let response = scram
        .respond(&history, challenge.as_deref())
        .expect("client-final");
    history.extend([
        challenge.unwrap_or_default(),
        response.clone().unwrap_or_default(),
    ]);
    let continued = auth(ReasonCode::ContinueAuthentication, METHOD, response);
    client.send(continued).await;
    (client.recv().await, history)
}

/// A broker with `auth_scram` and a client `client_id` logged in by SCRAM as alice.
async fn logged_in(dir: &TempDir, client_id: &str) -> (TestBroker<Plugins>, V5Client) {
    let broker = broker(dir, "").await;
    let scram = ScramClient::new("alice", "wonderland");
    let (client, ack, _) = scram_connect(&broker, client_id, &scram).await;
    assert_eq!(ack.code, ReasonCode::Success);
    (broker, client)
}

#[tokio::test]
async fn scram_exchange_admits_with_the_method_and_the_server_signature() {
    let dir = TempDir::new().expect("temp dir");
    // `deny_passwords` refuses every `authenticate`: the exchange alone admits.
    let broker = broker(&dir, "  deny_passwords:\n").await;
    let scram = ScramClient::new("alice", "wonderland");
    let (mut client, ack, history) = scram_connect(&broker, "scram-raw", &scram).await;
    assert_eq!(ack.code, ReasonCode::Success);
    let properties = ack.properties.expect("CONNACK properties");
    assert_eq!(properties.authentication_method.as_deref(), Some(METHOD));
    let signature = properties.authentication_data.as_deref();
    assert_eq!(
        scram.finish(&history, signature),
        Ok(()),
        "the broker proves the verifier"
    );
    client.subscribe(1, "scram/t", QoS::AtMostOnce).await;
    client
        .send(Packet::Publish(publish_v5(
            "scram/t",
            "hi",
            QoS::AtMostOnce,
            None,
            Properties::default(),
        )))
        .await;
    assert_eq!(&client.recv_publish().await.payload[..], b"hi");
    broker.stop().await;
}

/// The plugin section of `auth_file` on the same password file.
fn auth_file(dir: &TempDir) -> String {
    format!(
        "  auth_file:\n    password_file: '{}'\n",
        password_file(dir).display()
    )
}

#[tokio::test]
async fn our_client_logs_in_and_reauthenticates_by_scram() {
    let dir = TempDir::new().expect("temp dir");
    let broker = broker(&dir, &auth_file(&dir)).await;
    let url = format!("mqtt://{}", broker.addr);
    let options = ClientOptions::new()
        .protocol(ProtocolVersion::V5)
        .client_id("scram-client")
        .auto_reconnect(false)
        .authenticator(ScramClient::new("alice", "wonderland"));
    let mut client = MqttClient::connect(&url, options)
        .await
        .expect("SCRAM login");
    let method = client
        .connack_properties()
        .and_then(|p| p.authentication_method.clone());
    assert_eq!(method.as_deref(), Some(METHOD));
    client
        .subscribe(&[("scram/c", QoS::AtLeastOnce)])
        .await
        .expect("subscribe");
    client.reauthenticate().await.expect("re-authentication");
    client
        .publish("scram/c", "ok", QoS::AtLeastOnce, false)
        .await
        .expect("publish");
    let message = client
        .deliver_message(Duration::from_secs(5))
        .await
        .expect("message");
    assert_eq!(&message.payload[..], b"ok");
    client.disconnect().await.expect("disconnect");

    // A client that did not authenticate by method has nothing to re-authenticate with.
    let options = ClientOptions::new()
        .protocol(ProtocolVersion::V5)
        .auto_reconnect(false);
    let plain = MqttClient::connect(&url, options.credentials("alice", "wonderland")).await;
    let plain = plain.expect("password login through auth_file");
    assert!(matches!(
        plain.reauthenticate().await,
        Err(ClientError::Authentication(_))
    ));
    broker.stop().await;
}

#[tokio::test]
async fn wrong_password_or_unknown_user_is_refused_without_a_session() {
    let dir = TempDir::new().expect("temp dir");
    let broker = broker(&dir, "").await;
    // A wrong proof fails the plugin's final check: CONNACK with its reason, then the close.
    let wrong = ScramClient::new("alice", "looking-glass");
    let (mut client, ack, _) = scram_connect(&broker, "scram-wrong", &wrong).await;
    assert_eq!(ack.code, ReasonCode::BadUserNameOrPassword);
    let reason = ack.properties.and_then(|p| p.reason_string);
    assert_eq!(reason.as_deref(), Some("SCRAM authentication failed"));
    client.expect_closed().await;
    let url = format!("mqtt://{}", broker.addr);
    for (user, password) in [("alice", "looking-glass"), ("mallory", "wonderland")] {
        let options = ClientOptions::new()
            .protocol(ProtocolVersion::V5)
            .client_id("scram-wrong")
            .auto_reconnect(false)
            .authenticator(ScramClient::new(user, password));
        match MqttClient::connect(&url, options).await {
            Err(ClientError::Refused(code)) => {
                assert_eq!(code, ReasonCode::BadUserNameOrPassword, "{user}");
            }
            other => panic!("{user}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(broker.handle.session_count(), 0);
    broker.stop().await;
}

#[tokio::test]
async fn a_method_no_plugin_knows_is_bad_authentication_method() {
    let dir = TempDir::new().expect("temp dir");
    let broker = broker(&dir, "").await;
    let connect = connect_v5("kerberos", auth_properties("GS2-KRB5", None));
    let (mut client, ack) = V5Client::connect_with(broker.addr, connect).await;
    assert_eq!(ack.code, ReasonCode::BadAuthenticationMethod);
    client.expect_closed().await;
    assert_eq!(broker.handle.session_count(), 0);
    broker.stop().await;
}

/// Starts an exchange at CONNECT and returns the client once the broker's challenge came.
async fn challenged(broker: &TestBroker<Plugins>, client_id: &str) -> V5Client {
    let first = ScramClient::new("alice", "wonderland").start();
    let connect = connect_v5(client_id, auth_properties(METHOD, first));
    let mut client = V5Client::start(broker.addr, connect).await;
    expect_auth(client.recv().await, ReasonCode::ContinueAuthentication);
    client
}

#[tokio::test]
async fn an_auth_with_another_method_or_another_packet_before_connack_is_a_protocol_error() {
    let dir = TempDir::new().expect("temp dir");
    let broker = broker(&dir, "").await;
    let breaches = [
        auth(ReasonCode::ContinueAuthentication, "PLAIN", None),
        auth(ReasonCode::ReAuthenticate, METHOD, None),
        Packet::Auth(ReasonBody::new(ReasonCode::ContinueAuthentication)),
        Packet::PingReq,
    ];
    for breach in breaches {
        let mut client = challenged(&broker, "breach").await;
        client.send(breach.clone()).await;
        match client.recv().await {
            Packet::ConnAck(ack) => assert_eq!(ack.code, ReasonCode::ProtocolError, "{breach:?}"),
            other => panic!("{breach:?}: expected CONNACK 0x82, got {other:?}"),
        }
        client.expect_closed().await;
    }
    assert_eq!(broker.handle.session_count(), 0);
    broker.stop().await;
}

#[tokio::test]
async fn the_connect_timeout_bounds_the_exchange() {
    let dir = TempDir::new().expect("temp dir");
    let broker = broker(&dir, "").await;
    let mut client = challenged(&broker, "silent").await;
    // connect_timeout is 1 s: the broker gives up on a client that does not answer.
    client.expect_closed().await;
    broker.stop().await;
}

/// Sends AUTH 0x19 with a fresh client-first message of `scram`; returns it.
async fn reauthenticate(client: &mut V5Client, scram: &ScramClient) -> Bytes {
    let first = scram.start().expect("client-first");
    client
        .send(auth(
            ReasonCode::ReAuthenticate,
            METHOD,
            Some(first.clone()),
        ))
        .await;
    first
}

#[tokio::test]
async fn reauthentication_succeeds_while_the_connection_keeps_working() {
    let dir = TempDir::new().expect("temp dir");
    let (broker, mut client) = logged_in(&dir, "reauth").await;
    let scram = ScramClient::new("alice", "wonderland");
    let first = reauthenticate(&mut client, &scram).await;
    let challenge = expect_auth(client.recv().await, ReasonCode::ContinueAuthentication);
    // Mid-exchange, the connection still serves: a QoS 1 publish is acknowledged.
    let publish = publish_v5(
        "reauth/t",
        "x",
        QoS::AtLeastOnce,
        Some(7),
        Properties::default(),
    );
    client.send(Packet::Publish(publish)).await;
    assert!(matches!(client.recv().await, Packet::PubAck(ack) if ack.packet_id.get() == 7));
    let (packet, history) = answer(&mut client, &scram, first, challenge).await;
    let signature = expect_auth(packet, ReasonCode::Success);
    assert_eq!(scram.finish(&history, signature.as_deref()), Ok(()));
    client.send(Packet::PingReq).await;
    assert_eq!(client.recv().await, Packet::PingResp);
    broker.stop().await;
}

#[tokio::test]
async fn failed_reauthentication_disconnects() {
    let dir = TempDir::new().expect("temp dir");
    let (broker, mut client) = logged_in(&dir, "reauth-fail").await;
    let wrong = ScramClient::new("alice", "looking-glass");
    let first = reauthenticate(&mut client, &wrong).await;
    let (packet, _) = answer_challenge(&mut client, &wrong, first).await;
    // 0x86 cannot be sent in a DISCONNECT: 0x87 Not authorized, with the reason string.
    let Packet::Disconnect(body) = packet else {
        panic!("expected DISCONNECT, got {packet:?}");
    };
    assert_eq!(body.reason, ReasonCode::NotAuthorized);
    let reason = body.properties.and_then(|p| p.reason_string);
    assert_eq!(reason.as_deref(), Some("SCRAM authentication failed"));
    client.expect_closed().await;
    broker.stop().await;
}

#[tokio::test]
async fn the_scram_user_must_be_the_connect_user_and_the_one_who_reauthenticates() {
    let dir = TempDir::new().expect("temp dir");
    let (broker, mut client) = logged_in(&dir, "identity").await;
    // Bob's own credentials, but the connection is Alice's.
    let bob = ScramClient::new("bob", "builder");
    reauthenticate(&mut client, &bob).await;
    match client.recv().await {
        Packet::Disconnect(body) => assert_eq!(body.reason, ReasonCode::NotAuthorized),
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
    client.expect_closed().await;

    let url = format!("mqtt://{}", broker.addr);
    let options = ClientOptions::new()
        .protocol(ProtocolVersion::V5)
        .auto_reconnect(false)
        .credentials("alice", "")
        .authenticator(bob);
    match MqttClient::connect(&url, options).await {
        Err(ClientError::Refused(code)) => assert_eq!(code, ReasonCode::BadUserNameOrPassword),
        other => panic!("expected a refusal, got {other:?}"),
    }
    broker.stop().await;
}

#[tokio::test]
async fn auth_from_a_client_without_enhanced_auth_or_without_the_method_is_a_protocol_error() {
    let dir = TempDir::new().expect("temp dir");
    let (broker, mut client) = logged_in(&dir, "no-method").await;
    let no_method = Packet::Auth(ReasonBody::new(ReasonCode::ReAuthenticate));
    client.send(no_method).await;
    client.expect_disconnect(ReasonCode::ProtocolError).await;
    broker.stop().await;

    let broker = TestBroker::<()>::start("").await;
    let mut client = V5Client::connect(broker.addr, "plain", Properties::default()).await;
    client
        .send(auth(ReasonCode::ReAuthenticate, METHOD, None))
        .await;
    client.expect_disconnect(ReasonCode::ProtocolError).await;
    broker.stop().await;
}

/// A CONNECT with a user name and password, in `protocol`.
fn password_connect(protocol: ProtocolVersion, password: &str) -> Connect {
    Connect {
        protocol,
        username: Some(ByteString::from("alice")),
        password: Some(Bytes::copy_from_slice(password.as_bytes())),
        ..connect_packet("password", true)
    }
}

#[tokio::test]
async fn password_logins_still_go_through_authenticate() {
    let dir = TempDir::new().expect("temp dir");
    // `auth_file` implements only `authenticate`; it checks plain passwords against the
    // same file's SCRAM verifiers.
    let broker = broker(&dir, &auth_file(&dir)).await;
    let (client, ack) = RawClient::connect_with(
        broker.addr,
        password_connect(ProtocolVersion::V311, "wonderland"),
    )
    .await;
    assert_eq!(ack.code, ReasonCode::Success, "3.1.1 password login");
    client.disconnect().await;
    let (_, ack) =
        RawClient::connect_with(broker.addr, password_connect(ProtocolVersion::V311, "nope")).await;
    assert_eq!(
        ack.code,
        ReasonCode::NotAuthorized,
        "3.1.1 wrong password: 0x05"
    );
    let connect = password_connect(ProtocolVersion::V5, "wonderland");
    let (_, ack) = V5Client::connect_with(broker.addr, connect).await;
    assert_eq!(ack.code, ReasonCode::Success, "5.0 password login");
    broker.stop().await;
}

#[tokio::test]
async fn amqtt_passwd_writes_scram_verifiers_the_plugin_logs_in_with() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("passwd");
    let mut child = std::process::Command::new(amqtt_binary("amqtt_passwd"))
        .args(["--scram".as_ref(), path.as_os_str(), "carol".as_ref()])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run amqtt_passwd");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"carol-pw\n").expect("password");
    drop(stdin);
    assert!(child.wait().expect("amqtt_passwd ends").success());
    let text = std::fs::read_to_string(&path).expect("password file");
    assert!(text.starts_with("carol:SCRAM-SHA-256$4096:"), "{text}");

    let yaml = format!(
        "plugins:\n  auth_scram:\n    password_file: '{}'\n",
        path.display()
    );
    let broker = TestBroker::<Plugins>::start_with_plugins(&yaml).await;
    let scram = ScramClient::new("carol", "carol-pw");
    let (_, ack, _) = scram_connect(&broker, "carol", &scram).await;
    assert_eq!(ack.code, ReasonCode::Success);
    broker.stop().await;
}

/// Runs the command-line client `tool` on the broker at `url` with `args` (for 10 s at most);
/// returns whether it succeeded, its standard output and its standard error.
async fn cli(tool: &str, url: &str, args: &[&str]) -> (bool, String, String) {
    let run = tokio::process::Command::new(amqtt_binary(tool))
        .arg("--url")
        .arg(url)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap_or_else(|_| panic!("{tool} {args:?} did not finish"))
        .expect("run the tool");
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (
        output.status.success(),
        text(output.stdout),
        text(output.stderr),
    )
}

#[tokio::test]
async fn amqtt_pub_and_amqtt_sub_log_in_by_scram_with_auth_method() {
    let dir = TempDir::new().expect("temp dir");
    // `deny_passwords` refuses every user name and password login: only SCRAM gets in.
    let scram_only = broker(&dir, "  deny_passwords:\n").await;
    let url = format!("mqtt://{}", scram_only.addr);
    let scram = |password| {
        let login = ["-V", "mqttv5", "--auth-method", METHOD, "-u", "alice", "-P"];
        [&login[..], &[password]].concat()
    };
    let publish = [
        &scram("wonderland")[..],
        &["-t", "scram/cli", "-r", "-m", "hi"],
    ]
    .concat();
    let (ok, _, stderr) = cli("amqtt_pub", &url, &publish).await;
    assert!(ok, "amqtt_pub by SCRAM: {stderr}");
    // The retained message reaches amqtt_sub, which logs in the same way.
    let subscribe = [&scram("wonderland")[..], &["-t", "scram/cli", "-n", "1"]].concat();
    let (ok, stdout, stderr) = cli("amqtt_sub", &url, &subscribe).await;
    assert!(ok, "amqtt_sub by SCRAM: {stderr}");
    assert_eq!(stdout, "hi\n");

    let refused = [&scram("looking-glass")[..], &["-t", "scram/cli", "-m", "x"]].concat();
    let (ok, _, stderr) = cli("amqtt_pub", &url, &refused).await;
    assert!(
        !ok && stderr.contains("bad user name or password"),
        "{stderr}"
    );
    let mut v311 = scram("wonderland");
    v311[1] = "mqttv311";
    let (ok, _, stderr) = cli(
        "amqtt_pub",
        &url,
        &[&v311[..], &["-t", "x", "-m", "x"]].concat(),
    )
    .await;
    assert!(!ok, "SCRAM over 3.1.1 ran");
    assert_eq!(
        stderr.trim_end(),
        "amqtt_pub: --auth-method SCRAM-SHA-256 needs MQTT 5.0 (-V mqttv5), not MQTT 3.1.1"
    );
    scram_only.stop().await;

    // Without --auth-method, -u and -P are the CONNECT's: `auth_file` checks them (and refuses
    // a user name without a password; an anonymous client it would let in).
    let passwords = broker(&dir, &auth_file(&dir)).await;
    let url = format!("mqtt://{}", passwords.addr);
    let publish = ["-t", "plain/cli", "-m", "x"];
    for (login, admitted) in [
        (&["-u", "alice", "-P", "wonderland"][..], true),
        (&["-u", "alice", "-P", "looking-glass"][..], false),
        (&["-u", "alice"][..], false),
    ] {
        let (ok, _, stderr) = cli("amqtt_pub", &url, &[login, &publish[..]].concat()).await;
        assert_eq!(ok, admitted, "{login:?}: {stderr}");
    }
    passwords.stop().await;
}

#[tokio::test]
async fn auth_method_logs_in_with_the_urls_user_and_password_and_sends_no_password() {
    let dir = TempDir::new().expect("temp dir");
    // `deny_passwords` refuses every user name and password login: only SCRAM gets in.
    let broker = broker(&dir, "  deny_passwords:\n  connect_passwords:\n").await;
    let at = |login: &str| format!("mqtt://{login}{}", broker.addr);
    let scram = [
        "-V",
        "mqttv5",
        "--auth-method",
        METHOD,
        "-t",
        "scram/url",
        "-m",
        "x",
    ];
    let (ok, _, stderr) = cli("amqtt_pub", &at("alice:wonderland@"), &scram).await;
    assert!(ok, "SCRAM with the URL's login: {stderr}");
    // The URL's user name and password take precedence over -u and -P, as in a CONNECT.
    let flags = [&scram[..], &["-u", "alice", "-P", "wonderland"]].concat();
    let (ok, _, stderr) = cli("amqtt_pub", &at("alice:looking-glass@"), &flags).await;
    assert!(
        !ok && stderr.contains("bad user name or password"),
        "{stderr}"
    );
    let (ok, _, stderr) = cli("amqtt_pub", &at(""), &scram).await;
    assert!(!ok, "SCRAM without a login ran");
    assert_eq!(
        stderr.trim_end(),
        "amqtt_pub: --auth-method SCRAM-SHA-256 needs a user name and password: the URL's \
         user:password@, or -u and -P"
    );
    let plugins = broker.handle.plugins();
    let recorder = plugins.3.as_ref().expect("connect_passwords");
    let seen = recorder
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(seen, [false, false], "a SCRAM CONNECT carried the password");
    broker.stop().await;
}
