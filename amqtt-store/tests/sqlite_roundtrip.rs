//! SQLite: what is committed loads back the same, in every durability mode, across reopening;
//! and a clean shutdown clears or keeps the file as configured.
#![cfg(feature = "sqlite")]

mod common;

use amqtt_core::codec::QoS;
use amqtt_core::store::{Durability, Grant, MessageState, Store, StoreOp};
use amqtt_store::{Config, Location, SqlStore};
use common::*;

fn sqlite_config(path: &std::path::Path) -> Config {
    config(format!("sqlite+aiosqlite:///{}", path.display()))
}

#[test]
fn committed_ops_load_back_after_reopening() -> TestResult {
    for sync in [Durability::Always, Durability::Batch, Durability::None] {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("amqtt.db");
        let config = Config {
            sync,
            ..sqlite_config(&path)
        };
        let mut store = SqlStore::open(config.clone())?;
        assert_eq!(store.durability(), sync);
        assert_eq!(store.location(), &Location::Sqlite(path.clone()));
        assert!(load(&mut store)?.is_empty());
        for batch in scenario() {
            store.commit(&batch)?;
        }
        // What the open store holds, then what a reopened one holds.
        check_scenario(&load(&mut store)?);
        store.close(false);
        assert!(path.exists());
        let mut store = SqlStore::open(config)?;
        check_scenario(&load(&mut store)?);
        store.close(false);
    }
    Ok(())
}

#[test]
fn a_failed_batch_changes_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("amqtt.db");
    let mut store = SqlStore::open(sqlite_config(&path))?;
    let [first, second] = scenario();
    store.commit(&first)?;
    // Make the batch fail half-way by dropping a table it writes to.
    let raw = rusqlite::Connection::open(&path)?;
    raw.execute_batch("DROP TABLE amqtt_retained")?;
    drop(raw);
    assert!(store.commit(&second).is_err());
    // The load fails at the dropped table, after everything before it arrived.
    let mut loaded = Collected::default();
    assert!(store.load(&mut loaded).is_err());
    // The first batch stands whole; nothing of the second was applied.
    assert_eq!(loaded.sessions().len(), 3);
    assert_eq!(loaded.sessions()[0].keep_alive, 60);
    assert_eq!(loaded.subscriptions().len(), 4);
    let states: Vec<_> = loaded.messages().iter().map(|(_, m)| m.state).collect();
    assert_eq!(states, [MessageState::Queued; 4]);
    assert_eq!(loaded.qos2().len(), 3);
    store.close(false);
    Ok(())
}

#[test]
fn many_messages_stream_back_in_entry_order() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut store = SqlStore::open(sqlite_config(&dir.path().join("amqtt.db")))?;
    let mut batch = vec![amqtt_core::store::StoreOp::Session(session("c"))];
    // Entries written out of order, payloads of every byte value.
    for entry in (0..2000u64).rev() {
        let payload = [(entry % 256) as u8; 3];
        batch.push(queued("c", entry, "t", QoS::AtLeastOnce, &payload));
    }
    store.commit(&batch)?;
    let loaded = load(&mut store)?;
    let messages = loaded.messages();
    assert_eq!(messages.len(), 2000);
    for (i, (client, m)) in messages.iter().enumerate() {
        assert_eq!(*client, "c");
        assert_eq!(m.entry, i as u64);
        assert_eq!(&m.message.payload[..], &[(i % 256) as u8; 3]);
    }
    store.close(false);
    Ok(())
}

#[test]
fn clear_on_shutdown_deletes_the_file_and_keep_keeps_the_data() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("amqtt.db");
    let keep = sqlite_config(&path);

    let mut store = SqlStore::open(keep.clone())?;
    assert!(!store.clear_on_shutdown());
    store.commit(&scenario()[0])?;
    let clear = store.clear_on_shutdown();
    store.close(clear);
    assert!(path.exists());
    for companion in ["amqtt.db-wal", "amqtt.db-shm"] {
        let file = dir.path().join(companion);
        let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        assert_eq!(len, 0, "{companion} was checkpointed into the file");
    }
    let mut store = SqlStore::open(keep)?;
    assert_eq!(load(&mut store)?.sessions().len(), 3);
    store.close(false);

    // aMQTT's default: cleared.
    let clear = Config {
        clear_on_shutdown: true,
        ..sqlite_config(&path)
    };
    assert!(Config::default().clear_on_shutdown);
    let store = SqlStore::open(clear.clone())?;
    assert!(store.clear_on_shutdown());
    store.close(true);
    assert!(!path.exists());
    assert!(!dir.path().join("amqtt.db-wal").exists());
    assert!(!dir.path().join("amqtt.db-shm").exists());
    let mut store = SqlStore::open(clear)?;
    assert!(load(&mut store)?.is_empty());
    store.close(true);
    Ok(())
}

#[test]
fn the_deprecated_file_key_and_missing_directories_work() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nested/deeper/store.db");
    let config = Config {
        file: Some(path.display().to_string()),
        clear_on_shutdown: false,
        ..Config::default()
    };
    let mut store = SqlStore::open(config.clone())?;
    store.commit(&[amqtt_core::store::StoreOp::Session(session("x"))])?;
    store.close(false);
    assert!(path.exists());
    let mut store = SqlStore::open(config)?;
    assert_eq!(load(&mut store)?.sessions(), [&session("x")]);
    store.close(false);
    Ok(())
}

#[test]
fn a_version_1_database_is_upgraded_in_place_and_keeps_its_rows() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("amqtt.db");
    let mut store = SqlStore::open(sqlite_config(&path))?;
    store.commit(&[
        StoreOp::Session(session("old-client")),
        subscribe("old-client", "t/#", QoS::AtLeastOnce),
        queued("old-client", 1, "t/1", QoS::AtLeastOnce, b"queued"),
        retain("r/old", Some((QoS::AtLeastOnce, b"kept"))),
    ])?;
    store.close(false);
    // Back to version 1's tables: without the MQTT 5.0 columns.
    let raw = rusqlite::Connection::open(&path)?;
    raw.execute_batch(
        "ALTER TABLE amqtt_subscriptions DROP COLUMN options;
         ALTER TABLE amqtt_subscriptions DROP COLUMN subscription_id;
         ALTER TABLE amqtt_sessions DROP COLUMN protocol;
         ALTER TABLE amqtt_sessions DROP COLUMN properties;
         ALTER TABLE amqtt_sessions DROP COLUMN will_properties;
         ALTER TABLE amqtt_messages DROP COLUMN properties;
         ALTER TABLE amqtt_retained DROP COLUMN properties;
         UPDATE amqtt_meta SET value = '1' WHERE key = 'schema_version';",
    )?;
    drop(raw);
    let mut store = SqlStore::open(sqlite_config(&path))?;
    let loaded = load(&mut store)?;
    assert!(loaded.skipped().is_empty(), "{:?}", loaded.skipped());
    assert_eq!(loaded.sessions(), [&session("old-client")]);
    let plain = QoS::AtLeastOnce.into();
    assert_eq!(loaded.subscriptions(), [("old-client", "t/#", plain)]);
    let messages = loaded.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(&messages[0].1.message.payload[..], b"queued");
    assert_eq!(messages[0].1.message.properties, None);
    assert_eq!(&loaded.retained()[0].payload[..], b"kept");
    // The upgraded file takes MQTT 5.0 rows.
    let v5_grant = Grant {
        no_local: true,
        id: std::num::NonZeroU32::new(3),
        ..plain
    };
    store.commit(&[
        with_properties(queued("old-client", 2, "t/2", QoS::AtLeastOnce, b"v5")),
        subscribe("old-client", "t/#", v5_grant),
    ])?;
    let loaded = load(&mut store)?;
    assert_eq!(loaded.subscriptions(), [("old-client", "t/#", v5_grant)]);
    assert_eq!(
        loaded.messages()[1].1.message.properties.as_deref(),
        Some(&message_properties())
    );
    store.close(false);
    Ok(())
}
