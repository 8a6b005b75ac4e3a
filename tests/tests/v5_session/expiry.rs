//! The Session Expiry Interval: per session, from CONNECT, changed by DISCONNECT, independent of
//! the broker's `session_expiry_interval` (which still governs 3.1.1 clients).

use std::time::{Duration, Instant};

use amqtt_core::codec::{Packet, Properties, QoS, ReasonBody, ReasonCode, Subscribe};
use amqtt_tests::{RawClient, TestBroker, connect_packet, pid, wait_until};

use amqtt_tests::v5::V5Client;

/// Subscribes `client` to `filter` at QoS 1 and waits for the SUBACK.
pub(crate) async fn subscribe(client: &mut V5Client, filter: &str) {
    client
        .send(Packet::Subscribe(Subscribe {
            packet_id: pid(1),
            filters: vec![(filter.into(), QoS::AtLeastOnce.into())],
            properties: None,
        }))
        .await;
    assert!(matches!(client.recv().await, Packet::SubAck(_)));
}

/// A DISCONNECT body that sets the session expiry interval to `seconds`.
fn expiry_body(seconds: u32) -> ReasonBody {
    ReasonBody {
        reason: ReasonCode::Success,
        properties: Some(Box::new(Properties {
            session_expiry_interval: Some(seconds),
            ..Properties::default()
        })),
    }
}

#[tokio::test]
async fn no_expiry_interval_ends_the_session_with_the_connection() {
    let broker = TestBroker::start("").await;
    let (mut client, _) = V5Client::connect_session(broker.addr, "zero", false, None).await;
    subscribe(&mut client, "t/zero").await;
    client.reset();
    wait_until("the session ended", || broker.handle.session_count() == 0).await;
    let (_client, present) = V5Client::connect_session(broker.addr, "zero", false, None).await;
    assert!(!present);
    broker.stop().await;
}

#[tokio::test]
async fn session_is_kept_for_its_own_interval_not_the_brokers() {
    // 3.1.1 sessions expire after 0.2 s here; the 5.0 one asks for 2 s.
    let broker = TestBroker::start("session_expiry_interval: 0.2\n").await;
    let (mut client, _) = V5Client::connect_session(broker.addr, "two", false, Some(2)).await;
    subscribe(&mut client, "t/two").await;
    let (old, _) = RawClient::connect_with(broker.addr, connect_packet("old", false)).await;
    client.reset();
    old.reset();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        broker.handle.session_count(),
        1,
        "the 3.1.1 session expired, not the 5.0 one"
    );
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publisher
        .publish("t/two", "queued", QoS::AtLeastOnce, false)
        .await;
    let (mut client, present) = V5Client::connect_session(broker.addr, "two", false, Some(2)).await;
    assert!(present);
    match client.recv().await {
        Packet::Publish(p) => assert_eq!(&p.payload[..], b"queued"),
        other => panic!("expected the queued PUBLISH, got {other:?}"),
    }
    client.reset();
    let offline = Instant::now();
    wait_until("the session expired", || broker.handle.session_count() == 1).await;
    assert!(
        offline.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        offline.elapsed()
    );
    let (_client, present) = V5Client::connect_session(broker.addr, "two", false, Some(2)).await;
    assert!(!present);
    drop(publisher);
    broker.stop().await;
}

#[tokio::test]
async fn maximum_interval_never_expires() {
    let broker = TestBroker::start("session_expiry_interval: 0.1\n").await;
    let (client, _) =
        V5Client::connect_session(broker.addr, "forever", false, Some(u32::MAX)).await;
    client.reset();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_client, present) = V5Client::connect_session(broker.addr, "forever", false, None).await;
    assert!(present);
    broker.stop().await;
}

#[tokio::test]
async fn disconnect_may_shorten_the_interval() {
    let broker = TestBroker::start("").await;
    let (client, _) = V5Client::connect_session(broker.addr, "shorten", false, Some(60)).await;
    client.disconnect_with(expiry_body(0)).await;
    wait_until("the session ended", || broker.handle.session_count() == 0).await;

    let (client, _) = V5Client::connect_session(broker.addr, "later", false, Some(60)).await;
    client.disconnect_with(expiry_body(1)).await;
    let offline = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(broker.handle.session_count(), 1);
    wait_until("the session expired", || broker.handle.session_count() == 0).await;
    assert!(offline.elapsed() >= Duration::from_millis(900));
    broker.stop().await;
}

#[tokio::test]
async fn disconnect_may_not_set_an_interval_after_zero() {
    let broker = TestBroker::start("").await;
    let (mut client, _) = V5Client::connect_session(broker.addr, "zero", false, Some(0)).await;
    client.send(Packet::Disconnect(expiry_body(30))).await;
    client.expect_disconnect(ReasonCode::ProtocolError).await;
    wait_until("the session ended", || broker.handle.session_count() == 0).await;
    broker.stop().await;
}
