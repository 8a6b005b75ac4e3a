//! Bad configurations stop the broker with a message naming the plugin and the key; a missing
//! table is created by `sync_schema` and otherwise refused.

use std::time::{Duration, Instant};

use amqtt_contrib::auth_db::{TopicAuthDb, UserAuthDb};
use amqtt_tests::TestBroker;

use crate::support::TempDir;
use crate::support::{admin, bind_error, connack, section};

type Both = (Option<UserAuthDb>, Option<TopicAuthDb>);

#[tokio::test]
async fn an_unknown_key_is_refused_naming_it() {
    let dir = TempDir::new();
    let e = bind_error::<Both>(&section(
        "UserAuthDBPlugin",
        &dir.sqlite_url("a.db"),
        "    colour: red\n",
    ))
    .await;
    assert!(e.contains("user_auth_db") && e.contains("colour"), "{e}");
}

#[tokio::test]
async fn a_bad_or_missing_url_is_refused_naming_connection() {
    let e = bind_error::<Both>(&section("TopicAuthDBPlugin", "oracle://u:secret@h/db", "")).await;
    assert!(
        e.contains("topic_auth_db") && e.contains("`connection`") && e.contains("oracle"),
        "{e}"
    );
    assert!(!e.contains("secret"), "the password is masked: {e}");
    let e =
        bind_error::<Both>("  amqtt.contrib.auth_db.UserAuthDBPlugin:\n    sync_schema: true\n")
            .await;
    assert!(
        e.contains("user_auth_db") && e.contains("`connection`"),
        "{e}"
    );
}

#[tokio::test]
async fn an_unsupported_hash_scheme_is_refused() {
    let dir = TempDir::new();
    let e = bind_error::<Both>(&section(
        "UserAuthDBPlugin",
        &dir.sqlite_url("a.db"),
        "    hash_schemes: [md5]\n",
    ))
    .await;
    assert!(e.contains("`hash_schemes`") && e.contains("md5"), "{e}");
}

#[tokio::test]
async fn a_negative_cache_ttl_is_refused_naming_it() {
    let dir = TempDir::new();
    let e = bind_error::<Both>(&section(
        "TopicAuthDBPlugin",
        &dir.sqlite_url("a.db"),
        "    cache_ttl: -1\n",
    ))
    .await;
    assert!(
        e.contains("topic_auth_db") && e.contains("`cache_ttl`"),
        "{e}"
    );
}

#[tokio::test]
async fn an_unreachable_server_stops_the_broker_quickly() {
    let started = Instant::now();
    // Nothing listens on port 1; both plugins try at once.
    let user_section = section(
        "UserAuthDBPlugin",
        "postgresql+asyncpg://amqtt:secret@127.0.0.1:1/amqtt_test",
        "",
    );
    let topic_section = section(
        "TopicAuthDBPlugin",
        "mysql+aiomysql://amqtt:amqtt@127.0.0.1:1/amqtt_test",
        "",
    );
    let (user_error, topic_error) = tokio::join!(
        bind_error::<Both>(&user_section),
        bind_error::<Both>(&topic_section)
    );
    assert!(
        user_error.contains("user_auth_db") && user_error.contains("`connection`"),
        "{user_error}"
    );
    assert!(!user_error.contains("secret"), "{user_error}");
    assert!(
        topic_error.contains("topic_auth_db") && topic_error.contains("`connection`"),
        "{topic_error}"
    );
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn a_missing_table_is_refused_without_sync_schema_and_created_with_it() {
    let dir = TempDir::new();
    let url = dir.sqlite_url("fresh.db");
    let e = bind_error::<Both>(&section("TopicAuthDBPlugin", &url, "")).await;
    assert!(
        e.contains("topic_auth_db") && e.contains("topic_auth") && e.contains("sync_schema"),
        "{e}"
    );
    let yaml = format!(
        "plugins:\n{}{}",
        section("UserAuthDBPlugin", &url, "    sync_schema: true\n"),
        section("TopicAuthDBPlugin", &url, "")
    );
    let broker = TestBroker::<Both>::start_with_plugins(&yaml).await;
    // Both tables exist now, empty: nobody logs in.
    assert_eq!(
        connack(broker.addr, Some("nobody"), Some("pw")).await,
        amqtt_core::codec::ReasonCode::NotAuthorized
    );
    broker.stop().await;
    let admin = admin(&url).await;
    assert!(admin.users().await.expect("user_auth").is_empty());
    assert!(admin.topic_auths().await.expect("topic_auth").is_empty());
    admin.close().await;
}
