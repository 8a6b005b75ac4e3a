//! MQTT over TLS: a rustls client, mosquitto with `--cafile`, required and optional client
//! certificates as plugins see them, startup errors, and `max_connections`.

use std::process::Stdio;
use std::time::Duration;

use amqtt_core::broker::{Broker, BrokerError};
use amqtt_core::codec::{QoS, SubAckCode};
use amqtt_core::config::BrokerConfig;
use amqtt_tests::{read_until_closed, wait_until};
use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

use super::common::{Mqtt, Pki, Recorder, start, tls_connect, tls_mqtt_connect};

/// How long a child process may take.
const CHILD_TIMEOUT: Duration = Duration::from_secs(10);

/// A broker whose `default` listener is TLS with `extra` listener keys.
fn tls_yaml(pki: &Pki, extra: &str) -> String {
    format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n{}{extra}plugins: {{}}\n",
        pki.tls_keys()
    )
}

#[tokio::test]
async fn tls_client_connects_subscribes_and_publishes() {
    let pki = Pki::new();
    let (broker, _) = start(&tls_yaml(&pki, ""), ()).await;
    let config = pki.client_config(None);
    let mut sub = tls_mqtt_connect(broker.addr, config.clone(), "tls-sub")
        .await
        .expect("TLS client accepted");
    let ack = sub.subscribe("secure/#", QoS::AtLeastOnce).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(QoS::AtLeastOnce)]);
    let mut publisher = tls_mqtt_connect(broker.addr, config, "tls-pub")
        .await
        .expect("TLS client accepted");
    publisher.publish("secure/one", "over tls").await;
    let message = sub.recv_publish().await;
    assert_eq!(&*message.topic, "secure/one");
    assert_eq!(&message.payload[..], b"over tls");

    // A client speaking plain MQTT to the TLS port gets no CONNACK.
    let mut plain = tokio::net::TcpStream::connect(broker.addr)
        .await
        .expect("tcp");
    let connect = super::common::encode(&[amqtt_core::codec::Packet::Connect(Box::new(
        amqtt_tests::connect_packet("plain", true),
    ))]);
    tokio::io::AsyncWriteExt::write_all(&mut plain, &connect)
        .await
        .expect("write");
    let answer = read_until_closed(&mut plain, Duration::from_secs(5))
        .await
        .expect("the broker closes a plain connection to a TLS port");
    assert_ne!(answer.first(), Some(&0x20), "no CONNACK over plain TCP");
    broker.stop().await;
}

#[tokio::test]
async fn required_client_certificate() {
    let pki = Pki::new();
    let extra = format!(
        "    cafile: {}\n    require_certificate: true\n",
        pki.ca_file.display()
    );
    let (broker, _) = start(&tls_yaml(&pki, &extra), Recorder::default()).await;

    let none = tls_mqtt_connect(broker.addr, pki.client_config(None), "no-cert").await;
    assert!(none.is_err(), "a client without a certificate is refused");
    let rogue = tls_mqtt_connect(broker.addr, pki.client_config(Some(&pki.rogue)), "rogue").await;
    assert!(rogue.is_err(), "a certificate from another CA is refused");

    let mut device = tls_mqtt_connect(broker.addr, pki.client_config(Some(&pki.client)), "dev")
        .await
        .expect("a client with a valid certificate is accepted");
    device.subscribe("d/#", QoS::AtMostOnce).await;

    let seen = broker.handle.plugins().seen();
    assert_eq!(
        seen.len(),
        1,
        "only the accepted client reached CONNECT: {seen:?}"
    );
    assert_eq!(seen[0].client_id, "dev");
    assert_eq!(seen[0].listener.as_deref(), Some("default"));
    assert!(seen[0].remote_addr.is_some());
    assert_eq!(
        seen[0].peer_certificates,
        vec![Bytes::copy_from_slice(pki.client.cert.as_ref())],
        "the plugin sees the verified client certificate"
    );
    broker.stop().await;
}

#[tokio::test]
async fn optional_client_certificate() {
    let pki = Pki::new();
    let extra = format!("    cafile: {}\n", pki.ca_file.display());
    let (broker, _) = start(&tls_yaml(&pki, &extra), Recorder::default()).await;

    tls_mqtt_connect(broker.addr, pki.client_config(None), "anon")
        .await
        .expect("no certificate is fine when it is optional");
    tls_mqtt_connect(broker.addr, pki.client_config(Some(&pki.client)), "dev")
        .await
        .expect("a valid certificate is accepted");
    let rogue = tls_mqtt_connect(broker.addr, pki.client_config(Some(&pki.rogue)), "rogue").await;
    assert!(rogue.is_err(), "a presented certificate must verify");

    let seen = broker.handle.plugins().seen();
    let certs = |id: &str| {
        seen.iter()
            .find(|s| s.client_id == id)
            .map(|s| s.peer_certificates.len())
    };
    assert_eq!(certs("anon"), Some(0));
    assert_eq!(certs("dev"), Some(1));
    assert_eq!(certs("rogue"), None);
    broker.stop().await;
}

#[tokio::test]
async fn bad_tls_files_stop_startup_naming_listener_and_file() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.crt");
    let garbage = dir.path().join("garbage.key");
    std::fs::write(&garbage, "not a key\n").expect("write");

    let bind = |yaml: String| async move {
        let config = BrokerConfig::from_yaml(&yaml).expect("valid YAML");
        match Broker::<()>::bind(config).await {
            Ok(_) => panic!("the broker must not start"),
            Err(e) => e,
        }
    };
    let listener = |keys: String| {
        format!(
            "listeners:\n  default:\n    bind: 127.0.0.1:0\n  secure:\n    bind: 127.0.0.1:0\n{keys}plugins: {{}}\n"
        )
    };

    let e = bind(listener(format!(
        "    ssl: true\n    certfile: {}\n    keyfile: {}\n",
        missing.display(),
        pki.key_file.display()
    )))
    .await;
    let text = e.to_string();
    assert!(matches!(e, BrokerError::Tls { .. }), "{e:?}");
    assert!(text.contains("`secure`"), "{text}");
    assert!(text.contains("certfile"), "{text}");
    assert!(text.contains(&missing.display().to_string()), "{text}");

    let text = bind(listener(format!(
        "    ssl: true\n    certfile: {}\n    keyfile: {}\n",
        pki.cert_file.display(),
        garbage.display()
    )))
    .await
    .to_string();
    assert!(text.contains("`secure`"), "{text}");
    assert!(text.contains("keyfile"), "{text}");
    assert!(text.contains(&garbage.display().to_string()), "{text}");

    let text = bind(listener(format!(
        "{}    cafile: {}\n",
        pki.tls_keys(),
        missing.display()
    )))
    .await
    .to_string();
    assert!(text.contains("cafile"), "{text}");
    assert!(text.contains(&missing.display().to_string()), "{text}");

    let text = bind(listener(format!(
        "{}    require_certificate: true\n",
        pki.tls_keys()
    )))
    .await
    .to_string();
    assert!(text.contains("require_certificate"), "{text}");

    let text = bind(listener("    ssl: true\n".into())).await.to_string();
    assert!(
        text.contains("`secure`") && text.contains("certfile"),
        "{text}"
    );
}

#[tokio::test]
async fn max_connections_refuses_the_extra_tls_client() {
    let pki = Pki::new();
    let (broker, _) = start(&tls_yaml(&pki, "    max_connections: 2\n"), ()).await;
    let config = pki.client_config(None);
    let mut one = tls_mqtt_connect(broker.addr, config.clone(), "one")
        .await
        .expect("first client");
    let mut two = tls_mqtt_connect(broker.addr, config.clone(), "two")
        .await
        .expect("second client");

    let third = tls_mqtt_connect(broker.addr, config.clone(), "three").await;
    assert!(third.is_err(), "the third client is refused at once");
    wait_until("the refusal is counted", || {
        broker.handle.stats().connections_refused.get() == 1
    })
    .await;

    // The others keep working.
    one.subscribe("full/#", QoS::AtLeastOnce).await;
    two.publish("full/x", "still here").await;
    assert_eq!(&one.recv_publish().await.payload[..], b"still here");

    // A slot frees when a client leaves.
    two.send(amqtt_core::codec::Packet::Disconnect(Default::default()))
        .await
        .expect("DISCONNECT");
    drop(two);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        if tls_mqtt_connect(broker.addr, config.clone(), "four")
            .await
            .is_ok()
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    broker.stop().await;
}

/// Whether mosquitto's clients are installed; panics when they are not but `CI` is set.
async fn mosquitto_installed() -> bool {
    let probe = Command::new("mosquitto_pub")
        .arg("--help")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let installed = match probe {
        Ok(mut child) => timeout(CHILD_TIMEOUT, child.wait()).await.is_ok(),
        Err(_) => false,
    };
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "mosquitto_pub not installed, but CI is set and CI must run the interop tests"
        );
        eprintln!("skipped: mosquitto_pub (mosquitto-clients) not installed");
    }
    installed
}

/// `mosquitto_pub` over TLS; panics unless it succeeds.
async fn mosquitto_pub(port: u16, tls: &[String], topic: &str, message: &str, retain: bool) {
    let mut command = Command::new("mosquitto_pub");
    command
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(tls)
        .args(["-t", topic, "-m", message])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if retain {
        command.arg("-r");
    }
    let output = timeout(CHILD_TIMEOUT, command.output())
        .await
        .expect("mosquitto_pub finishes")
        .expect("mosquitto_pub runs");
    assert!(
        output.status.success(),
        "mosquitto_pub failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn mosquitto_over_tls_with_cafile() {
    if !mosquitto_installed().await {
        return;
    }
    let pki = Pki::new();
    let yaml = format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n{keys}  certs:\n    bind: 127.0.0.1:0\n{keys}    cafile: {ca}\n    require_certificate: true\nplugins: {{}}\n",
        keys = pki.tls_keys(),
        ca = pki.ca_file.display()
    );
    let (broker, addrs) = start(&yaml, ()).await;
    let cafile = vec!["--cafile".to_owned(), pki.ca_file.display().to_string()];
    let port = broker.addr.port();

    // A retained message first: receiving it tells that mosquitto_sub is subscribed.
    mosquitto_pub(port, &cafile, "tls/topic", "one", true).await;
    let mut sub = Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(&cafile)
        .args(["-t", "tls/topic", "-C", "2", "-W", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto_sub runs");
    let stdout = sub.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = timeout(CHILD_TIMEOUT, lines.next_line()).await;
    assert_eq!(
        line.ok().and_then(Result::ok).flatten().as_deref(),
        Some("one")
    );
    mosquitto_pub(port, &cafile, "tls/topic", "two", false).await;
    let line = timeout(CHILD_TIMEOUT, lines.next_line()).await;
    assert_eq!(
        line.ok().and_then(Result::ok).flatten().as_deref(),
        Some("two")
    );
    let status = timeout(CHILD_TIMEOUT, sub.wait())
        .await
        .expect("mosquitto_sub exits after two messages")
        .expect("status");
    assert!(status.success());

    // The listener that requires a client certificate: mosquitto with --cert/--key gets in.
    let certs_port = addrs["certs"].port();
    let mut with_cert = cafile.clone();
    with_cert.extend([
        "--cert".to_owned(),
        pki.client.cert_file.display().to_string(),
        "--key".to_owned(),
        pki.client.key_file.display().to_string(),
    ]);
    mosquitto_pub(certs_port, &with_cert, "tls/topic", "three", true).await;
    let mut check = tls_mqtt_connect(broker.addr, pki.client_config(None), "check")
        .await
        .expect("connect");
    check.subscribe("tls/topic", QoS::AtMostOnce).await;
    assert_eq!(&check.recv_publish().await.payload[..], b"three");
    broker.stop().await;
}

#[tokio::test]
async fn tls_handshake_is_bounded_by_connect_timeout() {
    let pki = Pki::new();
    let (broker, _) = start(&format!("{}connect_timeout: 0.5\n", tls_yaml(&pki, "")), ()).await;
    // A client that opens TCP and never starts TLS is dropped after connect_timeout.
    let mut idle = tokio::net::TcpStream::connect(broker.addr)
        .await
        .expect("tcp");
    let closed = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert_eq!(closed, Some(Vec::new()), "closed without a byte");
    // And the listener still serves.
    let stream = tls_connect(broker.addr, pki.client_config(None))
        .await
        .expect("TLS");
    Mqtt::new(stream).connect("after-idle").await;
    broker.stop().await;
}
