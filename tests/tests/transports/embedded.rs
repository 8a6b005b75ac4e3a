//! Streams the application hands to the broker (`BrokerHandle::serve_stream`, aMQTT's
//! `external` listener): served like accepted connections, and waited for at shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use amqtt_core::broker::{Broker, EXTERNAL_LISTENER};
use amqtt_core::codec::QoS;
use amqtt_core::config::BrokerConfig;
use amqtt_tests::RawClient;
use tokio::io::AsyncReadExt;

use super::common::{Mqtt, Recorder, start};

const YAML: &str = "listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins: {}\n";

#[tokio::test]
async fn a_duplex_stream_is_a_client_connection() {
    let (broker, _) = start(YAML, Recorder::default()).await;
    let (client, server) = tokio::io::duplex(4096);
    let peer: SocketAddr = "192.0.2.7:4242".parse().expect("address");
    let served = tokio::spawn(broker.handle.serve_stream(server, Some(peer)));

    let mut embedded = Mqtt::new(client);
    embedded.connect("embedded").await;
    embedded.subscribe("emb/#", QoS::AtLeastOnce).await;

    // It talks with the clients of the real listeners both ways.
    let mut tcp = RawClient::connect(broker.addr, "tcp").await;
    tcp.subscribe(1, &[("from-embedded", QoS::AtMostOnce)])
        .await;
    tcp.publish("emb/x", "to the embedded client", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(
        &embedded.recv_publish().await.payload[..],
        b"to the embedded client"
    );
    embedded.publish("from-embedded", "hello").await;
    assert_eq!(&tcp.recv_publish().await.payload[..], b"hello");

    let seen = broker.handle.plugins().seen();
    let me = seen
        .iter()
        .find(|s| s.client_id == "embedded")
        .expect("authenticated");
    assert_eq!(me.listener.as_deref(), Some(EXTERNAL_LISTENER));
    assert_eq!(me.remote_addr, Some(peer));
    assert!(me.peer_certificates.is_empty());

    embedded
        .send(amqtt_core::codec::Packet::Disconnect(Default::default()))
        .await
        .expect("DISCONNECT");
    tokio::time::timeout(Duration::from_secs(5), served)
        .await
        .expect("the serving future ends after DISCONNECT")
        .expect("no panic");
    broker.stop().await;
}

#[tokio::test]
async fn shutdown_waits_for_embedded_streams_and_refuses_new_ones() {
    let config = BrokerConfig::from_yaml(YAML).expect("config");
    let broker = Broker::<()>::bind(config).await.expect("bind");
    let handle = broker.handle();
    let running = tokio::spawn(broker.run(std::future::pending()));

    let (client, server) = tokio::io::duplex(4096);
    let served = tokio::spawn(handle.serve_stream(server, None));
    let mut embedded = Mqtt::new(client);
    embedded.connect("stays").await;

    handle.shutdown();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the broker stops")
        .expect("no panic");
    assert!(
        served.is_finished(),
        "the broker waited for the embedded connection"
    );
    assert_eq!(embedded.try_recv().await, None, "its stream was closed");

    // After shutdown a stream is dropped at once.
    let (mut late_client, late_server) = tokio::io::duplex(64);
    tokio::time::timeout(
        Duration::from_secs(1),
        handle.serve_stream(late_server, None),
    )
    .await
    .expect("returns at once");
    let mut byte = [0u8; 1];
    assert_eq!(late_client.read(&mut byte).await.expect("EOF"), 0);
}

/// A `type: external` listener binds nothing, and `serve_external` serves a stream as one of its
/// connections: plugins see its name. A name that is not an external listener gets `None`.
#[tokio::test]
async fn an_external_listener_binds_nothing_and_names_its_streams() {
    let yaml = "listeners:\n  default:\n    bind: 127.0.0.1:0\n  app:\n    type: external\n    bind: 127.0.0.1:1\nplugins: {}\n";
    let (broker, addrs) = start(yaml, Recorder::default()).await;
    assert!(!addrs.contains_key("app"), "bound: {addrs:?}");
    let handle = &broker.handle;
    assert!(
        handle
            .serve_external("default", tokio::io::duplex(64).1, None)
            .is_none()
    );
    assert!(
        handle
            .serve_external("nope", tokio::io::duplex(64).1, None)
            .is_none()
    );

    let (client, server) = tokio::io::duplex(4096);
    let served = handle
        .serve_external("app", server, None)
        .expect("`app` is an external listener");
    let served = tokio::spawn(served);
    let mut embedded = Mqtt::new(client);
    embedded.connect("via-app").await;
    let seen = handle.plugins().seen();
    let me = seen
        .iter()
        .find(|s| s.client_id == "via-app")
        .expect("authenticated");
    assert_eq!(me.listener.as_deref(), Some("app"));
    broker.stop().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), served).await;
}
