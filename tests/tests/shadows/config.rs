//! Bad configurations stop the broker with a message naming the plugin and the key.

use amqtt_core::broker::{Broker, BrokerError};
use amqtt_core::config::BrokerConfig;

use crate::support::Shadows;

/// Binds a broker with `plugins` as its `plugins:` section, expecting an error.
async fn bind_error(plugins: &str) -> String {
    let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins:\n{plugins}");
    let config = BrokerConfig::from_yaml(&yaml).expect("the YAML itself is valid");
    let result: Result<Broker<Shadows>, BrokerError> = Broker::bind(config).await;
    match result {
        Ok(_) => panic!("`{plugins}` must not bind"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(error: &str, parts: &[&str]) {
    for part in parts {
        assert!(error.contains(part), "`{part}` missing from: {error}");
    }
}

#[tokio::test]
async fn a_missing_or_bad_connection_is_refused() {
    let missing = bind_error("  amqtt.contrib.shadows.ShadowPlugin: {}\n").await;
    assert_mentions(&missing, &["shadows", "`connection`", "required"]);
    let bad = bind_error("  shadows:\n    connection: oracle://u:secret@h/db\n").await;
    assert_mentions(&bad, &["shadows", "`connection`", "unsupported database"]);
    assert!(!bad.contains("secret"), "{bad}");
}

#[tokio::test]
async fn unknown_keys_are_refused() {
    let e =
        bind_error("  shadows:\n    connection: \"sqlite:///:memory:\"\n    conection: x\n").await;
    assert_mentions(&e, &["shadows", "conection"]);
    let e =
        bind_error("  amqtt.contrib.shadows.ShadowTopicAuthPlugin:\n    superuser: [a]\n").await;
    assert_mentions(&e, &["shadow_topic_auth", "superuser"]);
}

#[tokio::test]
async fn an_unreachable_database_stops_the_broker() {
    // Nothing listens on port 1.
    let e = bind_error(
        "  shadows:\n    connection: postgresql+asyncpg://amqtt:secret@127.0.0.1:1/amqtt_test\n",
    )
    .await;
    assert_mentions(&e, &["shadows", "`connection`", "127.0.0.1:1"]);
    assert!(!e.contains("secret"), "{e}");
    let dir = tempfile::tempdir().expect("temp dir");
    let missing_dir = dir.path().join("no/such/dir/shadows.db");
    let e = bind_error(&format!(
        "  shadows:\n    connection: sqlite+aiosqlite:///{}\n",
        missing_dir.display()
    ))
    .await;
    assert_mentions(&e, &["shadows", "`connection`"]);
}
