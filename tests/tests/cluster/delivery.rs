//! Routing across nodes with NATS up: every subscriber on every node gets each message once at
//! the QoS it was granted; only messages another node has a subscriber for cross NATS; retained
//! messages are set and cleared for every node; a shared subscription's messages spread over
//! its members on several nodes; a will reaches other nodes; MQTT 5.0 properties cross; the
//! nodes count what crosses.

use std::net::SocketAddr;

use amqtt_core::codec::{Connect, Packet, Properties, QoS, ReasonCode, SubscriptionOptions};
use amqtt_tests::nats::NatsServer;
use amqtt_tests::v5::{V5Client, publish_v5, subscription_ids};
use amqtt_tests::{RECV_TIMEOUT, RawClient, connect_packet, in_time, will};
use tokio::time::Instant;

use crate::support::{
    Delivery, Node, QUIET, ROUTE_WITHIN, await_route, publish_numbered, receive_exactly,
    receive_until, start_cluster, subscriber,
};

/// Every QoS, in increasing order.
const QOS_ALL: [QoS; 3] = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];

#[tokio::test]
async fn every_subscriber_on_every_node_gets_each_message_once_at_its_qos() {
    let Some((_nats, nodes)) =
        start_cluster::<3>("every_subscriber_on_every_node_gets_each_message_once_at_its_qos")
            .await
    else {
        return;
    };
    // Subscriber i on node i at QoS i; the publisher shares node 0 with the QoS 0 subscriber.
    let mut subscribers = Vec::new();
    for (node, qos) in nodes.iter().zip(QOS_ALL) {
        let id = format!("sub-{}", qos as u8);
        subscribers.push(subscriber(node.addr(), &id, "t/#", qos).await);
    }
    let mut publisher = RawClient::connect(nodes[0].addr(), "publisher").await;
    await_route(
        &mut publisher,
        "t/probe",
        &mut subscribers.iter_mut().collect::<Vec<_>>(),
    )
    .await;

    let mut published = Vec::new();
    for i in 0..5 {
        for qos in QOS_ALL {
            let sent = Delivery::new(&format!("t/{}", qos as u8), &format!("m{i}"), qos);
            publisher
                .publish(&sent.topic, &sent.payload, qos, false)
                .await;
            published.push(sent);
        }
    }

    for (subscriber, granted) in subscribers.iter_mut().zip(QOS_ALL) {
        let received = receive_exactly(subscriber, published.len()).await;
        // In order per publisher and QoS; QoS classes may overtake each other across nodes.
        for qos in QOS_ALL {
            let expected: Vec<Delivery> = published
                .iter()
                .filter(|sent| sent.qos == qos)
                .map(|sent| Delivery::new(&sent.topic, &sent.payload, qos.min(granted)))
                .collect();
            let got: Vec<Delivery> = received
                .iter()
                .filter(|d| d.topic == expected[0].topic)
                .cloned()
                .collect();
            assert_eq!(got, expected, "granted {granted:?}, published at {qos:?}");
        }
    }
}

/// The `in_bytes` and `out_bytes` of the NATS server's `/varz`: the message bytes it has
/// received from its clients and sent to them.
async fn nats_traffic(nats: &NatsServer) -> (u64, u64) {
    let url = format!("{}/varz", nats.monitoring_url());
    let varz: serde_json::Value = in_time(async { reqwest::get(&url).await?.json().await })
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let field = |name: &str| {
        varz[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no {name} in {varz}"))
    };
    (field("in_bytes"), field("out_bytes"))
}

#[tokio::test]
async fn only_messages_another_node_subscribes_to_cross_nats() {
    let Some((nats, [a, b])) =
        start_cluster("only_messages_another_node_subscribes_to_cross_nats").await
    else {
        return;
    };
    let mut remote = subscriber(a.addr(), "remote", "a/#", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(b.addr(), "publisher").await;
    await_route(&mut publisher, "a/probe", &mut [&mut remote]).await;
    const BIG: usize = 64 * 1024;
    const COUNT: usize = 10;
    let payload = "x".repeat(BIG);
    let volume = (BIG * COUNT) as u64;

    // Nobody subscribes to `b/x`: it must stay on node 1.
    let (in_before, out_before) = nats_traffic(&nats).await;
    for i in 0..COUNT {
        let qos = QOS_ALL[i % 2];
        publisher.publish("b/x", &payload, qos, false).await;
    }
    publisher
        .publish("a/x", "after", QoS::AtMostOnce, false)
        .await;
    let received = receive_exactly(&mut remote, 1).await;
    assert_eq!(received, [Delivery::new("a/x", "after", QoS::AtMostOnce)]);
    let (in_after, out_after) = nats_traffic(&nats).await;
    assert!(
        in_after - in_before < volume / 2 && out_after - out_before < volume / 2,
        "{volume} bytes for nobody crossed NATS: in {} out {}",
        in_after - in_before,
        out_after - out_before
    );

    // The same volume that node 0 wants does cross: the measure sees it.
    for i in 0..COUNT {
        let qos = QOS_ALL[i % 2];
        publisher.publish("a/big", &payload, qos, false).await;
    }
    assert_eq!(receive_exactly(&mut remote, COUNT).await.len(), COUNT);
    let (in_wanted, _) = nats_traffic(&nats).await;
    assert!(
        in_wanted - in_after >= volume,
        "only {} of {volume} bytes crossed NATS",
        in_wanted - in_after
    );
}

/// The retained messages a new subscriber to `filter` on `addr` gets: subscribes a fresh
/// client at QoS 0 and takes what comes until [`QUIET`].
async fn retained_for_new_subscriber(addr: SocketAddr, filter: &str) -> Vec<Delivery> {
    let mut reader = subscriber(addr, "retained-reader", filter, QoS::AtMostOnce).await;
    let mut received = Vec::new();
    while let Some(packet) = reader.recv_within(QUIET).await {
        match packet {
            Packet::Publish(p) => received.push(Delivery {
                retain: p.retain,
                ..Delivery::new(&p.topic, &String::from_utf8_lossy(&p.payload), p.qos)
            }),
            other => panic!("expected a retained PUBLISH, got {other:?}"),
        }
    }
    reader.disconnect().await;
    received
}

/// Subscribes new clients to `filter` on `addr` until the retained messages they get satisfy
/// `seen` (a retained message set on another node reaches this one asynchronously); returns
/// those messages. Fails the test after [`ROUTE_WITHIN`].
async fn await_retained(
    addr: SocketAddr,
    filter: &str,
    seen: impl Fn(&[Delivery]) -> bool,
) -> Vec<Delivery> {
    let deadline = Instant::now() + ROUTE_WITHIN;
    loop {
        let retained = retained_for_new_subscriber(addr, filter).await;
        if seen(&retained) {
            return retained;
        }
        assert!(
            Instant::now() < deadline,
            "retained for `{filter}` on {addr} still {retained:?} after {ROUTE_WITHIN:?}"
        );
    }
}

/// `topic`/`payload` as a new QoS 0 subscriber gets it retained.
fn retained(topic: &str, payload: &str) -> Delivery {
    Delivery {
        retain: true,
        ..Delivery::new(topic, payload, QoS::AtMostOnce)
    }
}

#[tokio::test]
async fn a_retained_message_is_set_and_cleared_for_every_node() {
    let Some((_nats, nodes)) =
        start_cluster::<3>("a_retained_message_is_set_and_cleared_for_every_node").await
    else {
        return;
    };
    let mut on_a = RawClient::connect(nodes[0].addr(), "retainer-a").await;
    on_a.publish("r/1", "kept", QoS::AtLeastOnce, true).await;
    for node in &nodes {
        let got = await_retained(node.addr(), "r/#", |r| !r.is_empty()).await;
        assert_eq!(got, [retained("r/1", "kept")], "on {}", node.id);
    }

    // Cleared on B, then a marker retained after it: once a node has the marker, it must have
    // applied the clear, which B made first.
    let mut on_b = RawClient::connect(nodes[1].addr(), "retainer-b").await;
    on_b.publish("r/1", "", QoS::AtLeastOnce, true).await;
    on_b.publish("r/marker", "after", QoS::AtLeastOnce, true)
        .await;
    let marker = retained("r/marker", "after");
    for node in &nodes {
        let got = await_retained(node.addr(), "r/#", |r| r.contains(&marker)).await;
        assert_eq!(got, std::slice::from_ref(&marker), "on {}", node.id);
    }
}

#[tokio::test]
async fn a_shared_subscription_spreads_over_members_on_several_nodes() {
    let Some((_nats, [a, b, c])) =
        start_cluster("a_shared_subscription_spreads_over_members_on_several_nodes").await
    else {
        return;
    };
    let filter = "$share/g/w/#";
    let mut members = [
        subscriber(a.addr(), "member-a", filter, QoS::AtLeastOnce).await,
        subscriber(b.addr(), "member-b", filter, QoS::AtLeastOnce).await,
    ];
    let mut publisher = RawClient::connect(c.addr(), "publisher").await;
    // Each probe goes to one member only, so no fence: every member's probes are left out below.
    let deadline = Instant::now() + ROUTE_WITHIN;
    let mut reached = [false; 2];
    while reached != [true; 2] {
        assert!(Instant::now() < deadline, "probes reached only {reached:?}");
        publisher
            .publish("w/probe", "probe", QoS::AtMostOnce, false)
            .await;
        for (member, reached) in members.iter_mut().zip(&mut reached) {
            *reached |= !receive_until(member, |_| true).await.is_empty();
        }
    }

    let published = publish_numbered(&mut publisher, "w/1", 20).await;
    let deadline = Instant::now() + RECV_TIMEOUT;
    let mut received = [Vec::new(), Vec::new()];
    while received.iter().map(Vec::len).sum::<usize>() < published.len() {
        assert!(Instant::now() < deadline, "only {received:?} came");
        for (member, received) in members.iter_mut().zip(&mut received) {
            let messages = receive_until(member, |_| true).await;
            received.extend(messages.into_iter().filter(|m| m.topic != "w/probe"));
        }
    }
    assert!(
        received.iter().all(|r| !r.is_empty()),
        "one member got them all: {received:?}"
    );
    let mut all: Vec<Delivery> = received.concat();
    all.sort_by(|x, y| x.payload.cmp(&y.payload));
    let mut expected = published;
    expected.sort_by(|x, y| x.payload.cmp(&y.payload));
    assert_eq!(all, expected, "each message once, to one member");
}

#[tokio::test]
async fn a_will_reaches_subscribers_on_other_nodes() {
    let Some((_nats, [a, b])) = start_cluster("a_will_reaches_subscribers_on_other_nodes").await
    else {
        return;
    };
    let mut far = subscriber(b.addr(), "far", "will/#", QoS::AtLeastOnce).await;
    let mut probe = RawClient::connect(a.addr(), "prober").await;
    await_route(&mut probe, "will/probe", &mut [&mut far]).await;
    let connect = Connect {
        will: Some(will("will/dying", "gone", QoS::AtLeastOnce, false)),
        ..connect_packet("dying", true)
    };
    let (dying, ack) = RawClient::connect_with(a.addr(), connect).await;
    assert_eq!(ack.code, ReasonCode::Success);
    dying.reset();
    let received = receive_exactly(&mut far, 1).await;
    assert_eq!(
        received,
        [Delivery::new("will/dying", "gone", QoS::AtLeastOnce)]
    );
}

/// The value of the `$SYS` counter `topic` (published every second) once `done` holds for it,
/// read by `client`, subscribed to it.
async fn sys_counter_until(client: &mut RawClient, topic: &str, done: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + ROUTE_WITHIN;
    loop {
        assert!(
            Instant::now() < deadline,
            "`{topic}` never reached the value expected"
        );
        if let Some(Packet::Publish(p)) = client.recv_within(RECV_TIMEOUT).await
            && p.topic == topic
        {
            let value = std::str::from_utf8(&p.payload)
                .ok()
                .and_then(|v| v.parse().ok())
                .expect("a count");
            if done(value) {
                return value;
            }
        }
    }
}

#[tokio::test]
async fn the_nodes_count_the_messages_that_cross() {
    let name = "the_nodes_count_the_messages_that_cross";
    let Some(nats) = amqtt_tests::nats::nats_server_or_skip(name).await else {
        return;
    };
    let sys = "  amqtt.plugins.sys.broker.BrokerSysPlugin:\n    sys_interval: 1\n";
    let a = Node::start_with(&nats.url(), name, "n1", sys).await;
    let b = Node::start_with(&nats.url(), name, "n2", sys).await;
    let mut sub = subscriber(b.addr(), "sub", "t/#", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(a.addr(), "publisher").await;
    await_route(&mut publisher, "t/probe", &mut [&mut sub]).await;
    publish_numbered(&mut publisher, "t/n", 5).await;
    receive_exactly(&mut sub, 5).await;

    // Everything A's clients published went to B, the only node with a subscriber.
    let (sent, received) = (
        "$SYS/broker/cluster/messages/sent",
        "$SYS/broker/cluster/messages/received",
    );
    let mut on_a = RawClient::connect(a.addr(), "sys-a").await;
    on_a.subscribe(1, &[(sent, QoS::AtMostOnce)]).await;
    let mut on_b = RawClient::connect(b.addr(), "sys-b").await;
    on_b.subscribe(1, &[(received, QoS::AtMostOnce)]).await;
    let sent_by_a = sys_counter_until(&mut on_a, sent, |n| n >= 6).await;
    let received_by_b = sys_counter_until(&mut on_b, received, |n| n >= sent_by_a).await;
    assert_eq!(
        received_by_b, sent_by_a,
        "B received what A sent: probes, fence and 5"
    );
}

#[tokio::test]
async fn mqtt5_properties_cross_nodes_and_subscription_ids_are_the_receiving_nodes() {
    let Some((_nats, [a, b])) = start_cluster::<2>(
        "mqtt5_properties_cross_nodes_and_subscription_ids_are_the_receiving_nodes",
    )
    .await
    else {
        return;
    };
    let mut sub = V5Client::connect(b.addr(), "v5-sub", Properties::default()).await;
    let options = SubscriptionOptions::from(QoS::AtLeastOnce);
    sub.subscribe_with(1, "p/#", options, Some(9)).await;
    let mut publisher = V5Client::connect(a.addr(), "v5-pub", Properties::default()).await;
    // Probes until the subscription is known on A.
    let deadline = Instant::now() + ROUTE_WITHIN;
    loop {
        assert!(Instant::now() < deadline, "no route from A to B");
        let probe = publish_v5(
            "p/probe",
            "probe",
            QoS::AtMostOnce,
            None,
            Properties::default(),
        );
        publisher.send(Packet::Publish(probe)).await;
        if sub.recv_within(QUIET).await.is_some() {
            break;
        }
    }
    while sub.recv_within(QUIET).await.is_some() {}

    let properties = Properties {
        content_type: Some("text/plain".into()),
        user_properties: vec![("k".into(), "v".into())],
        ..Properties::default()
    };
    let message = publish_v5("p/1", "hello", QoS::AtLeastOnce, Some(1), properties);
    publisher.publish_acked(message).await;
    let received = sub.recv_publish().await;
    assert_eq!(
        (&*received.topic, &received.payload[..]),
        ("p/1", &b"hello"[..])
    );
    let got = received.properties.as_deref().expect("properties crossed");
    assert_eq!(got.content_type.as_deref(), Some("text/plain"));
    assert_eq!(got.user_properties, [("k".into(), "v".into())]);
    assert_eq!(subscription_ids(&received), [9]);
}
