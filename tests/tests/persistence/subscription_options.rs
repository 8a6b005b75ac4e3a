//! A persistent MQTT 5.0 session keeps its subscriptions' options and identifiers across a
//! restart: No Local, Retain As Published and the Subscription Identifier are stored with each
//! subscription and restored with it.

use amqtt_core::codec::{Packet, Properties, Publish, QoS, SubscriptionOptions};
use amqtt_tests::v5::{V5Client, no_local, publish_v5, session_connect, subscription_ids};

use super::support::{SILENCE, StoreBroker};

/// A SQLite store in the working directory that a clean stop keeps.
const KEEP: &str = "  persistence:\n    connection: sqlite+aiosqlite:///store.db\n    \
                    clear_on_shutdown: false\n";

/// A retained QoS 0 PUBLISH of `payload` to `topic`.
fn retained(topic: &str, payload: &str) -> Packet {
    Packet::Publish(Publish {
        retain: true,
        ..publish_v5(topic, payload, QoS::AtMostOnce, None, Properties::default())
    })
}

#[tokio::test]
async fn a_restart_keeps_subscription_options_and_identifiers() {
    let mut broker = StoreBroker::start("", KEEP).await;
    let connect = session_connect("opts", true, Some(600));
    let (mut client, _) = V5Client::connect_with(broker.addr(), connect).await;
    let kept = SubscriptionOptions {
        retain_as_published: true,
        ..no_local()
    };
    client.subscribe_with(1, "p/#", kept, Some(21)).await;
    let plain = SubscriptionOptions::from(QoS::AtMostOnce);
    client.subscribe_with(2, "p/+/x", plain, Some(22)).await;
    drop(client);
    broker.terminate().await;
    broker.restart().await;

    let connect = session_connect("opts", false, Some(600));
    let (mut client, ack) = V5Client::connect_with(broker.addr(), connect).await;
    assert!(ack.session_present);
    // No Local survived: its own message does not come back.
    client.send(retained("p/own", "own")).await;
    client.expect_silence(SILENCE).await;
    // Retain As Published and both identifiers survived, in one copy.
    let mut other = V5Client::connect(broker.addr(), "other", Properties::default()).await;
    other.send(retained("p/a/x", "theirs")).await;
    let got = client.recv_publish().await;
    assert_eq!(&got.payload[..], b"theirs");
    assert!(got.retain);
    assert_eq!(subscription_ids(&got), [21, 22]);
    broker.terminate().await;
}
