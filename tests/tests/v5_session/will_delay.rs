//! The Will Delay Interval: the will waits for its delay or the end of the session, whichever is
//! first, and a connection that resumes the session before then cancels it. And which client
//! DISCONNECTs keep the will.

use std::time::{Duration, Instant};

use amqtt_core::codec::{Properties, QoS, ReasonBody, ReasonCode};
use amqtt_tests::{RawClient, TestBroker, will};

use amqtt_tests::v5::{V5Client, delayed, session_connect};

/// A 5.0 client `client_id` with a session expiry interval of `expiry` seconds and a will on
/// `will/<client_id>` delayed by `delay` seconds; and a watcher subscribed to `will/#`.
async fn setup(
    broker: &TestBroker,
    client_id: &str,
    expiry: u32,
    delay: u32,
) -> (V5Client, RawClient) {
    let mut watcher = RawClient::connect(broker.addr, &format!("watch-{client_id}")).await;
    watcher.subscribe(1, &[("will/#", QoS::AtMostOnce)]).await;
    let mut connect = session_connect(client_id, true, Some(expiry));
    let topic = format!("will/{client_id}");
    connect.will = Some(delayed(will(&topic, "gone", QoS::AtMostOnce, false), delay));
    let (client, ack) = V5Client::connect_with(broker.addr, connect).await;
    assert!(!ack.session_present);
    (client, watcher)
}

/// Asserts `watcher` gets the will on `will/<client_id>` about a second after `closed`, not
/// before (the delay, or a session expiry, of 1 s).
async fn expect_will_after_a_second(watcher: &mut RawClient, client_id: &str, closed: Instant) {
    watcher.expect_silence(Duration::from_millis(600)).await;
    let topic = format!("will/{client_id}");
    watcher
        .expect_publish(&topic, "gone", QoS::AtMostOnce, false)
        .await;
    assert!(closed.elapsed() >= Duration::from_millis(900));
}

/// Asserts `watcher` gets the will on `will/<client_id>` now, not after its delay.
async fn expect_will_now(watcher: &mut RawClient, client_id: &str) {
    let topic = format!("will/{client_id}");
    watcher
        .expect_publish(&topic, "gone", QoS::AtMostOnce, false)
        .await;
}

#[tokio::test]
async fn will_is_published_after_its_delay() {
    let broker = TestBroker::start("").await;
    let (client, mut watcher) = setup(&broker, "late", 60, 1).await;
    client.reset();
    expect_will_after_a_second(&mut watcher, "late", Instant::now()).await;
    broker.stop().await;
}

#[tokio::test]
async fn resuming_the_session_cancels_the_will() {
    let broker = TestBroker::start("").await;
    let (client, mut watcher) = setup(&broker, "back", 60, 1).await;
    client.reset();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_client, present) = V5Client::connect_session(broker.addr, "back", false, Some(60)).await;
    assert!(present);
    watcher.expect_silence(Duration::from_millis(1500)).await;
    broker.stop().await;
}

#[tokio::test]
async fn clean_start_ends_the_session_and_publishes_the_will_at_once() {
    let broker = TestBroker::start("").await;
    let (client, mut watcher) = setup(&broker, "anew", 60, 30).await;
    client.reset();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_client, present) = V5Client::connect_session(broker.addr, "anew", true, Some(60)).await;
    assert!(!present);
    expect_will_now(&mut watcher, "anew").await;
    broker.stop().await;
}

#[tokio::test]
async fn clean_start_takeover_publishes_the_will_at_once() {
    let broker = TestBroker::start("").await;
    let (_old, mut watcher) = setup(&broker, "taken", 60, 30).await;
    let (_client, present) = V5Client::connect_session(broker.addr, "taken", true, Some(60)).await;
    assert!(!present);
    expect_will_now(&mut watcher, "taken").await;
    broker.stop().await;
}

#[tokio::test]
async fn session_ending_first_publishes_the_will() {
    let broker = TestBroker::start("").await;
    // The session ends with the connection: the will goes at once.
    let (client, mut watcher) = setup(&broker, "now", 0, 30).await;
    client.reset();
    expect_will_now(&mut watcher, "now").await;
    // The session expires after 1 s, long before the 30 s delay.
    let (client, mut watcher) = setup(&broker, "soon", 1, 30).await;
    client.reset();
    expect_will_after_a_second(&mut watcher, "soon", Instant::now()).await;
    broker.stop().await;
}

#[tokio::test]
async fn disconnect_with_will_waits_for_the_delay_unless_it_ends_the_session() {
    let broker = TestBroker::start("").await;
    let (client, mut watcher) = setup(&broker, "asked", 60, 1).await;
    client
        .disconnect_with(ReasonBody::new(ReasonCode::DisconnectWithWillMessage))
        .await;
    expect_will_after_a_second(&mut watcher, "asked", Instant::now()).await;
    // The same DISCONNECT setting the session expiry interval to 0 ends the session: at once.
    let (client, mut watcher) = setup(&broker, "ended", 60, 30).await;
    client
        .disconnect_with(ReasonBody {
            reason: ReasonCode::DisconnectWithWillMessage,
            properties: Some(Box::new(Properties {
                session_expiry_interval: Some(0),
                ..Properties::default()
            })),
        })
        .await;
    expect_will_now(&mut watcher, "ended").await;
    broker.stop().await;
}

/// Only a DISCONNECT with reason 0x00 discards the will [MQTT-3.14.4-3]: one with an error
/// reason (0x80 here) publishes it, as the socket failing would.
#[tokio::test]
async fn only_a_normal_disconnect_discards_the_will() {
    let broker = TestBroker::start("").await;
    let (client, mut watcher) = setup(&broker, "failed", 60, 0).await;
    client
        .disconnect_with(ReasonBody::new(ReasonCode::UnspecifiedError))
        .await;
    expect_will_now(&mut watcher, "failed").await;
    let (client, mut watcher) = setup(&broker, "normal", 60, 0).await;
    client
        .disconnect_with(ReasonBody::new(ReasonCode::Success))
        .await;
    watcher.expect_silence(Duration::from_millis(300)).await;
    broker.stop().await;
}
