//! aMQTT's broker-configuration reference as its users write it, YAML 1.1 booleans included:
//! `ssl: on` TLS and secure WebSocket listeners beside a plain `default`, and the anonymous
//! authentication plugin switched by `on`/`off`, with the stock plugin set.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use amqtt_core::broker::Broker;
use amqtt_core::codec::{Packet, QoS, ReasonCode};
use amqtt_core::config::BrokerConfig;
use amqtt_plugins::PackagedPlugins;
use amqtt_tests::{RawClient, TestBroker, connect_packet};

use super::common::{Pki, serve_listeners, tls_mqtt_connect, wss_connected};

/// The listener section of aMQTT's broker-configuration reference (`docs/references/
/// broker_config.md`), with `127.0.0.1:0` binds, this test's certificate, and no CA keys (they
/// point at placeholder files there), and its list form of `plugins:`.
fn reference_yaml(pki: &Pki, allow_anonymous: &str) -> String {
    format!(
        "listeners:
    default:
        max-connections: 500
        type: tcp
        bind: 127.0.0.1:0
    my-tcp-1:
        bind: 127.0.0.1:0
    my-tcp-ssl-1:
        bind: 127.0.0.1:0
        ssl: on
        certfile: {cert}
        keyfile: {key}
    my-ws-1:
        bind: 127.0.0.1:0
        type: ws
    my-wss-1:
        bind: 127.0.0.1:0
        type: ws
        ssl: on
        certfile: {cert}
        keyfile: {key}
timeout-disconnect-delay: 2
plugins:
  - amqtt.plugins.authentication.AnonymousAuthPlugin:
      allow-anonymous: {allow_anonymous}
",
        cert = pki.cert_file.display(),
        key = pki.key_file.display()
    )
}

/// Serves `yaml` with the stock plugin set; returns the broker and each listener's address.
async fn start(yaml: &str) -> (TestBroker<PackagedPlugins>, BTreeMap<String, SocketAddr>) {
    let config = BrokerConfig::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let names: Vec<String> = config.listeners.keys().cloned().collect();
    let broker = Broker::<PackagedPlugins>::bind(config)
        .await
        .expect("broker binds");
    serve_listeners(broker, names)
}

#[tokio::test]
async fn ssl_on_starts_tls_and_secure_websocket_listeners() {
    let pki = Pki::new();
    let (broker, addrs) = start(&reference_yaml(&pki, "on")).await;
    assert_eq!(addrs.len(), 5, "{addrs:?}");

    let mut over_tls = tls_mqtt_connect(addrs["my-tcp-ssl-1"], pki.client_config(None), "tls")
        .await
        .expect("a TLS client connects to `ssl: on`");
    over_tls.subscribe("calendar/#", QoS::AtMostOnce).await;

    let mut over_wss = wss_connected(addrs["my-wss-1"], &pki, "wss").await;
    over_wss.subscribe("calendar/#").await;

    // A plain client on the `default` and on an inheriting plain listener: no TLS there.
    let mut plain = RawClient::connect(addrs["my-tcp-1"], "plain").await;
    plain
        .publish("calendar/2025/may", "meeting", QoS::AtMostOnce, false)
        .await;
    assert_eq!(&over_tls.recv_publish().await.payload[..], b"meeting");
    match over_wss.recv().await {
        Packet::Publish(p) => assert_eq!(&p.payload[..], b"meeting"),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    RawClient::connect(addrs["default"], "plain-default")
        .await
        .disconnect()
        .await;
    broker.stop().await;
}

#[tokio::test]
async fn allow_anonymous_off_and_on_switch_the_plugin() {
    let pki = Pki::new();
    for (spelling, admitted) in [("off", false), ("Off", false), ("no", false), ("Yes", true)] {
        let (broker, addrs) = start(&reference_yaml(&pki, spelling)).await;
        let (_client, ack) =
            RawClient::connect_with(addrs["default"], connect_packet("anonymous", true)).await;
        let expected = if admitted {
            ReasonCode::Success
        } else {
            ReasonCode::NotAuthorized
        };
        assert_eq!(ack.code, expected, "allow-anonymous: {spelling}");
        broker.stop().await;
    }
}
