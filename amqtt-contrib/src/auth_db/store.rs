//! The tables of aMQTT's auth_db models (`models.py`), read and written with sqlx.
//!
//! Both tables have `id` (integer primary key), `username` (unique) and three JSON lists of
//! allowed topics, `publish_acl`, `subscribe_acl` and `receive_acl`, each stored as SQLAlchemy's
//! `DataClassListJSON(AllowedTopic)` writes it: `[{"topic": "a/b"}, {"topic": "c/#"}]`.
//! `user_auth` also has `password_hash` (VARCHAR(128)); its lists are unused. `topic_auth`
//! holds the lists the topic plugin reads.

use std::time::Duration;

use amqtt_core::plugin::Action;
use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, AssertSqlSafe, Row as _};

use crate::db::{Backend, DbUrl};

/// How long opening the database may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One entry of an ACL column (aMQTT's `AllowedTopic` dataclass).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct AllowedTopic {
    topic: String,
}

/// The column of `action`'s list.
pub(crate) fn acl_column(action: Action) -> &'static str {
    match action {
        Action::Publish => "publish_acl",
        Action::Subscribe => "subscribe_acl",
        Action::Receive => "receive_acl",
    }
}

/// Encodes a topic list as aMQTT stores it (Python's `json.dumps` of the dataclass list).
pub(crate) fn encode_topics(topics: &[String]) -> String {
    let items: Vec<String> = topics
        .iter()
        .map(|topic| {
            let quoted = serde_json::to_string(topic).unwrap_or_else(|_| "\"\"".to_owned());
            format!("{{\"topic\": {quoted}}}")
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Decodes a stored topic list; `NULL` is an empty list.
pub(crate) fn decode_topics(json: Option<&str>) -> Result<Vec<String>, String> {
    let Some(json) = json else {
        return Ok(Vec::new());
    };
    let entries: Vec<AllowedTopic> = serde_json::from_str(json)
        .map_err(|e| format!("a topic list is not `[{{\"topic\": ...}}]`: {e}"))?;
    Ok(entries.into_iter().map(|entry| entry.topic).collect())
}

/// A `topic_auth` row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicAuthRow {
    /// The user name.
    pub username: String,
    /// Topics (filters) the user may publish to.
    pub publish: Vec<String>,
    /// Topic filters the user may subscribe to.
    pub subscribe: Vec<String>,
    /// Topics the user may receive messages from.
    pub receive: Vec<String>,
}

impl TopicAuthRow {
    /// The list of `action`.
    pub fn list(&self, action: Action) -> &[String] {
        match action {
            Action::Publish => &self.publish,
            Action::Subscribe => &self.subscribe,
            Action::Receive => &self.receive,
        }
    }
}

/// The auth database: a pool and the SQL dialect of its backend.
#[derive(Debug, Clone)]
pub(crate) struct AuthStore {
    pool: AnyPool,
    backend: Backend,
}

impl AuthStore {
    /// Opens the database of `url`, failing within [`CONNECT_TIMEOUT`].
    pub(crate) async fn open(url: &DbUrl) -> Result<AuthStore, String> {
        // The pool gives up a little later, so that a server that does not answer gets the
        // message below rather than the pool's "timed out".
        let pool = tokio::time::timeout(CONNECT_TIMEOUT, url.connect(CONNECT_TIMEOUT * 2))
            .await
            .map_err(|_| {
                format!(
                    "cannot connect to {url}: no answer within 5 s (is the server running, and \
                     are the host and port right?)"
                )
            })?
            .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        Ok(AuthStore {
            pool,
            backend: url.backend,
        })
    }

    /// Closes the pool.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// `sql` with its `?` placeholders numbered for PostgreSQL (`$1`, `$2`, ...). Every
    /// statement of this module is made from its own constants (table and column names, casts);
    /// values (user names, hashes, topic lists) are always bound, never written into the SQL.
    fn sql(&self, sql: &str) -> AssertSqlSafe<String> {
        if self.backend != Backend::Postgres {
            return AssertSqlSafe(sql.to_owned());
        }
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        AssertSqlSafe(out)
    }

    /// A JSON column read as text.
    fn json_text(&self, column: &str) -> String {
        match self.backend {
            Backend::Sqlite => column.to_owned(),
            Backend::Postgres => format!("CAST({column} AS TEXT)"),
            Backend::MySql => format!("CAST({column} AS CHAR)"),
        }
    }

    /// A placeholder for a JSON value given as text.
    fn json_param(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "CAST(? AS JSON)",
            Backend::Sqlite | Backend::MySql => "?",
        }
    }

    /// The `CREATE TABLE` statements of SQLAlchemy's `create_all` for this backend (MariaDB and
    /// MySQL need a length for `username`, which aMQTT's models leave out).
    fn create_statements(&self) -> [String; 2] {
        let (id, username) = match self.backend {
            Backend::Sqlite => ("INTEGER NOT NULL", "VARCHAR NOT NULL"),
            Backend::Postgres => ("SERIAL NOT NULL", "VARCHAR NOT NULL"),
            Backend::MySql => ("INTEGER NOT NULL AUTO_INCREMENT", "VARCHAR(255) NOT NULL"),
        };
        let lists = "publish_acl JSON NOT NULL, subscribe_acl JSON NOT NULL, \
                     receive_acl JSON NOT NULL";
        [
            format!(
                "CREATE TABLE IF NOT EXISTS user_auth (id {id}, username {username}, \
                 password_hash VARCHAR(128) NOT NULL, {lists}, PRIMARY KEY (id), \
                 UNIQUE (username))"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS topic_auth (id {id}, username {username}, {lists}, \
                 PRIMARY KEY (id), UNIQUE (username))"
            ),
        ]
    }

    /// Creates the tables that are missing (aMQTT's `db_sync`: both tables, existing ones left
    /// as they are).
    pub(crate) async fn sync_schema(&self) -> Result<(), sqlx::Error> {
        for (statement, table) in self
            .create_statements()
            .iter()
            .zip(["user_auth", "topic_auth"])
        {
            if let Err(e) = sqlx::query(self.sql(statement)).execute(&self.pool).await {
                // Two processes creating the same table at once: one of them loses the race
                // on PostgreSQL's catalog; the table is there all the same.
                if self.check_table(table).await.is_err() {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Fails unless `table` exists with the columns this module reads.
    pub(crate) async fn check_table(&self, table: &str) -> Result<(), sqlx::Error> {
        let extra = if table == "user_auth" {
            ", password_hash"
        } else {
            ""
        };
        let sql = self.sql(&format!(
            "SELECT username, {}, {}, {}{extra} FROM {table} WHERE 1 = 0",
            self.json_text("publish_acl"),
            self.json_text("subscribe_acl"),
            self.json_text("receive_acl"),
        ));
        sqlx::query(sql).fetch_all(&self.pool).await.map(drop)
    }

    /// The password hash of `username`, if the user exists.
    pub(crate) async fn password_hash(
        &self,
        username: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        let sql = self.sql("SELECT password_hash FROM user_auth WHERE username = ?");
        let row = sqlx::query(sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| row.try_get::<String, _>(0)).transpose()
    }

    /// Replaces the hash of `username` by `new`, unless it was changed since it read `old`;
    /// whether it was replaced.
    pub(crate) async fn replace_hash(
        &self,
        username: &str,
        old: &str,
        new: &str,
    ) -> Result<bool, sqlx::Error> {
        let sql = self
            .sql("UPDATE user_auth SET password_hash = ? WHERE username = ? AND password_hash = ?");
        let done = sqlx::query(sql)
            .bind(new)
            .bind(username)
            .bind(old)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets the hash of `username`; whether the user exists.
    pub(crate) async fn set_hash(&self, username: &str, hash: &str) -> Result<bool, sqlx::Error> {
        let sql = self.sql("UPDATE user_auth SET password_hash = ? WHERE username = ?");
        let done = sqlx::query(sql)
            .bind(hash)
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every user and password hash, by user name.
    pub(crate) async fn users(&self) -> Result<Vec<(String, String)>, sqlx::Error> {
        let rows = sqlx::query("SELECT username, password_hash FROM user_auth ORDER BY username")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// Adds a user with empty topic lists (as aMQTT's `UserAuth` defaults them); false when the
    /// user exists.
    pub(crate) async fn insert_user(
        &self,
        username: &str,
        hash: &str,
    ) -> Result<bool, sqlx::Error> {
        if self.password_hash(username).await?.is_some() {
            return Ok(false);
        }
        let json = self.json_param();
        let sql = self.sql(&format!(
            "INSERT INTO user_auth (username, password_hash, publish_acl, subscribe_acl, \
             receive_acl) VALUES (?, ?, {json}, {json}, {json})"
        ));
        sqlx::query(sql)
            .bind(username)
            .bind(hash)
            .bind("[]")
            .bind("[]")
            .bind("[]")
            .execute(&self.pool)
            .await?;
        Ok(true)
    }

    /// Deletes a user; whether it existed.
    pub(crate) async fn delete_user(&self, username: &str) -> Result<bool, sqlx::Error> {
        let sql = self.sql("DELETE FROM user_auth WHERE username = ?");
        let done = sqlx::query(sql).bind(username).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// The SELECT of `topic_auth` rows, with `filter` (a WHERE clause or empty).
    fn topic_select(&self, filter: &str) -> AssertSqlSafe<String> {
        self.sql(&format!(
            "SELECT username, {}, {}, {} FROM topic_auth {filter}",
            self.json_text("publish_acl"),
            self.json_text("subscribe_acl"),
            self.json_text("receive_acl"),
        ))
    }

    /// Reads a `topic_auth` row.
    fn topic_row(row: &sqlx::any::AnyRow) -> Result<TopicAuthRow, sqlx::Error> {
        let list = |index: usize| -> Result<Vec<String>, sqlx::Error> {
            let json: Option<String> = row.try_get(index)?;
            decode_topics(json.as_deref()).map_err(|e| sqlx::Error::Decode(e.into()))
        };
        Ok(TopicAuthRow {
            username: row.try_get(0)?,
            publish: list(1)?,
            subscribe: list(2)?,
            receive: list(3)?,
        })
    }

    /// The `topic_auth` row of `username`, if there is one.
    pub(crate) async fn topic_auth(
        &self,
        username: &str,
    ) -> Result<Option<TopicAuthRow>, sqlx::Error> {
        let sql = self.topic_select("WHERE username = ?");
        let row = sqlx::query(sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(AuthStore::topic_row).transpose()
    }

    /// Every `topic_auth` row, by user name.
    pub(crate) async fn topic_auths(&self) -> Result<Vec<TopicAuthRow>, sqlx::Error> {
        let sql = self.topic_select("ORDER BY username");
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(AuthStore::topic_row).collect()
    }

    /// Adds a `topic_auth` row with empty lists; false when there is one.
    pub(crate) async fn insert_topic_auth(&self, username: &str) -> Result<bool, sqlx::Error> {
        if self.topic_auth(username).await?.is_some() {
            return Ok(false);
        }
        let json = self.json_param();
        let sql = self.sql(&format!(
            "INSERT INTO topic_auth (username, publish_acl, subscribe_acl, receive_acl) \
             VALUES (?, {json}, {json}, {json})"
        ));
        sqlx::query(sql)
            .bind(username)
            .bind("[]")
            .bind("[]")
            .bind("[]")
            .execute(&self.pool)
            .await?;
        Ok(true)
    }

    /// Replaces the list of `action` of `username`; whether the row exists.
    pub(crate) async fn set_topics(
        &self,
        username: &str,
        action: Action,
        topics: &[String],
    ) -> Result<bool, sqlx::Error> {
        let sql = self.sql(&format!(
            "UPDATE topic_auth SET {} = {} WHERE username = ?",
            acl_column(action),
            self.json_param()
        ));
        let done = sqlx::query(sql)
            .bind(encode_topics(topics))
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_lists_are_encoded_as_sqlalchemy_writes_them() {
        let topics = vec!["a/b".to_owned(), "c/#".to_owned()];
        let json = encode_topics(&topics);
        assert_eq!(json, r#"[{"topic": "a/b"}, {"topic": "c/#"}]"#);
        assert_eq!(decode_topics(Some(&json)), Ok(topics));
        assert_eq!(encode_topics(&[]), "[]");
        assert_eq!(decode_topics(None), Ok(Vec::new()));
        assert_eq!(
            decode_topics(Some(r#"[{"topic":"x"}]"#)),
            Ok(vec!["x".to_owned()])
        );
        assert!(decode_topics(Some(r#"["x"]"#)).is_err());
    }
}
