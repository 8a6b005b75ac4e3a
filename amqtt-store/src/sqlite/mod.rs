//! The SQLite backend: one file in WAL mode, opened (created, migrated) so that a file it
//! cannot use is moved aside instead of stopping the broker.

mod rows;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use amqtt_core::store::{Durability, Restore, StoreError, StoreOp};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OptionalExtension};

use crate::aside;
use crate::schema::{self, CURRENT, MIGRATIONS};

/// How long a statement waits for a lock another connection holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// An open SQLite store.
pub(crate) struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    durability: Durability,
    /// What the last failed load found, for the log of [`SqliteStore::move_aside`].
    damage: Option<String>,
}

/// Why a file could not be opened as a store.
enum OpenError {
    /// The file is not a store this build can use (not a database, corrupt, someone else's,
    /// newer schema): move it aside.
    Damaged(String),
    /// Anything an empty store does not fix (permissions, I/O, a lock held elsewhere).
    Failed(StoreError),
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file and its directory if missing; a file that
    /// cannot be used is moved aside (see [`aside::move_aside`]) and replaced by an empty store.
    pub(crate) fn open(path: &Path, durability: Durability) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Backend(format!(
                    "SQLite store {}: cannot create its directory {}: {e}",
                    path.display(),
                    parent.display()
                ))
            })?;
        }
        match try_open(path, durability) {
            Err(OpenError::Damaged(why)) => {
                aside::move_aside(path, &why)?;
                Self::open_fresh(path, durability)
            }
            other => other.map_err(|e| e.into_store_error(path)),
        }
    }

    /// Opens the store at `path`, which was just moved aside.
    fn open_fresh(path: &Path, durability: Durability) -> Result<SqliteStore, StoreError> {
        try_open(path, durability).map_err(|e| e.into_store_error(path))
    }

    /// Streams the stored records into `restore`.
    pub(crate) fn load<R: Restore>(&mut self, restore: &mut R) -> Result<(), StoreError> {
        rows::load(&self.conn, restore).map_err(|e| {
            let error = failure(&self.path, "cannot read the store", e);
            if let StoreError::Damaged(why) = &error {
                self.damage = Some(why.clone());
            }
            error
        })
    }

    /// Applies `batch` in one transaction.
    pub(crate) fn commit(&mut self, batch: &[StoreOp]) -> Result<(), StoreError> {
        rows::commit(&mut self.conn, batch).map_err(|e| failure(&self.path, "commit failed", e))
    }

    /// Closes the store: with `clear`, deletes the file and its companions (as aMQTT unlinks
    /// its database); otherwise folds the write-ahead log into the file first.
    pub(crate) fn close(self, clear: bool) {
        let SqliteStore { conn, path, .. } = self;
        if !clear && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!(file = %path.display(), "persistent store: checkpoint failed: {e}");
        }
        if let Err((_, e)) = conn.close() {
            tracing::warn!(file = %path.display(), "persistent store: close failed: {e}");
        }
        if clear {
            let companions = aside::COMPANIONS.map(|c| aside::with_suffix(&path, c));
            for file in std::iter::once(path.clone()).chain(companions) {
                if let Err(e) = aside::remove_if_exists(&file) {
                    tracing::warn!(
                        file = %file.display(),
                        "persistent store: cannot delete {} on shutdown: {e}",
                        file.display()
                    );
                }
            }
            tracing::info!(file = %path.display(), "persistent store: cleared on shutdown");
        }
    }

    /// Closes the file, moves it aside and opens an empty store in its place.
    pub(crate) fn move_aside(&mut self) -> Result<(), StoreError> {
        let placeholder = Connection::open_in_memory()
            .map_err(|e| failure(&self.path, "cannot open an in-memory placeholder", e))?;
        let old = std::mem::replace(&mut self.conn, placeholder);
        if let Err((_, e)) = old.close() {
            tracing::warn!(file = %self.path.display(), "persistent store: close failed: {e}");
        }
        let why = self
            .damage
            .take()
            .unwrap_or_else(|| "the broker found it unreadable".to_owned());
        aside::move_aside(&self.path, &why)?;
        *self = Self::open_fresh(&self.path, self.durability)?;
        Ok(())
    }
}

impl OpenError {
    fn into_store_error(self, path: &Path) -> StoreError {
        match self {
            OpenError::Failed(e) => e,
            OpenError::Damaged(why) => StoreError::Damaged(format!(
                "SQLite store {}: a fresh store cannot be created: {why}",
                path.display()
            )),
        }
    }
}

/// Opens `path`: checks that it is a sound database holding our schema (or nothing), sets the
/// journal and sync modes, and creates or migrates the schema.
fn try_open(path: &Path, durability: Durability) -> Result<SqliteStore, OpenError> {
    // Not even SQLite's header: refuse before SQLite opens it, which would delete a `-wal`
    // beside it when closing.
    if let Some(header) = foreign_header(path) {
        return Err(OpenError::Damaged(format!(
            "not an SQLite database (its first bytes are {header})"
        )));
    }
    let opening = |e| classify(path, e);
    let mut conn = Connection::open(path).map_err(opening)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(opening)?;
    // Read before anything is written: a foreign database must be moved aside unchanged.
    let check: String = conn
        .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
        .map_err(opening)?;
    if check != "ok" {
        return Err(OpenError::Damaged(format!("integrity check: {check}")));
    }
    let version = stored_version(&conn).map_err(opening)??;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(opening)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            file = %path.display(),
            "persistent store: SQLite refused WAL mode (journal mode {mode}); commits are slower"
        );
    }
    let synchronous = match durability {
        Durability::None => "PRAGMA synchronous = OFF",
        Durability::Always | Durability::Batch => "PRAGMA synchronous = FULL",
    };
    conn.execute_batch(synchronous).map_err(opening)?;
    conn.set_prepared_statement_cache_capacity(32);
    if version < CURRENT {
        migrate(&mut conn, version).map_err(opening)?;
        if version == 0 {
            tracing::info!(file = %path.display(), "persistent store: created {}", path.display());
        } else {
            tracing::info!(
                file = %path.display(),
                "persistent store: schema migrated from version {version} to {CURRENT}"
            );
        }
    }
    for table in schema::TABLES {
        let found: Option<i64> = conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get(0),
            )
            .optional()
            .map_err(opening)?;
        if found.is_none() {
            return Err(OpenError::Damaged(format!("table {table} is missing")));
        }
    }
    Ok(SqliteStore {
        conn,
        path: path.to_owned(),
        durability,
        damage: None,
    })
}

/// The first bytes of `path`, in hex, when it is a non-empty file that does not start with SQLite's
/// header string; `None` for a database, an empty or missing file, or one that cannot be read
/// (SQLite then reports why).
fn foreign_header(path: &Path) -> Option<String> {
    const MAGIC: &[u8; 16] = b"SQLite format 3\0";
    let mut start = Vec::with_capacity(MAGIC.len());
    std::fs::File::open(path)
        .ok()?
        .take(MAGIC.len() as u64)
        .read_to_end(&mut start)
        .ok()?;
    let hex = || start.iter().map(|b| format!("{b:02x}")).collect();
    (!start.is_empty() && start != MAGIC).then(hex)
}

/// The schema version stored in the database: 0 for an empty database; `Err` (inner) for one
/// that is not ours or is newer than this build.
fn stored_version(conn: &Connection) -> rusqlite::Result<Result<u32, OpenError>> {
    let mut tables = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' \
         ESCAPE '\\' ORDER BY name",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        tables.push(row.get::<_, String>(0)?);
    }
    if !tables.iter().any(|t| t == "amqtt_meta") {
        if tables.is_empty() {
            return Ok(Ok(0));
        }
        let shown = tables
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        return Ok(Err(OpenError::Damaged(format!(
            "not an amqtt-rs store: it has tables ({shown}) but no amqtt_meta"
        ))));
    }
    let version = conn
        .query_row(schema::GET_VERSION, [], |row| {
            Ok(match row.get_ref(0)? {
                ValueRef::Integer(v) => u32::try_from(v).ok(),
                ValueRef::Text(text) => std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()),
                _ => None,
            })
        })
        .optional()?
        .flatten();
    Ok(match version {
        None => Err(OpenError::Damaged(
            "amqtt_meta holds no valid schema_version".to_owned(),
        )),
        Some(v) if v > CURRENT => Err(OpenError::Damaged(format!(
            "schema version {v} is newer than this broker's {CURRENT}"
        ))),
        Some(v) => Ok(v),
    })
}

/// Runs the migrations from `version` to [`CURRENT`] in one transaction.
fn migrate(conn: &mut Connection, version: u32) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for migration in MIGRATIONS.iter().skip(version as usize) {
        tx.execute_batch(migration.sqlite)?;
    }
    tx.execute(schema::SET_VERSION, [CURRENT.to_string()])?;
    tx.commit()
}

/// An error while opening: damage (anything about the file's contents) or a failure of the
/// environment (permissions, I/O, locks), which an empty store would not fix.
fn classify(path: &Path, e: rusqlite::Error) -> OpenError {
    let environmental = matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::CannotOpen
                | ErrorCode::PermissionDenied
                | ErrorCode::ReadOnly
                | ErrorCode::SystemIoFailure
                | ErrorCode::DiskFull
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::OutOfMemory
                | ErrorCode::NoLargeFileSupport
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::OperationInterrupted
        )
    );
    if environmental {
        OpenError::Failed(StoreError::Backend(format!(
            "SQLite store {}: cannot open: {e}",
            path.display()
        )))
    } else {
        OpenError::Damaged(e.to_string())
    }
}

/// An error of a load or commit: `Damaged` when SQLite found the file corrupt.
fn failure(path: &Path, doing: &str, e: rusqlite::Error) -> StoreError {
    let message = format!("SQLite store {}: {doing}: {e}", path.display());
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Damaged(message),
        _ => StoreError::Backend(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite numbers `$N` parameters by first appearance: each statement must name them in
    /// order, so that positional binding means the same in both dialects.
    #[test]
    fn parameters_are_numbered_in_order_of_appearance() -> rusqlite::Result<()> {
        let mut conn = Connection::open_in_memory()?;
        migrate(&mut conn, 0)?;
        for sql in schema::WITH_PARAMETERS {
            let stmt = conn.prepare(sql)?;
            assert!(stmt.parameter_count() > 0, "{sql}");
            for i in 1..=stmt.parameter_count() {
                assert_eq!(
                    stmt.parameter_name(i),
                    Some(format!("${i}").as_str()),
                    "{sql}"
                );
            }
        }
        Ok(())
    }
}
