//! Client ids across nodes: a client id connected on two nodes ends with one connection (the
//! newest), and a persistent session moves with its client to another node, with its
//! subscriptions and the messages queued for it while it was away.

use amqtt_core::codec::{Properties, QoS, ReasonCode};
use amqtt_tests::v5::{V5Client, connect_v5};
use amqtt_tests::{RECV_TIMEOUT, RawClient, connect_packet, in_time};

use crate::support::{
    Delivery, QUIET, assert_routed, await_route, connect_persistent, publish_numbered,
    receive_exactly, start_cluster, subscribe,
};

#[tokio::test]
async fn a_connect_on_another_node_takes_over_a_v5_client() {
    let Some((_nats, [a, b])) =
        start_cluster("a_connect_on_another_node_takes_over_a_v5_client").await
    else {
        return;
    };
    let mut first = V5Client::connect(a.addr(), "X", Properties::default()).await;
    let connect = connect_v5("X", Properties::default());
    let (mut second, ack) = in_time(V5Client::connect_with(b.addr(), connect)).await;
    assert_eq!(ack.code, ReasonCode::Success);
    first.expect_disconnect(ReasonCode::SessionTakenOver).await;
    second.expect_silence(QUIET).await;
}

#[tokio::test]
async fn the_newest_connect_of_a_client_id_wins_on_any_node() {
    let Some((_nats, [a, b])) =
        start_cluster("the_newest_connect_of_a_client_id_wins_on_any_node").await
    else {
        return;
    };
    let mut on_a = RawClient::connect(a.addr(), "X").await;
    let mut on_b = in_time(RawClient::connect(b.addr(), "X")).await;
    on_a.expect_closed(RECV_TIMEOUT).await;

    // Back to A: B's connection ends, and the one on A is X's only connection: it gets what
    // is published for X.
    let mut again_on_a = in_time(RawClient::connect(a.addr(), "X")).await;
    on_b.expect_closed(RECV_TIMEOUT).await;
    subscribe(&mut again_on_a, "x/#", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(b.addr(), "publisher").await;
    let only = Delivery::new("x/1", "only", QoS::AtLeastOnce);
    assert_routed(&mut publisher, &mut again_on_a, "x/probe", only).await;
}

#[tokio::test]
async fn a_persistent_session_resumes_on_another_node_with_its_queue() {
    let Some((_nats, [a, b, c])) =
        start_cluster("a_persistent_session_resumes_on_another_node_with_its_queue").await
    else {
        return;
    };
    let (mut x, session_present) = connect_persistent(&a, "X").await;
    assert!(!session_present, "a new cluster has no session for X");
    subscribe(&mut x, "s/#", QoS::AtLeastOnce).await;
    let mut on_c = RawClient::connect(c.addr(), "publisher-c").await;
    await_route(&mut on_c, "s/probe", &mut [&mut x]).await;
    x.disconnect().await;
    let queued = publish_numbered(&mut on_c, "s/1", 5).await;

    let (mut x, session_present) = connect_persistent(&b, "X").await;
    assert!(session_present, "X's session did not follow it to B");
    assert_eq!(receive_exactly(&mut x, queued.len()).await, queued);

    // Its subscription now lives on B: a message published on A reaches it there.
    let mut on_a = RawClient::connect(a.addr(), "publisher-a").await;
    let moved = Delivery::new("s/2", "moved", QoS::AtLeastOnce);
    assert_routed(&mut on_a, &mut x, "s/probe", moved).await;
}

#[tokio::test]
async fn a_clean_connect_on_another_node_discards_the_session() {
    let Some((_nats, [a, b])) =
        start_cluster("a_clean_connect_on_another_node_discards_the_session").await
    else {
        return;
    };
    let (mut persistent, _) = connect_persistent(&a, "X").await;
    subscribe(&mut persistent, "c/#", QoS::AtLeastOnce).await;
    persistent.disconnect().await;

    let (clean, ack) = in_time(RawClient::connect_with(b.addr(), connect_packet("X", true))).await;
    assert_eq!(ack.code, ReasonCode::Success);
    assert!(!ack.session_present, "a clean session resumed X's old one");
    clean.disconnect().await;
    let (_, session_present) = connect_persistent(&a, "X").await;
    assert!(
        !session_present,
        "the clean connect on B left X's session on A"
    );
}
