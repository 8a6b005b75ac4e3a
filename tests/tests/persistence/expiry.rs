//! `session_expiry_interval` keeps counting while the broker is down: a session that has been
//! offline longer than that when the broker comes back is gone, a younger one is restored.

use std::time::Duration;

use amqtt_core::codec::QoS;

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
