//! SQLite: a file that cannot be read as a store is moved aside and the store opens empty; a
//! row that does not decode is skipped and counted while the rest loads.
#![cfg(feature = "sqlite")]

mod common;

use std::path::{Path, PathBuf};

use amqtt_core::codec::QoS;
use amqtt_core::store::{Store, StoreError, StoreOp};
use amqtt_store::{Config, SqlStore};
use common::*;

fn sqlite_config(path: &Path) -> Config {
    config(format!("sqlite:///{}", path.display()))
}

/// The files of `dir` moved aside, sorted.
fn damaged_files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    found.retain(|p| p.to_string_lossy().contains(".damaged-"));
    found.sort();
    found
}

/// Opens the store at `path`, expects it moved aside and the new one empty and usable, and
/// returns the file it was moved to.
fn opens_empty_after_moving_aside(path: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let dir = path.parent().ok_or("no parent")?;
    let mut store = SqlStore::open(sqlite_config(path))?;
    assert!(load(&mut store)?.is_empty());
    store.commit(&[StoreOp::Session(session("after"))])?;
    assert_eq!(load(&mut store)?.sessions(), [&session("after")]);
    store.close(false);
    let moved: Vec<_> = damaged_files(dir)
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with("-wal"))
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    let name = moved[0]
        .file_name()
        .ok_or("no name")?
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("amqtt.db.damaged-"), "{name}");
    Ok(moved[0].clone())
}

/// A store holding the scenario, closed.
fn filled_store(path: &Path) -> TestResult {
    let mut store = SqlStore::open(sqlite_config(path))?;
    for batch in scenario() {
        store.commit(&batch)?;
    }
    store.close(false);
    Ok(())
}

#[test]
fn a_file_of_garbage_is_moved_aside_with_its_log() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("amqtt.db");
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &garbage)?;
    std::fs::write(dir.path().join("amqtt.db-wal"), b"not a log either")?;
    let moved = opens_empty_after_moving_aside(&path)?;
    assert_eq!(
        std::fs::read(&moved)?,
        garbage,
        "the damaged file is kept as it was"
    );
    let mut wal = moved.into_os_string();
    wal.push("-wal");
    assert_eq!(std::fs::read(wal)?, b"not a log either");
    Ok(())
}

#[test]
fn a_truncated_file_is_moved_aside() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("amqtt.db");
    let mut store = SqlStore::open(sqlite_config(&path))?;
    let mut batch = vec![StoreOp::Session(session("c"))];
    for entry in 0..500 {
        batch.push(queued("c", entry, "t", QoS::AtLeastOnce, &[7; 1000]));
    }
    store.commit(&batch)?;
    store.close(false);
    let len = std::fs::metadata(&path)?.len();
    assert!(len > 100_000, "{len}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)?
        .set_len(len / 2)?;
    opens_empty_after_moving_aside(&path)?;
    Ok(())
}

#[test]
fn a_newer_schema_is_moved_aside() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("amqtt.db");
    filled_store(&path)?;
    let raw = rusqlite::Connection::open(&path)?;
    raw.execute_batch("UPDATE amqtt_meta SET value = '99' WHERE key = 'schema_version'")?;
    drop(raw);
    let moved = opens_empty_after_moving_aside(&path)?;
    // The moved file still holds the data, for a newer broker.
    let raw = rusqlite::Connection::open(&moved)?;
    let sessions: i64 = raw.query_row("SELECT count(*) FROM amqtt_sessions", [], |r| r.get(0))?;
    assert_eq!(sessions, 2);
    Ok(())
}

#[test]
fn someone_elses_database_is_moved_aside() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("amqtt.db");
    // aMQTT's own amqtt.db.
    let raw = rusqlite::Connection::open(&path)?;
    raw.execute_batch(
        "CREATE TABLE stored_sessions (id INTEGER PRIMARY KEY, client_id TEXT, data BLOB);
         INSERT INTO stored_sessions (client_id, data) VALUES ('x', x'00');",
    )?;
    drop(raw);
    let moved = opens_empty_after_moving_aside(&path)?;
    let raw = rusqlite::Connection::open(&moved)?;
    let mode: String = raw.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    assert_eq!(mode, "delete", "the foreign file was not switched to WAL");
    Ok(())
}

#[test]
fn an_empty_file_becomes_a_store_in_place() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("amqtt.db");
    std::fs::write(&path, b"")?;
    let mut store = SqlStore::open(sqlite_config(&path))?;
    assert!(load(&mut store)?.is_empty());
    store.close(false);
    assert!(damaged_files(dir.path()).is_empty());
    Ok(())
}

#[test]
fn a_path_that_cannot_be_created_is_an_error_not_a_move() -> TestResult {
    let dir = tempfile::tempdir()?;
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"keep me")?;
    let result = SqlStore::open(sqlite_config(&blocker.join("amqtt.db")));
    match result {
        Err(StoreError::Backend(message)) => {
            assert!(message.contains("not-a-dir"), "{message}");
        }
        Err(other) => return Err(format!("expected a backend error, got {other:?}").into()),
        Ok(_) => return Err("opened a store under a file".into()),
    }
    assert_eq!(std::fs::read(&blocker)?, b"keep me");
    assert!(damaged_files(dir.path()).is_empty());
    Ok(())
}

#[test]
fn reset_moves_the_file_aside_and_starts_empty() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("amqtt.db");
    filled_store(&path)?;
    let mut store = SqlStore::open(sqlite_config(&path))?;
    assert_eq!(load(&mut store)?.sessions().len(), 2);
    store.reset()?;
    assert!(load(&mut store)?.is_empty());
    store.commit(&[StoreOp::Session(session("new"))])?;
    store.close(false);
    let moved = damaged_files(dir.path());
    assert_eq!(moved.len(), 1, "{moved:?}");
    let raw = rusqlite::Connection::open(&moved[0])?;
    let sessions: i64 = raw.query_row("SELECT count(*) FROM amqtt_sessions", [], |r| r.get(0))?;
    assert_eq!(sessions, 2, "the moved file keeps its data");
    let mut store = SqlStore::open(sqlite_config(&path))?;
    assert_eq!(load(&mut store)?.sessions(), [&session("new")]);
    store.close(false);
    Ok(())
}

#[test]
fn rows_that_do_not_decode_are_skipped_and_the_rest_loads() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("amqtt.db");
    filled_store(&path)?;
    let raw = rusqlite::Connection::open(&path)?;
    raw.execute_batch(
        "INSERT INTO amqtt_sessions (client_id, keep_alive) VALUES ('big-keep-alive', 70000);
         INSERT INTO amqtt_sessions (client_id, keep_alive, will_topic, will_qos, will_retain)
             VALUES ('bad-will', 5, 'w', 3, 0);
         INSERT INTO amqtt_sessions (client_id, keep_alive) VALUES (CAST(x'ff' AS TEXT), 1);
         INSERT INTO amqtt_sessions (client_id, keep_alive) VALUES ('text-keep-alive', 'ten');
         INSERT INTO amqtt_subscriptions VALUES ('client-b', 'q', 7, NULL, NULL);
         INSERT INTO amqtt_subscriptions VALUES ('client-b', 'o', 1, 16, NULL);
         INSERT INTO amqtt_subscriptions VALUES ('client-b', 'i', 1, 0, 268435456);
         INSERT INTO amqtt_messages VALUES ('client-a', 20, 9, NULL, 1, 0, 't', x'00', NULL);
         INSERT INTO amqtt_messages VALUES ('client-a', 21, 1, 0, 1, 0, 't', x'00', NULL);
         INSERT INTO amqtt_messages VALUES ('client-a', 22, 0, NULL, 1, 0, CAST(x'c328' AS TEXT), x'', NULL);
         INSERT INTO amqtt_messages VALUES ('client-a', 23, 0, NULL, 4, 0, 't', x'', NULL);
         INSERT INTO amqtt_messages VALUES ('client-a', 24, 0, NULL, 1, 2, 't', x'', NULL);
         INSERT INTO amqtt_qos2 VALUES ('client-a', 0);
         INSERT INTO amqtt_qos2 VALUES ('client-a', 70000);
         INSERT INTO amqtt_retained VALUES ('r/bad', 3, x'', NULL);
         INSERT INTO amqtt_messages VALUES ('client-a', 25, 0, NULL, 1, 0, 't', x'', x'05ff');
         INSERT INTO amqtt_sessions (client_id, keep_alive, protocol) VALUES ('v9', 1, 9);",
    )?;
    drop(raw);
    let mut store = SqlStore::open(sqlite_config(&path))?;
    let mut loaded = load(&mut store)?;
    let skipped: Vec<String> = loaded.skipped().iter().map(|s| s.to_string()).collect();
    assert_eq!(skipped.len(), 17, "{skipped:?}");
    for expected in [
        "a session with an invalid keep-alive",
        "a session with an invalid will QoS",
        "a session whose client id is not UTF-8",
        "a session row with a value of the wrong type",
        "a subscription with an invalid QoS, options or identifier",
        "a message with an invalid state",
        "a message with an invalid packet id",
        "a message whose topic is not UTF-8",
        "a message with an invalid QoS",
        "a message with an invalid retain flag",
        "a QoS 2 id that is not a packet id",
        "a retained message with an invalid QoS",
        "a row with invalid MQTT 5.0 properties",
        "a session with an unknown protocol level",
    ] {
        assert!(
            skipped.iter().any(|s| s == expected),
            "{expected}: {skipped:?}"
        );
    }
    // Without the skips, the load is the scenario's.
    loaded.events.retain(|e| !matches!(e, Event::Skipped(_)));
    check_scenario(&loaded);
    store.close(false);
    Ok(())
}
