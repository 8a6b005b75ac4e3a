//! Persistent session stores for amqtt: SQLite (a file, aMQTT's default `amqtt.db`) and
//! PostgreSQL, behind one [`Store`] implementation, [`SqlStore`], configured by aMQTT's
//! `SessionDBPlugin` keys.
//!
//! ```yaml
//! plugins:
//!   amqtt.contrib.persistence.SessionDBPlugin:
//!     connection: sqlite+aiosqlite:///amqtt.db   # or postgresql+asyncpg://user:pass@host/db
//!     clear_on_shutdown: false
//!     sync: always                               # always | batch | none
//! ```
//!
//! Both backends keep the same tables (see the `schema` module); a store that cannot be read
//! is moved aside where that is possible (an SQLite file), so the broker always starts.

#![forbid(unsafe_code)]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("amqtt-store needs at least one backend: enable the `sqlite` or `postgres` feature");

#[cfg(feature = "sqlite")]
mod aside;
mod config;
mod decode;
#[cfg(feature = "postgres")]
mod postgres;
mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::time::Duration;

use amqtt_core::store::{Durability, Restore, Store, StoreError, StoreOp};

pub use config::{Config, DEFAULT_CONNECTION, Location, mask_password};

/// The SQL session store: SQLite or PostgreSQL, as the configuration's `connection` says.
pub struct SqlStore {
    backend: Backend,
    location: Location,
    durability: Durability,
    sync_interval: Duration,
    clear_on_shutdown: bool,
}

/// The open database.
enum Backend {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(postgres::PostgresStore),
}

impl SqlStore {
    /// Where the store is.
    pub fn location(&self) -> &Location {
        &self.location
    }
}

impl Store for SqlStore {
    const NAMES: &'static [&'static str] = &[
        "persistence",
        "amqtt.contrib.persistence.SessionDBPlugin",
        "session_db",
    ];
    type Config = Config;

    fn open(config: Config) -> Result<SqlStore, StoreError> {
        let location = config.location()?;
        let sync_interval = config.sync_interval()?;
        if config.file.is_some() {
            tracing::warn!(
                "persistence: `file` is deprecated; write `connection: sqlite:///{}` instead",
                config.file.as_deref().unwrap_or_default()
            );
        }
        let durability = config.sync;
        let backend = match &location {
            #[cfg(feature = "sqlite")]
            Location::Sqlite(path) => Backend::Sqlite(sqlite::SqliteStore::open(path, durability)?),
            #[cfg(feature = "postgres")]
            Location::Postgres(url) => {
                Backend::Postgres(postgres::PostgresStore::open(url, durability)?)
            }
            #[allow(unreachable_patterns)]
            other => {
                return Err(StoreError::Config(format!(
                    "persistence: {other}: this broker was built without support for it (cargo \
                     feature `{}` of amqtt-store)",
                    match other {
                        Location::Sqlite(_) => "sqlite",
                        Location::Postgres(_) => "postgres",
                    }
                )));
            }
        };
        tracing::info!(store = %location, sync = ?durability, "persistent store opened");
        Ok(SqlStore {
            backend,
            location,
            durability,
            sync_interval,
            clear_on_shutdown: config.clear_on_shutdown,
        })
    }

    fn durability(&self) -> Durability {
        self.durability
    }

    fn sync_interval(&self) -> Duration {
        self.sync_interval
    }

    fn load<R: Restore>(&mut self, restore: &mut R) -> Result<(), StoreError> {
        match &mut self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(store) => store.load(restore),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.load(restore),
        }
    }

    /// SQLite: closes the file, renames it (with its `-wal` and `-shm`) to
    /// `<file>.damaged-<unix seconds>`, logs that, and opens an empty store in its place.
    /// PostgreSQL, whose database cannot be moved aside: deletes the rows of the `amqtt_`
    /// tables.
    fn reset(&mut self) -> Result<(), StoreError> {
        match &mut self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(store) => store.move_aside(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.reset(),
        }
    }

    fn commit(&mut self, batch: &[StoreOp]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        match &mut self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(store) => store.commit(batch),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.commit(batch),
        }
    }

    fn close(self, clear: bool) {
        match self.backend {
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(store) => store.close(clear),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.close(clear),
        }
    }

    fn clear_on_shutdown(&self) -> bool {
        self.clear_on_shutdown
    }
}
