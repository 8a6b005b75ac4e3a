//! End-to-end tests of shared subscriptions, `$share/<group>/<filter>` (MQTT 5.0 section 4.8.2),
//! from MQTT 3.1.1 clients: each message goes to one member of each group, round-robin, besides
//! the ordinary subscribers; no retained messages; invalid share filters refused; what a member
//! that leaves does with the messages it had; an offline persistent member; `mosquitto_sub` as a
//! member.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use amqtt_core::codec::{ByteString, Packet, Publish, QoS, ReasonCode, SubAckCode};
use amqtt_plugins::AnonymousAuth;
use amqtt_plugins::topic_checking::TopicAcl;
use amqtt_tests::{RawClient, TestBroker, connect_packet, wait_until};
use tokio::process::Command;

/// Long enough to say "nothing more is coming" from a broker with nothing else to do.
const SILENCE: Duration = Duration::from_millis(400);

/// A clean-session client subscribed to `filter` at QoS 1.
async fn member(broker: &TestBroker, client_id: &str, filter: &str) -> RawClient {
    let mut client = RawClient::connect(broker.addr, client_id).await;
    let ack = client.subscribe(1, &[(filter, QoS::AtLeastOnce)]).await;
    assert_eq!(ack.codes, [SubAckCode::Success(QoS::AtLeastOnce)]);
    client
}

/// Publishes `count` QoS 1 messages to `topic` with payloads `{first}`, `{first + 1}`, ...
async fn publish_numbered(publisher: &mut RawClient, topic: &str, first: usize, count: usize) {
    for n in first..first + count {
        publisher
            .publish(topic, &n.to_string(), QoS::AtLeastOnce, false)
            .await;
    }
}

/// The payloads `client` receives until it is silent for [`SILENCE`], acknowledging each when
/// `ack` is set. Asserts they are all first deliveries (DUP 0).
async fn drain(client: &mut RawClient, ack: bool) -> Vec<Publish> {
    let mut received = Vec::new();
    while let Some(packet) = client.recv_within(SILENCE).await {
        let Packet::Publish(publish) = packet else {
            panic!("expected PUBLISH, got {packet:?}");
        };
        assert!(!publish.dup, "{publish:?}");
        if ack && let Some(id) = publish.packet_id {
            client.send(Packet::PubAck(id.into())).await;
        }
        received.push(publish);
    }
    received
}

/// The payloads of `messages`, as text.
fn payloads(messages: &[Publish]) -> Vec<String> {
    messages
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect()
}

/// `0..count` as payload strings.
fn numbered(range: std::ops::Range<usize>) -> BTreeSet<String> {
    range.map(|n| n.to_string()).collect()
}

#[tokio::test]
async fn each_group_gets_every_message_once_split_among_its_members() {
    let broker = TestBroker::start("").await;
    let mut a = member(&broker, "a", "$share/g/jobs/+").await;
    let mut b = member(&broker, "b", "$share/g/jobs/+").await;
    let mut other_group = member(&broker, "c", "$share/h/jobs/#").await;
    let mut plain = member(&broker, "plain", "jobs/+").await;
    // A client that is an ordinary subscriber and a member gets a copy for each.
    let mut both = member(&broker, "both", "jobs/new").await;
    let ack = both
        .subscribe(2, &[("$share/h/jobs/#", QoS::AtLeastOnce)])
        .await;
    assert_eq!(ack.codes, [SubAckCode::Success(QoS::AtLeastOnce)]);
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    const N: usize = 20;
    publish_numbered(&mut publisher, "jobs/new", 0, N).await;

    let (to_a, to_b) = (drain(&mut a, true).await, drain(&mut b, true).await);
    let (from_a, from_b) = (payloads(&to_a), payloads(&to_b));
    // Round-robin between two members that keep up: every other message.
    assert_eq!(from_a.len(), N / 2, "a got {from_a:?}, b got {from_b:?}");
    assert_eq!(from_b.len(), N / 2, "a got {from_a:?}, b got {from_b:?}");
    let union: BTreeSet<String> = from_a.iter().chain(&from_b).cloned().collect();
    assert_eq!(union, numbered(0..N), "none twice, none missing");
    assert!(to_a.iter().chain(&to_b).all(|m| m.topic == "jobs/new"));

    let to_plain = payloads(&drain(&mut plain, true).await);
    let in_order: Vec<String> = (0..N).map(|n| n.to_string()).collect();
    assert_eq!(
        to_plain, in_order,
        "an ordinary subscriber gets every message"
    );
    // Group h: `c` and `both` share it; `both` also gets every message as an ordinary subscriber.
    let to_h = payloads(&drain(&mut other_group, true).await);
    let to_both = payloads(&drain(&mut both, true).await);
    assert_eq!(to_h.len(), N / 2, "c got {to_h:?}");
    for n in &in_order {
        let copies = to_h.iter().chain(&to_both).filter(|p| *p == n).count();
        assert_eq!(
            copies, 2,
            "message {n}: c got {to_h:?}, both got {to_both:?}"
        );
    }
    assert_eq!(broker.handle.subscription_count(), 6);
    broker.stop().await;
}

#[tokio::test]
async fn no_retained_message_on_a_shared_subscribe_and_invalid_share_filters_fail() {
    let broker = TestBroker::start("").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publisher
        .publish("state/x", "kept", QoS::AtLeastOnce, true)
        .await;
    let mut client = RawClient::connect(broker.addr, "sub").await;
    let filters = [
        ("$share/g", QoS::AtLeastOnce),
        ("$share//state/x", QoS::AtLeastOnce),
        ("$share/g+/state/x", QoS::AtLeastOnce),
        ("$share/g/state/#/x", QoS::AtLeastOnce),
        ("$share/g/state/x", QoS::AtLeastOnce),
    ];
    let ack = client.subscribe(1, &filters).await;
    let mut expected = vec![SubAckCode::FAILURE; 4];
    expected.push(SubAckCode::Success(QoS::AtLeastOnce));
    assert_eq!(ack.codes, expected);
    // [MQTT 5.0 4.8.2]: retained messages are not sent for a shared subscription.
    client.expect_silence(SILENCE).await;
    // The group gets the next message, not as retained.
    publisher
        .publish("state/x", "live", QoS::AtLeastOnce, true)
        .await;
    client
        .expect_publish_and_ack("state/x", "live", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(broker.handle.subscription_count(), 1);
    broker.stop().await;
}

#[tokio::test]
async fn a_member_that_unsubscribes_leaves_the_group() {
    let broker = TestBroker::start("").await;
    let mut a = member(&broker, "a", "$share/g/t").await;
    let mut b = member(&broker, "b", "$share/g/t").await;
    a.unsubscribe(2, &["$share/g/t"]).await;
    assert_eq!(broker.handle.subscription_count(), 1);
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publish_numbered(&mut publisher, "t", 0, 4).await;
    assert_eq!(payloads(&drain(&mut b, true).await), ["0", "1", "2", "3"]);
    a.expect_silence(SILENCE).await;
    b.unsubscribe(3, &["$share/g/t"]).await;
    assert_eq!(broker.handle.subscription_count(), 0);
    broker.stop().await;
}

#[tokio::test]
async fn a_clean_member_that_leaves_hands_its_unacknowledged_messages_to_another() {
    let broker = TestBroker::start("").await;
    let mut a = member(&broker, "a", "$share/g/t").await;
    let mut b = member(&broker, "b", "$share/g/t").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publish_numbered(&mut publisher, "t", 0, 6).await;
    // `a` reads its half and acknowledges none of it, then vanishes.
    let held_by_a = payloads(&drain(&mut a, false).await);
    assert_eq!(held_by_a.len(), 3, "{held_by_a:?}");
    let mut to_b = payloads(&drain(&mut b, true).await);
    assert_eq!(to_b.len(), 3, "{to_b:?}");
    a.reset();
    // Its session ends, and the three go to `b`, as new messages (DUP 0, checked by `drain`).
    let handed_over = payloads(&drain(&mut b, true).await);
    assert_eq!(handed_over, held_by_a);
    to_b.extend(handed_over);
    assert_eq!(to_b.into_iter().collect::<BTreeSet<_>>(), numbered(0..6));
    assert_eq!(broker.handle.stats().dropped_shared.get(), 0);

    // A QoS 2 message already sent to a member that leaves is not sent to another
    // [MQTT-4.8.2-5]: lost, and counted.
    let mut c = RawClient::connect(broker.addr, "c").await;
    let ack = c.subscribe(1, &[("$share/g/t", QoS::ExactlyOnce)]).await;
    assert_eq!(ack.codes, [SubAckCode::Success(QoS::ExactlyOnce)]);
    b.unsubscribe(9, &["$share/g/t"]).await;
    publisher.publish("t", "two", QoS::ExactlyOnce, false).await;
    c.expect_publish("t", "two", QoS::ExactlyOnce, false).await;
    let mut d = member(&broker, "d", "$share/g/t").await;
    c.reset();
    wait_until("c's QoS 2 message is counted lost", || {
        broker.handle.stats().dropped_shared.get() == 1
    })
    .await;
    d.expect_silence(SILENCE).await;

    // A group left without members: the message is lost and counted.
    let mut e = RawClient::connect(broker.addr, "e").await;
    let ack = e.subscribe(1, &[("$share/solo/t", QoS::AtLeastOnce)]).await;
    assert_eq!(ack.codes, [SubAckCode::Success(QoS::AtLeastOnce)]);
    publisher
        .publish("t", "alone", QoS::AtLeastOnce, false)
        .await;
    d.expect_publish_and_ack("t", "alone", QoS::AtLeastOnce, false)
        .await;
    e.expect_publish("t", "alone", QoS::AtLeastOnce, false)
        .await;
    e.reset();
    wait_until("e's message is counted lost", || {
        broker.handle.stats().dropped_shared.get() == 2
    })
    .await;
    broker.stop().await;
}

#[tokio::test]
async fn plugins_check_the_whole_share_filter_and_a_denied_member_is_passed_over() {
    let plugins = "plugins:\n  auth_anonymous:\n    allow_anonymous: true\n  topic_acl:\n    \
                   subscribe_acl:\n      alice: [\"$share/g/#\"]\n      bob: [\"$share/+/t\"]\n    \
                   receive_acl:\n      alice: [\"#\"]\n      bob: [\"x\"]\n";
    let broker: TestBroker<(Option<AnonymousAuth>, TopicAcl)> =
        TestBroker::start_with_plugins(plugins).await;
    let mut members = Vec::new();
    for name in ["alice", "bob"] {
        let mut connect = connect_packet(name, true);
        connect.username = Some(ByteString::from(name));
        let (mut client, ack) = RawClient::connect_with(broker.addr, connect).await;
        assert_eq!(ack.code, ReasonCode::Success);
        // Subscribe checks see the whole `$share/g/t`: the ACL entry `#` would not cover it.
        let ack = client
            .subscribe(
                1,
                &[("$share/g/t", QoS::AtLeastOnce), ("t", QoS::AtLeastOnce)],
            )
            .await;
        assert_eq!(
            ack.codes,
            [SubAckCode::Success(QoS::AtLeastOnce), SubAckCode::FAILURE]
        );
        members.push(client);
    }
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publish_numbered(&mut publisher, "t", 0, 4).await;
    // Bob may not receive `t`: when the round-robin picks him, alice gets the message instead.
    let [alice, bob] = &mut members[..] else {
        unreachable!("two members")
    };
    assert_eq!(payloads(&drain(alice, true).await), ["0", "1", "2", "3"]);
    bob.expect_silence(SILENCE).await;
    assert_eq!(broker.handle.stats().dropped_shared.get(), 0);
    broker.stop().await;
}

/// Connects `client_id` with a persistent session, asserting the CONNACK's session-present flag.
async fn connect_persistent(broker: &TestBroker, client_id: &str, present: bool) -> RawClient {
    let (client, ack) =
        RawClient::connect_with(broker.addr, connect_packet(client_id, false)).await;
    assert_eq!(ack.code, ReasonCode::Success);
    assert_eq!(ack.session_present, present);
    client
}

#[tokio::test]
async fn an_offline_persistent_member_gets_messages_only_when_no_member_is_online() {
    let broker = TestBroker::start("").await;
    let mut persistent = connect_persistent(&broker, "p", false).await;
    let ack = persistent
        .subscribe(1, &[("$share/g/t", QoS::AtLeastOnce)])
        .await;
    assert_eq!(ack.codes, [SubAckCode::Success(QoS::AtLeastOnce)]);
    persistent.disconnect().await;
    wait_until("p is offline", || {
        broker.handle.stats().clients_connected.get() == 0
    })
    .await;
    let mut online = member(&broker, "o", "$share/g/t").await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    // An online member takes everything while the persistent one is away.
    publish_numbered(&mut publisher, "t", 0, 4).await;
    assert_eq!(
        payloads(&drain(&mut online, true).await),
        ["0", "1", "2", "3"]
    );
    online.disconnect().await;
    wait_until("o has left", || broker.handle.subscription_count() == 1).await;
    // With nobody online, the offline member's queue holds the messages.
    publish_numbered(&mut publisher, "t", 4, 3).await;
    let mut persistent = connect_persistent(&broker, "p", true).await;
    assert_eq!(
        payloads(&drain(&mut persistent, true).await),
        ["4", "5", "6"]
    );
    broker.stop().await;
}

#[tokio::test]
async fn mosquitto_sub_is_a_member_of_a_group() {
    let broker = TestBroker::start("").await;
    let mut raw = member(&broker, "raw", "$share/g/t").await;
    let port = broker.addr.port().to_string();
    let spawned = Command::new("mosquitto_sub")
        .args(["-V", "mqttv311", "-h", "127.0.0.1", "-p", &port])
        .args([
            "-i",
            "mosq",
            "-q",
            "1",
            "-t",
            "$share/g/t",
            "-C",
            "5",
            "-W",
            "10",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let Ok(sub) = spawned else {
        assert!(
            std::env::var_os("CI").is_none(),
            "mosquitto_sub not installed"
        );
        println!("skipped: mosquitto_sub (mosquitto-clients) not installed");
        return;
    };
    wait_until("mosquitto_sub joined the group", || {
        broker.handle.subscription_count() == 2
    })
    .await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    publish_numbered(&mut publisher, "t", 0, 10).await;
    let to_raw = payloads(&drain(&mut raw, true).await);
    let output = tokio::time::timeout(Duration::from_secs(10), sub.wait_with_output())
        .await
        .expect("mosquitto_sub exits after 5 messages")
        .expect("mosquitto_sub output");
    assert!(output.status.success(), "{output:?}");
    let to_mosquitto: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        to_raw.len(),
        5,
        "raw got {to_raw:?}, mosquitto_sub {to_mosquitto:?}"
    );
    let union: BTreeSet<String> = to_raw.into_iter().chain(to_mosquitto).collect();
    assert_eq!(union, numbered(0..10));
    broker.stop().await;
}
