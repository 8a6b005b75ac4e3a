//! The PostgreSQL backend: the `amqtt_` tables in the connection's current schema, written
//! through one connection with prepared statements.
//!
//! A server database is shared and cannot be moved aside: a newer or foreign schema is
//! reported as [`StoreError::Damaged`] and left as it is.

mod blocking;
mod rows;

use std::time::Duration;

use amqtt_core::store::{Durability, Restore, StoreError, StoreOp};
use postgres::{Client, NoTls};

use crate::config::mask_password;
use crate::schema::{self, CURRENT, MIGRATIONS};
use blocking::{load_off_runtime, off_runtime};

/// How long a connection attempt may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The advisory lock that serialises schema creation and migration between brokers sharing a
/// database ("amqttsto").
const SCHEMA_LOCK: i64 = 0x616d_7174_7473_746f;

/// An open PostgreSQL store.
pub(crate) struct PostgresStore {
    /// `None` only while it is being closed or dropped; boxed, being large.
    conn: Option<Box<Conn>>,
    /// The URL with its password masked, for messages.
    masked: String,
}

/// The connection and what it needs to reconnect.
struct Conn {
    client: Client,
    statements: rows::Statements,
    config: postgres::Config,
    durability: Durability,
    masked: String,
    /// The last call failed on the connection itself: connect again before the next.
    lost: bool,
}

impl PostgresStore {
    /// Connects to `url`, creates or migrates the schema and prepares the statements.
    pub(crate) fn open(url: &str, durability: Durability) -> Result<PostgresStore, StoreError> {
        let masked = mask_password(url);
        let mut config: postgres::Config = url.parse().map_err(|e| {
            StoreError::Config(format!(
                "persistence: `connection` {masked:?}: {}",
                describe(&e)
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("amqtt-rs");
        }
        let conn = off_runtime(|| Conn::open(config, durability, masked.clone()))?;
        Ok(PostgresStore {
            conn: Some(Box::new(conn)),
            masked,
        })
    }

    fn conn(&mut self) -> Result<&mut Conn, StoreError> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| StoreError::Backend(format!("PostgreSQL store {}: closed", self.masked)))
    }

    /// Streams the stored records into `restore`.
    pub(crate) fn load<R: Restore>(&mut self, restore: &mut R) -> Result<(), StoreError> {
        let conn = self.conn()?;
        load_off_runtime(restore, |restore| {
            conn.run("cannot read", |client, _| rows::load(client, restore))
        })
    }

    /// Applies `batch` in one transaction, reconnecting first if the connection was lost.
    pub(crate) fn commit(&mut self, batch: &[StoreOp]) -> Result<(), StoreError> {
        let conn = self.conn()?;
        off_runtime(|| {
            conn.run("commit failed", |client, statements| {
                rows::commit(client, statements, batch)
            })
        })
    }

    /// Deletes every stored row: what `load` could not finish reading is given up.
    pub(crate) fn reset(&mut self) -> Result<(), StoreError> {
        let conn = self.conn()?;
        off_runtime(|| {
            conn.run("cannot clear", |client, _| rows::clear(client))?;
            tracing::error!(
                store = %conn.masked,
                "persistent store: a server database cannot be moved aside; deleted its rows \
                 and starting with an empty store"
            );
            Ok(())
        })
    }

    /// Closes the connection; with `clear`, deletes every row of the `amqtt_` tables first.
    pub(crate) fn close(mut self, clear: bool) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        off_runtime(move || {
            if clear {
                match conn.run("cannot clear on shutdown", |client, _| rows::clear(client)) {
                    Ok(()) => {
                        tracing::info!(store = %conn.masked, "persistent store: cleared on shutdown");
                    }
                    Err(e) => tracing::warn!(store = %conn.masked, "persistent store: {e}"),
                }
            }
            if let Err(e) = conn.client.close() {
                tracing::warn!(
                    store = %conn.masked,
                    "persistent store: close failed: {}",
                    describe(&e)
                );
            }
        });
    }
}

impl Drop for PostgresStore {
    /// Closing the client runs its runtime: keep that off the broker's.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            off_runtime(move || drop(conn));
        }
    }
}

impl Conn {
    /// Connects, creates or migrates the schema, and prepares the statements.
    fn open(
        config: postgres::Config,
        durability: Durability,
        masked: String,
    ) -> Result<Conn, StoreError> {
        let mut client = connect(&config, durability, &masked)?;
        let version =
            migrate(&mut client, &masked).map_err(|e| failure(&masked, "schema", &e))??;
        if version == 0 {
            tracing::info!(store = %masked, "persistent store: created the amqtt_ tables");
        } else if version < CURRENT {
            tracing::info!(
                store = %masked,
                "persistent store: schema migrated from version {version} to {CURRENT}"
            );
        }
        let statements = rows::Statements::prepare(&mut client)
            .map_err(|e| failure(&masked, "cannot prepare statements", &e))?;
        Ok(Conn {
            client,
            statements,
            config,
            durability,
            masked,
            lost: false,
        })
    }

    /// Runs `f` on the connection, connecting again first if the last call lost it.
    fn run<T>(
        &mut self,
        doing: &str,
        f: impl FnOnce(&mut Client, &rows::Statements) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        if self.lost || self.client.is_closed() {
            self.reconnect()?;
        }
        f(&mut self.client, &self.statements).map_err(|e| {
            if connection_lost(&e) {
                self.lost = true;
            }
            failure(&self.masked, doing, &e)
        })
    }

    /// Connects again after the connection was lost.
    fn reconnect(&mut self) -> Result<(), StoreError> {
        let mut client = connect(&self.config, self.durability, &self.masked)?;
        self.statements = rows::Statements::prepare(&mut client)
            .map_err(|e| failure(&self.masked, "cannot prepare statements", &e))?;
        self.client = client;
        self.lost = false;
        tracing::info!(store = %self.masked, "persistent store: reconnected");
        Ok(())
    }
}

/// Connects and sets the session's commit durability.
fn connect(
    config: &postgres::Config,
    durability: Durability,
    masked: &str,
) -> Result<Client, StoreError> {
    let mut client = config.connect(NoTls).map_err(|e| {
        StoreError::Backend(format!(
            "PostgreSQL store {masked}: cannot connect: {}",
            describe(&e)
        ))
    })?;
    let setting = match durability {
        Durability::None => Some("SET synchronous_commit = off"),
        Durability::Always | Durability::Batch => {
            let current = client
                .query_one("SHOW synchronous_commit", &[])
                .and_then(|row| row.try_get::<_, String>(0))
                .map_err(|e| failure(masked, "cannot read synchronous_commit", &e))?;
            (current == "off").then_some("SET synchronous_commit = on")
        }
    };
    if let Some(sql) = setting {
        client
            .batch_execute(sql)
            .map_err(|e| failure(masked, "cannot set synchronous_commit", &e))?;
    }
    Ok(client)
}

/// Creates or migrates the schema under an advisory lock; returns the version found (0 for
/// none), or the inner `Err` for a schema this build cannot use.
fn migrate(client: &mut Client, masked: &str) -> Result<Result<u32, StoreError>, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    let tables = amqtt_tables(&mut tx)?;
    let version = if tables.iter().any(|t| t == "amqtt_meta") {
        let stored = tx
            .query_opt(schema::GET_VERSION, &[])?
            .and_then(|row| row.try_get::<_, String>(0).ok())
            .and_then(|v| v.parse::<u32>().ok());
        match stored {
            Some(v) => v,
            None => {
                return Ok(Err(damaged(
                    masked,
                    "amqtt_meta holds no valid schema_version".to_owned(),
                )));
            }
        }
    } else if tables.is_empty() {
        0
    } else {
        return Ok(Err(damaged(
            masked,
            format!("tables {} exist without amqtt_meta", tables.join(", ")),
        )));
    };
    if version > CURRENT {
        return Ok(Err(damaged(
            masked,
            format!("schema version {version} is newer than this broker's {CURRENT}"),
        )));
    }
    for migration in MIGRATIONS.iter().skip(version as usize) {
        tx.batch_execute(migration.postgres)?;
    }
    if version < CURRENT {
        tx.execute(schema::SET_VERSION, &[&CURRENT.to_string()])?;
    }
    let tables = amqtt_tables(&mut tx)?;
    if let Some(missing) = schema::TABLES
        .iter()
        .find(|t| !tables.iter().any(|f| f == *t))
    {
        return Ok(Err(damaged(masked, format!("table {missing} is missing"))));
    }
    tx.commit()?;
    Ok(Ok(version))
}

/// A schema this build cannot use; left as it is.
fn damaged(masked: &str, why: String) -> StoreError {
    StoreError::Damaged(format!(
        "PostgreSQL store {masked}: {why}; a server database cannot be moved aside: upgrade the broker, \
         or drop the amqtt_ tables (or use another database) to start empty"
    ))
}

/// The `amqtt_` tables of the current schema.
fn amqtt_tables(tx: &mut postgres::Transaction<'_>) -> Result<Vec<String>, postgres::Error> {
    tx.query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name LIKE 'amqtt\\_%' \
         ORDER BY table_name",
        &[],
    )?
    .iter()
    .map(|row| row.try_get(0))
    .collect()
}

fn failure(masked: &str, doing: &str, e: &postgres::Error) -> StoreError {
    StoreError::Backend(format!(
        "PostgreSQL store {masked}: {doing}: {}",
        describe(e)
    ))
}

/// Whether `e` ended the connection: an error of the connection itself (I/O, protocol), a
/// FATAL one (the backend was terminated), or SQLSTATE class 08 (connection exception).
fn connection_lost(e: &postgres::Error) -> bool {
    match e.as_db_error() {
        None => true,
        Some(db) => {
            matches!(db.severity(), "FATAL" | "PANIC") || db.code().code().starts_with("08")
        }
    }
}

/// `e` with its causes: the driver's own text is only the kind ("db error", "error connecting
/// to server").
fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.to_string();
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
