//! Whole aMQTT broker configuration files, run by the stock plugin set ([`PackagedPlugins`])
//! over real sockets: aMQTT's own default file, the documentation's setup of anonymous
//! authentication with a password file and ACLs, the taboo setup, the deprecated `auth:` /
//! `topic-check:` sections, and the legacy list form of `plugins:`.
//!
//! Each file is the one an aMQTT user would write, except that the default listener binds
//! `127.0.0.1:0` and `$SYS` publishes every second so the counters can be watched.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use amqtt_core::broker::Broker;
use amqtt_core::codec::{ByteString, Packet, QoS, ReasonCode, SubAckCode};
use amqtt_core::config::{BrokerConfig, DEFAULT_BROKER_YAML};
use amqtt_plugins::PackagedPlugins;
use amqtt_tests::{RawClient, TestBroker, connect_packet};
use argon2::{Argon2, PasswordHasher as _};
use bytes::Bytes;
use tokio::time::Instant;

/// How long a test waits to be sure a message is not delivered.
const SILENCE: Duration = Duration::from_millis(300);

/// How long a test waits for a `$SYS` publication showing an expected value (`sys_interval` is
/// one second in every file here).
const SYS_WAIT: Duration = Duration::from_secs(6);

const OK0: SubAckCode = SubAckCode::Success(QoS::AtMostOnce);
const OK1: SubAckCode = SubAckCode::Success(QoS::AtLeastOnce);
const OK2: SubAckCode = SubAckCode::Success(QoS::ExactlyOnce);
const REFUSED: SubAckCode = SubAckCode::FAILURE;

/// aMQTT's `scripts/default_broker.yaml`, with only the bind address (`0.0.0.0:1883`) and
/// `sys_interval` (20) changed.
const AMQTT_DEFAULT_BROKER_YAML: &str = "---
listeners:
  default:
    type: tcp
    bind: 127.0.0.1:0
plugins:
  amqtt.plugins.logging_amqtt.EventLoggerPlugin:
  amqtt.plugins.logging_amqtt.PacketLoggerPlugin:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: true
  amqtt.plugins.sys.broker.BrokerSysPlugin:
    sys_interval: 1
";

// ---------------------------------------------------------------------------------------------
// Helpers

/// A temporary directory, removed with its contents when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "amqtt-configs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a password file in `dir`: `alice` with an argon2id hash of `alice-pw` (cheap
/// parameters: 8 KiB, one pass) and `bob` with a bcrypt hash (cost 4) of `bob-pw`.
fn password_file(dir: &TempDir) -> PathBuf {
    let params = argon2::Params::new(8, 1, 1, None).expect("argon2 params");
    let alice = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(b"alice-pw")
        .expect("argon2 hash")
        .to_string();
    let bob = bcrypt::hash("bob-pw", 4).expect("bcrypt hash");
    let path = dir.0.join("passwd");
    std::fs::write(&path, format!("# users\nalice:{alice}\nbob:{bob}\n"))
        .expect("write password file");
    path
}

/// Loads `yaml` as a whole configuration file and serves it with the stock plugin set.
async fn start(yaml: &str) -> TestBroker<PackagedPlugins> {
    let config = BrokerConfig::from_yaml(yaml)
        .unwrap_or_else(|e| panic!("the configuration loads: {e}\n{yaml}"));
    let broker = Broker::<PackagedPlugins>::bind(config)
        .await
        .unwrap_or_else(|e| panic!("the broker binds: {e}\n{yaml}"));
    TestBroker::serve(broker)
}

/// Which of the stock plugins are on, in [`PackagedPlugins`] order: event logger, packet
/// logger, anonymous auth, file auth, `$SYS`, taboo, ACL (SCRAM, which aMQTT does not have, is
/// left out, and so is `metrics`).
fn plugins_on(broker: &TestBroker<PackagedPlugins>) -> [bool; 7] {
    let (events, packets, anonymous, file, sys, taboo, acl, _scram, _metrics) =
        broker.handle.plugins();
    [
        events.is_some(),
        packets.is_some(),
        anonymous.is_some(),
        file.is_some(),
        sys.is_some(),
        taboo.is_some(),
        acl.is_some(),
    ]
}

/// Connects as `client_id` with the given credentials and returns the CONNACK code.
async fn connack(
    addr: SocketAddr,
    client_id: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> ReasonCode {
    let mut connect = connect_packet(client_id, true);
    connect.username = user.map(ByteString::from);
    connect.password = password.map(|p| Bytes::copy_from_slice(p.as_bytes()));
    RawClient::connect_with(addr, connect).await.1.code
}

/// Connects as `client_id` with the given credentials and asserts the connection is accepted.
async fn connect_as(
    addr: SocketAddr,
    client_id: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> RawClient {
    let mut connect = connect_packet(client_id, true);
    connect.username = user.map(ByteString::from);
    connect.password = password.map(|p| Bytes::copy_from_slice(p.as_bytes()));
    let (client, ack) = RawClient::connect_with(addr, connect).await;
    assert_eq!(ack.code, ReasonCode::Success, "{client_id}");
    client
}

/// The SUBACK codes for `filters`, each asked at `qos`.
async fn subscribe_codes(
    client: &mut RawClient,
    id: u16,
    filters: &[&str],
    qos: QoS,
) -> Vec<SubAckCode> {
    let filters: Vec<(&str, QoS)> = filters.iter().map(|f| (*f, qos)).collect();
    client.subscribe(id, &filters).await.codes
}

/// Waits (up to [`SYS_WAIT`]) for the retained `$SYS/broker/version` on a client subscribed
/// to `$SYS/broker/#`, skipping the periodic counters, and asserts it is retained and not empty.
async fn expect_retained_version(sys: &mut RawClient) {
    let deadline = Instant::now() + SYS_WAIT;
    while let Some(publish) = publish_before(sys, deadline).await {
        if &*publish.topic == "$SYS/broker/version" {
            assert!(publish.retain, "the version is retained: {publish:?}");
            assert!(!publish.payload.is_empty(), "the version names the broker");
            return;
        }
    }
    panic!("no $SYS/broker/version within {SYS_WAIT:?}");
}

/// The next PUBLISH before `deadline` (`None` on a timeout); panics on any other packet.
async fn publish_before(
    client: &mut RawClient,
    deadline: Instant,
) -> Option<amqtt_core::codec::Publish> {
    let left = deadline.saturating_duration_since(Instant::now());
    match client.recv_within(left).await? {
        Packet::Publish(publish) => Some(publish),
        other => panic!("expected only PUBLISH packets, got {other:?}"),
    }
}

/// The client counters of one `$SYS` publication round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClientFigures {
    connected: u64,
    maximum: u64,
    total: u64,
}

/// Reads `$SYS` publications until one round's `clients/connected`, `clients/maximum` and
/// `clients/total` have all arrived (the plugin publishes them in that order in each round, so
/// they come from the same snapshot); `None` if `deadline` passes first.
async fn next_client_figures(sys: &mut RawClient, deadline: Instant) -> Option<ClientFigures> {
    let mut connected = None;
    let mut maximum = None;
    loop {
        let publish = publish_before(sys, deadline).await?;
        let value = || -> u64 {
            std::str::from_utf8(&publish.payload)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{} is not an integer: {publish:?}", publish.topic))
        };
        match &*publish.topic {
            "$SYS/broker/clients/connected" => {
                connected = Some(value());
                maximum = None;
            }
            "$SYS/broker/clients/maximum" => maximum = connected.map(|_| value()),
            "$SYS/broker/clients/total" => {
                if let (Some(connected), Some(maximum)) = (connected, maximum) {
                    return Some(ClientFigures {
                        connected,
                        maximum,
                        total: value(),
                    });
                }
            }
            _ => {}
        }
    }
}

/// Polls successive `$SYS` rounds (up to [`SYS_WAIT`]) until `clients/connected` is
/// `connected`, and returns that round's figures.
async fn wait_for_connected(sys: &mut RawClient, connected: u64) -> ClientFigures {
    let deadline = Instant::now() + SYS_WAIT;
    let mut seen = Vec::new();
    while let Some(figures) = next_client_figures(sys, deadline).await {
        if figures.connected == connected {
            return figures;
        }
        seen.push(figures);
    }
    panic!(
        "$SYS/broker/clients/connected did not show {connected} within {SYS_WAIT:?}; \
         rounds seen: {seen:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. aMQTT's default broker configuration

#[tokio::test]
async fn amqtt_default_broker_config_serves_anonymous_pubsub_and_live_sys_counters() {
    // The file above is aMQTT's default with just the two edits; the broker's embedded copy
    // (used when no file is given) is the same file unedited.
    assert_eq!(
        DEFAULT_BROKER_YAML
            .replace("0.0.0.0:1883", "127.0.0.1:0")
            .replace("sys_interval: 20", "sys_interval: 1")
            .trim_end(),
        AMQTT_DEFAULT_BROKER_YAML.trim_end()
    );
    let broker = start(AMQTT_DEFAULT_BROKER_YAML).await;
    assert_eq!(
        plugins_on(&broker),
        [true, true, true, false, true, false, false],
        "event logger, packet logger, anonymous auth and $SYS are on"
    );

    // An anonymous client connects; pub/sub works at each QoS.
    let mut subscriber = connect_as(broker.addr, "subscriber", None, None).await;
    assert_eq!(
        subscribe_codes(&mut subscriber, 1, &["test/#"], QoS::ExactlyOnce).await,
        [OK2]
    );
    let mut publisher = connect_as(broker.addr, "publisher", None, None).await;
    for (topic, qos) in [
        ("test/qos0", QoS::AtMostOnce),
        ("test/qos1", QoS::AtLeastOnce),
        ("test/qos2", QoS::ExactlyOnce),
    ] {
        publisher.publish(topic, "payload", qos, false).await;
        subscriber
            .expect_publish_and_ack(topic, "payload", qos, false)
            .await;
    }
    subscriber.expect_silence(SILENCE).await;

    // `$SYS/broker/version` is retained for any later subscriber.
    let mut sys = connect_as(broker.addr, "sys", None, None).await;
    assert_eq!(
        subscribe_codes(&mut sys, 1, &["$SYS/broker/#"], QoS::AtMostOnce).await,
        [OK0]
    );
    expect_retained_version(&mut sys).await;

    // Three clients so far: subscriber, publisher, sys.
    let start = wait_for_connected(&mut sys, 3).await;
    assert_eq!(
        start,
        ClientFigures {
            connected: 3,
            maximum: 3,
            total: 3
        }
    );

    // A fourth client comes: connected and maximum go up, total counts it.
    let extra = connect_as(broker.addr, "extra", None, None).await;
    let with_extra = wait_for_connected(&mut sys, 4).await;
    assert_eq!(
        with_extra,
        ClientFigures {
            connected: 4,
            maximum: 4,
            total: 4
        }
    );

    // It leaves: connected goes back down, maximum stays at the high-water mark, total keeps it.
    extra.disconnect().await;
    let after_extra = wait_for_connected(&mut sys, 3).await;
    assert_eq!(
        after_extra,
        ClientFigures {
            connected: 3,
            maximum: 4,
            total: 4
        }
    );

    // Another client comes: the same count as before, so maximum stays; total only grows.
    let again = connect_as(broker.addr, "again", None, None).await;
    let with_again = wait_for_connected(&mut sys, 4).await;
    assert_eq!(
        with_again,
        ClientFigures {
            connected: 4,
            maximum: 4,
            total: 5
        }
    );
    drop(again);
    broker.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. The documentation's anonymous + password file + ACL setup

/// `plugins:` with anonymous clients refused, a password file, and per-user ACLs: the
/// subscribe list with the `-` spelling as a list of one-entry maps, the publish list with the
/// `_` spelling as a plain map.
fn file_auth_acl_yaml(password_file: &Path) -> String {
    format!(
        "listeners:
  default:
    type: tcp
    bind: 127.0.0.1:0
plugins:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: false
  amqtt.plugins.authentication.FileAuthPlugin:
    password_file: '{}'
  amqtt.plugins.topic_checking.TopicAccessControlListPlugin:
    subscribe-acl:
      - alice: ['sensors/#', 'chat/+']
      - bob: ['chat/#']
    publish_acl:
      alice: ['chat/alice']
      bob: ['sensors/+/temperature', 'chat/#']
",
        password_file.display()
    )
}

#[tokio::test]
async fn documented_anonymous_file_auth_and_acl_config_checks_passwords_and_topics() {
    let dir = TempDir::new();
    let broker = start(&file_auth_acl_yaml(&password_file(&dir))).await;
    assert_eq!(
        plugins_on(&broker),
        [false, false, true, true, false, false, true]
    );
    let addr = broker.addr;

    // Authentication: anonymous, a wrong password, an unknown user and a user name without a
    // password are refused with 0x05; the right passwords are accepted.
    for (user, password) in [
        (None, None),
        (Some("alice"), Some("bob-pw")),
        (Some("bob"), Some("wrong")),
        (Some("mallory"), Some("alice-pw")),
        (Some("alice"), None),
    ] {
        let code = connack(addr, "refused", user, password).await;
        assert_eq!(code, ReasonCode::NotAuthorized, "{user:?}/{password:?}");
        assert_eq!(amqtt_core::codec::ConnectReturnCode::from(code) as u8, 0x05);
    }
    let mut alice = connect_as(addr, "alice", Some("alice"), Some("alice-pw")).await;
    let mut bob = connect_as(addr, "bob", Some("bob"), Some("bob-pw")).await;

    // Subscriptions outside the user's list are refused with 0x80, alone in their SUBSCRIBE.
    assert_eq!(
        subscribe_codes(
            &mut alice,
            1,
            &["sensors/#", "chat/+", "chat/#", "secret"],
            QoS::AtLeastOnce
        )
        .await,
        [OK1, OK1, REFUSED, REFUSED]
    );
    assert_eq!(
        subscribe_codes(&mut bob, 1, &["chat/#", "sensors/#"], QoS::AtLeastOnce).await,
        [OK1, REFUSED]
    );

    // Alice may not publish to sensors: acknowledged, not delivered (she is subscribed
    // herself), and the connection stays.
    alice
        .publish("sensors/kitchen/temperature", "19", QoS::AtLeastOnce, false)
        .await; // PUBACK asserted
    alice.expect_silence(SILENCE).await;
    // Her allowed publication still goes through, to bob and to herself; from one publisher
    // the order holds, so the denied message was not merely late.
    alice
        .publish("chat/alice", "hello", QoS::AtMostOnce, false)
        .await;
    alice
        .expect_publish_and_ack("chat/alice", "hello", QoS::AtMostOnce, false)
        .await;
    bob.expect_publish_and_ack("chat/alice", "hello", QoS::AtMostOnce, false)
        .await;

    // Bob may publish temperatures, not humidity.
    bob.publish("sensors/kitchen/temperature", "21", QoS::AtLeastOnce, false)
        .await;
    alice
        .expect_publish_and_ack("sensors/kitchen/temperature", "21", QoS::AtLeastOnce, false)
        .await;
    bob.publish("sensors/kitchen/humidity", "40", QoS::AtLeastOnce, false)
        .await;
    alice.expect_silence(SILENCE).await;
    bob.expect_silence(SILENCE).await;
}

// ---------------------------------------------------------------------------------------------
// 3. The taboo setup

const TABOO_YAML: &str = "listeners:
  default:
    type: tcp
    bind: 127.0.0.1:0
plugins:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: true
  amqtt.plugins.topic_checking.TopicTabooPlugin:
";

#[tokio::test]
async fn taboo_config_denies_prohibited_to_normal_users_and_allows_admin() {
    let broker = start(TABOO_YAML).await;
    assert_eq!(
        plugins_on(&broker),
        [false, false, true, false, false, true, false]
    );
    let addr = broker.addr;

    // With allow_anonymous true any user name is admitted, without a password.
    let mut bob = connect_as(addr, "bob", Some("bob"), None).await;
    let mut admin = connect_as(addr, "admin-sub", Some("admin"), None).await;
    let mut anonymous = connect_as(addr, "anonymous", None, None).await;

    assert_eq!(
        subscribe_codes(&mut bob, 1, &["prohibited", "news"], QoS::AtLeastOnce).await,
        [REFUSED, OK1]
    );
    assert_eq!(
        subscribe_codes(&mut admin, 1, &["prohibited", "news"], QoS::AtLeastOnce).await,
        [OK1, OK1]
    );
    // A wildcard is granted, but the receive check keeps the taboo topic from a non-admin.
    assert_eq!(
        subscribe_codes(&mut anonymous, 1, &["prohibited", "#"], QoS::AtLeastOnce).await,
        [REFUSED, OK1]
    );

    // Bob's publication to `prohibited` is acknowledged but not routed, even to admin; his
    // next message arrives first, and his connection stays.
    bob.publish("prohibited", "leak", QoS::AtLeastOnce, false)
        .await;
    bob.publish("news", "from bob", QoS::AtMostOnce, false)
        .await;
    for client in [&mut admin, &mut anonymous, &mut bob] {
        client
            .expect_publish_and_ack("news", "from bob", QoS::AtMostOnce, false)
            .await;
        client.expect_silence(SILENCE).await;
    }

    // Admin may publish it: the admin subscriber receives it, the anonymous `#` subscriber
    // does not (the marker after it arrives alone).
    let mut admin_pub = connect_as(addr, "admin-pub", Some("admin"), None).await;
    admin_pub
        .publish("prohibited", "allowed", QoS::AtLeastOnce, false)
        .await;
    admin_pub
        .publish("news", "from admin", QoS::AtMostOnce, false)
        .await;
    admin
        .expect_publish_and_ack("prohibited", "allowed", QoS::AtLeastOnce, false)
        .await;
    admin
        .expect_publish_and_ack("news", "from admin", QoS::AtMostOnce, false)
        .await;
    anonymous
        .expect_publish_and_ack("news", "from admin", QoS::AtMostOnce, false)
        .await;
    bob.expect_publish_and_ack("news", "from admin", QoS::AtMostOnce, false)
        .await;
    anonymous.expect_silence(SILENCE).await;
    bob.expect_silence(SILENCE).await;
}

// ---------------------------------------------------------------------------------------------
// 4. The deprecated `auth:` / `topic-check:` sections

fn legacy_yaml(password_file: &Path) -> String {
    format!(
        "listeners:
  default:
    type: tcp
    bind: 127.0.0.1:0
sys_interval: 1
auth:
  allow-anonymous: false
  password-file: '{}'
  plugins:
    - auth_file
    - auth_anonymous
topic-check:
  enabled: true
  plugins:
    - topic_acl
  acl:
    alice: ['sensors/#', '$SYS/#']
  publish-acl:
    alice: ['sensors/+/temperature']
",
        password_file.display()
    )
}

#[tokio::test]
async fn legacy_auth_and_topic_check_sections_behave_like_the_plugins_form() {
    let dir = TempDir::new();
    let broker = start(&legacy_yaml(&password_file(&dir))).await;
    assert_eq!(
        plugins_on(&broker),
        [false, false, true, true, true, false, true],
        "anonymous auth, file auth, $SYS (from sys_interval) and the ACL are on; the taboo \
         plugin is not listed in topic-check.plugins"
    );
    let addr = broker.addr;

    // The password is checked; anonymous clients are refused.
    assert_eq!(
        connack(addr, "anon", None, None).await,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        connack(addr, "alice", Some("alice"), Some("bob-pw")).await,
        ReasonCode::NotAuthorized
    );
    let mut alice = connect_as(addr, "alice", Some("alice"), Some("alice-pw")).await;
    let mut bob = connect_as(addr, "bob", Some("bob"), Some("bob-pw")).await;

    // `acl` is the subscribe list: alice gets her filters only, bob (no entry) nothing.
    assert_eq!(
        subscribe_codes(
            &mut alice,
            1,
            &["sensors/#", "other/#", "#"],
            QoS::AtLeastOnce
        )
        .await,
        [OK1, REFUSED, REFUSED]
    );
    assert_eq!(
        subscribe_codes(&mut bob, 1, &["sensors/#", "other"], QoS::AtLeastOnce).await,
        [REFUSED, REFUSED]
    );

    // `publish-acl`: alice's humidity is acknowledged but not routed; her temperature is
    // (to herself), and arrives first.
    alice
        .publish("sensors/kitchen/humidity", "40", QoS::AtLeastOnce, false)
        .await;
    alice
        .publish("sensors/kitchen/temperature", "21", QoS::AtMostOnce, false)
        .await;
    alice
        .expect_publish_and_ack("sensors/kitchen/temperature", "21", QoS::AtMostOnce, false)
        .await;
    // Bob has no publish entry: acknowledged, not delivered, connection kept.
    bob.publish("sensors/kitchen/temperature", "22", QoS::AtLeastOnce, false)
        .await;
    alice.expect_silence(SILENCE).await;
    bob.expect_silence(SILENCE).await;

    // The top-level sys_interval turns `$SYS` on; alice's ACL lets her subscribe to it.
    let mut sys = connect_as(addr, "alice-sys", Some("alice"), Some("alice-pw")).await;
    assert_eq!(
        subscribe_codes(&mut sys, 1, &["$SYS/broker/#"], QoS::AtMostOnce).await,
        [OK0]
    );
    expect_retained_version(&mut sys).await;
    let figures = wait_for_connected(&mut sys, 3).await;
    assert_eq!(
        figures,
        ClientFigures {
            connected: 3,
            maximum: 3,
            total: 3
        },
        "refused clients are not counted"
    );
    // Bob may not subscribe to `$SYS`.
    assert_eq!(
        subscribe_codes(&mut bob, 2, &["$SYS/broker/#"], QoS::AtMostOnce).await,
        [REFUSED]
    );
}

// ---------------------------------------------------------------------------------------------
// 5. The legacy list form of `plugins:`

const LIST_FORM_YAML: &str = "listeners:
  default:
    type: tcp
    bind: 127.0.0.1:0
plugins:
  - amqtt.plugins.authentication.AnonymousAuthPlugin
  - amqtt.plugins.topic_checking.TopicTabooPlugin
  - amqtt.plugins.sys.broker.BrokerSysPlugin:
      sys_interval: 1
";

#[tokio::test]
async fn legacy_list_form_of_plugins_loads_and_admits() {
    let broker = start(LIST_FORM_YAML).await;
    assert_eq!(
        plugins_on(&broker),
        [false, false, true, false, true, true, false]
    );
    let addr = broker.addr;

    // A bare entry takes the plugin's defaults: anonymous clients (and any user) are admitted.
    let mut anonymous = connect_as(addr, "anonymous", None, None).await;
    let mut bob = connect_as(addr, "bob", Some("bob"), None).await;
    assert_eq!(
        subscribe_codes(&mut anonymous, 1, &["a/b", "prohibited"], QoS::AtLeastOnce).await,
        [OK1, REFUSED]
    );
    bob.publish("a/b", "hi", QoS::AtLeastOnce, false).await;
    anonymous
        .expect_publish_and_ack("a/b", "hi", QoS::AtLeastOnce, false)
        .await;

    // An entry with a map carries its configuration: counters every second, not every 20 s.
    let mut sys = connect_as(addr, "sys", None, None).await;
    assert_eq!(
        subscribe_codes(&mut sys, 1, &["$SYS/broker/#"], QoS::AtMostOnce).await,
        [OK0]
    );
    expect_retained_version(&mut sys).await;
    let figures = wait_for_connected(&mut sys, 3).await;
    assert_eq!(figures.total, 3);
}
