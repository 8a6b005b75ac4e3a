//! The forms of aMQTT's store configuration the broker takes: the plugin's dotted class name with
//! a `connection` URL (relative, and absolute with four slashes), the deprecated `file` key, and
//! the `session_db` key without settings (aMQTT's default `amqtt.db`); and `file` together with
//! `connection`, which stops the broker from starting.

use std::path::Path;

use super::scenario::Scenario;
use super::support::{SETTLE, StoreBroker, start_expecting_failure};

/// Starts a broker with the `store` lines under `plugins:`, stores the standard state, checks
/// it lands in `db`, kills the broker with SIGKILL and checks the restart restored it.
async fn survives_kill9(store: &str, db: impl Fn(&StoreBroker) -> std::path::PathBuf) {
    let mut broker = StoreBroker::start("", store).await;
    let scenario = Scenario::new("form");
    scenario.prepare(broker.addr()).await;
    let db = db(&broker);
    assert!(
        db.is_file(),
        "the store is at {} (configured as {store:?})",
        db.display()
    );
    tokio::time::sleep(SETTLE).await;
    broker.kill9();
    broker.restart().await;
    scenario.verify(broker.addr()).await;
}

#[tokio::test]
async fn session_db_plugin_class_with_a_relative_connection_url() {
    let store = "  amqtt.contrib.persistence.SessionDBPlugin:\n    \
                 connection: \"sqlite+aiosqlite:///store.db\"\n";
    survives_kill9(store, |b| b.path("store.db")).await;
}

#[tokio::test]
async fn connection_url_with_four_slashes_is_an_absolute_path() {
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let db = elsewhere.path().join("absolute.db");
    let absolute = db.to_str().expect("a UTF-8 temp path");
    assert!(Path::new(absolute).is_absolute());
    let store = format!(
        "  amqtt.contrib.persistence.SessionDBPlugin:\n    \
         connection: \"sqlite+aiosqlite:///{absolute}\"\n"
    );
    survives_kill9(&store, |_| db.clone()).await;
}

#[tokio::test]
async fn deprecated_file_key() {
    let store = "  amqtt.contrib.persistence.SessionDBPlugin:\n    file: legacy.db\n";
    survives_kill9(store, |b| b.path("legacy.db")).await;
}

#[tokio::test]
async fn session_db_without_settings_uses_amqtt_db() {
    survives_kill9("  session_db:\n", |b| b.path("amqtt.db")).await;
}

#[tokio::test]
async fn plain_sqlite_url() {
    let store = "  persistence:\n    connection: \"sqlite:///plain.db\"\n";
    survives_kill9(store, |b| b.path("plain.db")).await;
}

#[tokio::test]
async fn file_and_connection_together_stop_the_broker_from_starting() {
    let store = "  persistence:\n    file: x.db\n    connection: \"sqlite+aiosqlite:///y.db\"\n";
    let (status, output) = start_expecting_failure(store).await;
    assert!(!status.success(), "the broker exited with {status}");
    assert!(
        output
            .lines()
            .any(|line| line.contains("file") && line.contains("connection")),
        "the error names both keys:\n{output}"
    );
}
