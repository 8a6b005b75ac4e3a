//! MQTT 5.0 interoperability: our client in v5 against a Mosquitto broker and against ours,
//! and Mosquitto's `-V mqttv5` command-line clients and ours through our broker. Properties
//! (user properties above all) must arrive unchanged in every direction.

use std::num::NonZeroU32;
use std::process::Stdio;

use amqtt_core::client::{ClientError, ClientOptions, Message, MqttClient};
use amqtt_core::codec::{
    self, ByteString, ConnAck, Packet, Properties, ProtocolVersion, QoS, ReasonCode, SubAckCode,
    SubscriptionOptions,
};
use amqtt_plugins::PackagedPlugins;
use amqtt_tests::{TestBroker, amqtt_binary};
use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

use super::{
    Listeners, MOSQUITTO, MOSQUITTO_PUB, MOSQUITTO_SUB, Mosquitto, STDBUF, STEP, bounded, connect,
    expect_message, expect_nothing, options, require,
};

/// Options for a v5 test client.
fn v5(id: &str) -> ClientOptions {
    options(id).protocol(ProtocolVersion::V5)
}

/// The properties the tests publish with.
fn message_properties() -> Properties {
    Properties {
        user_properties: vec![
            (ByteString::from("origin"), ByteString::from("test")),
            (ByteString::from("origin"), ByteString::from("again")),
        ],
        content_type: Some(ByteString::from("text/plain")),
        response_topic: Some(ByteString::from("reply/here")),
        correlation_data: Some(Bytes::from_static(b"\x01\x02")),
        payload_format_indicator: Some(true),
        message_expiry_interval: Some(60),
        ..Properties::default()
    }
}

/// Asserts that `message` carries [`message_properties`] (its expiry counted down at most a
/// few seconds).
fn assert_properties(message: &Message) {
    let got = message.properties.as_deref().expect("properties arrive");
    let sent = message_properties();
    assert_eq!(
        got.user_properties, sent.user_properties,
        "order and duplicates kept"
    );
    assert_eq!(got.content_type, sent.content_type);
    assert_eq!(got.response_topic, sent.response_topic);
    assert_eq!(got.correlation_data, sent.correlation_data);
    assert_eq!(got.payload_format_indicator, sent.payload_format_indicator);
    let expiry = got
        .message_expiry_interval
        .expect("the expiry is forwarded");
    assert!((55..=60).contains(&expiry), "remaining expiry {expiry}");
}

/// A v5 publisher and subscriber on `url`: every property arrives.
async fn properties_round_trip(url: &str) {
    let mut subscriber = connect(url, v5("v5-sub")).await;
    let codes = bounded(subscriber.subscribe(&[("v5/#", QoS::AtLeastOnce)]))
        .await
        .expect("subscribe");
    assert_eq!(codes, [SubAckCode::Success(QoS::AtLeastOnce)]);
    let publisher = connect(url, v5("v5-pub")).await;
    bounded(publisher.publish_with(
        "v5/t",
        "with properties",
        QoS::AtLeastOnce,
        false,
        Some(message_properties()),
    ))
    .await
    .expect("publish");
    let message = expect_message(&mut subscriber).await;
    assert_eq!(&message.payload[..], b"with properties");
    assert_properties(&message);
    bounded(publisher.disconnect()).await.expect("disconnect");
    bounded(subscriber.disconnect()).await.expect("disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_properties_round_trip_through_mosquitto() {
    if !require(&[MOSQUITTO]).await {
        return;
    }
    let broker = Mosquitto::start(Listeners::default()).await;
    properties_round_trip(&broker.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_properties_round_trip_through_our_broker_and_a_3_1_1_subscriber_gets_none() {
    let broker = TestBroker::start("").await;
    let url = format!("mqtt://{}", broker.addr);
    let mut old = connect(&url, options("v311-sub")).await;
    bounded(old.subscribe(&[("v5/#", QoS::AtLeastOnce)]))
        .await
        .expect("subscribe");
    properties_round_trip(&url).await;
    let message = expect_message(&mut old).await;
    assert_eq!(&message.payload[..], b"with properties");
    assert_eq!(message.properties, None, "3.1.1 carries no properties");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_client_is_assigned_a_client_id_by_either_broker() {
    let ours = TestBroker::start("").await;
    let mut urls = vec![format!("mqtt://{}", ours.addr)];
    let mosquitto = if require(&[MOSQUITTO]).await {
        let broker = Mosquitto::start(Listeners::default()).await;
        urls.push(broker.url());
        Some(broker)
    } else {
        None
    };
    for url in &urls {
        let client = connect(url, v5("")).await;
        assert!(!client.client_id().is_empty(), "{url}: an assigned id");
        let assigned = client
            .connack_properties()
            .and_then(|p| p.assigned_client_identifier.clone())
            .expect("CONNACK carries the assigned id");
        assert_eq!(client.client_id(), &*assigned);
        bounded(client.disconnect()).await.expect("disconnect");
    }
    drop(mosquitto);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_subscription_options_and_identifier_against_mosquitto() {
    if !require(&[MOSQUITTO]).await {
        return;
    }
    let broker = Mosquitto::start(Listeners::default()).await;
    subscription_options_and_identifier(&broker.url()).await;
}

/// The same exchange against our broker: No Local and the Subscription Identifier as Mosquitto
/// applies them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_subscription_options_and_identifier_against_ours() {
    let broker = TestBroker::<()>::start("").await;
    subscription_options_and_identifier(&format!("mqtt://{}", broker.addr)).await;
    broker.stop().await;
}

/// Subscribes with No Local and Subscription Identifier 7 on the broker at `url`: the client's
/// own message does not come back, another client's does, carrying the identifier.
async fn subscription_options_and_identifier(url: &str) {
    let mut client = connect(url, v5("opts")).await;
    let no_local = SubscriptionOptions {
        no_local: true,
        ..QoS::AtLeastOnce.into()
    };
    let id = NonZeroU32::new(7).expect("non-zero");
    let codes = bounded(client.subscribe_with(
        &[("opts/#", no_local)],
        Some(Properties {
            subscription_identifiers: vec![id],
            ..Properties::default()
        }),
    ))
    .await
    .expect("subscribe");
    assert_eq!(codes, [SubAckCode::Success(QoS::AtLeastOnce)]);
    // No local: its own message does not come back.
    bounded(client.publish("opts/own", "mine", QoS::AtLeastOnce, false))
        .await
        .expect("publish");
    expect_nothing(&mut client).await;
    let other = connect(url, v5("other")).await;
    bounded(other.publish("opts/other", "theirs", QoS::AtLeastOnce, false))
        .await
        .expect("publish");
    let message = expect_message(&mut client).await;
    assert_eq!(&message.payload[..], b"theirs");
    let ids = message
        .properties
        .as_ref()
        .map(|p| p.subscription_identifiers.clone());
    assert_eq!(
        ids,
        Some(vec![id]),
        "the subscription identifier comes back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_refusal_is_a_typed_reason_code() {
    let broker = TestBroker::<PackagedPlugins>::start_with_plugins(
        "plugins:\n  auth_anonymous:\n    allow_anonymous: false\n",
    )
    .await;
    let url = format!("mqtt://{}", broker.addr);
    let refused = bounded(MqttClient::connect(&url, v5("nobody"))).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Refused(ReasonCode::NotAuthorized))
        ),
        "{refused:?}"
    );
    let refused = bounded(MqttClient::connect(&url, options("nobody"))).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Refused(ReasonCode::NotAuthorized))
        ),
        "3.1.1's 0x05 is the same typed reason: {refused:?}"
    );
}

/// Runs a command to its end within [`STEP`]; returns its stdout.
async fn run(command: &mut Command) -> String {
    let output = timeout(
        STEP,
        command.stdin(Stdio::null()).kill_on_drop(true).output(),
    )
    .await
    .expect("finishes in time")
    .expect("runs");
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_v5_clients_and_ours_exchange_user_properties_through_our_broker() {
    if !require(&[MOSQUITTO_PUB, MOSQUITTO_SUB, STDBUF]).await {
        return;
    }
    let broker = TestBroker::start("").await;
    let port = broker.addr.port().to_string();
    let url = format!("mqtt://{}", broker.addr);

    // mosquitto_pub -V mqttv5 -> our broker -> our v5 client.
    let mut subscriber = connect(&url, v5("ours")).await;
    bounded(subscriber.subscribe(&[("cli/#", QoS::AtLeastOnce)]))
        .await
        .expect("subscribe");
    run(Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port, "-V", "mqttv5", "-q", "1"])
        .args(["-D", "publish", "user-property", "from", "mosquitto"])
        .args(["-t", "cli/m", "-m", "hello"]))
    .await;
    let message = expect_message(&mut subscriber).await;
    let user = message.properties.map(|p| p.user_properties.clone());
    assert_eq!(
        user,
        Some(vec![(
            ByteString::from("from"),
            ByteString::from("mosquitto")
        )])
    );

    // amqtt_pub -V mqttv5 -D ... -> our broker -> mosquitto_sub -V mqttv5 -F '%P %p'.
    let mut child = Command::new("stdbuf")
        .args(["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", &port])
        .args([
            "-V", "mqttv5", "-q", "1", "-t", "cli/a", "-C", "1", "-F", "%P|%p",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start mosquitto_sub");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // Until mosquitto_sub is subscribed, publish again (its SUBACK is not printed).
    // Generous: on a loaded machine mosquitto_sub can take seconds to connect and subscribe.
    let line = timeout(4 * STEP, async {
        loop {
            run(Command::new(amqtt_binary("amqtt_pub"))
                .env_remove("RUST_LOG")
                .args(["--url", &url, "-V", "mqttv5", "-q", "1", "-t", "cli/a"])
                .args(["-D", "publish", "user-property", "from", "amqtt"])
                .args(["-m", "hi"]))
            .await;
            if let Ok(Ok(Some(line))) =
                timeout(std::time::Duration::from_millis(300), lines.next_line()).await
            {
                return line;
            }
        }
    })
    .await
    .expect("mosquitto_sub prints the message");
    assert_eq!(line, "from:amqtt|hi");
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_client_reads_the_receive_maximum_of_mosquitto_and_publishes_past_it() {
    if !require(&[MOSQUITTO]).await {
        return;
    }
    // Mosquitto announces its in-flight limit as Receive Maximum (it does not disconnect a client
    // that goes over it, so this checks the limit is read and twenty publishes still complete
    // through the client's queue; the limit is enforced by our broker's own test).
    let broker = Mosquitto::start(Listeners {
        extra: "max_inflight_messages 2\n",
        ..Listeners::default()
    })
    .await;
    let client = connect(&broker.url(), v5("flow")).await;
    let receive_maximum = client
        .connack_properties()
        .and_then(|p| p.receive_maximum)
        .map(|v| v.get());
    assert_eq!(receive_maximum, Some(2), "{}", broker.log());
    let publishes =
        (0..20).map(|i| client.publish(format!("flow/{i}"), "x", QoS::AtLeastOnce, false));
    let results = bounded(futures_util::future::join_all(publishes)).await;
    for result in results {
        result.unwrap_or_else(|e| panic!("a publish failed: {e}\n{}", broker.log()));
    }
    assert_eq!(client.disconnect_reason(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_client_resolves_the_topic_aliases_our_broker_sends() {
    let broker = TestBroker::start("").await;
    let url = format!("mqtt://{}", broker.addr);
    let allows_aliases = Properties {
        topic_alias_maximum: Some(4),
        ..Properties::default()
    };
    let mut subscriber = connect(&url, v5("alias-sub").connect_properties(allows_aliases)).await;
    bounded(subscriber.subscribe(&[("alias/#", QoS::AtLeastOnce)]))
        .await
        .expect("subscribe");
    let publisher = connect(&url, v5("alias-pub")).await;
    // The broker gives each topic an alias: the first message of a topic carries it with the
    // topic, the later ones carry the alias alone (an empty topic name on the wire).
    let sent = ["alias/a", "alias/a", "alias/b", "alias/a", "alias/b"];
    for (n, topic) in sent.iter().enumerate() {
        bounded(publisher.publish(*topic, n.to_string(), QoS::AtLeastOnce, false))
            .await
            .expect("publish");
    }
    for (n, topic) in sent.iter().enumerate() {
        let message = expect_message(&mut subscriber).await;
        assert_eq!(&*message.topic, *topic, "message {n}");
        assert_eq!(&message.payload[..], n.to_string().as_bytes());
        let alias = message.properties.as_deref().and_then(|p| p.topic_alias);
        assert_eq!(
            alias, None,
            "the alias is the connection's, not the message's"
        );
    }
    bounded(publisher.disconnect()).await.expect("disconnect");
    bounded(subscriber.disconnect()).await.expect("disconnect");
}

/// Reads packets from `stream` until one decodes, as MQTT 5.0.
async fn read_v5(stream: &mut tokio::net::TcpStream, buf: &mut bytes::BytesMut) -> Packet {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(packet) = codec::decode_as(buf, 1 << 20, ProtocolVersion::V5).expect("decodes")
        {
            return packet;
        }
        let read = timeout(STEP, stream.read_buf(buf)).await.expect("in time");
        assert!(read.expect("reads") > 0, "the client closed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_client_gives_its_topics_aliases_within_the_brokers_maximum() {
    use tokio::io::AsyncWriteExt;
    // A broker of a few lines that accepts two aliases and shows what arrives on the wire.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("mqtt://{}", listener.local_addr().expect("addr"));
    let broker = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buf = bytes::BytesMut::new();
        assert!(matches!(
            read_v5(&mut stream, &mut buf).await,
            Packet::Connect(_)
        ));
        let connack = ConnAck {
            properties: Some(Box::new(Properties {
                topic_alias_maximum: Some(2),
                ..Properties::default()
            })),
            ..ConnAck::new(false, ReasonCode::Success)
        };
        let mut out = bytes::BytesMut::new();
        Packet::ConnAck(connack).encode_as(ProtocolVersion::V5, &mut out);
        stream.write_all(&out).await.expect("CONNACK");
        let mut seen = Vec::new();
        for _ in 0..5 {
            let Packet::Publish(publish) = read_v5(&mut stream, &mut buf).await else {
                panic!("expected PUBLISH");
            };
            let alias = publish.properties.as_deref().and_then(|p| p.topic_alias);
            seen.push((publish.topic.to_string(), alias.map(|a| a.get())));
        }
        seen
    });
    let client = connect(&url, v5("aliaser").outbound_topic_aliases(8)).await;
    for topic in ["al/a", "al/a", "al/b", "al/c", "al/b"] {
        bounded(client.publish(topic, "x", QoS::AtMostOnce, false))
            .await
            .expect("publish");
    }
    let seen = timeout(STEP, broker)
        .await
        .expect("in time")
        .expect("broker");
    let expected = [
        ("al/a", Some(1)),
        ("", Some(1)),
        ("al/b", Some(2)),
        ("al/c", None), // the broker's maximum of 2 is reached: sent in full
        ("", Some(2)),
    ];
    let expected: Vec<(String, Option<u16>)> = expected
        .iter()
        .map(|(topic, alias)| (topic.to_string(), *alias))
        .collect();
    assert_eq!(seen, expected);
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v5_client_keeps_within_our_brokers_receive_maximum() {
    // Our broker ends a connection that goes over its Receive Maximum (DISCONNECT 0x93): twenty
    // QoS 2 publishes at once all complete only if the client queues past the limit of 2.
    let broker = TestBroker::start("receive_maximum: 2\n").await;
    let url = format!("mqtt://{}", broker.addr);
    let client = connect(&url, v5("flow-ours")).await;
    let receive_maximum = client
        .connack_properties()
        .and_then(|p| p.receive_maximum)
        .map(|v| v.get());
    assert_eq!(receive_maximum, Some(2));
    let publishes =
        (0..20).map(|i| client.publish(format!("flow/{i}"), "x", QoS::ExactlyOnce, false));
    for result in bounded(futures_util::future::join_all(publishes)).await {
        result.expect("every publish completes");
    }
    assert_eq!(client.disconnect_reason(), None);
    bounded(client.disconnect()).await.expect("disconnect");
}
