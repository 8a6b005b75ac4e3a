//! The databases of the contributed plugins (`auth_db`, `shadows`): aMQTT's SQLAlchemy
//! `connection` URLs, opened as an sqlx [`AnyPool`].
//!
//! | aMQTT URL | database |
//! |---|---|
//! | `sqlite+aiosqlite:///amqtt.db` | SQLite file `amqtt.db`, relative to the working folder |
//! | `sqlite+aiosqlite:////var/lib/amqtt.db` | SQLite file `/var/lib/amqtt.db` |
//! | `sqlite+aiosqlite:///:memory:` | SQLite in memory (one connection) |
//! | `postgresql+asyncpg://user:pass@host:5432/db` | PostgreSQL |
//! | `mysql+aiomysql://user:pass@host:3306/db` | MariaDB or MySQL |
//!
//! The driver suffix (`+aiosqlite`, `+asyncpg`, `+aiomysql`) may be left out; `postgres://` is
//! accepted for `postgresql://`, `mariadb://` for `mysql://`. A SQLite file is created when
//! missing.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, AnyPool, Connection as _};

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file or in memory.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MariaDB or MySQL.
    MySql,
}

/// An aMQTT connection URL, translated to the form sqlx takes.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    /// The database the URL names.
    pub backend: Backend,
    /// The URL as sqlx takes it.
    sqlx_url: String,
    /// The URL as configured, its password masked: for messages.
    shown: String,
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Display for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// The accepted URL schemes, for error messages.
const ACCEPTED: &str = "sqlite+aiosqlite:///file.db, postgresql+asyncpg://user:pass@host:5432/db \
                        or mysql+aiomysql://user:pass@host:3306/db";

impl DbUrl {
    /// Reads an aMQTT (SQLAlchemy) connection URL; the error says what is accepted.
    pub fn parse(url: &str) -> Result<DbUrl, String> {
        let shown = amqtt_store::mask_password(url);
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "`{shown}` is not a database URL: expected {ACCEPTED}"
            ));
        };
        let dialect = scheme.split('+').next().unwrap_or_default();
        let (backend, sqlx_url) = match dialect {
            "sqlite" => {
                let Some(path) = rest.strip_prefix('/') else {
                    return Err(format!(
                        "`{shown}`: a SQLite URL has three slashes before a relative path \
                         (sqlite+aiosqlite:///amqtt.db) and four before an absolute one"
                    ));
                };
                if path.is_empty() || path == ":memory:" {
                    (Backend::Sqlite, "sqlite::memory:".to_owned())
                } else {
                    (Backend::Sqlite, format!("sqlite://{path}?mode=rwc"))
                }
            }
            "postgresql" | "postgres" => (Backend::Postgres, format!("postgres://{rest}")),
            "mysql" | "mariadb" => (Backend::MySql, format!("mysql://{rest}")),
            other => {
                return Err(format!(
                    "`{shown}`: unsupported database `{other}`: expected {ACCEPTED}"
                ));
            }
        };
        Ok(DbUrl {
            backend,
            sqlx_url,
            shown,
        })
    }

    /// Whether the URL names a SQLite database held in memory.
    pub fn in_memory(&self) -> bool {
        self.sqlx_url == "sqlite::memory:"
    }

    /// Opens a pool of connections (one for SQLite in memory, so that every query sees the same
    /// database), failing within `connect_timeout` when the server cannot be reached.
    ///
    /// One direct connection is made first, so that a refused connection or a wrong password is
    /// reported as such and at once (the pool would wait out its timeout and say only that).
    pub async fn connect(&self, connect_timeout: Duration) -> Result<AnyPool, sqlx::Error> {
        sqlx::any::install_default_drivers();
        if !self.in_memory() {
            let probe =
                tokio::time::timeout(connect_timeout, AnyConnection::connect(&self.sqlx_url));
            match probe.await {
                Ok(Ok(connection)) => {
                    // The pool opens its own; this one only proved the server answers.
                    let _closed = connection.close().await;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer within {connect_timeout:?}"),
                    )));
                }
            }
        }
        let max = match self.backend {
            Backend::Sqlite if self.in_memory() => 1,
            Backend::Sqlite => 4,
            Backend::Postgres | Backend::MySql => 8,
        };
        AnyPoolOptions::new()
            .max_connections(max)
            .min_connections(u32::from(self.in_memory()))
            .idle_timeout(if self.in_memory() {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if self.in_memory() {
                None
            } else {
                Some(Duration::from_secs(1800))
            })
            .acquire_timeout(connect_timeout)
            .connect(&self.sqlx_url)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translated(url: &str) -> (Backend, String) {
        let parsed = DbUrl::parse(url).expect("valid");
        (parsed.backend, parsed.sqlx_url)
    }

    #[test]
    fn amqtt_urls_translate() {
        assert_eq!(
            translated("sqlite+aiosqlite:///amqtt.db"),
            (Backend::Sqlite, "sqlite://amqtt.db?mode=rwc".into())
        );
        assert_eq!(
            translated("sqlite+aiosqlite:////var/lib/a.db"),
            (Backend::Sqlite, "sqlite:///var/lib/a.db?mode=rwc".into())
        );
        assert_eq!(
            translated("sqlite:///:memory:"),
            (Backend::Sqlite, "sqlite::memory:".into())
        );
        assert_eq!(
            translated("postgresql+asyncpg://u:p@h:5432/db"),
            (Backend::Postgres, "postgres://u:p@h:5432/db".into())
        );
        assert_eq!(
            translated("mysql+aiomysql://u:p@h/db"),
            (Backend::MySql, "mysql://u:p@h/db".into())
        );
    }

    #[test]
    fn bad_urls_say_what_is_accepted_and_hide_the_password() {
        let e = DbUrl::parse("oracle://u:secret@h/db").expect_err("refused");
        assert!(e.contains("unsupported database `oracle`"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        assert!(DbUrl::parse("amqtt.db").is_err());
        assert!(DbUrl::parse("sqlite://x.db").is_err());
        let shown = DbUrl::parse("postgresql://u:secret@h/db").expect("valid");
        assert!(!format!("{shown} {shown:?}").contains("secret"));
    }
}
