//! End-to-end tests of SUBSCRIBE and UNSUBSCRIBE: wildcard matching by the spec (including `$`
//! topics), per-filter SUBACK codes, replacing a subscription, overlapping subscriptions, and
//! unsubscribing.

use std::time::Duration;

use amqtt_core::codec::{QoS, SubAckCode};
use amqtt_tests::{RawClient, TestBroker};

const SILENCE: Duration = Duration::from_millis(400);

/// A client subscribed to `filter` at `qos`.
async fn subscriber(broker: &TestBroker, client_id: &str, filter: &str, qos: QoS) -> RawClient {
    let mut client = RawClient::connect(broker.addr, client_id).await;
    let ack = client.subscribe(1, &[(filter, qos)]).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(qos)]);
    client
}

/// Publishes each topic (QoS 1, payload = topic) in order from one connection.
async fn publish_all(publisher: &mut RawClient, topics: &[&str]) {
    for topic in topics {
        publisher
            .publish(topic, topic, QoS::AtLeastOnce, false)
            .await;
    }
}

/// Asserts `client` (subscribed at QoS 0) receives exactly `topics`, in order, and nothing else.
async fn expect_topics(client: &mut RawClient, topics: &[&str]) {
    for topic in topics {
        client
            .expect_publish(topic, topic, QoS::AtMostOnce, false)
            .await;
    }
    client.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn plus_matches_exactly_one_level() {
    let broker = TestBroker::start("").await;
    let mut middle = subscriber(&broker, "middle", "a/+/c", QoS::AtMostOnce).await;
    let mut single = subscriber(&broker, "single", "+", QoS::AtMostOnce).await;
    let mut two = subscriber(&broker, "two", "+/+", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    publish_all(
        &mut publisher,
        &[
            "a/b/c", "a/c", "a/b/d/c", "a/b/c/d", "a//c", "x/b/c", "a", "/",
        ],
    )
    .await;

    // [MQTT-4.7.1-3]: `+` is one whole level, which may be empty.
    expect_topics(&mut middle, &["a/b/c", "a//c"]).await;
    expect_topics(&mut single, &["a"]).await;
    expect_topics(&mut two, &["a/c", "/"]).await;
}

#[tokio::test]
async fn hash_matches_the_parent_and_every_descendant() {
    let broker = TestBroker::start("").await;
    let mut under_a = subscriber(&broker, "under_a", "a/#", QoS::AtMostOnce).await;
    let mut all = subscriber(&broker, "all", "#", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    publish_all(
        &mut publisher,
        &["a", "a/b", "a/b/c", "a/", "ab", "b/a", "/"],
    )
    .await;

    // [MQTT-4.7.1-2]: `a/#` also matches `a` itself.
    expect_topics(&mut under_a, &["a", "a/b", "a/b/c", "a/"]).await;
    expect_topics(&mut all, &["a", "a/b", "a/b/c", "a/", "ab", "b/a", "/"]).await;
}

#[tokio::test]
async fn leading_wildcards_do_not_match_dollar_topics() {
    let broker = TestBroker::start("").await;
    let mut all = subscriber(&broker, "all", "#", QoS::AtMostOnce).await;
    let mut plus = subscriber(&broker, "plus", "+/x", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    // [MQTT-4.7.2-1]: `#` and `+/x` do not match `$SYS/x`. (Whether `$SYS/#` matches it cannot be
    // observed here: this broker drops client publishes to `$` topics, as 4.7.2 recommends.)
    publish_all(&mut publisher, &["$SYS/x", "a/x"]).await;

    expect_topics(&mut all, &["a/x"]).await;
    expect_topics(&mut plus, &["a/x"]).await;
}

#[tokio::test]
async fn invalid_filter_fails_only_its_own_slot() {
    let broker = TestBroker::start("").await;
    let mut client = RawClient::connect(broker.addr, "sub").await;
    let ack = client
        .subscribe(
            9,
            &[
                ("a/b", QoS::AtLeastOnce),
                ("a/#/b", QoS::AtMostOnce),
                ("c/+", QoS::ExactlyOnce),
                ("d+", QoS::AtLeastOnce),
                ("#/x", QoS::AtMostOnce),
            ],
        )
        .await;
    // One return code per filter, in order; 0x80 for the invalid ones [MQTT-3.8.4-4], [MQTT-3.9.3-1].
    assert_eq!(
        ack.codes,
        vec![
            SubAckCode::Success(QoS::AtLeastOnce),
            SubAckCode::FAILURE,
            SubAckCode::Success(QoS::ExactlyOnce),
            SubAckCode::FAILURE,
            SubAckCode::FAILURE,
        ]
    );

    // The valid filters are in place.
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publisher
        .publish("a/b", "ab", QoS::ExactlyOnce, false)
        .await;
    client
        .expect_publish_and_ack("a/b", "ab", QoS::AtLeastOnce, false)
        .await;
    publisher
        .publish("c/x", "cx", QoS::ExactlyOnce, false)
        .await;
    client
        .expect_publish_and_ack("c/x", "cx", QoS::ExactlyOnce, false)
        .await;
    client.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn subscribing_again_replaces_the_granted_qos() {
    let broker = TestBroker::start("").await;
    let mut client = subscriber(&broker, "sub", "t", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    // [MQTT-3.8.4-3]: the same filter again replaces the subscription (it is not added twice).
    for (id, granted) in [
        (2, QoS::ExactlyOnce),
        (3, QoS::AtMostOnce),
        (4, QoS::AtLeastOnce),
    ] {
        let ack = client.subscribe(id, &[("t", granted)]).await;
        assert_eq!(ack.codes, vec![SubAckCode::Success(granted)]);
        let payload = format!("granted {granted:?}");
        publisher
            .publish("t", &payload, QoS::ExactlyOnce, false)
            .await;
        client
            .expect_publish_and_ack("t", &payload, granted, false)
            .await;
        client.expect_silence(SILENCE).await;
    }
}

#[tokio::test]
async fn same_filter_twice_in_one_subscribe_keeps_the_last() {
    let broker = TestBroker::start("").await;
    let mut client = RawClient::connect(broker.addr, "sub").await;
    let ack = client
        .subscribe(1, &[("t", QoS::AtMostOnce), ("t", QoS::ExactlyOnce)])
        .await;
    assert_eq!(
        ack.codes,
        vec![
            SubAckCode::Success(QoS::AtMostOnce),
            SubAckCode::Success(QoS::ExactlyOnce)
        ]
    );
    // Handled as two SUBSCRIBEs in turn [MQTT-3.8.4-5]: the second replaces the first.
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publisher.publish("t", "m", QoS::ExactlyOnce, false).await;
    client
        .expect_publish_and_ack("t", "m", QoS::ExactlyOnce, false)
        .await;
    client.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_once_at_the_highest_qos() {
    let broker = TestBroker::start("").await;
    let mut client = RawClient::connect(broker.addr, "sub").await;
    let ack = client
        .subscribe(1, &[("a/#", QoS::AtLeastOnce), ("a/+", QoS::ExactlyOnce)])
        .await;
    assert_eq!(
        ack.codes,
        vec![
            SubAckCode::Success(QoS::AtLeastOnce),
            SubAckCode::Success(QoS::ExactlyOnce)
        ]
    );
    // The same overlap the other way round: the wider filter has the higher QoS.
    let mut reverse = RawClient::connect(broker.addr, "reverse").await;
    reverse
        .subscribe(1, &[("a/#", QoS::ExactlyOnce), ("a/+", QoS::AtMostOnce)])
        .await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;

    // [MQTT-3.3.5-1]: once, at the highest QoS of the matching subscriptions.
    publisher
        .publish("a/b", "both", QoS::ExactlyOnce, false)
        .await;
    client
        .expect_publish_and_ack("a/b", "both", QoS::ExactlyOnce, false)
        .await;
    client.expect_silence(SILENCE).await;
    reverse
        .expect_publish_and_ack("a/b", "both", QoS::ExactlyOnce, false)
        .await;
    reverse.expect_silence(SILENCE).await;

    // Only `a/#` matches `a`.
    publisher.publish("a", "one", QoS::ExactlyOnce, false).await;
    client
        .expect_publish_and_ack("a", "one", QoS::AtLeastOnce, false)
        .await;
    client.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let broker = TestBroker::start("").await;
    let mut client = RawClient::connect(broker.addr, "sub").await;
    client
        .subscribe(
            1,
            &[
                ("a", QoS::AtMostOnce),
                ("b", QoS::AtMostOnce),
                ("c/+", QoS::AtMostOnce),
            ],
        )
        .await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publish_all(&mut publisher, &["a", "b", "c/d"]).await;
    expect_topics(&mut client, &["a", "b", "c/d"]).await;

    // [MQTT-3.10.4-2], [MQTT-3.10.4-4].
    client.unsubscribe(2, &["a", "c/+"]).await;
    publish_all(&mut publisher, &["a", "b", "c/d"]).await;
    expect_topics(&mut client, &["b"]).await;
}

#[tokio::test]
async fn unsubscribing_a_filter_never_subscribed_still_gets_unsuback() {
    let broker = TestBroker::start("").await;
    let mut client = subscriber(&broker, "sub", "a/b", QoS::AtMostOnce).await;

    // [MQTT-3.10.4-5]: UNSUBACK even when nothing was removed (the helper asserts its id).
    client.unsubscribe(7, &["never/subscribed"]).await;
    // Filters are compared character by character [MQTT-3.10.4-1]: `a/+` is not `a/b`.
    client.unsubscribe(8, &["a/+"]).await;

    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publish_all(&mut publisher, &["a/b"]).await;
    expect_topics(&mut client, &["a/b"]).await;
}

#[tokio::test]
async fn many_filters_enter_and_leave_the_index_across_slices() {
    let broker = TestBroker::start("").await;
    let filters: Vec<String> = (0..1000).map(|i| format!("many/{i}/+")).collect();
    let requested: Vec<(&str, QoS)> = filters
        .iter()
        .map(|f| (f.as_str(), QoS::AtLeastOnce))
        .collect();
    let mut client = RawClient::connect(broker.addr, "many").await;
    let ack = client.subscribe(1, &requested).await;
    assert_eq!(ack.codes.len(), 1000);
    assert!(
        ack.codes
            .iter()
            .all(|c| *c == SubAckCode::Success(QoS::AtLeastOnce))
    );
    assert_eq!(broker.handle.subscription_count(), 1000);
    broker.assert_consistent().await;

    // One UNSUBSCRIBE of 600 filters (more than one slice) and one that was never subscribed.
    let mut leaving: Vec<&str> = filters[..600].iter().map(String::as_str).collect();
    leaving.push("never/subscribed");
    client.unsubscribe(2, &leaving).await;
    assert_eq!(broker.handle.subscription_count(), 400);
    broker.assert_consistent().await;

    // The rest still route, the unsubscribed ones do not.
    let mut publisher = RawClient::connect(broker.addr, "many-publisher").await;
    publish_all(&mut publisher, &["many/5/x", "many/999/x"]).await;
    let message = client.recv_publish().await;
    assert_eq!(&*message.topic, "many/999/x");

    // The clean session ends with its connection: every entry leaves the index.
    client.disconnect().await;
    amqtt_tests::wait_until("the session's subscriptions to leave the index", || {
        broker.handle.subscription_count() == 0
    })
    .await;
    broker.stop().await;
}
