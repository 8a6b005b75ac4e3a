//! Hot reload of a TLS listener's files (`BrokerHandle::reload`, and a real SIGHUP to the
//! `amqtt` binary): a rotated certificate serves the next handshakes while connections already
//! up keep working; a new CA file decides which client certificates are accepted; a bad new
//! file changes nothing; files on a slow disk stall no connection.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use amqtt_core::broker::ReloadError;
use amqtt_core::codec::{Packet, QoS};
use amqtt_core::config::BrokerConfig;
use amqtt_tests::{AmqttProcess, slow_file};

use super::common::{Pki, start, tls_connect, tls_mqtt_connect};

/// How long a FIFO's writer waits before it writes the file.
const SLOW_DISK: Duration = Duration::from_secs(1);

/// A broker whose `default` listener is TLS with `pki`'s server certificate.
fn tls_yaml(pki: &Pki) -> String {
    format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n{}plugins: {{}}\n",
        pki.tls_keys()
    )
}

/// Rotates the certificate of the broker at `addr` (serving `pki`'s) to one from another CA,
/// in the same files, and reloads it with `reload`; checks that new handshakes get the new
/// certificate and that a connection made before the rotation still works.
async fn rotate(addr: SocketAddr, pki: &Pki, reload: impl AsyncFnOnce()) {
    let old_trust = pki.client_config(None);
    let mut up = tls_mqtt_connect(addr, old_trust.clone(), "up")
        .await
        .expect("TLS client accepted");
    up.subscribe("rotation/#", QoS::AtMostOnce).await;

    let next = Pki::new();
    std::fs::copy(&next.cert_file, &pki.cert_file).expect("new certificate");
    std::fs::copy(&next.key_file, &pki.key_file).expect("new key");
    reload().await;

    // New handshakes get the new certificate: only a client trusting the new CA connects.
    assert!(tls_connect(addr, old_trust).await.is_err());
    let mut publisher = tls_mqtt_connect(addr, next.client_config(None), "new")
        .await
        .expect("a client trusting the new CA connects");
    // The connection made before the rotation still works.
    publisher.publish("rotation/1", "after").await;
    assert_eq!(&up.recv_publish().await.payload[..], b"after");
}

#[tokio::test]
async fn a_rotated_certificate_serves_new_handshakes_and_connections_up_stay() {
    let pki = Pki::new();
    let yaml = tls_yaml(&pki);
    let (broker, _) = start(&yaml, ()).await;
    rotate(broker.addr, &pki, async || {
        let config = BrokerConfig::from_yaml(&yaml).expect("valid");
        let reloaded = broker.handle.reload(&config).await.expect("reload");
        assert_eq!(reloaded.tls_listeners, ["default"]);
        assert!(reloaded.needs_restart.is_empty(), "{reloaded:?}");
    })
    .await;
    broker.stop().await;
}

#[tokio::test]
async fn a_bad_new_key_leaves_the_certificate_in_force() {
    let pki = Pki::new();
    let yaml = tls_yaml(&pki);
    let (broker, _) = start(&yaml, ()).await;
    std::fs::write(&pki.key_file, "not a key\n").expect("break the key");
    let config = BrokerConfig::from_yaml(&yaml).expect("valid");
    match broker.handle.reload(&config).await {
        Err(ReloadError::Tls { listener, source }) => {
            assert_eq!(listener, "default");
            let file = pki.key_file.display().to_string();
            assert!(source.to_string().contains(&file), "{source}");
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
    tls_mqtt_connect(broker.addr, pki.client_config(None), "still")
        .await
        .expect("the old certificate still serves");
    broker.stop().await;
}

#[tokio::test]
async fn a_new_ca_file_admits_the_new_ca_s_clients_and_refuses_the_old_ones() {
    let pki = Pki::new();
    let yaml = format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n{}    cafile: {}\n    \
         require_certificate: true\nplugins: {{}}\n",
        pki.tls_keys(),
        pki.ca_file.display()
    );
    let (broker, _) = start(&yaml, ()).await;
    // Both clients trust the server's CA; they present certificates of two CAs.
    let next = Pki::new();
    let old_client = pki.client_config(Some(&pki.client));
    let new_client = pki.client_config(Some(&next.client));
    assert!(
        tls_mqtt_connect(broker.addr, new_client.clone(), "new")
            .await
            .is_err()
    );
    let mut up = tls_mqtt_connect(broker.addr, old_client.clone(), "up")
        .await
        .expect("a certificate of the CA in force is accepted");
    up.subscribe("ca/#", QoS::AtMostOnce).await;

    std::fs::copy(&next.ca_file, &pki.ca_file).expect("new CA file");
    let config = BrokerConfig::from_yaml(&yaml).expect("valid");
    let reloaded = broker.handle.reload(&config).await.expect("reload");
    assert_eq!(reloaded.tls_listeners, ["default"]);

    assert!(
        tls_mqtt_connect(broker.addr, old_client, "old")
            .await
            .is_err(),
        "a certificate of the old CA is refused"
    );
    let mut publisher = tls_mqtt_connect(broker.addr, new_client, "new")
        .await
        .expect("a certificate of the new CA is accepted");
    publisher.publish("ca/1", "new CA").await;
    assert_eq!(&up.recv_publish().await.payload[..], b"new CA");
    broker.stop().await;
}

#[tokio::test]
async fn sighup_rotates_the_amqtt_binary_s_certificate_and_connections_up_stay() {
    let pki = Pki::new();
    let broker = AmqttProcess::start(|dir, port| {
        let yaml = format!(
            "listeners:\n  default:\n    bind: 127.0.0.1:{port}\n{}plugins:\n  \
             auth_anonymous:\n    allow_anonymous: true\n",
            pki.tls_keys()
        );
        std::fs::write(dir.join("amqtt.yaml"), yaml).expect("write config");
    })
    .await;
    rotate(broker.addr, &pki, async || {
        let log = broker.hang_up().await;
        assert!(log.contains("reloaded"), "{log}");
    })
    .await;
}

// `tokio::test` runs the broker and this test on one thread: a reload that read its files on
// it would stop everything until they came.
#[tokio::test]
async fn a_slow_certificate_file_stalls_no_connection_while_a_reload_reads_it() {
    let pki = Pki::new();
    let (broker, _) = start(&tls_yaml(&pki), ()).await;
    let mut up = tls_mqtt_connect(broker.addr, pki.client_config(None), "up")
        .await
        .expect("TLS client accepted");

    let slow = pki.cert_file.with_extension("slow");
    let certificate = std::fs::read_to_string(&pki.cert_file).expect("certificate");
    let writer = slow_file(&slow, certificate, SLOW_DISK);
    let config = BrokerConfig::from_yaml(&tls_yaml(&pki).replace(
        &pki.cert_file.display().to_string(),
        &slow.display().to_string(),
    ))
    .expect("valid");
    let handle = broker.handle.clone();
    let started = Instant::now();
    let reload = tokio::spawn(async move { handle.reload(&config).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    up.send(Packet::PingReq).await.expect("send PINGREQ");
    assert_eq!(up.recv().await, Packet::PingResp);
    let answered = started.elapsed();
    assert!(
        answered < SLOW_DISK / 2,
        "a connection waited {answered:?} for the reload's file"
    );
    let reloaded = reload.await.expect("reload task").expect("reload");
    assert_eq!(reloaded.tls_listeners, ["default"]);
    writer.join().expect("writer");
    broker.stop().await;
}
