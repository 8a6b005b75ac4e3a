//! Hot reload of a TLS listener's files (`BrokerHandle::reload`): a rotated certificate serves
//! the next handshakes while connections already up keep working; a bad new file changes
//! nothing; files on a slow disk stall no connection.

use std::time::{Duration, Instant};

use amqtt_core::broker::ReloadError;
use amqtt_core::codec::{Packet, QoS};
use amqtt_core::config::BrokerConfig;
use amqtt_tests::slow_file;

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

#[tokio::test]
async fn a_rotated_certificate_serves_new_handshakes_and_connections_up_stay() {
    let pki = Pki::new();
    let yaml = tls_yaml(&pki);
    let (broker, _) = start(&yaml, ()).await;
    let old_trust = pki.client_config(None);
    let mut up = tls_mqtt_connect(broker.addr, old_trust.clone(), "up")
        .await
        .expect("TLS client accepted");
    up.subscribe("rotation/#", QoS::AtMostOnce).await;

    // Rotate to a certificate from another CA, in the same files.
    let next = Pki::new();
    std::fs::copy(&next.cert_file, &pki.cert_file).expect("new certificate");
    std::fs::copy(&next.key_file, &pki.key_file).expect("new key");
    let config = BrokerConfig::from_yaml(&yaml).expect("valid");
    let reloaded = broker.handle.reload(&config).await.expect("reload");
    assert_eq!(reloaded.tls_listeners, ["default"]);
    assert!(reloaded.needs_restart.is_empty(), "{reloaded:?}");

    // New handshakes get the new certificate: only a client trusting the new CA connects.
    assert!(tls_connect(broker.addr, old_trust).await.is_err());
    let mut publisher = tls_mqtt_connect(broker.addr, next.client_config(None), "new")
        .await
        .expect("a client trusting the new CA connects");
    // The connection made before the rotation still works.
    publisher.publish("rotation/1", "after").await;
    let message = up.recv_publish().await;
    assert_eq!(&message.payload[..], b"after");
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
