//! aMQTT's relational-database auth (`amqtt.contrib.auth_db`): [`UserAuthDb`] checks user names
//! and password hashes, [`TopicAuthDb`] per-user topic lists, in SQLite, PostgreSQL or
//! MariaDB/MySQL, in the same tables and encodings as aMQTT's SQLAlchemy models, so either
//! broker (and either's tools) reads what the other wrote.
//!
//! ```yaml
//! plugins:
//!   amqtt.contrib.auth_db.UserAuthDBPlugin:
//!     connection: sqlite+aiosqlite:///auth.db
//!     sync_schema: true
//!     hash_schemes: [argon2, bcrypt]
//!   amqtt.contrib.auth_db.TopicAuthDBPlugin:
//!     connection: sqlite+aiosqlite:///auth.db
//! ```
//!
//! The database is opened in the plugins' `start` hook: a server that does not answer, or a
//! missing table without `sync_schema`, stops the broker. [`admin`] is what the
//! `amqtt_user_mgr` and `amqtt_topic_mgr` tools do. See `docs/auth_db.md`.

pub mod admin;
mod hashing;
mod store;
mod topic_auth;
mod user_auth;

use std::sync::OnceLock;

use amqtt_core::plugin::PluginError;

pub use hashing::{Checked, HashScheme, Hasher};
pub use store::TopicAuthRow;
pub use topic_auth::{TopicAuthDb, TopicAuthDbConfig};
pub use user_auth::{UserAuthDb, UserAuthDbConfig};

use crate::db::DbUrl;
use store::AuthStore;

/// Reads the `connection` key.
fn parse_connection(connection: Option<&str>) -> Result<DbUrl, PluginError> {
    let Some(connection) = connection else {
        return Err(PluginError::new(
            "`connection`: missing: give the database URL, e.g. sqlite+aiosqlite:///auth.db",
        ));
    };
    DbUrl::parse(connection).map_err(|e| PluginError::new(format!("`connection`: {e}")))
}

/// A plugin's database: its URL, and the pool once `start` opened it.
struct Database {
    url: DbUrl,
    sync_schema: bool,
    store: OnceLock<AuthStore>,
}

impl Database {
    fn new(url: DbUrl, sync_schema: bool) -> Database {
        Database {
            url,
            sync_schema,
            store: OnceLock::new(),
        }
    }

    /// The open database, once `start` has run.
    fn store(&self) -> Option<&AuthStore> {
        self.store.get()
    }

    /// Opens the database, creates the tables when `sync_schema` is set, and checks that
    /// `table` can be read. Errors name `plugin` and the key.
    async fn start(&self, plugin: &'static str, table: &str) -> Result<(), PluginError> {
        let url = &self.url;
        let store = AuthStore::open(url)
            .await
            .map_err(|e| PluginError::named(plugin, format!("`connection`: {e}")))?;
        if self.sync_schema {
            store.sync_schema().await.map_err(|e| {
                PluginError::named(
                    plugin,
                    format!("`sync_schema`: cannot create the tables in {url}: {e}"),
                )
            })?;
        }
        store.check_table(table).await.map_err(|e| {
            PluginError::named(
                plugin,
                format!(
                    "`connection`: cannot read the table `{table}` of {url} ({e}): set \
                     `sync_schema: true` or create it with `amqtt_user_mgr ... sync`"
                ),
            )
        })?;
        tracing::info!(plugin, database = %url, "auth database open");
        if self.store.set(store).is_err() {
            tracing::warn!(plugin, "the database was opened twice");
        }
        Ok(())
    }

    /// Closes the pool, if open.
    async fn close(&self) {
        if let Some(store) = self.store.get() {
            store.close().await;
        }
    }
}
