//! PostgreSQL: the round trip, skipped rows, reconnection, use from inside a tokio runtime,
//! clearing, and the schemas it refuses. One test: the database is shared, so the steps run
//! in sequence.
//!
//! Connects to `AMQTT_TEST_POSTGRES`, by default `postgres://amqtt:amqtt@127.0.0.1/amqtt_test`
//! (`.ci/postgres.sh` sets that up), and works in a schema of its own, `amqtt_store_test`, so
//! that other tests using the database do not meet its tables. Without a server the test prints
//! a line and passes, except when `CI` is set.
#![cfg(feature = "postgres")]

mod common;

use std::time::Duration;

use amqtt_core::store::{Durability, Store, StoreError, StoreOp};
use amqtt_store::{Config, SqlStore, mask_password};
use common::*;

const DEFAULT_URL: &str = "postgres://amqtt:amqtt@127.0.0.1/amqtt_test";

/// The test's schema, and the application name its store connections carry.
const SCHEMA: &str = "amqtt_store_test";

const DROP_TABLES: &str = "DROP TABLE IF EXISTS amqtt_meta, amqtt_sessions, \
     amqtt_subscriptions, amqtt_messages, amqtt_qos2, amqtt_retained";

/// `base` with the test's schema as search path and its application name.
fn in_test_schema(base: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}application_name={SCHEMA}&options=-c%20search_path%3D{SCHEMA}")
}

/// A connection of the test's own, or `None` (the test is skipped) without a server.
fn admin(url: &str) -> Option<postgres::Client> {
    let connected = url.parse::<postgres::Config>().and_then(|mut config| {
        config.connect_timeout(Duration::from_secs(5));
        config.connect(postgres::NoTls)
    });
    match connected {
        Ok(client) => Some(client),
        Err(e) if std::env::var_os("CI").is_some() => panic!(
            "PostgreSQL not reachable at {} ({e}); run .ci/postgres.sh first",
            mask_password(url)
        ),
        Err(_) => {
            println!(
                "skipping: PostgreSQL not reachable at {}",
                mask_password(url)
            );
            None
        }
    }
}

fn expect_damaged<T>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Damaged(message)) => message,
        Err(other) => panic!("expected a damaged store, got {other:?}"),
        Ok(_) => panic!("expected a damaged store"),
    }
}

#[test]
fn postgres_store() -> TestResult {
    let base = std::env::var("AMQTT_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let Some(mut admin) = admin(&base) else {
        return Ok(());
    };
    admin.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {SCHEMA}; SET search_path TO {SCHEMA}"
    ))?;
    admin.batch_execute(DROP_TABLES)?;
    let url = in_test_schema(&base);
    let result = steps(&url, &mut admin);
    admin.batch_execute(DROP_TABLES)?;
    result
}

fn steps(url: &str, admin: &mut postgres::Client) -> TestResult {
    // The round trip, and again after reopening.
    let mut store = SqlStore::open(config(url))?;
    assert!(load(&mut store)?.is_empty());
    for batch in scenario() {
        store.commit(&batch)?;
    }
    check_scenario(&load(&mut store)?);
    store.close(false);
    let mut store = SqlStore::open(config(url))?;
    check_scenario(&load(&mut store)?);

    // Rows that do not decode are skipped.
    admin.batch_execute(
        "INSERT INTO amqtt_sessions (client_id, keep_alive) VALUES ('big', 70000);
         INSERT INTO amqtt_messages VALUES ('client-a', 20, 9, NULL, 1, 0, 't', '\\x00');
         INSERT INTO amqtt_messages VALUES ('client-a', 21, 1, 0, 1, 0, 't', '\\x00');
         INSERT INTO amqtt_qos2 VALUES ('client-a', 0);
         INSERT INTO amqtt_retained VALUES ('r/bad', 3, '\\x');",
    )?;
    let mut loaded = load(&mut store)?;
    assert_eq!(
        loaded.skipped(),
        [
            "a session with an invalid keep-alive",
            "a message with an invalid state",
            "a message with an invalid packet id",
            "a QoS 2 id that is not a packet id",
            "a retained message with an invalid QoS",
        ]
    );
    loaded.events.retain(|e| !matches!(e, Event::Skipped(_)));
    check_scenario(&loaded);
    admin.batch_execute(
        "DELETE FROM amqtt_sessions WHERE client_id = 'big';
         DELETE FROM amqtt_messages WHERE entry IN (20, 21);
         DELETE FROM amqtt_qos2 WHERE packet_id = 0;
         DELETE FROM amqtt_retained WHERE topic = 'r/bad';",
    )?;

    // A lost connection: the next commit reconnects (the first may fail).
    admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND pid <> pg_backend_pid()",
        &[&SCHEMA],
    )?;
    let op = [StoreOp::Session(session("after-reconnect"))];
    if store.commit(&op).is_err() {
        store.commit(&op)?;
    }
    assert_eq!(load(&mut store)?.sessions().len(), 3);
    store.close(false);

    // Opened, loaded and dropped inside a tokio runtime, as the broker does at startup.
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let config = Config {
            sync: Durability::None,
            ..config(url)
        };
        let mut store = SqlStore::open(config)?;
        let loaded = load(&mut store)?;
        assert_eq!(loaded.sessions().len(), 3);
        assert_eq!(loaded.messages().len(), 4);
        store.commit(&[StoreOp::SessionGone {
            client_id: bs("after-reconnect"),
        }])?;
        drop(store);
        Ok::<_, StoreError>(())
    })?;
    drop(runtime);

    // Reset and clear delete the rows; the schema stays.
    let mut store = SqlStore::open(config(url))?;
    check_scenario(&load(&mut store)?);
    store.reset()?;
    assert!(load(&mut store)?.is_empty());
    store.commit(&scenario()[0])?;
    store.close(true);
    let mut store = SqlStore::open(config(url))?;
    assert!(load(&mut store)?.is_empty());
    store.close(false);

    // A newer schema is refused and left as it is.
    admin.batch_execute("UPDATE amqtt_meta SET value = '99' WHERE key = 'schema_version'")?;
    let message = expect_damaged(SqlStore::open(config(url)));
    assert!(
        message.contains("schema version 99 is newer than this broker's 2"),
        "{message}"
    );
    assert!(message.contains("cannot be moved aside"), "{message}");
    assert!(!message.contains(":amqtt@"), "no password: {message}");
    let version: String = admin
        .query_one(
            "SELECT value FROM amqtt_meta WHERE key = 'schema_version'",
            &[],
        )?
        .get(0);
    assert_eq!(version, "99");

    // The store's tables are in the test's schema only.
    let elsewhere: i64 = admin
        .query_one(
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_name = 'amqtt_meta' AND table_schema = $1",
            &[&SCHEMA],
        )?
        .get(0);
    assert_eq!(elsewhere, 1);

    // Tables of ours without amqtt_meta are refused too.
    admin.batch_execute(DROP_TABLES)?;
    admin.batch_execute("CREATE TABLE amqtt_sessions (x INTEGER)")?;
    let message = expect_damaged(SqlStore::open(config(url)));
    assert!(message.contains("amqtt_sessions"), "{message}");
    Ok(())
}
