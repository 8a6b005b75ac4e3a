//! Leases: a node silent for longer than its lease is taken for gone; another node continues
//! its persistent sessions (with what was on its way to it) and publishers stop sending to it;
//! a node that was only cut off finds itself gone when it is back, closes its connections and
//! its clients find their sessions where they went.

use std::time::Duration;

use amqtt_core::codec::QoS;
use amqtt_tests::nats::{CutProxy, NatsServer, nats_server_or_skip};
use amqtt_tests::{RawClient, in_time};
use tokio::time::Instant;

use crate::jetstream_request;
use crate::support::{
    Delivery, Node, ROUTE_WITHIN, assert_none_lost, await_route, connect_persistent,
    publish_numbered, receive_until, routed_persistent_subscriber, subscriber,
};

/// The lease of the nodes here: short, so the tests are; long enough that a node of a busy
/// machine still renews it (five times a lease).
const LEASE: Duration = Duration::from_secs(2);

/// What a node logs once it has continued a gone node's sessions.
const CONTINUED: &str = "sessions of a gone node continued here";

/// Waits until one of `nodes` logs that it continued a gone node's sessions; returns which.
async fn continuer<'a>(nodes: &[&'a Node]) -> &'a Node {
    let deadline = Instant::now() + LEASE + ROUTE_WITHIN;
    loop {
        if let Some(node) = nodes.iter().find(|node| node.log().contains(CONTINUED)) {
            return node;
        }
        assert!(
            Instant::now() < deadline,
            "no node continued the gone node's sessions"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many messages the stream of node `node` of cluster `cluster` holds.
async fn stream_messages(nats: &NatsServer, cluster: &str, node: &str) -> u64 {
    let subject = format!("$JS.API.STREAM.INFO.AMQTT_{cluster}_Q_{node}");
    let info = jetstream_request(nats, &subject, "").await;
    let count = info
        .split("\"messages\":")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok());
    count.unwrap_or_else(|| panic!("no message count in {info}"))
}

#[tokio::test]
async fn a_node_gone_past_its_lease_has_its_sessions_continued_elsewhere() {
    let name = "a_node_gone_past_its_lease_has_its_sessions_continued_elsewhere";
    let Some(nats) = nats_server_or_skip(name).await else {
        return;
    };
    let a = Node::start_leased(&nats.url(), name, "n1", LEASE).await;
    let b = Node::start_leased(&nats.url(), name, "n2", LEASE).await;
    let c = Node::start_leased(&nats.url(), name, "n3", LEASE).await;
    let (x, mut publisher) = routed_persistent_subscriber(&a, &b).await;
    x.disconnect().await;
    // Queued for X's session on A, then forwarded to A after its death.
    let mut acknowledged = publish_numbered(&mut publisher, "k/1", 2).await;
    a.kill();
    acknowledged.extend(publish_numbered(&mut publisher, "k/2", 2).await);

    let continuing = continuer(&[&b, &c]).await;
    // A subscription made after A's interest was withdrawn: once B routes to it, B has seen
    // the withdrawal too (one bucket, in order).
    let mut y = subscriber(continuing.addr(), "Y", "k/+", QoS::AtMostOnce).await;
    await_route(&mut publisher, "k/probe", &mut [&mut y]).await;
    // Published once X's session lives on another node: sent there, not to A's stream.
    let before = stream_messages(&nats, name, "n1").await;
    acknowledged.extend(publish_numbered(&mut publisher, "k/3", 2).await);
    assert_eq!(stream_messages(&nats, name, "n1").await, before);

    // X connects to the node that did not continue its session: it moves there, whole.
    let other = if continuing.id == b.id { &c } else { &b };
    let (mut x, session_present) = connect_persistent(other, "X").await;
    assert!(session_present, "X's session was not continued");
    let received = receive_until(&mut x, |r| acknowledged.iter().all(|m| r.contains(m))).await;
    assert_none_lost(&received, &acknowledged);
}

#[tokio::test]
async fn a_node_cut_off_past_its_lease_gives_up_its_sessions_when_back() {
    let name = "a_node_cut_off_past_its_lease_gives_up_its_sessions_when_back";
    let Some(nats) = nats_server_or_skip(name).await else {
        return;
    };
    let proxy = CutProxy::start(nats.addr()).await;
    let cut_off = Node::start_leased(&format!("nats://{}", proxy.addr()), name, "n1", LEASE).await;
    let other = Node::start_leased(&nats.url(), name, "n2", LEASE).await;
    let (mut x, mut publisher) = routed_persistent_subscriber(&cut_off, &other).await;

    in_time(proxy.cut()).await;
    continuer(&[&other]).await;
    // X's session now lives on the other node: what is published for it waits there.
    let during = publish_numbered(&mut publisher, "k/during", 2).await;

    proxy.heal();
    // Back, the node finds it was taken for gone and closes X's connection.
    x.expect_closed(ROUTE_WITHIN + LEASE).await;
    let (mut x, session_present) = connect_persistent(&cut_off, "X").await;
    assert!(
        session_present,
        "X's session did not come back from the other node"
    );
    let received = receive_until(&mut x, |r| during.iter().all(|m| r.contains(m))).await;
    assert_none_lost(&received, &during);

    // The node is a member again: traffic crosses both ways.
    let mut probe = RawClient::connect(other.addr(), "probe").await;
    await_route(&mut probe, "k/probe", &mut [&mut x]).await;
    let after = Delivery::new("k/after", "after", QoS::AtLeastOnce);
    publisher
        .publish(&after.topic, &after.payload, after.qos, false)
        .await;
    let received = receive_until(&mut x, |r| r.contains(&after)).await;
    assert_none_lost(&received, &[after]);
}
