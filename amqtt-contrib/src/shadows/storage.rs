//! The shadows' table, aMQTT's `shadows_shadow`: one row per version of a shadow, so aMQTT and
//! this broker read each other's databases.
//!
//! | column | type | content |
//! |---|---|---|
//! | `id` | `VARCHAR(36)` primary key | a random UUID (version 4), as text |
//! | `device_id`, `name` | `VARCHAR(128)` | the shadow |
//! | `version` | `INTEGER`, `> 0` | 1, 2, ...; unique with `device_id` and `name` |
//! | `state` | `JSON` | `{"state": {...}, "metadata": {...}, "version", "timestamp"}` |
//! | `created_at` | `INTEGER` | seconds since the epoch |

use std::time::Duration;

use sqlx::error::ErrorKind;
use sqlx::{AnyPool, Row};

use super::state::Document;
use super::topics::ShadowId;
use crate::db::{Backend, DbUrl};

/// aMQTT's table, as SQLAlchemy creates it.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS shadows_shadow (
    id VARCHAR(36) NOT NULL,
    device_id VARCHAR(128) NOT NULL,
    name VARCHAR(128) NOT NULL,
    version INTEGER NOT NULL,
    state JSON NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT check_quantity_positive CHECK (version > 0),
    CONSTRAINT uq_device_id_name_version UNIQUE (device_id, name, version)
)";

/// The shadows' database.
#[derive(Debug, Clone)]
pub struct ShadowStore {
    pool: AnyPool,
    sql: &'static Statements,
}

/// The statements, in each database's dialect (placeholders, JSON to and from text).
#[derive(Debug)]
struct Statements {
    /// Version, state as text and creation time of a shadow's latest row.
    latest: &'static str,
    /// A new row: id, device, name, version, state as text, creation time.
    insert: &'static str,
}

const SQLITE: Statements = Statements {
    latest: "SELECT version, state, created_at FROM shadows_shadow \
             WHERE device_id = ? AND name = ? ORDER BY version DESC LIMIT 1",
    insert: "INSERT INTO shadows_shadow (id, device_id, name, version, state, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
};

const MYSQL: Statements = Statements {
    latest: "SELECT version, CAST(state AS CHAR), created_at FROM shadows_shadow \
             WHERE device_id = ? AND name = ? ORDER BY version DESC LIMIT 1",
    insert: "INSERT INTO shadows_shadow (id, device_id, name, version, state, created_at) \
             VALUES (?, ?, ?, ?, CAST(? AS JSON), ?)",
};

const POSTGRES: Statements = Statements {
    latest: "SELECT version, CAST(state AS TEXT), created_at FROM shadows_shadow \
             WHERE device_id = $1 AND name = $2 ORDER BY version DESC LIMIT 1",
    insert: "INSERT INTO shadows_shadow (id, device_id, name, version, state, created_at) \
             VALUES ($1, $2, $3, $4, CAST($5 AS JSON), $6)",
};

impl ShadowStore {
    /// Connects (within `timeout`) and creates the table when it is missing.
    pub async fn open(url: &DbUrl, timeout: Duration) -> Result<ShadowStore, sqlx::Error> {
        let pool = url.connect(timeout).await?;
        if let Err(e) = sqlx::query(CREATE_TABLE).execute(&pool).await {
            // Another broker may have created it at the same moment (PostgreSQL then reports
            // a duplicate type); fail only if it is still missing.
            if sqlx::query("SELECT 1 FROM shadows_shadow WHERE 1 = 0")
                .fetch_optional(&pool)
                .await
                .is_err()
            {
                return Err(e);
            }
        }
        let sql = match url.backend {
            Backend::Sqlite => &SQLITE,
            Backend::MySql => &MYSQL,
            Backend::Postgres => &POSTGRES,
        };
        Ok(ShadowStore { sql, pool })
    }

    /// The shadow's latest version, if it has one.
    pub async fn latest(&self, id: &ShadowId) -> Result<Option<Document>, sqlx::Error> {
        let row = sqlx::query(self.sql.latest)
            .bind(&id.device)
            .bind(&id.name)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let version: i64 = row.try_get(0)?;
        let state: String = row.try_get(1)?;
        let created_at: i64 = row.try_get(2)?;
        let json = serde_json::from_str(&state).map_err(|e| sqlx::Error::ColumnDecode {
            index: "state".to_owned(),
            source: Box::new(e),
        })?;
        Ok(Some(Document::from_stored(&json, version, created_at)))
    }

    /// Writes `doc` as a new row; `false` when its version already exists (another broker
    /// wrote the shadow meanwhile).
    pub async fn insert(&self, id: &ShadowId, doc: &Document) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(self.sql.insert)
            .bind(new_uuid())
            .bind(&id.device)
            .bind(&id.name)
            .bind(doc.version)
            .bind(doc.to_json().to_string())
            .bind(doc.timestamp)
            .execute(&self.pool)
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.kind() == ErrorKind::UniqueViolation => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A random (version 4) UUID in its text form, as aMQTT's `str(uuid.uuid4())`.
fn new_uuid() -> String {
    let mut b = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        // The system's random source failed: a time-based id is still unique enough for a key.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b = nanos.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_the_v4_form() {
        let id = new_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(new_uuid(), id);
    }
}
