//! End-to-end tests of how the broker combines plugin verdicts.
//!
//! Authentication: a broker whose plugins have no `authenticate` hook admits everyone; otherwise
//! a client is admitted when at least one plugin said Allow and none said Deny, and refused with
//! CONNACK 0x05 (aMQTT: a configuration that activates no auth plugin admits nobody).
//! Topic filtering: any Deny denies (a 0x80 SUBACK slot; a publish acknowledged but not routed;
//! a subscriber that does not receive), Abstain is ignored, all-Abstain allows.
//! A Refuse is a Deny that tells an MQTT 5.0 client its reason code (CONNACK, SUBACK, PUBACK)
//! and reason string (CONNACK, SUBACK).

use std::collections::BTreeMap;
use std::num::NonZeroU16;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use amqtt_core::codec::{
    ByteString, ConnAck, Connect, Packet, Properties, ProtocolVersion, Publish, QoS, ReasonCode,
    SubAckCode, Subscribe, decode_as,
};
use amqtt_core::plugin::{
    Action, BrokerContext, BuildPlugins, FromConfig, Hooks, Plugin, PluginError, SessionInfo,
    Verdict,
};
use amqtt_tests::{RECV_TIMEOUT, RawClient, TestBroker, connect_packet, wait_until};

/// Every test plugin's configuration (unused).
type NoConfig = BTreeMap<String, u32>;

/// Implements `FromConfig` for a unit-like test plugin built with `Default`.
macro_rules! from_config {
    ($ty:ty, $name:literal) => {
        impl FromConfig for $ty {
            const NAME: &'static str = $name;
            type Config = NoConfig;
            fn build(_config: NoConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
                Ok(<$ty>::default())
            }
        }
    };
}

/// Allows `alice`, denies `mallory`, abstains on anyone else.
#[derive(Default)]
struct UserAuth;
impl Plugin for UserAuth {
    const HOOKS: Hooks = Hooks::AUTHENTICATE;
    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        match session.username.as_deref() {
            Some("alice") => Verdict::Allow,
            Some("mallory") => Verdict::Deny,
            _ => Verdict::Abstain,
        }
    }
}
from_config!(UserAuth, "user_auth");

/// Allows everyone.
#[derive(Default)]
struct AllowAll;
impl Plugin for AllowAll {
    const HOOKS: Hooks = Hooks::AUTHENTICATE;
    async fn authenticate(&self, _session: &SessionInfo) -> Verdict {
        Verdict::Allow
    }
}
from_config!(AllowAll, "allow_all");

/// Has an `authenticate` hook that never has an opinion; counts its calls.
#[derive(Default)]
struct AbstainAuth(AtomicUsize);
impl Plugin for AbstainAuth {
    const HOOKS: Hooks = Hooks::AUTHENTICATE;
    async fn authenticate(&self, _session: &SessionInfo) -> Verdict {
        self.0.fetch_add(1, Ordering::SeqCst);
        Verdict::Abstain
    }
}
from_config!(AbstainAuth, "abstain_auth");

/// Would deny everyone, but its `HOOKS` leave `authenticate` out, so the broker must not ask it.
#[derive(Default)]
struct Bystander {
    asked: AtomicUsize,
    connected: AtomicUsize,
}
impl Plugin for Bystander {
    const HOOKS: Hooks = Hooks::CLIENT_CONNECTED;
    async fn on_broker_client_connected(&self, _client_id: &str, _session: &SessionInfo) {
        self.connected.fetch_add(1, Ordering::SeqCst);
    }
    async fn authenticate(&self, _session: &SessionInfo) -> Verdict {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Verdict::Deny
    }
}
from_config!(Bystander, "bystander");

/// Denies subscribing to `secret/...`, publishing to `ro/...`, and `blocked` receiving from
/// `priv/...`; abstains on everything else.
#[derive(Default)]
struct TopicRules;
impl Plugin for TopicRules {
    const HOOKS: Hooks = Hooks::TOPIC_FILTERING;
    async fn topic_filtering(&self, session: &SessionInfo, topic: &str, action: Action) -> Verdict {
        let denied = match action {
            Action::Subscribe => topic.starts_with("secret/"),
            Action::Publish => topic.starts_with("ro/"),
            Action::Receive => &*session.client_id == "blocked" && topic.starts_with("priv/"),
        };
        if denied {
            Verdict::Deny
        } else {
            Verdict::Abstain
        }
    }
}
from_config!(TopicRules, "topic_rules");

/// Allows every topic action.
#[derive(Default)]
struct TopicAllow;
impl Plugin for TopicAllow {
    const HOOKS: Hooks = Hooks::TOPIC_FILTERING;
    async fn topic_filtering(&self, _s: &SessionInfo, _topic: &str, _a: Action) -> Verdict {
        Verdict::Allow
    }
}
from_config!(TopicAllow, "topic_allow");

/// Abstains on every topic action; counts its calls per action.
#[derive(Default)]
struct TopicAbstain([AtomicUsize; 3]);
impl TopicAbstain {
    fn calls(&self, action: Action) -> usize {
        self.0[action as usize].load(Ordering::SeqCst)
    }
}
impl Plugin for TopicAbstain {
    const HOOKS: Hooks = Hooks::TOPIC_FILTERING;
    async fn topic_filtering(&self, _s: &SessionInfo, _topic: &str, action: Action) -> Verdict {
        self.0[action as usize].fetch_add(1, Ordering::SeqCst);
        Verdict::Abstain
    }
}
from_config!(TopicAbstain, "topic_abstain");

/// Connects `client_id` as `user` and returns the CONNACK; a refused client must then be closed.
async fn try_connect<P: Plugin>(
    broker: &TestBroker<P>,
    client_id: &str,
    user: Option<&str>,
) -> (RawClient, ConnAck) {
    let mut connect = connect_packet(client_id, true);
    connect.username = user.map(ByteString::from);
    let (mut client, ack) = RawClient::connect_with(broker.addr, connect).await;
    if ack.code != ReasonCode::Success {
        client.expect_closed(RECV_TIMEOUT).await;
    }
    (client, ack)
}

const ADMITTED: ConnAck = ConnAck {
    session_present: false,
    code: ReasonCode::Success,
    properties: None,
};
const REFUSED: ConnAck = ConnAck {
    session_present: false,
    code: ReasonCode::NotAuthorized,
    properties: None,
};

/// Asserts the CONNACK each `(user, expected)` gets from a broker over `P` with `yaml`.
async fn assert_auth<P: BuildPlugins>(yaml: &str, cases: &[(Option<&str>, ConnAck)]) {
    let broker = TestBroker::<P>::start_with_plugins(yaml).await;
    for (n, (user, expected)) in cases.iter().enumerate() {
        let (_client, ack) = try_connect(&broker, &format!("client{n}"), *user).await;
        assert_eq!(
            ack,
            *expected,
            "user {user:?} with plugins {}",
            std::any::type_name::<P>()
        );
    }
}

#[tokio::test]
async fn without_an_authenticate_hook_everyone_is_admitted() {
    assert_auth::<()>(
        "plugins: {}\n",
        &[(None, ADMITTED), (Some("mallory"), ADMITTED)],
    )
    .await;

    // A tuple whose members' HOOKS leave out `authenticate`: no auth layer, and the bystander's
    // (denying) authenticate is never called.
    type P = (Bystander, TopicAbstain);
    assert!(!P::HOOKS.contains(Hooks::AUTHENTICATE));
    let broker = TestBroker::<P>::start_with_plugins("plugins: {}\n").await;
    for user in [None, Some("mallory")] {
        let (_client, ack) = try_connect(&broker, "c", user).await;
        assert_eq!(ack, ADMITTED, "user {user:?}");
    }
    let bystander = &broker.handle.plugins().0;
    wait_until("client_connected fired twice", || {
        bystander.connected.load(Ordering::SeqCst) == 2
    })
    .await;
    assert_eq!(bystander.asked.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn one_allow_admits_and_any_deny_refuses_with_0x05() {
    // Alone: Allow admits; Deny and Abstain refuse.
    assert_auth::<UserAuth>(
        "plugins: {}\n",
        &[
            (Some("alice"), ADMITTED),
            (Some("mallory"), REFUSED),
            (Some("bob"), REFUSED),
            (None, REFUSED),
        ],
    )
    .await;
    // With a plugin that allows everyone: Abstain + Allow admits, Deny + Allow refuses, in
    // either order and nested.
    let cases = [
        (Some("alice"), ADMITTED),
        (None, ADMITTED),
        (Some("mallory"), REFUSED),
    ];
    assert_auth::<(UserAuth, AllowAll)>("plugins: {}\n", &cases).await;
    assert_auth::<(AllowAll, UserAuth)>("plugins: {}\n", &cases).await;
    assert_auth::<(AllowAll, (AbstainAuth, (UserAuth,)))>("plugins: {}\n", &cases).await;
}

#[tokio::test]
async fn only_abstaining_auth_plugins_admit_nobody() {
    let broker = TestBroker::<(AbstainAuth, Bystander)>::start_with_plugins("plugins: {}\n").await;
    for user in [None, Some("alice")] {
        let (_client, ack) = try_connect(&broker, "c", user).await;
        assert_eq!(ack, REFUSED, "user {user:?}");
    }
    let plugins = broker.handle.plugins();
    assert_eq!(plugins.0.0.load(Ordering::SeqCst), 2, "authenticate calls");
    assert_eq!(plugins.1.connected.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_auth_plugin_whose_section_is_absent_admits_nobody() {
    // Option<UserAuth> is off without its section: no plugin answers, so nobody is admitted...
    assert_auth::<Option<UserAuth>>(
        "plugins: {}\n",
        &[(Some("alice"), REFUSED), (None, REFUSED)],
    )
    .await;
    assert_auth::<(Option<UserAuth>, Bystander)>("plugins: {}\n", &[(Some("alice"), REFUSED)])
        .await;
    // ...and with its section it decides.
    assert_auth::<Option<UserAuth>>(
        "plugins:\n  user_auth:\n",
        &[
            (Some("alice"), ADMITTED),
            (Some("mallory"), REFUSED),
            (None, REFUSED),
        ],
    )
    .await;
}

/// Subscribes `client` to `filters` and asserts the SUBACK codes.
async fn subscribe(client: &mut RawClient, filters: &[(&str, QoS)], codes: &[SubAckCode]) {
    let ack = client.subscribe(1, filters).await;
    assert_eq!(ack.codes, codes, "SUBACK for {filters:?}");
}

const Q1: QoS = QoS::AtLeastOnce;
const GRANTED: SubAckCode = SubAckCode::Success(QoS::AtLeastOnce);

/// Runs the three topic scenarios against a broker over `P`; `denies` says whether the Deny
/// rules apply (false when the denying plugin is absent or off).
async fn topic_scenarios<P: BuildPlugins>(broker: &TestBroker<P>, denies: bool) {
    let mut publisher = RawClient::connect(broker.addr, "publisher").await;

    // Subscribe: a denied filter gets 0x80 in its own slot, the others are granted.
    let mut sub = RawClient::connect(broker.addr, "sub").await;
    let slot = if denies { SubAckCode::FAILURE } else { GRANTED };
    subscribe(
        &mut sub,
        &[("secret/x", Q1), ("open/#", Q1), ("secret/#", Q1)],
        &[slot, GRANTED, slot],
    )
    .await;
    publisher.publish("secret/x", "s", Q1, false).await;
    publisher.publish("open/1", "marker", Q1, false).await;
    if denies {
        // Not subscribed to secret/x: the marker is the first message.
        sub.expect_publish_and_ack("open/1", "marker", Q1, false)
            .await;
    } else {
        sub.expect_publish_and_ack("secret/x", "s", Q1, false).await;
        sub.expect_publish_and_ack("open/1", "marker", Q1, false)
            .await;
    }

    // Publish: a denied publish is still acknowledged (at every QoS) but not routed nor
    // retained.
    let mut reader = RawClient::connect(broker.addr, "reader").await;
    subscribe(
        &mut reader,
        &[("ro/#", Q1), ("rw/#", Q1)],
        &[GRANTED, GRANTED],
    )
    .await;
    publisher
        .publish("ro/0", "p0", QoS::AtMostOnce, false)
        .await;
    publisher.publish("ro/1", "p1", Q1, true).await;
    publisher
        .publish("ro/2", "p2", QoS::ExactlyOnce, false)
        .await;
    publisher.publish("rw/x", "marker", Q1, false).await;
    if denies {
        assert_eq!(
            broker.handle.retained_count(),
            0,
            "a denied publish is kept"
        );
    } else {
        reader
            .expect_publish("ro/0", "p0", QoS::AtMostOnce, false)
            .await;
        reader.expect_publish_and_ack("ro/1", "p1", Q1, false).await;
        reader.expect_publish_and_ack("ro/2", "p2", Q1, false).await;
        assert_eq!(broker.handle.retained_count(), 1);
    }
    reader
        .expect_publish_and_ack("rw/x", "marker", Q1, false)
        .await;

    // Receive: checked per subscriber; the denied one misses the message, the other gets it.
    let mut blocked = RawClient::connect(broker.addr, "blocked").await;
    let mut other = RawClient::connect(broker.addr, "other").await;
    for client in [&mut blocked, &mut other] {
        subscribe(
            client,
            &[("priv/#", Q1), ("pub/#", Q1)],
            &[GRANTED, GRANTED],
        )
        .await;
    }
    publisher.publish("priv/a", "private", Q1, false).await;
    publisher.publish("pub/a", "marker", Q1, false).await;
    other
        .expect_publish_and_ack("priv/a", "private", Q1, false)
        .await;
    other
        .expect_publish_and_ack("pub/a", "marker", Q1, false)
        .await;
    if !denies {
        blocked
            .expect_publish_and_ack("priv/a", "private", Q1, false)
            .await;
    }
    blocked
        .expect_publish_and_ack("pub/a", "marker", Q1, false)
        .await;
    blocked.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn any_topic_deny_denies_even_against_an_allow() {
    // Allow before the Deny, and an Abstain after it.
    let broker =
        TestBroker::<(TopicAllow, TopicRules, TopicAbstain)>::start_with_plugins("plugins: {}\n")
            .await;
    topic_scenarios(&broker, true).await;
    // Deny first, nested.
    let broker =
        TestBroker::<((TopicRules, TopicAbstain), TopicAllow)>::start_with_plugins("plugins: {}\n")
            .await;
    topic_scenarios(&broker, true).await;
}

#[tokio::test]
async fn abstain_is_ignored_and_all_abstain_allows() {
    // Abstain + Deny denies; Abstain + Abstain allows.
    let broker =
        TestBroker::<(TopicAbstain, TopicRules)>::start_with_plugins("plugins: {}\n").await;
    topic_scenarios(&broker, true).await;

    // Only abstaining plugins (the denying one is off: its section is absent): all allowed,
    // although the hook was asked about every action.
    let broker =
        TestBroker::<(TopicAbstain, Option<TopicRules>)>::start_with_plugins("plugins: {}\n").await;
    assert!(broker.handle.plugins().1.is_none());
    topic_scenarios(&broker, false).await;
    let abstain = &broker.handle.plugins().0;
    for action in [Action::Subscribe, Action::Publish, Action::Receive] {
        assert!(abstain.calls(action) > 0, "never asked about {action:?}");
    }
}

/// Refuses the user `banned` with 0x8A Banned and a reason string, refuses `alice` with a code
/// CONNACK cannot carry (0x10), allows everyone else; refuses subscriptions under `quota/` with
/// 0x97 Quota exceeded.
#[derive(Default)]
struct Bouncer;
impl Plugin for Bouncer {
    const HOOKS: Hooks = Hooks::AUTHENTICATE.union(Hooks::TOPIC_FILTERING);
    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        match session.username.as_deref() {
            Some("banned") => Verdict::refuse(ReasonCode::Banned, "go away"),
            Some("alice") => Verdict::refuse(ReasonCode::NoMatchingSubscribers, "odd code"),
            _ => Verdict::Allow,
        }
    }
    async fn topic_filtering(&self, _session: &SessionInfo, topic: &str, _a: Action) -> Verdict {
        if topic.starts_with("quota/") {
            Verdict::refuse(ReasonCode::QuotaExceeded, "too many")
        } else {
            Verdict::Abstain
        }
    }
}
from_config!(Bouncer, "bouncer");

/// Sends `packet` encoded for MQTT 5.0 on `stream` and returns the next packet read back.
async fn exchange_v5(stream: &mut tokio::net::TcpStream, packet: Packet) -> Packet {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut out = bytes::BytesMut::new();
    packet.encode_as(ProtocolVersion::V5, &mut out);
    stream.write_all(&out).await.expect("write");
    let mut buf = bytes::BytesMut::new();
    tokio::time::timeout(RECV_TIMEOUT, async {
        loop {
            if let Some(p) = decode_as(&mut buf, usize::MAX, ProtocolVersion::V5).expect("valid") {
                return p;
            }
            assert!(stream.read_buf(&mut buf).await.expect("read") > 0, "closed");
        }
    })
    .await
    .expect("an answer in time")
}

/// A v5 CONNECT of `user`.
fn connect_v5(user: &str) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol: ProtocolVersion::V5,
        username: Some(ByteString::from(user)),
        ..connect_packet(user, true)
    }))
}

#[tokio::test]
async fn a_refusal_reaches_a_v5_client_with_its_reason_code_and_string() {
    let broker = TestBroker::<Bouncer>::start_with_plugins("plugins: {}\n").await;
    let reason_string = |props: &Option<Box<Properties>>| {
        props
            .as_ref()
            .and_then(|p| p.reason_string.as_ref().map(|s| s.to_string()))
    };
    // CONNACK: the plugin's code and string; a code CONNACK cannot carry becomes 0x87.
    for (user, code, text) in [
        ("banned", ReasonCode::Banned, Some("go away")),
        ("alice", ReasonCode::NotAuthorized, Some("odd code")),
    ] {
        let mut stream = tokio::net::TcpStream::connect(broker.addr)
            .await
            .expect("tcp");
        let Packet::ConnAck(ack) = exchange_v5(&mut stream, connect_v5(user)).await else {
            panic!("expected CONNACK");
        };
        assert_eq!(ack.code, code, "{user}");
        assert_eq!(reason_string(&ack.properties).as_deref(), text, "{user}");
    }
    // A 3.1.1 client is refused with 0x05 (its CONNACK has no room for more).
    let (_, ack) = try_connect(&broker, "banned", Some("banned")).await;
    assert_eq!(ack.code, ReasonCode::NotAuthorized);

    // SUBACK: the refused filter gets 0x97 and the reason string, the other is granted.
    let mut stream = tokio::net::TcpStream::connect(broker.addr)
        .await
        .expect("tcp");
    let Packet::ConnAck(ack) = exchange_v5(&mut stream, connect_v5("bob")).await else {
        panic!("expected CONNACK");
    };
    assert_eq!(ack.code, ReasonCode::Success);
    let subscribe = Packet::Subscribe(Subscribe {
        packet_id: NonZeroU16::MIN,
        filters: vec![
            (ByteString::from("quota/a"), QoS::AtLeastOnce.into()),
            (ByteString::from("free/a"), QoS::AtLeastOnce.into()),
        ],
        properties: None,
    });
    let Packet::SubAck(suback) = exchange_v5(&mut stream, subscribe).await else {
        panic!("expected SUBACK");
    };
    assert_eq!(
        suback.codes,
        [
            SubAckCode::Failure(ReasonCode::QuotaExceeded),
            SubAckCode::Success(QoS::AtLeastOnce)
        ]
    );
    assert_eq!(
        reason_string(&suback.properties).as_deref(),
        Some("too many")
    );

    // PUBACK: a publish the plugin refuses gets its code (0x97) instead of 0x87.
    let publish = Packet::Publish(Publish {
        packet_id: Some(NonZeroU16::MIN),
        ..Publish::new("quota/b", &b"x"[..], QoS::AtLeastOnce, false)
    });
    let Packet::PubAck(puback) = exchange_v5(&mut stream, publish).await else {
        panic!("expected PUBACK");
    };
    assert_eq!(puback.reason, ReasonCode::QuotaExceeded);
    assert_eq!(
        reason_string(&puback.properties).as_deref(),
        Some("too many")
    );
}
