//! The packaged plugins in the stock plugin set: anonymous authentication and `$SYS`.

use std::time::Duration;

use amqtt_core::broker::Broker;
use amqtt_core::codec::{ByteString, QoS, ReasonCode};
use amqtt_core::config::BrokerConfig;
use amqtt_plugins::PackagedPlugins;
use amqtt_tests::{RawClient, TestBroker, connect_packet};

async fn stock_broker(plugins: &str) -> TestBroker<PackagedPlugins> {
    TestBroker::start_with_plugins(&format!("plugins:\n{plugins}")).await
}

async fn connect_code(broker: &TestBroker<PackagedPlugins>, username: Option<&str>) -> ReasonCode {
    let mut connect = connect_packet("c", true);
    connect.username = username.map(ByteString::from);
    RawClient::connect_with(broker.addr, connect).await.1.code
}

#[tokio::test]
async fn anonymous_clients_are_admitted_by_default() {
    let broker = stock_broker("  amqtt.plugins.authentication.AnonymousAuthPlugin:\n").await;
    assert_eq!(connect_code(&broker, None).await, ReasonCode::Success);
    assert_eq!(
        connect_code(&broker, Some("bob")).await,
        ReasonCode::Success
    );
}

#[tokio::test]
async fn allow_anonymous_false_denies_anonymous_and_leaves_named_clients_to_other_plugins() {
    let broker = stock_broker("  auth_anonymous:\n    allow_anonymous: false\n").await;
    assert_eq!(connect_code(&broker, None).await, ReasonCode::NotAuthorized);
    // Unlike aMQTT, a user name alone is not enough: with no password plugin, nobody allows it.
    assert_eq!(
        connect_code(&broker, Some("bob")).await,
        ReasonCode::NotAuthorized
    );
}

#[tokio::test]
async fn no_auth_plugin_configured_admits_nobody() {
    let broker = stock_broker("  event_logger:\n").await;
    assert_eq!(connect_code(&broker, None).await, ReasonCode::NotAuthorized);
}

#[tokio::test]
async fn sys_topics_are_published_and_hidden_from_leading_wildcards() {
    let broker = stock_broker(
        "  auth_anonymous:\n  amqtt.plugins.sys.broker.BrokerSysPlugin:\n    sys_interval: 1\n",
    )
    .await;
    let mut everything = RawClient::connect(broker.addr, "everything").await;
    everything
        .subscribe(
            1,
            &[("#", QoS::AtMostOnce), ("+/broker/#", QoS::AtMostOnce)],
        )
        .await;
    let mut sys = RawClient::connect(broker.addr, "sys").await;
    sys.subscribe(1, &[("$SYS/broker/#", QoS::AtMostOnce)])
        .await;

    let version = sys.recv_publish().await;
    assert_eq!(&*version.topic, "$SYS/broker/version");
    assert!(version.retain, "the version is retained");

    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.iter().any(|t: &String| t == "$SYS/broker/cpu/maximum") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no $SYS counters within 5 s: {seen:?}"
        );
        if let Some(amqtt_core::codec::Packet::Publish(p)) =
            sys.recv_within(Duration::from_secs(2)).await
        {
            if &*p.topic == "$SYS/broker/clients/connected" {
                assert_eq!(&p.payload[..], b"2", "two clients are connected");
            }
            seen.push(p.topic.to_string());
        }
    }
    for topic in [
        "load/bytes/received",
        "uptime",
        "clients/maximum",
        "messages/subscriptions/count",
        "heap/size",
        "cpu/percent",
    ] {
        assert!(
            seen.contains(&format!("$SYS/broker/{topic}")),
            "missing {topic} in {seen:?}"
        );
    }
    // [MQTT-4.7.2-1]: `#` and `+/...` never match topics that start with `$`.
    everything.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn unknown_plugin_key_lists_the_known_names_and_aliases() {
    let yaml = "listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugn:\n";
    let config = BrokerConfig::from_yaml(yaml).expect("valid yaml");
    let err = Broker::<PackagedPlugins>::bind(config)
        .await
        .err()
        .expect("unknown plugin");
    let text = err.to_string();
    assert!(text.contains("AnonymousAuthPlugn"), "{text}");
    assert!(
        text.contains("amqtt.plugins.authentication.AnonymousAuthPlugin"),
        "{text}"
    );
    assert!(text.contains("broker_sys"), "{text}");
}

/// Waits until `sys` receives `$SYS/broker/<topic>` with the value `expected`.
async fn sys_shows(sys: &mut RawClient, topic: &str, expected: &str) {
    let topic = format!("$SYS/broker/{topic}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        if let Some(amqtt_core::codec::Packet::Publish(p)) =
            sys.recv_within(Duration::from_millis(1500)).await
            && *p.topic == *topic
        {
            if p.payload[..] == *expected.as_bytes() {
                return;
            }
            last = Some(String::from_utf8_lossy(&p.payload).into_owned());
        }
    }
    panic!("{topic} never showed {expected} (last: {last:?})");
}

#[tokio::test]
async fn sys_shows_the_messages_queued_and_in_flight_across_sessions() {
    let broker = stock_broker("  auth_anonymous:\n  broker_sys:\n    sys_interval: 1\n").await;
    // A persistent subscriber goes offline; 3 QoS 1 messages wait for it. Stored besides
    // them: 2 retained messages, this one and `$SYS/broker/version`.
    let (mut sub, _) = RawClient::connect_with(broker.addr, connect_packet("sub", false)).await;
    sub.subscribe(1, &[("queued", QoS::AtLeastOnce)]).await;
    sub.disconnect().await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    for n in 0..3 {
        publisher
            .publish("queued", &format!("m{n}"), QoS::AtLeastOnce, false)
            .await;
    }
    publisher
        .publish("kept", "retained", QoS::AtMostOnce, true)
        .await;
    let mut sys = RawClient::connect(broker.addr, "sys").await;
    sys.subscribe(1, &[("$SYS/broker/messages/inflight/#", QoS::AtMostOnce)])
        .await;
    sys_shows(&mut sys, "messages/inflight/stored", "5").await;
    sys_shows(&mut sys, "messages/inflight/out", "0").await;

    // It comes back and does not acknowledge: the 3 messages are in flight, no longer queued.
    let (mut sub, _) = RawClient::connect_with(broker.addr, connect_packet("sub", false)).await;
    for n in 0..3 {
        let message = sub.recv_publish().await;
        assert_eq!(&message.payload[..], format!("m{n}").as_bytes());
    }
    sys_shows(&mut sys, "messages/inflight/out", "3").await;
    sys_shows(&mut sys, "messages/inflight/stored", "2").await;
    broker.stop().await;
}
