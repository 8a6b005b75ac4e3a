//! The scenarios every database runs: logins (with the bcrypt to argon2 re-hash) and topic
//! lists, each against a broker started with `sync_schema: true`.

use std::time::Duration;

use amqtt_contrib::auth_db::{TopicAuthDb, UserAuthDb};
use amqtt_core::codec::{QoS, ReasonCode, SubAckCode};
use amqtt_core::plugin::Action;
use amqtt_tests::{RawClient, TestBroker};

use super::support::{admin, connack, connect_as, section, unique};

/// How long a test waits to be sure a message is not delivered.
const SILENCE: Duration = Duration::from_millis(300);

const OK1: SubAckCode = SubAckCode::Success(QoS::AtLeastOnce);
const REFUSED: SubAckCode = SubAckCode::FAILURE;

/// Logins: wrong password, unknown user, no credentials and an empty password are refused; the
/// right password is accepted, and the user's bcrypt hash is then replaced by an argon2id hash
/// with aMQTT's parameters, which the next logins check.
pub(crate) async fn logins(url: &str) {
    let admin = admin(url).await;
    let alice = unique("alice");
    let bcrypt = bcrypt::hash("alice-pw", 4).expect("bcrypt hash");
    admin
        .add_user_with_hash(&alice, &bcrypt)
        .await
        .expect("user added");
    let yaml = format!(
        "plugins:\n{}",
        section(
            "UserAuthDBPlugin",
            url,
            "    sync_schema: true\n    hash_schemes: [argon2, bcrypt]\n"
        )
    );
    let broker = TestBroker::<(UserAuthDb,)>::start_with_plugins(&yaml).await;
    let addr = broker.addr;
    let refused = ReasonCode::NotAuthorized;
    assert_eq!(connack(addr, Some(&alice), Some("wrong")).await, refused);
    assert_eq!(connack(addr, Some(&alice), Some("")).await, refused);
    assert_eq!(connack(addr, Some(&alice), None).await, refused);
    assert_eq!(connack(addr, None, None).await, refused);
    let nobody = unique("nobody");
    assert_eq!(
        connack(addr, Some(&nobody), Some("alice-pw")).await,
        refused
    );
    assert_eq!(
        admin.password_hash(&alice).await.expect("read").as_deref(),
        Some(bcrypt.as_str()),
        "no re-hash before a successful login"
    );

    assert_eq!(
        connack(addr, Some(&alice), Some("alice-pw")).await,
        ReasonCode::Success
    );
    let rehashed = admin
        .password_hash(&alice)
        .await
        .expect("read")
        .expect("user kept");
    assert!(
        rehashed.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"),
        "re-hashed with the current scheme: {rehashed}"
    );
    assert_eq!(
        connack(addr, Some(&alice), Some("alice-pw")).await,
        ReasonCode::Success
    );
    assert_eq!(
        connack(addr, Some(&alice), Some("alice-pwx")).await,
        refused
    );
    assert_eq!(
        admin.password_hash(&alice).await.expect("read"),
        Some(rehashed),
        "a current hash is not re-hashed again"
    );
    broker.stop().await;
    assert!(admin.remove_user(&alice).await.expect("removed"));
    admin.close().await;
}

/// Topic lists: subscribe (a filter must be covered), publish (dropped when denied) and receive
/// (checked per subscriber); a user without a `topic_auth` row is denied, a client without a
/// user name gets no answer (allowed).
pub(crate) async fn topic_lists(url: &str) {
    let admin = admin(url).await;
    let alice = unique("alice");
    let carol = unique("carol");
    for (user, action, topic) in [
        (&alice, Action::Publish, "a/#"),
        (&alice, Action::Subscribe, "a/+"),
        (&alice, Action::Receive, "a/1"),
        (&carol, Action::Subscribe, "#"),
        (&carol, Action::Receive, "#"),
    ] {
        admin
            .add_topic(user, action, topic)
            .await
            .expect("topic added");
    }
    let yaml = format!(
        "plugins:\n{}",
        section("TopicAuthDBPlugin", url, "    sync_schema: true\n")
    );
    let broker = TestBroker::<(TopicAuthDb,)>::start_with_plugins(&yaml).await;
    let mut carol_client = connect_as(broker.addr, Some(&carol)).await;
    assert_eq!(subscribe(&mut carol_client, &["#"]).await, [OK1]);
    let mut alice_client = connect_as(broker.addr, Some(&alice)).await;
    assert_eq!(
        subscribe(&mut alice_client, &["a/+", "a/#", "b"]).await,
        [OK1, REFUSED, REFUSED]
    );
    // QoS 0: alice receives her own messages.
    for topic in ["a/1", "a/2", "b/1"] {
        alice_client
            .publish(topic, "m", QoS::AtMostOnce, false)
            .await;
    }
    for topic in ["a/1", "a/2"] {
        carol_client
            .expect_publish(topic, "m", QoS::AtMostOnce, false)
            .await;
    }
    carol_client.expect_silence(SILENCE).await;
    alice_client
        .expect_publish("a/1", "m", QoS::AtMostOnce, false)
        .await;
    alice_client.expect_silence(SILENCE).await;

    let mut stranger = connect_as(broker.addr, Some(&unique("stranger"))).await;
    assert_eq!(subscribe(&mut stranger, &["a/1"]).await, [REFUSED]);
    let mut anonymous = connect_as(broker.addr, None).await;
    assert_eq!(subscribe(&mut anonymous, &["x/y"]).await, [OK1]);
    broker.stop().await;
    admin.close().await;
}

/// The SUBACK codes for `filters`, each asked at QoS 1.
async fn subscribe(client: &mut RawClient, filters: &[&str]) -> Vec<SubAckCode> {
    let filters: Vec<(&str, QoS)> = filters.iter().map(|f| (*f, QoS::AtLeastOnce)).collect();
    client.subscribe(1, &filters).await.codes
}

/// With `cache_ttl`, an answer outlives a change of the database for that long; without it, the
/// change applies at once.
#[tokio::test]
async fn topic_answers_are_reused_for_cache_ttl_only_when_configured() {
    let dir = crate::support::TempDir::new();
    let url = dir.sqlite_url("auth.db");
    let admin = admin(&url).await;
    let user = unique("cached");
    admin
        .add_topic(&user, Action::Subscribe, "c/#")
        .await
        .expect("topic added");
    let cached = section("TopicAuthDBPlugin", &url, "    cache_ttl: 60\n");
    let cached =
        TestBroker::<(TopicAuthDb,)>::start_with_plugins(&format!("plugins:\n{cached}")).await;
    let uncached = section("TopicAuthDBPlugin", &url, "");
    let uncached =
        TestBroker::<(TopicAuthDb,)>::start_with_plugins(&format!("plugins:\n{uncached}")).await;
    let mut with_cache = connect_as(cached.addr, Some(&user)).await;
    let mut without = connect_as(uncached.addr, Some(&user)).await;
    assert_eq!(subscribe(&mut with_cache, &["c/1"]).await, [OK1]);
    assert_eq!(subscribe(&mut without, &["c/1"]).await, [OK1]);
    admin
        .remove_topic(&user, Action::Subscribe, "c/#")
        .await
        .expect("topic removed");
    assert_eq!(subscribe(&mut with_cache, &["c/1"]).await, [OK1], "cached");
    assert_eq!(subscribe(&mut without, &["c/1"]).await, [REFUSED]);
    cached.stop().await;
    uncached.stop().await;
    admin.close().await;
}
