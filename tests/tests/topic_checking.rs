//! The topic-checking plugins through real sockets: [`TopicTaboo`] and [`TopicAcl`] deciding
//! subscriptions (SUBACK 0x80), publications (acknowledged but not routed, the connection kept)
//! and deliveries (checked per subscriber at fan-out).

use std::time::Duration;

use amqtt_core::broker::{Broker, BrokerError};
use amqtt_core::codec::{ByteString, QoS, ReasonCode, SubAckCode};
use amqtt_core::config::BrokerConfig;
use amqtt_core::plugin::BuildPlugins;
use amqtt_plugins::AnonymousAuth;
use amqtt_plugins::topic_checking::{TopicAcl, TopicTaboo};
use amqtt_tests::{RawClient, TestBroker, connect_packet};

// A client that receives its own message publishes it at QoS 0: at QoS 1 the broker may send the
// delivery before the PUBACK, and `RawClient::publish` expects the PUBACK first.

/// How long a test waits to be sure a message is not delivered.
const SILENCE: Duration = Duration::from_millis(300);

const OK0: SubAckCode = SubAckCode::Success(QoS::AtMostOnce);
const OK1: SubAckCode = SubAckCode::Success(QoS::AtLeastOnce);
const REFUSED: SubAckCode = SubAckCode::FAILURE;

type Taboo = (Option<AnonymousAuth>, TopicTaboo);
type Acl = (Option<AnonymousAuth>, TopicAcl);

/// Anonymous authentication admitting everyone, then `plugins` (indented two spaces).
fn with_auth(plugins: &str) -> String {
    format!("plugins:\n  auth_anonymous:\n    allow_anonymous: true\n{plugins}")
}

async fn taboo_broker() -> TestBroker<Taboo> {
    TestBroker::start_with_plugins(&with_auth("  topic_taboo:\n")).await
}

async fn acl_broker(acl: &str) -> TestBroker<Acl> {
    TestBroker::start_with_plugins(&with_auth(&format!("  topic_acl:\n{acl}"))).await
}

/// Connects as `username` (or without one) and asserts the connection is accepted.
async fn connect_as<P: amqtt_core::plugin::Plugin>(
    broker: &TestBroker<P>,
    client_id: &str,
    username: Option<&str>,
) -> RawClient {
    let mut connect = connect_packet(client_id, true);
    connect.username = username.map(ByteString::from);
    let (client, ack) = RawClient::connect_with(broker.addr, connect).await;
    assert_eq!(ack.code, ReasonCode::Success, "{client_id}");
    client
}

/// The SUBACK codes for `filters`, each asked at QoS 1.
async fn subscribe_codes(client: &mut RawClient, id: u16, filters: &[&str]) -> Vec<SubAckCode> {
    let filters: Vec<(&str, QoS)> = filters.iter().map(|f| (*f, QoS::AtLeastOnce)).collect();
    client.subscribe(id, &filters).await.codes
}

/// Binds a broker over `P` with `plugins` as its `plugins:` section, expecting an error.
async fn bind_error<P: BuildPlugins>(plugins: &str) -> String {
    let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:0\n{plugins}");
    let config = BrokerConfig::from_yaml(&yaml).expect("the YAML itself is valid");
    let result: Result<Broker<P>, BrokerError> = Broker::<P>::bind(config).await;
    match result {
        Ok(_) => panic!("`{plugins}` must not bind"),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// TopicTaboo

#[tokio::test]
async fn taboo_subscription_is_refused_alone_in_its_subscribe() {
    let broker = taboo_broker().await;
    let mut bob = connect_as(&broker, "bob", Some("bob")).await;
    assert_eq!(
        subscribe_codes(&mut bob, 1, &["prohibited", "news/#", "data/classified"]).await,
        [REFUSED, OK1, REFUSED]
    );
    let mut anonymous = connect_as(&broker, "anon", None).await;
    assert_eq!(
        subscribe_codes(&mut anonymous, 1, &["top-secret", "top-secret/x"]).await,
        [REFUSED, OK1]
    );
    let mut admin = connect_as(&broker, "admin", Some("admin")).await;
    assert_eq!(
        subscribe_codes(&mut admin, 1, &["prohibited", "top-secret"]).await,
        [OK1, OK1]
    );
}

#[tokio::test]
async fn taboo_publish_is_acknowledged_not_routed_and_the_connection_stays() {
    let broker = taboo_broker().await;
    // The subscriber is `admin`, so only the publish check can stop the message.
    let mut admin = connect_as(&broker, "admin-sub", Some("admin")).await;
    assert_eq!(
        subscribe_codes(&mut admin, 1, &["top-secret", "marker"]).await,
        [OK1, OK1]
    );
    let mut bob = connect_as(&broker, "bob", Some("bob")).await;
    bob.publish("top-secret", "leak", QoS::AtLeastOnce, false)
        .await; // PUBACK asserted
    bob.publish("marker", "after", QoS::AtLeastOnce, false)
        .await;
    // Messages from one publisher keep their order: the marker first means no leak.
    admin
        .expect_publish_and_ack("marker", "after", QoS::AtLeastOnce, false)
        .await;
    admin.expect_silence(SILENCE).await;
    // Bob's connection is still open and usable.
    bob.publish("top-secret", "again", QoS::AtLeastOnce, false)
        .await;
    bob.expect_silence(SILENCE).await;

    // `admin` may publish it, and receives it.
    let mut admin_pub = connect_as(&broker, "admin-pub", Some("admin")).await;
    admin_pub
        .publish("top-secret", "ok", QoS::AtLeastOnce, false)
        .await;
    admin
        .expect_publish_and_ack("top-secret", "ok", QoS::AtLeastOnce, false)
        .await;
}

#[tokio::test]
async fn taboo_messages_do_not_reach_non_admin_wildcard_subscribers() {
    let broker = taboo_broker().await;
    let mut bob = connect_as(&broker, "bob", Some("bob")).await;
    assert_eq!(subscribe_codes(&mut bob, 1, &["#"]).await, [OK1]);
    let mut admin = connect_as(&broker, "admin", Some("admin")).await;
    admin
        .publish("prohibited", "for admins", QoS::AtLeastOnce, false)
        .await;
    admin
        .publish("marker", "for all", QoS::AtLeastOnce, false)
        .await;
    bob.expect_publish_and_ack("marker", "for all", QoS::AtLeastOnce, false)
        .await;
    bob.expect_silence(SILENCE).await;
}

// ---------------------------------------------------------------------------------------------
// TopicAcl

#[tokio::test]
async fn acl_subscribe_is_granted_only_within_the_users_filters() {
    let broker = acl_broker(
        "    subscribe_acl:\n      \
         bob: [\"sensors/+/temp\", \"home/#\"]\n      \
         empty: []\n",
    )
    .await;
    let mut bob = connect_as(&broker, "bob", Some("bob")).await;
    assert_eq!(
        subscribe_codes(
            &mut bob,
            1,
            &["sensors/+/temp", "sensors/#", "home/+/light", "other", "#"]
        )
        .await,
        [OK1, REFUSED, OK1, REFUSED, REFUSED]
    );
    // A user with no entry, and a user with an empty one, are refused everything.
    let mut dave = connect_as(&broker, "dave", Some("dave")).await;
    assert_eq!(subscribe_codes(&mut dave, 1, &["home/x"]).await, [REFUSED]);
    let mut empty = connect_as(&broker, "empty", Some("empty")).await;
    assert_eq!(subscribe_codes(&mut empty, 1, &["home/x"]).await, [REFUSED]);
    // A client without a user name is `anonymous`, which has no entry here.
    let mut anonymous = connect_as(&broker, "anon", None).await;
    assert_eq!(
        subscribe_codes(&mut anonymous, 1, &["home/x"]).await,
        [REFUSED]
    );
}

#[tokio::test]
async fn acl_publish_denied_is_not_delivered_and_the_connection_stays() {
    // Only publishing is restricted: subscribing to anything is allowed.
    let broker = acl_broker("    publish_acl:\n      alice: [\"sensors/#\"]\n").await;
    let mut watcher = connect_as(&broker, "watcher", Some("carol")).await;
    assert_eq!(
        subscribe_codes(&mut watcher, 1, &["#", "anything/+/goes"]).await,
        [OK1, OK1]
    );
    let mut alice = connect_as(&broker, "alice", Some("alice")).await;
    let mut bob = connect_as(&broker, "bob", Some("bob")).await;
    bob.publish("sensors/1", "no entry", QoS::AtLeastOnce, false)
        .await;
    alice
        .publish("other/1", "outside", QoS::AtLeastOnce, false)
        .await;
    alice
        .publish("sensors/1", "inside", QoS::AtLeastOnce, false)
        .await;
    watcher
        .expect_publish_and_ack("sensors/1", "inside", QoS::AtLeastOnce, false)
        .await;
    watcher.expect_silence(SILENCE).await;
    // Both denied publishers still have a working connection.
    bob.publish("sensors/2", "still here", QoS::ExactlyOnce, false)
        .await;
    alice
        .publish("other/2", "still here", QoS::AtMostOnce, false)
        .await;
    watcher.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn acl_receive_is_checked_for_each_subscriber() {
    let broker = acl_broker(
        "    receive_acl:\n      \
         alice: [\"news/#\"]\n      \
         bob: [\"news/sports\"]\n",
    )
    .await;
    let mut alice = connect_as(&broker, "alice", Some("alice")).await;
    let mut bob = connect_as(&broker, "bob", Some("bob")).await;
    let mut carol = connect_as(&broker, "carol", Some("carol")).await;
    assert_eq!(subscribe_codes(&mut alice, 1, &["#"]).await, [OK1]);
    assert_eq!(subscribe_codes(&mut bob, 1, &["news/#"]).await, [OK1]);
    assert_eq!(subscribe_codes(&mut carol, 1, &["+/+"]).await, [OK1]);

    let mut publisher = connect_as(&broker, "publisher", None).await;
    publisher
        .publish("news/weather", "rain", QoS::AtLeastOnce, false)
        .await;
    publisher
        .publish("news/sports", "goal", QoS::AtLeastOnce, false)
        .await;

    alice
        .expect_publish_and_ack("news/weather", "rain", QoS::AtLeastOnce, false)
        .await;
    alice
        .expect_publish_and_ack("news/sports", "goal", QoS::AtLeastOnce, false)
        .await;
    bob.expect_publish_and_ack("news/sports", "goal", QoS::AtLeastOnce, false)
        .await;
    bob.expect_silence(SILENCE).await;
    // Carol has no receive entry: subscribed, but nothing is delivered.
    carol.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn acl_anonymous_entry_applies_to_clients_without_a_user_name() {
    let broker = acl_broker(
        "    subscribe_acl:\n      anonymous: [\"public/#\"]\n    \
         publish_acl:\n      anonymous: [\"public/+\"]\n",
    )
    .await;
    let mut anonymous = connect_as(&broker, "anon", None).await;
    assert_eq!(
        subscribe_codes(&mut anonymous, 1, &["public/#", "private/#"]).await,
        [OK1, REFUSED]
    );
    anonymous
        .publish("public/a/b", "too deep", QoS::AtLeastOnce, false)
        .await;
    anonymous
        .publish("public/a", "fine", QoS::AtMostOnce, false)
        .await;
    anonymous
        .expect_publish_and_ack("public/a", "fine", QoS::AtMostOnce, false)
        .await;
    anonymous.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn acl_unconfigured_actions_are_allowed() {
    // Only receiving is restricted; subscribing and publishing anything works.
    let broker = acl_broker("    receive_acl:\n      alice: [\"#\"]\n").await;
    let mut alice = connect_as(&broker, "alice", Some("alice")).await;
    assert_eq!(
        subscribe_codes(&mut alice, 1, &["#", "a/+/c"]).await,
        [OK1, OK1]
    );
    let mut bob = connect_as(&broker, "bob", Some("bob")).await;
    bob.publish("a/b", "hello", QoS::AtLeastOnce, false).await;
    alice
        .expect_publish_and_ack("a/b", "hello", QoS::AtLeastOnce, false)
        .await;
}

#[tokio::test]
async fn acl_dollar_sys_needs_its_own_entry() {
    let broker = acl_broker(
        "    subscribe_acl:\n      \
         alice: [\"#\"]\n      \
         root: [\"#\", \"$SYS/#\"]\n",
    )
    .await;
    let mut alice = connect_as(&broker, "alice", Some("alice")).await;
    assert_eq!(
        subscribe_codes(&mut alice, 1, &["$SYS/#", "$SYS/broker/uptime", "#"]).await,
        [REFUSED, REFUSED, OK1]
    );
    let mut root = connect_as(&broker, "root", Some("root")).await;
    let codes = root
        .subscribe(
            1,
            &[
                ("$SYS/#", QoS::AtMostOnce),
                ("$SYS/broker/+", QoS::AtMostOnce),
            ],
        )
        .await
        .codes;
    assert_eq!(codes, [OK0, OK0]);
}

#[tokio::test]
async fn acl_admin_has_full_access_unless_listed() {
    let unlisted = acl_broker(
        "    subscribe_acl:\n      alice: [\"a\"]\n    publish_acl:\n      alice: [\"a\"]\n",
    )
    .await;
    let mut admin = connect_as(&unlisted, "admin", Some("admin")).await;
    assert_eq!(
        subscribe_codes(&mut admin, 1, &["#", "$SYS/#"]).await,
        [OK1, OK1]
    );
    admin.publish("x/y", "mine", QoS::AtMostOnce, false).await;
    admin
        .expect_publish_and_ack("x/y", "mine", QoS::AtMostOnce, false)
        .await;

    let listed = acl_broker("    subscribe_acl:\n      admin: [\"ops/#\"]\n").await;
    let mut admin = connect_as(&listed, "admin", Some("admin")).await;
    assert_eq!(
        subscribe_codes(&mut admin, 1, &["ops/+", "#"]).await,
        [OK1, REFUSED]
    );
}

#[tokio::test]
async fn acl_legacy_acl_alone_restricts_subscriptions() {
    let broker = acl_broker("    acl:\n      bob: [\"legacy/#\"]\n").await;
    let mut bob = connect_as(&broker, "bob", Some("bob")).await;
    assert_eq!(
        subscribe_codes(&mut bob, 1, &["legacy/x", "modern/x"]).await,
        [OK1, REFUSED]
    );
    // Publishing is not restricted by `acl`.
    bob.publish("legacy/x", "hi", QoS::AtMostOnce, false).await;
    bob.expect_publish_and_ack("legacy/x", "hi", QoS::AtMostOnce, false)
        .await;
}

#[tokio::test]
async fn acl_with_subscribe_acl_is_a_startup_error() {
    let message = bind_error::<Acl>(
        "plugins:\n  topic_acl:\n    acl:\n      bob: [\"a\"]\n    subscribe-acl:\n      bob: [\"a\"]\n",
    )
    .await;
    assert!(message.contains("topic_acl"), "{message}");
    assert!(message.contains("`acl` and `subscribe_acl`"), "{message}");
}

#[tokio::test]
async fn acl_invalid_filter_is_a_startup_error_naming_user_and_filter() {
    let message = bind_error::<Acl>(
        "plugins:\n  topic_acl:\n    publish_acl:\n      bob: [\"ok\", \"a/#/b\"]\n",
    )
    .await;
    assert!(message.contains("topic_acl"), "{message}");
    assert!(message.contains("publish_acl"), "{message}");
    assert!(message.contains("`bob`"), "{message}");
    assert!(message.contains("`a/#/b`"), "{message}");
}

#[tokio::test]
async fn acl_unknown_field_is_a_startup_error() {
    let message = bind_error::<Acl>("plugins:\n  topic_acl:\n    subscribe_alc: {}\n").await;
    assert!(message.contains("subscribe_alc"), "{message}");
}

/// aMQTT's documented configuration style: the `plugins:` map with dotted class paths, ACLs as
/// sequences of one-entry mappings, and the `-` spellings.
const AMQTT_DOCS_STYLE: &str = r#"plugins:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: true
  amqtt.plugins.topic_checking.TopicTabooPlugin:
  amqtt.plugins.topic_checking.TopicAccessControlListPlugin:
    subscribe-acl:
      - test: ["repositories/+/master", "calendar/#", "data/memes"]
      - anonymous: ["public/#"]
      - test: ["prohibited"]
    publish_acl:
      - test: ["repositories/+/master", "calendar/#"]
      - anonymous: []
    receive-acl:
"#;

type Stock = (Option<AnonymousAuth>, Option<TopicTaboo>, Option<TopicAcl>);

#[tokio::test]
async fn amqtt_documentation_style_config_loads_and_behaves() {
    let broker = TestBroker::<Stock>::start_with_plugins(AMQTT_DOCS_STYLE).await;
    let (auth, taboo, acl) = broker.handle.plugins();
    assert!(auth.is_some() && taboo.is_some() && acl.is_some());

    let mut test = connect_as(&broker, "test", Some("test")).await;
    // Entries for the same user are merged; the taboo plugin still denies `prohibited`.
    assert_eq!(
        subscribe_codes(
            &mut test,
            1,
            &[
                "repositories/amqtt/master",
                "calendar/#",
                "data/memes",
                "data/#",
                "prohibited"
            ]
        )
        .await,
        [OK1, OK1, OK1, REFUSED, REFUSED]
    );
    test.publish("calendar/today", "meeting", QoS::AtMostOnce, false)
        .await;
    test.expect_publish_and_ack("calendar/today", "meeting", QoS::AtMostOnce, false)
        .await;
    // `receive-acl` is null: receiving is not restricted. Publishing `data/memes` is not listed.
    test.publish("data/memes", "cat", QoS::AtLeastOnce, false)
        .await;
    test.expect_silence(SILENCE).await;

    let mut anonymous = connect_as(&broker, "anon", None).await;
    assert_eq!(
        subscribe_codes(&mut anonymous, 1, &["public/#", "calendar/#"]).await,
        [OK1, REFUSED]
    );
    // An empty publish list denies everything to anonymous.
    anonymous
        .publish("public/x", "hi", QoS::AtLeastOnce, false)
        .await;
    anonymous.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn acl_plain_mapping_style_loads_too() {
    let broker = TestBroker::<Stock>::start_with_plugins(&with_auth(
        "  topic_acl:\n    subscribe_acl:\n      test: [\"a/#\"]\n      anonymous: [\"b\"]\n",
    ))
    .await;
    let (_, taboo, _) = broker.handle.plugins();
    assert!(
        taboo.is_none(),
        "the taboo plugin is off without its section"
    );
    let mut test = connect_as(&broker, "test", Some("test")).await;
    assert_eq!(
        subscribe_codes(&mut test, 1, &["a/+", "b"]).await,
        [OK1, REFUSED]
    );
    let mut anonymous = connect_as(&broker, "anon", None).await;
    assert_eq!(
        subscribe_codes(&mut anonymous, 1, &["b", "a/+", "prohibited"]).await,
        [OK1, REFUSED, REFUSED]
    );
}
