//! The LDAP plugins (`auth_ldap`, `topic_ldap`: aMQTT's `UserAuthLdapPlugin` and
//! `TopicAuthLdapPlugin`) against a real OpenLDAP: logins in both bind modes, topic rights from
//! the entry's attributes, user names that try to inject filter or DN syntax, the answer cache,
//! and startup errors.
//!
//! The server is the one `.ci/slapd.sh` runs on ldap://127.0.0.1:3389 with the tree
//! `.ci/ldap/tree.ldif`; each test that needs it skips when it does not answer (and fails under
//! CI).

use std::time::Duration;

use amqtt_contrib::ldap::{TopicAuthLdap, UserAuthLdap};
use amqtt_core::broker::{Broker, BrokerError};
use amqtt_core::codec::{ByteString, QoS, ReasonCode, SubAckCode};
use amqtt_core::config::BrokerConfig;
use amqtt_tests::{RawClient, TestBroker, connect_packet, service_reachable};
use bytes::Bytes;

const LDAP_ADDR: &str = "127.0.0.1:3389";
const LDAP_URL: &str = "ldap://127.0.0.1:3389";
const ADMIN_DN: &str = "cn=admin,dc=amqtt,dc=test";
const ADMIN_PASSWORD: &str = "admin-secret";

/// How long a test waits to be sure a message is not delivered.
const SILENCE: Duration = Duration::from_millis(300);
const OK1: SubAckCode = SubAckCode::Success(QoS::AtLeastOnce);
const REFUSED: SubAckCode = SubAckCode::FAILURE;

type Ldap = (Option<UserAuthLdap>, Option<TopicAuthLdap>);

/// The directory keys in search mode (aMQTT's), indented for a plugin's section.
fn search_keys() -> String {
    format!(
        "    server: {LDAP_URL}\n    base_dn: dc=amqtt,dc=test\n    user_attribute: uid\n    \
         bind_dn: cn=reader,dc=amqtt,dc=test\n    bind_password: reader-secret\n"
    )
}

/// The directory keys in direct-bind mode: `uid=<user>,ou=users,dc=amqtt,dc=test`.
fn direct_keys() -> String {
    format!(
        "    server: {LDAP_URL}\n    base_dn: ou=users,dc=amqtt,dc=test\n    user_attribute: uid\n"
    )
}

/// The topic plugin's attribute keys.
const TOPIC_ATTRIBUTES: &str = "    publish_attribute: mqttPublishTopic\n    \
                                subscribe_attribute: mqttSubscribeTopic\n    \
                                receive_attribute: mqttReceiveTopic\n";

/// A broker with `auth_ldap` over `keys` (and `extra` plugin sections).
async fn auth_broker(keys: &str, extra: &str) -> TestBroker<Ldap> {
    TestBroker::start_with_plugins(&format!("plugins:\n  auth_ldap:\n{keys}{extra}")).await
}

/// A broker with both plugins over `keys`.
async fn acl_broker(keys: &str) -> TestBroker<Ldap> {
    auth_broker(
        keys,
        &format!("  amqtt.contrib.ldap.TopicAuthLdapPlugin:\n{keys}{TOPIC_ATTRIBUTES}"),
    )
    .await
}

/// The CONNACK code for a login as `username` with `password`.
async fn login(broker: &TestBroker<Ldap>, username: Option<&str>, password: &str) -> ReasonCode {
    login_at(broker.addr, username, password).await.1
}

async fn login_at(
    addr: std::net::SocketAddr,
    username: Option<&str>,
    password: &str,
) -> (RawClient, ReasonCode) {
    let mut connect = connect_packet(&format!("ldap-{}", username.unwrap_or("none")), true);
    connect.username = username.map(ByteString::from);
    connect.password = Some(Bytes::copy_from_slice(password.as_bytes()));
    let (client, ack) = RawClient::connect_with(addr, connect).await;
    (client, ack.code)
}

/// Logs in and asserts the connection is accepted.
async fn client(broker: &TestBroker<Ldap>, username: &str, password: &str) -> RawClient {
    let (client, code) = login_at(broker.addr, Some(username), password).await;
    assert_eq!(code, ReasonCode::Success, "{username}");
    client
}

/// Binds a broker with `plugins` as its `plugins:` section, expecting an error.
async fn bind_error(plugins: &str) -> String {
    let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins:\n{plugins}");
    let config = BrokerConfig::from_yaml(&yaml).expect("the YAML itself is valid");
    let result: Result<Broker<Ldap>, BrokerError> = Broker::<Ldap>::bind(config).await;
    match result {
        Ok(_) => panic!("`{plugins}` must not bind"),
        Err(e) => e.to_string(),
    }
}

async fn ldap_up() -> bool {
    service_reachable("OpenLDAP", LDAP_ADDR).await
}

#[tokio::test]
async fn search_then_bind_admits_only_the_right_password() {
    if !ldap_up().await {
        return;
    }
    let broker = auth_broker(&search_keys(), "").await;
    use ReasonCode::{NotAuthorized, Success as Accepted};
    assert_eq!(
        login(&broker, Some("alice"), "alice-secret").await,
        Accepted
    );
    assert_eq!(
        login(&broker, Some("carol"), "carol-secret").await,
        Accepted
    );
    // Search mode finds entries anywhere below base_dn.
    assert_eq!(
        login(&broker, Some("sensor"), "sensor-secret").await,
        Accepted
    );
    assert_eq!(
        login(&broker, Some("alice"), "bob-secret").await,
        NotAuthorized
    );
    assert_eq!(
        login(&broker, Some("nobody"), "alice-secret").await,
        NotAuthorized
    );
    assert_eq!(login(&broker, Some("alice"), "").await, NotAuthorized);
    assert_eq!(login(&broker, None, "alice-secret").await, NotAuthorized);
    // Two entries have uid=twin: neither is picked.
    assert_eq!(
        login(&broker, Some("twin"), "twin-secret").await,
        NotAuthorized
    );
    // The service account is not a user: it has no uid.
    assert_eq!(
        login(&broker, Some("reader"), "reader-secret").await,
        NotAuthorized
    );
}

#[tokio::test]
async fn direct_bind_admits_only_the_right_password() {
    if !ldap_up().await {
        return;
    }
    let broker = auth_broker(&direct_keys(), "").await;
    use ReasonCode::{NotAuthorized, Success as Accepted};
    assert_eq!(
        login(&broker, Some("alice"), "alice-secret").await,
        Accepted
    );
    assert_eq!(login(&broker, Some("bob"), "bob-secret").await, Accepted);
    assert_eq!(
        login(&broker, Some("bob"), "alice-secret").await,
        NotAuthorized
    );
    assert_eq!(login(&broker, Some("nobody"), "x").await, NotAuthorized);
    assert_eq!(login(&broker, Some(""), "x").await, NotAuthorized);
    assert_eq!(login(&broker, Some("alice"), "").await, NotAuthorized);
}

#[tokio::test]
async fn user_names_with_filter_syntax_match_no_one() {
    if !ldap_up().await {
        return;
    }
    let broker = auth_broker(&search_keys(), "").await;
    // Unescaped, each filter would find alice (or everyone) and bind with her password.
    for name in [
        "*",
        "al*ce",
        "a*",
        "x)(uid=*",
        "alice)(|(uid=*",
        "*)(uid=alice",
    ] {
        assert_eq!(
            login(&broker, Some(name), "alice-secret").await,
            ReasonCode::NotAuthorized,
            "user name {name:?}"
        );
    }
}

#[tokio::test]
async fn user_names_with_dn_syntax_reach_no_other_entry() {
    if !ldap_up().await {
        return;
    }
    let broker = auth_broker(&direct_keys(), "").await;
    // Unescaped, `uid=sensor,uid=alice,ou=users,...` is a real entry with this password.
    for name in [
        "sensor,uid=alice",
        "sensor+cn=Sensor,uid=alice",
        "alice,ou=users",
    ] {
        let password = if name.starts_with("alice") {
            "alice-secret"
        } else {
            "sensor-secret"
        };
        assert_eq!(
            login(&broker, Some(name), password).await,
            ReasonCode::NotAuthorized,
            "user name {name:?}"
        );
    }
}

#[tokio::test]
async fn topic_rights_come_from_the_entry_in_search_mode() {
    if !ldap_up().await {
        return;
    }
    let broker = acl_broker(&search_keys()).await;
    let mut alice = client(&broker, "alice", "alice-secret").await;
    let mut bob = client(&broker, "bob", "bob-secret").await;
    let mut carol = client(&broker, "carol", "carol-secret").await;

    // Subscribe: alice has sensors/#, bob sensors/bob/+ (which does not grant sensors/bob/#).
    let codes = alice
        .subscribe(
            1,
            &[
                ("sensors/#", QoS::AtLeastOnce),
                ("#", QoS::AtLeastOnce),
                ("other/x", QoS::AtLeastOnce),
            ],
        )
        .await
        .codes;
    assert_eq!(codes, [OK1, REFUSED, REFUSED]);
    let codes = bob
        .subscribe(
            1,
            &[
                ("sensors/bob/#", QoS::AtLeastOnce),
                ("sensors/bob/+", QoS::AtLeastOnce),
            ],
        )
        .await
        .codes;
    assert_eq!(codes, [REFUSED, OK1]);
    let codes = carol
        .subscribe(1, &[("sensors/#", QoS::AtLeastOnce)])
        .await
        .codes;
    assert_eq!(
        codes,
        [REFUSED],
        "an entry without the attribute gets nothing"
    );

    // Publish: alice may publish below sensors/alice/ only; a refused publish is dropped, and
    // alice, who may receive sensors/bob/temperature, does not get it back.
    alice
        .publish("sensors/bob/temperature", "forged", QoS::AtMostOnce, false)
        .await;
    alice
        .publish("sensors/alice/1", "mine", QoS::AtMostOnce, false)
        .await;
    alice
        .expect_publish("sensors/alice/1", "mine", QoS::AtMostOnce, false)
        .await;
    alice.expect_silence(SILENCE).await;
    bob.expect_silence(SILENCE).await;

    // Receive: both of bob's messages reach bob; alice receives only the temperature.
    bob.publish("sensors/bob/humidity", "40", QoS::AtMostOnce, false)
        .await;
    bob.publish("sensors/bob/temperature", "21", QoS::AtMostOnce, false)
        .await;
    bob.expect_publish("sensors/bob/humidity", "40", QoS::AtMostOnce, false)
        .await;
    bob.expect_publish("sensors/bob/temperature", "21", QoS::AtMostOnce, false)
        .await;
    alice
        .expect_publish("sensors/bob/temperature", "21", QoS::AtMostOnce, false)
        .await;
    alice.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn topic_rights_come_from_the_entry_in_direct_mode() {
    if !ldap_up().await {
        return;
    }
    let broker = acl_broker(&direct_keys()).await;
    let mut alice = client(&broker, "alice", "alice-secret").await;
    let codes = alice
        .subscribe(
            1,
            &[
                ("sensors/#", QoS::AtLeastOnce),
                ("sensors/bob/x", QoS::AtLeastOnce),
                ("#", QoS::AtLeastOnce),
            ],
        )
        .await
        .codes;
    assert_eq!(codes, [OK1, OK1, REFUSED]);
    alice
        .publish("sensors/alice/2", "direct", QoS::AtMostOnce, false)
        .await;
    alice
        .expect_publish("sensors/alice/2", "direct", QoS::AtMostOnce, false)
        .await;
    alice
        .publish("sensors/carol/2", "refused", QoS::AtMostOnce, false)
        .await;
    alice.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn the_cache_reuses_answers_only_when_configured() {
    if !ldap_up().await {
        return;
    }
    let user = format!(
        "cache-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos()
    );
    let dn = format!("uid={user},ou=users,dc=amqtt,dc=test");
    let (conn, mut admin) = ldap3::LdapConnAsync::new(LDAP_URL)
        .await
        .expect("connect as admin");
    ldap3::drive!(conn);
    admin
        .simple_bind(ADMIN_DN, ADMIN_PASSWORD)
        .await
        .expect("bind")
        .success()
        .expect("admin bind");
    let object_classes = ["inetOrgPerson"].into_iter().collect();
    admin
        .add(
            &dn,
            vec![
                ("objectClass", object_classes),
                ("uid", [user.as_str()].into_iter().collect()),
                ("cn", [user.as_str()].into_iter().collect()),
                ("sn", [user.as_str()].into_iter().collect()),
                ("userPassword", ["cached-secret"].into_iter().collect()),
            ],
        )
        .await
        .expect("add")
        .success()
        .expect("add the test user");

    let cached = auth_broker(&format!("{}    cache_ttl: 30\n", search_keys()), "").await;
    let uncached = auth_broker(&search_keys(), "").await;
    use ReasonCode::{NotAuthorized, Success as Accepted};
    assert_eq!(login(&cached, Some(&user), "cached-secret").await, Accepted);
    assert_eq!(
        login(&uncached, Some(&user), "cached-secret").await,
        Accepted
    );

    admin
        .delete(&dn)
        .await
        .expect("delete")
        .success()
        .expect("delete the test user");
    assert_eq!(
        login(&cached, Some(&user), "cached-secret").await,
        Accepted,
        "cached answer"
    );
    assert_eq!(
        login(&cached, Some(&user), "other").await,
        NotAuthorized,
        "another password is asked"
    );
    assert_eq!(
        login(&uncached, Some(&user), "cached-secret").await,
        NotAuthorized
    );
    let _ = admin.unbind().await;
}

#[tokio::test]
async fn an_unreachable_server_stops_the_broker() {
    // Port 1 on the loopback: nothing listens, the connection is refused at once.
    let keys =
        "    server: ldap://127.0.0.1:1\n    base_dn: dc=amqtt,dc=test\n    user_attribute: uid\n";
    let error = bind_error(&format!("  auth_ldap:\n{keys}")).await;
    assert!(
        error.contains("auth_ldap") && error.contains("`server`"),
        "{error}"
    );
    let error = bind_error(&format!("  topic_ldap:\n{keys}{TOPIC_ATTRIBUTES}")).await;
    assert!(
        error.contains("topic_ldap") && error.contains("`server`"),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_that_does_not_answer_stops_the_broker_within_the_timeout() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = silent.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let keys = format!(
        "    server: ldap://{addr}\n    base_dn: dc=amqtt,dc=test\n    user_attribute: uid\n    \
         timeout: 0.5\n"
    );
    let started = std::time::Instant::now();
    let error = bind_error(&format!("  auth_ldap:\n{keys}")).await;
    assert!(
        error.contains("auth_ldap") && error.contains("`server`"),
        "{error}"
    );
    let with_account = format!("{keys}    bind_dn: cn=x\n    bind_password: y\n");
    let error = bind_error(&format!("  topic_ldap:\n{with_account}{TOPIC_ATTRIBUTES}")).await;
    assert!(
        error.contains("topic_ldap") && error.contains("`server`"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_refused_service_account_or_missing_base_stops_the_broker() {
    if !ldap_up().await {
        return;
    }
    let keys = search_keys().replace("reader-secret", "wrong");
    let error = bind_error(&format!("  auth_ldap:\n{keys}")).await;
    assert!(
        error.contains("auth_ldap") && error.contains("`bind_dn`/`bind_password`"),
        "{error}"
    );
    let keys = search_keys().replace("base_dn: dc=amqtt", "base_dn: ou=nowhere,dc=amqtt");
    let error = bind_error(&format!("  topic_ldap:\n{keys}{TOPIC_ATTRIBUTES}")).await;
    assert!(
        error.contains("topic_ldap") && error.contains("`base_dn`"),
        "{error}"
    );
}

#[tokio::test]
async fn bad_configuration_stops_the_broker_naming_the_key() {
    let keys = search_keys();
    for (section, key) in [
        (
            format!("  auth_ldap:\n{keys}    bind_pasword: x\n"),
            "bind_pasword",
        ),
        (
            format!(
                "  auth_ldap:\n{}",
                keys.replace(LDAP_URL, "http://127.0.0.1:3389")
            ),
            "`server`",
        ),
        (
            format!("  auth_ldap:\n{keys}    cache_ttl: -1\n"),
            "`cache_ttl`",
        ),
        (format!("  auth_ldap:\n{keys}    timeout: 0\n"), "`timeout`"),
        (
            format!(
                "  auth_ldap:\n{}",
                keys.replace("    user_attribute: uid\n", "")
            ),
            "`user_attribute`",
        ),
        (
            format!(
                "  auth_ldap:\n{}",
                keys.replace("    bind_password: reader-secret\n", "")
            ),
            "`bind_password`",
        ),
        (
            format!("  topic_ldap:\n{keys}    publish_attribute: a\n    subscribe_attribute: b\n"),
            "`receive_attribute`",
        ),
    ] {
        let error = bind_error(&section).await;
        assert!(
            error.contains(key) && error.contains("ldap"),
            "{key}: {error}"
        );
    }
}
