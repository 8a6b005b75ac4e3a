//! The full session walk: every event of start, connect, subscribe, publish at each QoS,
//! retained and queued messages, unsubscribe, disconnect and shutdown, in order.

use amqtt_core::codec::{QoS, SubAckCode};
use amqtt_tests::{RECV_TIMEOUT, TestBroker};

use crate::checker::{Flow, connect};
use crate::recorder::Recorder;

#[tokio::test]
async fn every_event_fires_once_in_order_with_its_arguments() {
    let broker = TestBroker::<Recorder>::start_with_plugins("plugins:\n  recorder:\n").await;
    let handle = broker.handle.clone();
    let mut flow = Flow {
        recorder: handle.plugins(),
        seen: 0,
    };
    flow.step("start", &["pre_start", "post_start"]).await;

    // Connect: the CONNECT is seen without a session, then authentication, then the CONNACK is
    // queued and client_connected fires.
    let mut c1 = connect(&broker, "c1", true, Some("alice"), false).await;
    flow.step(
        "connect c1",
        &[
            "packet_received CONNECT none",
            "authenticate c1 user=alice",
            "packet_sent CONNACK c1",
            "client_connected c1",
        ],
    )
    .await;
    let mut c2 = connect(&broker, "c2", true, None, false).await;
    flow.step(
        "connect c2",
        &[
            "packet_received CONNECT none",
            "authenticate c2 user=none",
            "packet_sent CONNACK c2",
            "client_connected c2",
        ],
    )
    .await;
    let mut c3 = connect(&broker, "c3", true, None, false).await;
    flow.step(
        "connect c3",
        &[
            "packet_received CONNECT none",
            "authenticate c3 user=none",
            "packet_sent CONNACK c3",
            "client_connected c3",
        ],
    )
    .await;

    // Subscribe: each filter is checked, the SUBACK is queued, then client_subscribed fires per
    // granted filter with its QoS.
    let ack = c2.subscribe(1, &[("t/a", QoS::ExactlyOnce)]).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(QoS::ExactlyOnce)]);
    flow.step(
        "c2 subscribes",
        &[
            "packet_received SUBSCRIBE c2",
            "topic_filtering c2 t/a Subscribe",
            "packet_sent SUBACK c2",
            "client_subscribed c2 t/a qos2",
        ],
    )
    .await;
    let ack = c3
        .subscribe(1, &[("t/#", QoS::AtLeastOnce), ("u/+", QoS::AtMostOnce)])
        .await;
    assert_eq!(
        ack.codes,
        vec![
            SubAckCode::Success(QoS::AtLeastOnce),
            SubAckCode::Success(QoS::AtMostOnce)
        ]
    );
    flow.step(
        "c3 subscribes to two filters",
        &[
            "packet_received SUBSCRIBE c3",
            "topic_filtering c3 t/# Subscribe",
            "topic_filtering c3 u/+ Subscribe",
            "packet_sent SUBACK c3",
            "client_subscribed c3 t/# qos1",
            "client_subscribed c3 u/+ qos0",
        ],
    )
    .await;

    // QoS 0: received, publish check, broadcast, one Receive check per subscriber, delivery.
    c1.publish("t/a", "m0", QoS::AtMostOnce, false).await;
    c2.expect_publish("t/a", "m0", QoS::AtMostOnce, false).await;
    c3.expect_publish("t/a", "m0", QoS::AtMostOnce, false).await;
    flow.step(
        "c1 publishes at QoS 0",
        &[
            "packet_received PUBLISH c1",
            "message_received c1 t/a qos0 m0",
            "topic_filtering c1 t/a Publish",
            "message_broadcast c1 t/a qos0 m0",
            "topic_filtering c2 t/a Receive",
            "packet_sent PUBLISH c2",
            "topic_filtering c3 t/a Receive",
            "packet_sent PUBLISH c3",
        ],
    )
    .await;

    // QoS 1: as QoS 0, then the PUBACK to the publisher; each subscriber's PUBACK is seen.
    c1.publish("t/a", "m1", QoS::AtLeastOnce, false).await;
    let id2 = c2
        .expect_publish("t/a", "m1", QoS::AtLeastOnce, false)
        .await;
    let id3 = c3
        .expect_publish("t/a", "m1", QoS::AtLeastOnce, false)
        .await;
    flow.step(
        "c1 publishes at QoS 1",
        &[
            "packet_received PUBLISH c1",
            "message_received c1 t/a qos1 m1",
            "topic_filtering c1 t/a Publish",
            "message_broadcast c1 t/a qos1 m1",
            "topic_filtering c2 t/a Receive",
            "packet_sent PUBLISH c2",
            "topic_filtering c3 t/a Receive",
            "packet_sent PUBLISH c3",
            "packet_sent PUBACK c1",
        ],
    )
    .await;
    c2.ack(QoS::AtLeastOnce, id2).await;
    flow.step("c2 acknowledges", &["packet_received PUBACK c2"])
        .await;
    c3.ack(QoS::AtLeastOnce, id3).await;
    flow.step("c3 acknowledges", &["packet_received PUBACK c3"])
        .await;

    // QoS 2: routed when the PUBLISH arrives; PUBREC, PUBREL, PUBCOMP follow.
    c1.publish("t/a", "m2", QoS::ExactlyOnce, false).await;
    let id2 = c2
        .expect_publish("t/a", "m2", QoS::ExactlyOnce, false)
        .await;
    let id3 = c3
        .expect_publish("t/a", "m2", QoS::AtLeastOnce, false)
        .await;
    flow.step(
        "c1 publishes at QoS 2",
        &[
            "packet_received PUBLISH c1",
            "message_received c1 t/a qos2 m2",
            "topic_filtering c1 t/a Publish",
            "message_broadcast c1 t/a qos2 m2",
            "topic_filtering c2 t/a Receive",
            "packet_sent PUBLISH c2",
            "topic_filtering c3 t/a Receive",
            "packet_sent PUBLISH c3",
            "packet_sent PUBREC c1",
            "packet_received PUBREL c1",
            "packet_sent PUBCOMP c1",
        ],
    )
    .await;
    c2.ack(QoS::ExactlyOnce, id2).await;
    flow.step(
        "c2 completes QoS 2",
        &[
            "packet_received PUBREC c2",
            "packet_sent PUBREL c2",
            "packet_received PUBCOMP c2",
        ],
    )
    .await;
    c3.ack(QoS::AtLeastOnce, id3).await;
    flow.step("c3 acknowledges", &["packet_received PUBACK c3"])
        .await;

    // A retained message: stored (retained_message, with the publisher's id) before delivery.
    c1.publish("t/r", "r1", QoS::AtLeastOnce, true).await;
    let id3 = c3
        .expect_publish("t/r", "r1", QoS::AtLeastOnce, false)
        .await;
    flow.step(
        "c1 publishes a retained message",
        &[
            "packet_received PUBLISH c1",
            "message_received c1 t/r qos1 retain r1",
            "topic_filtering c1 t/r Publish",
            "message_broadcast c1 t/r qos1 retain r1",
            "retained_message c1 t/r qos1 retain r1",
            "topic_filtering c3 t/r Receive",
            "packet_sent PUBLISH c3",
            "packet_sent PUBACK c1",
        ],
    )
    .await;
    assert_eq!(handle.retained_count(), 1);
    c3.ack(QoS::AtLeastOnce, id3).await;
    flow.step("c3 acknowledges", &["packet_received PUBACK c3"])
        .await;
    // Clearing it (empty payload) fires retained_message too.
    c1.publish("t/r", "", QoS::AtLeastOnce, true).await;
    let id3 = c3.expect_publish("t/r", "", QoS::AtLeastOnce, false).await;
    flow.step(
        "c1 clears the retained message",
        &[
            "packet_received PUBLISH c1",
            "message_received c1 t/r qos1 retain <empty>",
            "topic_filtering c1 t/r Publish",
            "message_broadcast c1 t/r qos1 retain <empty>",
            "retained_message c1 t/r qos1 retain <empty>",
            "topic_filtering c3 t/r Receive",
            "packet_sent PUBLISH c3",
            "packet_sent PUBACK c1",
        ],
    )
    .await;
    assert_eq!(handle.retained_count(), 0);
    c3.ack(QoS::AtLeastOnce, id3).await;
    flow.step("c3 acknowledges", &["packet_received PUBACK c3"])
        .await;

    // Unsubscribe: the UNSUBACK is queued, then client_unsubscribed fires per filter.
    c2.unsubscribe(2, &["t/a"]).await;
    flow.step(
        "c2 unsubscribes",
        &[
            "packet_received UNSUBSCRIBE c2",
            "packet_sent UNSUBACK c2",
            "client_unsubscribed c2 t/a",
        ],
    )
    .await;
    c3.unsubscribe(2, &["t/#", "u/+"]).await;
    flow.step(
        "c3 unsubscribes from two filters",
        &[
            "packet_received UNSUBSCRIBE c3",
            "packet_sent UNSUBACK c3",
            "client_unsubscribed c3 t/#",
            "client_unsubscribed c3 u/+",
        ],
    )
    .await;

    // A persistent session subscribes and goes offline.
    let mut p1 = connect(&broker, "p1", false, None, false).await;
    flow.step(
        "connect p1 (persistent)",
        &[
            "packet_received CONNECT none",
            "authenticate p1 user=none",
            "packet_sent CONNACK p1",
            "client_connected p1",
        ],
    )
    .await;
    let ack = p1.subscribe(1, &[("t/a", QoS::AtLeastOnce)]).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(QoS::AtLeastOnce)]);
    flow.step(
        "p1 subscribes",
        &[
            "packet_received SUBSCRIBE p1",
            "topic_filtering p1 t/a Subscribe",
            "packet_sent SUBACK p1",
            "client_subscribed p1 t/a qos1",
        ],
    )
    .await;
    p1.disconnect().await;
    flow.step(
        "p1 disconnects",
        &["packet_received DISCONNECT p1", "client_disconnected p1"],
    )
    .await;

    // A QoS 1 message queued for the offline session: retained_message with p1's id.
    c1.publish("t/a", "q1", QoS::AtLeastOnce, false).await;
    flow.step(
        "c1 publishes to the offline session",
        &[
            "packet_received PUBLISH c1",
            "message_received c1 t/a qos1 q1",
            "topic_filtering c1 t/a Publish",
            "message_broadcast c1 t/a qos1 q1",
            "topic_filtering p1 t/a Receive",
            "retained_message p1 t/a qos1 q1",
            "packet_sent PUBACK c1",
        ],
    )
    .await;

    // p1 returns: CONNACK, then the queued message, then client_connected.
    let mut p1 = connect(&broker, "p1", false, None, true).await;
    let id = p1
        .expect_publish("t/a", "q1", QoS::AtLeastOnce, false)
        .await;
    flow.step(
        "p1 resumes its session",
        &[
            "packet_received CONNECT none",
            "authenticate p1 user=none",
            "packet_sent CONNACK p1",
            "packet_sent PUBLISH p1",
            "client_connected p1",
        ],
    )
    .await;
    p1.ack(QoS::AtLeastOnce, id).await;
    flow.step("p1 acknowledges", &["packet_received PUBACK p1"])
        .await;

    // Disconnect.
    for (client, id) in [(p1, "p1"), (c1, "c1"), (c2, "c2")] {
        client.disconnect().await;
        let received = "packet_received DISCONNECT ".to_owned() + id;
        let disconnected = "client_disconnected ".to_owned() + id;
        flow.step(
            &format!("{id} disconnects"),
            &[received.as_str(), disconnected.as_str()],
        )
        .await;
    }

    // Shutdown with c3 still connected: its connection ends between pre and post shutdown, and
    // close is the very last call.
    broker.stop().await;
    flow.step(
        "shutdown",
        &[
            "pre_shutdown",
            "client_disconnected c3",
            "post_shutdown",
            "close",
        ],
    )
    .await;
    c3.expect_closed(RECV_TIMEOUT).await;
    flow.finish().await;
}
