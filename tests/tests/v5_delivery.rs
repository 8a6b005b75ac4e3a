//! End-to-end tests of MQTT 5.0 message delivery: message expiry, topic aliases both ways, the
//! client's Receive Maximum and Maximum Packet Size, and reason codes in PUBACK/PUBREC.

use std::collections::BTreeMap;
use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;

use amqtt_core::broker::Broker;
use amqtt_core::codec::{Ack, Packet, Properties, Publish, QoS, ReasonBody, ReasonCode};
use amqtt_core::config::BrokerConfig;
use amqtt_core::plugin::{
    Action, BrokerContext, FromConfig, Hooks, Plugin, PluginError, SessionInfo, Verdict,
};
use amqtt_plugins::PackagedPlugins;
use amqtt_tests::v5::{V5Client, alias, connect_v5, expiring, publish_v5};
use amqtt_tests::{RawClient, TestBroker, pid, publish_packet, wait_until};

/// How long a test waits to be sure nothing more comes.
const QUIET: Duration = Duration::from_millis(300);

/// CONNECT properties of a session kept 60 s after its connection ends.
fn persistent() -> Properties {
    Properties {
        session_expiry_interval: Some(60),
        ..Properties::default()
    }
}

/// The message expiry interval a received PUBLISH carries.
fn expiry_of(publish: &Publish) -> Option<u32> {
    publish.properties.as_ref()?.message_expiry_interval
}

/// The topic alias a received PUBLISH carries.
fn alias_of(publish: &Publish) -> Option<u16> {
    Some(publish.properties.as_ref()?.topic_alias?.get())
}

/// CONNECT properties with only a Receive Maximum.
fn receive_maximum(n: u16) -> Properties {
    Properties {
        receive_maximum: NonZeroU16::new(n),
        ..Properties::default()
    }
}

/// A 5.0 client `sub` connected with `properties` and subscribed to `filter` at `qos`, and a 5.0
/// client `pub` without properties.
async fn subscriber_and_publisher(
    addr: std::net::SocketAddr,
    properties: Properties,
    filter: &str,
    qos: QoS,
) -> (V5Client, V5Client) {
    let mut sub = V5Client::connect(addr, "sub", properties).await;
    sub.subscribe(1, filter, qos).await;
    let publisher = V5Client::connect(addr, "pub", Properties::default()).await;
    (sub, publisher)
}

/// Publishes `payloads` to `topic` at QoS 1 without properties, ids 1, 2, ...
async fn publish_qos1(publisher: &mut V5Client, topic: &str, payloads: &[&str]) {
    for (id, payload) in (1..).zip(payloads) {
        let message = publish_v5(
            topic,
            payload,
            QoS::AtLeastOnce,
            Some(id),
            Properties::default(),
        );
        publisher.publish_acked(message).await;
    }
}

/// Sends DISCONNECT (normal) and waits until the broker has let the client go.
async fn disconnect<P: Plugin>(broker: &TestBroker<P>, mut client: V5Client) {
    let connected = broker.handle.stats().clients_connected.get();
    client
        .send(Packet::Disconnect(ReasonBody::new(ReasonCode::Success)))
        .await;
    wait_until("client gone", || {
        broker.handle.stats().clients_connected.get() < connected
    })
    .await;
}

#[tokio::test]
async fn an_offline_queue_drops_expired_messages_and_forwards_the_time_left() {
    let broker = TestBroker::start("").await;
    let mut sub = V5Client::connect(broker.addr, "sub", persistent()).await;
    sub.subscribe(1, "t", QoS::AtLeastOnce).await;
    disconnect(&broker, sub).await;

    let mut publisher = V5Client::connect(broker.addr, "pub", Properties::default()).await;
    for (id, payload, seconds) in [(1, "short", 1), (2, "long", 100)] {
        let message = publish_v5("t", payload, QoS::AtLeastOnce, Some(id), expiring(seconds));
        let ack = publisher.publish_acked(message).await;
        assert_eq!(ack.reason, ReasonCode::Success);
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;

    let mut connect = connect_v5("sub", persistent());
    connect.clean_session = false;
    let (mut sub, connack) = V5Client::connect_with(broker.addr, connect).await;
    assert!(connack.session_present);
    let message = sub.recv_publish().await;
    assert_eq!(&message.payload[..], b"long");
    let left = expiry_of(&message).expect("expiry interval forwarded");
    // 100 s less the 1.6 s waited, rounded up (a loaded machine may take a little longer).
    assert!((95..=99).contains(&left), "time left {left}");
    sub.puback(message.packet_id.expect("QoS 1/2 has an id"))
        .await;
    sub.expect_silence(QUIET).await;
    assert_eq!(broker.handle.stats().messages_expired.get(), 1);
    broker.stop().await;
}

#[tokio::test]
async fn retained_messages_expire_and_are_removed() {
    let broker = TestBroker::start("").await;
    let mut publisher = V5Client::connect(broker.addr, "pub", Properties::default()).await;
    for (topic, seconds) in [("r/1", 1), ("r/2", 60)] {
        let mut message = publish_v5(topic, topic, QoS::AtLeastOnce, Some(1), expiring(seconds));
        message.retain = true;
        publisher.publish_acked(message).await;
    }
    assert_eq!(broker.handle.retained_count(), 2);
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let mut sub = V5Client::connect(broker.addr, "sub", Properties::default()).await;
    sub.subscribe(1, "r/#", QoS::AtMostOnce).await;
    let message = sub.recv_publish().await;
    assert_eq!(&*message.topic, "r/2");
    assert!(message.retain);
    let left = expiry_of(&message).expect("expiry interval forwarded");
    assert!((56..=59).contains(&left), "time left {left}");
    sub.expect_silence(QUIET).await;
    assert_eq!(broker.handle.retained_count(), 1);
    broker.stop().await;
}

#[tokio::test]
async fn a_message_that_expires_waiting_for_the_in_flight_window_is_dropped() {
    let broker = TestBroker::start("").await;
    let one = receive_maximum(1);
    let (mut sub, mut publisher) =
        subscriber_and_publisher(broker.addr, one, "t", QoS::AtLeastOnce).await;
    let messages = [
        ("first", Properties::default()),
        ("second", expiring(1)),
        ("third", Properties::default()),
    ];
    for (id, (payload, properties)) in (1..).zip(messages) {
        let message = publish_v5("t", payload, QoS::AtLeastOnce, Some(id), properties);
        publisher.publish_acked(message).await;
    }
    let first = sub.recv_publish().await;
    assert_eq!(&first.payload[..], b"first");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sub.puback(first.packet_id.expect("QoS 1/2 has an id"))
        .await;
    let next = sub.recv_publish().await;
    assert_eq!(&next.payload[..], b"third");
    assert_eq!(broker.handle.stats().messages_expired.get(), 1);
    broker.stop().await;
}

#[tokio::test]
async fn receive_maximum_caps_the_messages_in_flight() {
    let broker = TestBroker::start("").await;
    let two = receive_maximum(2);
    let (mut sub, mut publisher) =
        subscriber_and_publisher(broker.addr, two, "t", QoS::AtLeastOnce).await;
    publish_qos1(&mut publisher, "t", &["1", "2", "3", "4", "5"]).await;
    let a = sub.recv_publish().await;
    let b = sub.recv_publish().await;
    assert_eq!((&a.payload[..], &b.payload[..]), (&b"1"[..], &b"2"[..]));
    sub.expect_silence(QUIET).await;
    sub.puback(a.packet_id.expect("QoS 1/2 has an id")).await;
    assert_eq!(&sub.recv_publish().await.payload[..], b"3");
    sub.expect_silence(QUIET).await;
    broker.stop().await;
}

#[tokio::test]
async fn inbound_topic_aliases_are_resolved_per_connection() {
    let broker = TestBroker::start("").await;
    let (_, connack) =
        V5Client::connect_with(broker.addr, connect_v5("probe", Properties::default())).await;
    let announced = connack.properties.and_then(|p| p.topic_alias_maximum);
    assert_eq!(announced, Some(10));

    let (mut sub, mut publisher) =
        subscriber_and_publisher(broker.addr, Properties::default(), "a/b", QoS::AtMostOnce).await;
    let set = publish_v5("a/b", "one", QoS::AtMostOnce, None, alias(1));
    publisher.send(Packet::Publish(set)).await;
    let used = publish_v5("", "two", QoS::AtMostOnce, None, alias(1));
    publisher.send(Packet::Publish(used)).await;
    for payload in ["one", "two"] {
        let message = sub.recv_publish().await;
        assert_eq!(
            (&*message.topic, &message.payload[..]),
            ("a/b", payload.as_bytes())
        );
        // The publisher's alias is its own: subscribers never see it.
        assert!(message.properties.is_none(), "{:?}", message.properties);
    }
    // An alias never set on this connection.
    let unknown = publish_v5("", "x", QoS::AtMostOnce, None, alias(2));
    publisher.send(Packet::Publish(unknown)).await;
    publisher
        .expect_disconnect(ReasonCode::TopicAliasInvalid)
        .await;
    // A new connection starts without aliases.
    let mut again = V5Client::connect(broker.addr, "pub", Properties::default()).await;
    let stale = publish_v5("", "x", QoS::AtMostOnce, None, alias(1));
    again.send(Packet::Publish(stale)).await;
    again.expect_disconnect(ReasonCode::TopicAliasInvalid).await;
    // Above the maximum announced.
    let mut over = V5Client::connect(broker.addr, "over", Properties::default()).await;
    let big = publish_v5("a/b", "x", QoS::AtMostOnce, None, alias(11));
    over.send(Packet::Publish(big)).await;
    over.expect_disconnect(ReasonCode::TopicAliasInvalid).await;
    sub.expect_silence(QUIET).await;
    broker.stop().await;
}

#[tokio::test]
async fn topic_alias_maximum_zero_refuses_every_alias() {
    let broker = TestBroker::start("topic_alias_maximum: 0\n").await;
    let (mut publisher, connack) =
        V5Client::connect_with(broker.addr, connect_v5("pub", Properties::default())).await;
    assert_eq!(connack.properties.and_then(|p| p.topic_alias_maximum), None);
    let set = publish_v5("a/b", "one", QoS::AtMostOnce, None, alias(1));
    publisher.send(Packet::Publish(set)).await;
    publisher
        .expect_disconnect(ReasonCode::TopicAliasInvalid)
        .await;
    broker.stop().await;
}

#[tokio::test]
async fn outbound_aliases_go_to_the_first_topics_and_start_over_on_each_connection() {
    let broker = TestBroker::start("").await;
    let accepts_one = Properties {
        topic_alias_maximum: Some(1),
        ..persistent()
    };
    let mut sub = V5Client::connect(broker.addr, "sub", accepts_one.clone()).await;
    sub.subscribe(1, "o/+", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    for topic in ["o/a", "o/a", "o/b", "o/a"] {
        publisher
            .publish(topic, topic, QoS::AtMostOnce, false)
            .await;
    }
    // (payload, topic sent, alias sent): the payload is the real topic.
    let mut received = Vec::new();
    for _ in 0..4 {
        let message = sub.recv_publish().await;
        let payload = String::from_utf8(message.payload.to_vec()).expect("UTF-8 payload");
        received.push((payload, message.topic.to_string(), alias_of(&message)));
    }
    let expected = [
        ("o/a", "o/a", Some(1)),
        ("o/a", "", Some(1)),
        ("o/b", "o/b", None),
        ("o/a", "", Some(1)),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(p, t, a)| ((*p).to_owned(), (*t).to_owned(), *a))
        .collect();
    assert_eq!(received, expected);

    // The session resumes; the aliases do not.
    disconnect(&broker, sub).await;
    let mut connect = connect_v5("sub", accepts_one);
    connect.clean_session = false;
    let (mut sub, connack) = V5Client::connect_with(broker.addr, connect).await;
    assert!(connack.session_present);
    publisher
        .publish("o/a", "o/a", QoS::AtMostOnce, false)
        .await;
    let message = sub.recv_publish().await;
    assert_eq!((&*message.topic, alias_of(&message)), ("o/a", Some(1)));
    broker.stop().await;
}

#[tokio::test]
async fn nothing_larger_than_the_clients_maximum_packet_size_is_sent() {
    let broker = TestBroker::start("").await;
    let small = Properties {
        maximum_packet_size: NonZeroU32::new(64),
        receive_maximum: NonZeroU16::new(1),
        ..Properties::default()
    };
    let (mut sub, mut publisher) =
        subscriber_and_publisher(broker.addr, small, "m", QoS::AtLeastOnce).await;
    let big = "x".repeat(100);
    publish_qos1(&mut publisher, "m", &[&big, "small"]).await;
    publisher
        .send(Packet::Publish(publish_v5(
            "m",
            &big,
            QoS::AtMostOnce,
            None,
            Properties::default(),
        )))
        .await;
    // The large QoS 1 message counts as delivered: it does not hold the one-message window.
    let message = sub.recv_publish().await;
    assert_eq!(&message.payload[..], b"small");
    sub.puback(message.packet_id.expect("QoS 1/2 has an id"))
        .await;
    sub.expect_silence(QUIET).await;
    assert_eq!(broker.handle.stats().dropped_too_large.get(), 2);
    broker.stop().await;
}

#[tokio::test]
async fn a_client_that_returns_with_a_smaller_maximum_packet_size_gets_only_what_fits() {
    let broker = TestBroker::start("").await;
    let window = Properties {
        receive_maximum: NonZeroU16::new(1),
        ..persistent()
    };
    let (mut sub, mut publisher) =
        subscriber_and_publisher(broker.addr, window.clone(), "m", QoS::AtLeastOnce).await;
    let big = "x".repeat(100);
    publish_qos1(&mut publisher, "m", &[&big, &big, "small"]).await;
    // The first is in flight (not acknowledged), the others wait in the session.
    assert_eq!(sub.recv_publish().await.payload.len(), 100);
    disconnect(&broker, sub).await;

    let small = Properties {
        maximum_packet_size: NonZeroU32::new(64),
        ..window
    };
    let mut connect = connect_v5("sub", small);
    connect.clean_session = false;
    let (mut sub, _) = V5Client::connect_with(broker.addr, connect).await;
    let message = sub.recv_publish().await;
    assert_eq!(&message.payload[..], b"small");
    assert_eq!(broker.handle.stats().dropped_too_large.get(), 2);
    broker.stop().await;
}

#[tokio::test]
async fn sys_counts_the_messages_too_large_for_their_subscriber() {
    let config = BrokerConfig::from_yaml(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n\
         plugins:\n  auth_anonymous:\n  broker_sys:\n    sys_interval: 1\n",
    )
    .expect("valid config");
    let broker = TestBroker::serve(
        Broker::<PackagedPlugins>::bind(config)
            .await
            .expect("broker binds"),
    );
    let topic = "$SYS/broker/messages/publish/dropped/too_large";
    let mut sys = RawClient::connect(broker.addr, "sys").await;
    sys.subscribe(1, &[(topic, QoS::AtMostOnce)]).await;
    let small = Properties {
        maximum_packet_size: NonZeroU32::new(64),
        ..Properties::default()
    };
    let (_sub, mut publisher) =
        subscriber_and_publisher(broker.addr, small, "m", QoS::AtMostOnce).await;
    let big = publish_v5(
        "m",
        &"x".repeat(100),
        QoS::AtMostOnce,
        None,
        Properties::default(),
    );
    publisher.send(Packet::Publish(big)).await;
    loop {
        let shown = sys.recv_publish().await;
        assert_eq!(&*shown.topic, topic);
        if &shown.payload[..] == b"1" {
            break;
        }
    }
    broker.stop().await;
}

/// Publishes QoS 2 `message` and completes the exchange; returns the PUBREC's reason.
async fn publish_qos2(client: &mut V5Client, message: Publish) -> ReasonCode {
    let id = message.packet_id.expect("QoS 1/2 has an id");
    let rec = client.publish_acked(message).await;
    if !rec.reason.is_error() {
        client.send(Packet::PubRel(id.into())).await;
        assert_eq!(client.recv().await, Packet::PubComp(id.into()));
    }
    rec.reason
}

#[tokio::test]
async fn publishers_get_reason_codes_in_their_acknowledgements() {
    let broker = TestBroker::start("").await;
    let mut publisher = V5Client::connect(broker.addr, "pub", Properties::default()).await;
    let none = Properties::default;
    let nobody = publish_v5("nobody", "x", QoS::AtLeastOnce, Some(1), none());
    assert_eq!(
        publisher.publish_acked(nobody).await.reason,
        ReasonCode::NoMatchingSubscribers
    );
    let nobody = publish_v5("nobody", "x", QoS::ExactlyOnce, Some(2), none());
    assert_eq!(
        publish_qos2(&mut publisher, nobody).await,
        ReasonCode::NoMatchingSubscribers
    );

    let mut sub = V5Client::connect(broker.addr, "sub", none()).await;
    sub.subscribe(1, "t", QoS::AtMostOnce).await;
    let routed = publish_v5("t", "x", QoS::AtLeastOnce, Some(3), none());
    assert_eq!(
        publisher.publish_acked(routed).await.reason,
        ReasonCode::Success
    );
    assert_eq!(&sub.recv_publish().await.payload[..], b"x");

    let reserved = publish_v5("$x", "x", QoS::AtLeastOnce, Some(4), none());
    assert_eq!(
        publisher.publish_acked(reserved).await.reason,
        ReasonCode::TopicNameInvalid
    );
    // A failed PUBREC ends the exchange: the id is free for a new message at once.
    let reserved = publish_v5("$x", "x", QoS::ExactlyOnce, Some(5), none());
    assert_eq!(
        publish_qos2(&mut publisher, reserved).await,
        ReasonCode::TopicNameInvalid
    );
    let reused = publish_v5("t", "reused", QoS::ExactlyOnce, Some(5), none());
    assert_eq!(
        publish_qos2(&mut publisher, reused).await,
        ReasonCode::Success
    );
    assert_eq!(&sub.recv_publish().await.payload[..], b"reused");

    // 3.1.1 has no reason codes: the same publishes are acknowledged as before.
    let mut old = RawClient::connect(broker.addr, "old").await;
    for topic in ["nobody", "$x"] {
        old.send(Packet::Publish(publish_packet(
            topic,
            "x",
            QoS::AtLeastOnce,
            false,
            Some(9),
        )))
        .await;
        assert_eq!(old.recv().await, Packet::PubAck(pid(9).into()));
    }
    sub.expect_silence(QUIET).await;
    broker.stop().await;
}

/// Denies publishing to `ro/...`.
#[derive(Default)]
struct ReadOnly;
impl Plugin for ReadOnly {
    const HOOKS: Hooks = Hooks::TOPIC_FILTERING;
    async fn topic_filtering(&self, _s: &SessionInfo, topic: &str, action: Action) -> Verdict {
        if action == Action::Publish && topic.starts_with("ro/") {
            Verdict::Deny
        } else {
            Verdict::Abstain
        }
    }
}
impl FromConfig for ReadOnly {
    const NAME: &'static str = "read_only";
    type Config = BTreeMap<String, u32>;
    fn build(_config: Self::Config, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(ReadOnly)
    }
}

#[tokio::test]
async fn a_publish_a_plugin_denies_is_not_authorized() {
    let broker = TestBroker::<ReadOnly>::start_with_plugins("plugins: {}\n").await;
    let mut publisher = V5Client::connect(broker.addr, "pub", Properties::default()).await;
    let denied = publish_v5(
        "ro/x",
        "x",
        QoS::AtLeastOnce,
        Some(1),
        Properties::default(),
    );
    assert_eq!(
        publisher.publish_acked(denied).await.reason,
        ReasonCode::NotAuthorized
    );
    let denied = publish_v5(
        "ro/x",
        "x",
        QoS::ExactlyOnce,
        Some(2),
        Properties::default(),
    );
    assert_eq!(
        publish_qos2(&mut publisher, denied).await,
        ReasonCode::NotAuthorized
    );
    // Silently dropped for a 3.1.1 client, as before.
    let mut old = RawClient::connect(broker.addr, "old").await;
    old.send(Packet::Publish(publish_packet(
        "ro/x",
        "x",
        QoS::AtLeastOnce,
        false,
        Some(9),
    )))
    .await;
    assert_eq!(old.recv().await, Packet::PubAck(pid(9).into()));
    broker.stop().await;
}

#[tokio::test]
async fn a_subscribers_failed_pubrec_ends_the_exchange() {
    let broker = TestBroker::start("").await;
    let one = receive_maximum(1);
    let (mut sub, mut publisher) =
        subscriber_and_publisher(broker.addr, one, "q", QoS::ExactlyOnce).await;
    for (id, payload) in [(1, "one"), (2, "two")] {
        let message = publish_v5(
            "q",
            payload,
            QoS::ExactlyOnce,
            Some(id),
            Properties::default(),
        );
        publish_qos2(&mut publisher, message).await;
    }
    let first = sub.recv_publish().await;
    assert_eq!(&first.payload[..], b"one");
    let refused = Ack {
        reason: ReasonCode::UnspecifiedError,
        ..Ack::new(first.packet_id.expect("QoS 1/2 has an id"))
    };
    sub.send(Packet::PubRec(refused)).await;
    // No PUBREL for it: the window is free for the next message.
    let second = sub.recv_publish().await;
    assert_eq!(&second.payload[..], b"two");
    broker.stop().await;
}

#[tokio::test]
async fn unsuback_says_which_subscriptions_existed() {
    let broker = TestBroker::start("").await;
    let mut client = V5Client::connect(broker.addr, "unsub", Properties::default()).await;
    client.subscribe(1, "had/this", QoS::AtLeastOnce).await;
    client
        .send(Packet::Unsubscribe(amqtt_core::codec::Unsubscribe {
            packet_id: pid(2),
            filters: vec!["had/this".into(), "never/had".into()],
            properties: None,
        }))
        .await;
    let Packet::UnsubAck(ack) = client.recv().await else {
        panic!("expected UNSUBACK");
    };
    assert_eq!(ack.packet_id, pid(2));
    assert_eq!(
        ack.codes,
        [ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
    );
    broker.stop().await;
}
