//! `session_expiry_interval` keeps counting while the broker is down: a session that has been
//! offline longer than that when the broker comes back is gone, a younger one is restored. An
//! MQTT 5.0 session's own interval counts instead, as its DISCONNECT last set it.

use std::time::Duration;

use amqtt_core::codec::{Properties, QoS, ReasonBody, ReasonCode};
use amqtt_tests::v5::V5Client;

use super::support::{SETTLE, StoreBroker, connect, disconnect, subscribe};

/// Starts a broker with `expiry` seconds, leaves a persistent session offline, kills the
/// broker and returns it (down).
async fn offline_session_then_kill9(expiry: u32) -> StoreBroker {
    let extra = format!("session_expiry_interval: {expiry}\n");
    let mut broker = StoreBroker::start(&extra, "  persistence:\n").await;
    let mut client = connect(broker.addr(), "expiring", false, false).await;
    subscribe(&mut client, 1, &[("e/#", QoS::AtLeastOnce)]).await;
    disconnect(client).await;
    tokio::time::sleep(SETTLE).await;
    broker.kill9();
    broker
}

#[tokio::test]
async fn session_expiry_counts_while_the_broker_is_down() {
    // Both brokers go down at about the same time and stay down 3 s: longer than the short
    // interval, much shorter than the long one.
    let (mut short, mut long) = tokio::join!(
        offline_session_then_kill9(2),
        offline_session_then_kill9(60)
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    short.restart().await;
    long.restart().await;

    let gone = connect(short.addr(), "expiring", false, false).await;
    let kept = connect(long.addr(), "expiring", false, true).await;
    disconnect(gone).await;
    disconnect(kept).await;
}

/// Starts a broker, leaves an MQTT 5.0 session offline whose CONNECT asked for `connect`
/// seconds and whose DISCONNECT changed that to `disconnect`, kills the broker and returns it
/// (down).
async fn v5_session_changed_at_disconnect_then_kill9(connect: u32, disconnect: u32) -> StoreBroker {
    let mut broker = StoreBroker::start("", "  persistence:\n").await;
    let (mut client, _) =
        V5Client::connect_session(broker.addr(), "changed", true, Some(connect)).await;
    client.subscribe(1, "c/#", QoS::AtLeastOnce).await;
    let properties = Properties {
        session_expiry_interval: Some(disconnect),
        ..Properties::default()
    };
    client
        .disconnect_with(ReasonBody {
            reason: ReasonCode::Success,
            properties: Some(Box::new(properties)),
        })
        .await;
    tokio::time::sleep(SETTLE).await;
    broker.kill9();
    broker
}

#[tokio::test]
async fn the_expiry_a_v5_disconnect_sets_is_the_one_restored() {
    // Down 3 s: longer than 2 s, much shorter than 600 s. The CONNECT's interval alone would
    // give the opposite outcome for each.
    let (mut lengthened, mut shortened) = tokio::join!(
        v5_session_changed_at_disconnect_then_kill9(2, 600),
        v5_session_changed_at_disconnect_then_kill9(600, 2)
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    lengthened.restart().await;
    shortened.restart().await;
    let (_, kept) = V5Client::connect_session(lengthened.addr(), "changed", false, Some(600)).await;
    assert!(
        kept,
        "lengthened at DISCONNECT: the session outlived the CONNECT's 2 s"
    );
    let (_, present) =
        V5Client::connect_session(shortened.addr(), "changed", false, Some(600)).await;
    assert!(
        !present,
        "shortened at DISCONNECT: the session ended after 2 s"
    );
}
