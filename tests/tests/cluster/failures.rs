//! The cluster under failure: NATS killed and restarted (local traffic goes on, a cross-node
//! QoS 1 message is acknowledged only once NATS has it, cross-node traffic resumes), a node
//! killed with SIGKILL (no acknowledged QoS 1 message of a persistent session is lost, whether
//! its client reconnects on another node or on the node back with its store), and one node cut off from NATS (its local traffic goes
//! on, cross-node traffic resumes once it is back).

use std::path::Path;
use std::time::Duration;

use amqtt_core::codec::{Packet, QoS};
use amqtt_tests::nats::{CutProxy, nats_server_or_skip};
use amqtt_tests::{RawClient, in_time, pid, publish_packet};
use tokio::time::{Instant, sleep_until};

use crate::support::{
    Delivery, Node, ROUTE_WITHIN, assert_none_lost, assert_routed, await_route, connect_persistent,
    publish_numbered, receive_exactly, receive_until, routed_persistent_subscriber, start_cluster,
    subscriber,
};

/// How long NATS stays down, or a node stays cut off from it.
const OUTAGE: Duration = Duration::from_secs(2);

/// How long a publisher waits to be sure its QoS 1 message is not acknowledged.
const NO_ACK_FOR: Duration = Duration::from_secs(1);

/// Publishes QoS 0 then QoS 1 on `topic` from `publisher` (the QoS 1 one acknowledged) and
/// asserts `subscriber`, on the same node, gets both.
async fn assert_local_traffic(publisher: &mut RawClient, subscriber: &mut RawClient, topic: &str) {
    publisher
        .publish(topic, "qos0", QoS::AtMostOnce, false)
        .await;
    publisher
        .publish(topic, "qos1", QoS::AtLeastOnce, false)
        .await;
    let expected = [
        Delivery::new(topic, "qos0", QoS::AtMostOnce),
        Delivery::new(topic, "qos1", QoS::AtLeastOnce),
    ];
    assert_eq!(receive_exactly(subscriber, 2).await, expected);
}

#[tokio::test]
async fn nats_down_keeps_local_traffic_and_holds_cross_node_acks_until_back() {
    let Some((mut nats, [a, b])) =
        start_cluster("nats_down_keeps_local_traffic_and_holds_cross_node_acks_until_back").await
    else {
        return;
    };
    let mut remote = subscriber(a.addr(), "remote", "o/#", QoS::AtLeastOnce).await;
    let mut local = subscriber(a.addr(), "local", "l/#", QoS::AtLeastOnce).await;
    let mut local_publisher = RawClient::connect(a.addr(), "local-publisher").await;
    let mut far_publisher = RawClient::connect(b.addr(), "far-publisher").await;
    let mut lossy_publisher = RawClient::connect(b.addr(), "lossy-publisher").await;
    await_route(&mut far_publisher, "o/probe", &mut [&mut remote]).await;

    nats.kill();
    let down_at = Instant::now();
    assert_local_traffic(&mut local_publisher, &mut local, "l/1").await;
    // Cross-node QoS 1: no PUBACK while NATS cannot take the message.
    let held = publish_packet("o/1", "held", QoS::AtLeastOnce, false, Some(7));
    far_publisher.send(Packet::Publish(held)).await;
    far_publisher.expect_silence(NO_ACK_FOR).await;
    // The held PUBACK does not hold back the answer to a PINGREQ.
    far_publisher.send(Packet::PingReq).await;
    match far_publisher.recv_within(NO_ACK_FOR).await {
        Some(Packet::PingResp) => {}
        other => panic!("expected PINGRESP while the PUBACK is held, got {other:?}"),
    }
    // Cross-node QoS 0 may be lost meanwhile: sent, not asserted.
    lossy_publisher
        .publish("o/lossy", "maybe", QoS::AtMostOnce, false)
        .await;
    assert_local_traffic(&mut local_publisher, &mut local, "l/2").await;
    sleep_until(down_at + OUTAGE).await;

    nats.restart().await;
    match far_publisher.recv_within(ROUTE_WITHIN).await {
        Some(Packet::PubAck(ack)) => assert_eq!(ack.packet_id, pid(7)),
        other => panic!("expected the PUBACK of the held message, got {other:?}"),
    }
    let received = receive_until(&mut remote, |r| r.iter().any(|d| d.payload == "held")).await;
    let held = Delivery::new("o/1", "held", QoS::AtLeastOnce);
    let lossy = Delivery::new("o/lossy", "maybe", QoS::AtMostOnce);
    assert_eq!(
        received.iter().filter(|d| **d == held).count(),
        1,
        "{received:?}"
    );
    assert!(
        received.iter().all(|d| *d == held || *d == lossy) && received.len() <= 2,
        "{received:?}"
    );

    // Cross-node QoS 0 works again, and local traffic still does.
    let back = Delivery::new("o/2", "back", QoS::AtMostOnce);
    assert_routed(&mut far_publisher, &mut remote, "o/probe", back).await;
    assert_local_traffic(&mut local_publisher, &mut local, "l/3").await;
}

#[tokio::test]
async fn a_killed_node_loses_no_acknowledged_message_of_an_offline_session() {
    let Some((_nats, [a, b, c])) =
        start_cluster("a_killed_node_loses_no_acknowledged_message_of_an_offline_session").await
    else {
        return;
    };
    let (x, mut publisher) = routed_persistent_subscriber(&a, &b).await;
    x.disconnect().await;
    let acknowledged = publish_numbered(&mut publisher, "k/1", 3).await;
    a.kill();

    let (mut x, session_present) = connect_persistent(&c, "X").await;
    assert!(session_present, "X's session died with its node");
    let received = receive_until(&mut x, |r| acknowledged.iter().all(|m| r.contains(m))).await;
    assert_none_lost(&received, &acknowledged);
}

#[tokio::test]
async fn a_killed_node_loses_no_message_acknowledged_after_its_death() {
    let Some((_nats, [a, b, c])) =
        start_cluster("a_killed_node_loses_no_message_acknowledged_after_its_death").await
    else {
        return;
    };
    let (mut x, mut publisher) = routed_persistent_subscriber(&a, &b).await;
    a.kill();
    x.expect_closed(ROUTE_WITHIN).await;
    publisher
        .publish("k/1", "after the kill", QoS::AtLeastOnce, false)
        .await;

    let (mut x, session_present) = connect_persistent(&c, "X").await;
    assert!(session_present, "X's session died with its node");
    let expected = [Delivery::new("k/1", "after the kill", QoS::AtLeastOnce)];
    let received = receive_until(&mut x, |r| r.contains(&expected[0])).await;
    assert_none_lost(&received, &expected);
}

#[tokio::test]
async fn a_killed_node_back_with_its_store_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("n1.db");
    let name = "a_killed_node_back_with_its_store_loses_no_acknowledged_message";
    assert_killed_node_back_loses_nothing(name, Some(&store)).await;
}

#[tokio::test]
async fn a_killed_node_back_without_a_store_takes_its_sessions_from_nats() {
    let name = "a_killed_node_back_without_a_store_takes_its_sessions_from_nats";
    assert_killed_node_back_loses_nothing(name, None).await;
}

/// Node `n1` (with the SQLite store `store`, if given) holds X's offline session with queued
/// messages and is killed; a message forwarded to it while it is dead waits in its stream.
/// Asserts X, reconnecting to `n1` once it is back, finds its session with every message.
async fn assert_killed_node_back_loses_nothing(name: &str, store: Option<&Path>) {
    let Some(nats) = nats_server_or_skip(name).await else {
        return;
    };
    let start_n1 = || async {
        match store {
            Some(store) => Node::start_with_store(&nats.url(), name, "n1", store).await,
            None => Node::start(&nats.url(), name, "n1").await,
        }
    };
    let a = start_n1().await;
    let b = Node::start(&nats.url(), name, "n2").await;
    let (x, mut publisher) = routed_persistent_subscriber(&a, &b).await;
    x.disconnect().await;
    // Queued for X's session on A before the kill, then forwarded to A while it is dead.
    let mut acknowledged = publish_numbered(&mut publisher, "k/1", 2).await;
    a.kill();
    let forwarded = Delivery::new("k/2", "while dead", QoS::AtLeastOnce);
    publisher
        .publish(&forwarded.topic, &forwarded.payload, forwarded.qos, false)
        .await;
    acknowledged.push(forwarded);

    let a = start_n1().await;
    let (mut x, session_present) = connect_persistent(&a, "X").await;
    assert!(
        session_present,
        "X's session did not come back with its node"
    );
    let received = receive_until(&mut x, |r| acknowledged.iter().all(|m| r.contains(m))).await;
    assert_none_lost(&received, &acknowledged);
}

#[tokio::test]
async fn a_node_cut_off_from_nats_keeps_local_traffic_and_rejoins() {
    let name = "a_node_cut_off_from_nats_keeps_local_traffic_and_rejoins";
    let Some(nats) = nats_server_or_skip(name).await else {
        return;
    };
    let proxy = CutProxy::start(nats.addr()).await;
    let cut_off = Node::start(&format!("nats://{}", proxy.addr()), "partition", "n1").await;
    let other = Node::start(&nats.url(), "partition", "n2").await;
    let mut remote = subscriber(cut_off.addr(), "remote", "p/#", QoS::AtLeastOnce).await;
    let mut local = subscriber(cut_off.addr(), "local", "l/#", QoS::AtLeastOnce).await;
    let mut local_publisher = RawClient::connect(cut_off.addr(), "local-publisher").await;
    let mut far = subscriber(other.addr(), "far", "q/#", QoS::AtLeastOnce).await;
    let mut far_publisher = RawClient::connect(other.addr(), "far-publisher").await;
    await_route(&mut far_publisher, "p/probe", &mut [&mut remote]).await;
    await_route(&mut local_publisher, "q/probe", &mut [&mut far]).await;

    in_time(proxy.cut()).await;
    let cut_at = Instant::now();
    assert_local_traffic(&mut local_publisher, &mut local, "l/1").await;
    sleep_until(cut_at + OUTAGE).await;
    assert_local_traffic(&mut local_publisher, &mut local, "l/2").await;

    proxy.heal();
    let healed = Delivery::new("p/1", "healed", QoS::AtLeastOnce);
    assert_routed(&mut far_publisher, &mut remote, "p/probe", healed).await;
    let healed = Delivery::new("q/1", "healed", QoS::AtLeastOnce);
    assert_routed(&mut local_publisher, &mut far, "q/probe", healed).await;
}

#[tokio::test]
async fn a_publisher_on_a_node_with_a_store_gets_its_cross_node_acknowledgements() {
    let name = "a_publisher_on_a_node_with_a_store_gets_its_cross_node_acknowledgements";
    let Some(nats) = nats_server_or_skip(name).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let a = Node::start_with_store(&nats.url(), name, "n1", &dir.path().join("n1.db")).await;
    let b = Node::start(&nats.url(), name, "n2").await;
    let mut far = subscriber(b.addr(), "far", "s/#", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(a.addr(), "publisher").await;
    await_route(&mut publisher, "s/probe", &mut [&mut far]).await;
    // Held for the cluster and for the store: released once both have the message.
    let acknowledged = publish_numbered(&mut publisher, "s/1", 3).await;
    assert_eq!(receive_exactly(&mut far, 3).await, acknowledged);
}
