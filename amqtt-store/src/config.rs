//! The store's configuration section (aMQTT's `SessionDBPlugin` keys) and the mapping of its
//! SQLAlchemy-style connection URLs to a [`Location`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use amqtt_core::store::{Durability, StoreError};
use serde::{Deserialize, Serialize};

/// aMQTT's default `connection`: `amqtt.db` in the working directory.
pub const DEFAULT_CONNECTION: &str = "sqlite+aiosqlite:///amqtt.db";

/// The URL schemes `connection` accepts (a `+driver` suffix is allowed and ignored).
const ACCEPTED: &str = "sqlite, sqlite+aiosqlite, postgresql, postgresql+asyncpg, postgres";

/// The configuration section of the store (`persistence`, `session_db`, or aMQTT's
/// `amqtt.contrib.persistence.SessionDBPlugin`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// An SQLAlchemy URL as aMQTT takes it: `sqlite+aiosqlite:///amqtt.db` (relative path),
    /// `sqlite+aiosqlite:////var/lib/amqtt.db` (absolute), or
    /// `postgresql+asyncpg://user:pass@host:5432/db`.
    pub connection: Option<String>,
    /// Deprecated: the SQLite file, as `sqlite:///{file}`.
    pub file: Option<String>,
    /// Whether a clean shutdown deletes everything stored (aMQTT's default: yes).
    pub clear_on_shutdown: bool,
    /// When a commit is on disk: `always`, `batch` or `none`.
    pub sync: Durability,
    /// Seconds between commits with `sync: batch`; finite and above zero.
    pub sync_interval: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            connection: None,
            file: None,
            clear_on_shutdown: true,
            sync: Durability::Always,
            sync_interval: 0.1,
        }
    }
}

impl Config {
    /// Where the store is: `connection`, or `file`, or aMQTT's default `amqtt.db`.
    ///
    /// # Errors
    /// [`StoreError::Config`] when both keys are set, or the URL names no supported database.
    pub fn location(&self) -> Result<Location, StoreError> {
        match (&self.connection, &self.file) {
            (Some(_), Some(_)) => Err(StoreError::Config(
                "persistence: `file` and `connection` cannot both be set: give one \
                 (`connection` is aMQTT's current key)"
                    .into(),
            )),
            (None, Some(file)) if file.is_empty() => Err(StoreError::Config(
                "persistence: `file` is empty: give the SQLite file's path".into(),
            )),
            (None, Some(file)) => Ok(Location::Sqlite(PathBuf::from(file))),
            (Some(url), None) => parse_url(url),
            (None, None) => parse_url(DEFAULT_CONNECTION),
        }
    }

    /// `sync_interval` as a duration.
    ///
    /// # Errors
    /// [`StoreError::Config`] when it is not a finite number of seconds above zero.
    pub fn sync_interval(&self) -> Result<Duration, StoreError> {
        let secs = self.sync_interval;
        if secs.is_finite() && secs > 0.0 {
            Duration::try_from_secs_f64(secs).map_err(|_| bad_interval(secs))
        } else {
            Err(bad_interval(secs))
        }
    }
}

fn bad_interval(secs: f64) -> StoreError {
    StoreError::Config(format!(
        "persistence: `sync_interval` must be a number of seconds above zero, not {secs}"
    ))
}

/// Where a store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file (relative paths are relative to the working directory).
    Sqlite(PathBuf),
    /// A PostgreSQL database, as a `postgresql://` URL (which may hold a password: `Display`
    /// and `Debug` mask it).
    Postgres(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "SQLite file {}", path.display()),
            Location::Postgres(url) => write!(f, "PostgreSQL {}", mask_password(url)),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Location::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&mask_password(url))
                .finish(),
        }
    }
}

/// `url` with the password of its `user:password@` part replaced by `***`.
pub fn mask_password(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}***{}", &url[..start + colon + 1], &rest[at..]),
        None => url.to_owned(),
    }
}

/// Maps an SQLAlchemy URL to a location.
fn parse_url(url: &str) -> Result<Location, StoreError> {
    let masked = mask_password(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(StoreError::Config(format!(
            "persistence: `connection` {masked:?} is not a URL (scheme://...); accepted schemes: \
             {ACCEPTED}"
        )));
    };
    let dialect = scheme
        .split('+')
        .next()
        .unwrap_or(scheme)
        .to_ascii_lowercase();
    match dialect.as_str() {
        "sqlite" => sqlite_path(url, rest).map(Location::Sqlite),
        "postgresql" | "postgres" => Ok(Location::Postgres(format!("postgresql://{rest}"))),
        "mysql" | "mariadb" => Err(StoreError::Config(format!(
            "persistence: `connection` {masked:?}: MySQL/MariaDB is not supported as a session \
             store; use sqlite (sqlite+aiosqlite:///amqtt.db) or postgresql \
             (postgresql+asyncpg://user:pass@host/db)"
        ))),
        _ => Err(StoreError::Config(format!(
            "persistence: `connection` {masked:?}: unknown scheme `{scheme}`; accepted schemes: \
             {ACCEPTED}"
        ))),
    }
}

/// The file of `sqlite:///relative` or `sqlite:////absolute` (`rest` is what follows `://`),
/// as SQLAlchemy reads it. Query parameters (SQLAlchemy's driver options) are ignored.
fn sqlite_path(url: &str, rest: &str) -> Result<PathBuf, StoreError> {
    let (rest, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let in_memory = || {
        StoreError::Config(format!(
            "persistence: `connection` {url:?} is an in-memory database, which persists \
             nothing; name a file (sqlite:///amqtt.db) or remove the persistence section"
        ))
    };
    if rest.is_empty() {
        return Err(in_memory());
    }
    let Some(path) = rest.strip_prefix('/') else {
        return Err(StoreError::Config(format!(
            "persistence: `connection` {url:?}: an SQLite URL has three slashes before a \
             relative path (sqlite:///amqtt.db) and four before an absolute one \
             (sqlite:////var/lib/amqtt/amqtt.db)"
        )));
    };
    if path.is_empty() || path == ":memory:" {
        return Err(in_memory());
    }
    if let Some(query) = query {
        tracing::warn!(
            connection = url,
            "persistence: SQLite URL options `{query}` are ignored"
        );
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords() {
        assert_eq!(
            mask_password("postgresql+asyncpg://u:secret@h:5432/db"),
            "postgresql+asyncpg://u:***@h:5432/db"
        );
        assert_eq!(mask_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            mask_password("postgres://h/db?x=a:b@c"),
            "postgres://h/db?x=a:b@c"
        );
        assert_eq!(mask_password("postgres://u:p:q@h"), "postgres://u:***@h");
        assert_eq!(mask_password("sqlite:///a.db"), "sqlite:///a.db");
    }
}
