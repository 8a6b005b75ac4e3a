//! The configuration section: aMQTT's keys and defaults, the mapping of SQLAlchemy URLs to a
//! location, and the errors for what cannot work.

use std::path::PathBuf;
use std::time::Duration;

use amqtt_core::store::{Durability, Store, StoreError};
use amqtt_store::{Config, DEFAULT_CONNECTION, Location, SqlStore, mask_password};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn location(connection: &str) -> Result<Location, StoreError> {
    Config {
        connection: Some(connection.into()),
        ..Config::default()
    }
    .location()
}

fn config_error<T>(result: Result<T, StoreError>) -> String {
    match result {
        Err(StoreError::Config(message)) => message,
        Err(other) => panic!("expected a configuration error, got {other:?}"),
        Ok(_) => panic!("expected a configuration error"),
    }
}

#[test]
fn the_names_are_amqts() {
    assert_eq!(
        SqlStore::NAMES,
        [
            "persistence",
            "amqtt.contrib.persistence.SessionDBPlugin",
            "session_db"
        ]
    );
}

#[test]
fn defaults_are_amqts() -> TestResult {
    let config = Config::default();
    assert_eq!(config.connection, None);
    assert!(config.clear_on_shutdown);
    assert_eq!(config.sync, Durability::Always);
    assert_eq!(config.sync_interval()?, Duration::from_millis(100));
    assert_eq!(DEFAULT_CONNECTION, "sqlite+aiosqlite:///amqtt.db");
    assert_eq!(config.location()?, Location::Sqlite("amqtt.db".into()));
    // An empty section is the default.
    let empty: Config = serde_yaml::from_str("{}")?;
    assert_eq!(empty, config);
    Ok(())
}

#[test]
fn every_key_parses_and_unknown_keys_are_refused() -> TestResult {
    let config: Config = serde_yaml::from_str(
        "connection: postgresql+asyncpg://u:p@db:5433/amqtt\n\
         clear_on_shutdown: false\n\
         sync: batch\n\
         sync_interval: 0.5\n",
    )?;
    assert!(!config.clear_on_shutdown);
    assert_eq!(config.sync, Durability::Batch);
    assert_eq!(config.sync_interval()?, Duration::from_millis(500));
    assert_eq!(
        config.location()?,
        Location::Postgres("postgresql://u:p@db:5433/amqtt".into())
    );
    let none: Config = serde_yaml::from_str("sync: none")?;
    assert_eq!(none.sync, Durability::None);
    assert!(serde_yaml::from_str::<Config>("conection: sqlite:///x.db").is_err());
    assert!(serde_yaml::from_str::<Config>("sync: sometimes").is_err());
    Ok(())
}

#[test]
fn sqlite_urls_map_as_sqlalchemy_reads_them() -> TestResult {
    let sqlite = |p: &str| Location::Sqlite(PathBuf::from(p));
    assert_eq!(
        location("sqlite+aiosqlite:///amqtt.db")?,
        sqlite("amqtt.db")
    );
    assert_eq!(
        location("sqlite+aiosqlite:////var/lib/a.db")?,
        sqlite("/var/lib/a.db")
    );
    assert_eq!(location("sqlite:///data/a.db")?, sqlite("data/a.db"));
    assert_eq!(location("sqlite:////abs.db")?, sqlite("/abs.db"));
    assert_eq!(location("sqlite+pysqlite:///a.db")?, sqlite("a.db"));
    assert_eq!(location("SQLite:///a.db")?, sqlite("a.db"));
    // SQLAlchemy's driver options do not change the file.
    assert_eq!(location("sqlite:///a.db?timeout=20")?, sqlite("a.db"));
    // The deprecated key.
    let file = Config {
        file: Some("old.db".into()),
        ..Config::default()
    };
    assert_eq!(file.location()?, sqlite("old.db"));

    let message = config_error(location("sqlite://amqtt.db"));
    assert!(message.contains("three slashes"), "{message}");
    let message = config_error(location("sqlite://"));
    assert!(message.contains("in-memory"), "{message}");
    let message = config_error(location("sqlite:///:memory:"));
    assert!(message.contains("in-memory"), "{message}");
    Ok(())
}

#[test]
fn postgres_urls_map_to_one_scheme() -> TestResult {
    for url in [
        "postgresql+asyncpg://u:p@h:5432/db",
        "postgresql://u:p@h:5432/db",
        "postgres://u:p@h:5432/db",
        "postgresql+psycopg://u:p@h:5432/db",
    ] {
        assert_eq!(
            location(url)?,
            Location::Postgres("postgresql://u:p@h:5432/db".into()),
            "{url}"
        );
    }
    Ok(())
}

#[test]
fn passwords_are_masked_wherever_a_url_is_shown() -> TestResult {
    let postgres = location("postgresql+asyncpg://amqtt:s3cret@h/db")?;
    assert_eq!(
        postgres.to_string(),
        "PostgreSQL postgresql://amqtt:***@h/db"
    );
    assert!(!format!("{postgres:?}").contains("s3cret"));
    assert_eq!(
        mask_password("postgres://u:p%40ss@h/db"),
        "postgres://u:***@h/db"
    );
    let message = config_error(location("mysql+aiomysql://root:s3cret@h/db"));
    assert!(!message.contains("s3cret"), "{message}");
    Ok(())
}

/// A server that is not there: the error names the server, not the password.
#[cfg(feature = "postgres")]
#[test]
fn a_refused_connection_names_the_server_not_the_password() -> TestResult {
    let refused = SqlStore::open(Config {
        connection: Some("postgresql://amqtt:s3cret@127.0.0.1:1/db?connect_timeout=2".into()),
        ..Config::default()
    });
    match refused {
        Err(StoreError::Backend(message)) => {
            assert!(message.contains("127.0.0.1:1"), "{message}");
            assert!(message.contains("cannot connect"), "{message}");
            assert!(message.contains("refused"), "the cause is given: {message}");
            assert!(!message.contains("s3cret"), "{message}");
        }
        Err(other) => return Err(format!("expected a backend error, got {other:?}").into()),
        Ok(_) => return Err("connected to port 1".into()),
    }
    Ok(())
}

#[test]
fn unsupported_databases_and_schemes_are_named() {
    for url in [
        "mysql+aiomysql://u:p@h/db",
        "mysql://h/db",
        "mariadb+asyncmy://h/db",
    ] {
        let message = config_error(location(url));
        assert!(
            message.contains("MySQL/MariaDB is not supported"),
            "{message}"
        );
        assert!(
            message.contains("sqlite") && message.contains("postgresql"),
            "{message}"
        );
    }
    let message = config_error(location("oracle://h/db"));
    assert!(message.contains("`oracle`"), "{message}");
    assert!(message.contains("sqlite+aiosqlite"), "{message}");
    let message = config_error(location("amqtt.db"));
    assert!(message.contains("not a URL"), "{message}");
}

#[test]
fn conflicting_or_invalid_settings_are_refused_before_opening() {
    let both = Config {
        connection: Some("sqlite:///a.db".into()),
        file: Some("b.db".into()),
        ..Config::default()
    };
    let message = config_error(SqlStore::open(both));
    assert!(
        message.contains("`file` and `connection` cannot both be set"),
        "{message}"
    );
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
        let config = Config {
            connection: Some("sqlite:///never-created.db".into()),
            sync_interval: bad,
            ..Config::default()
        };
        let message = config_error(SqlStore::open(config));
        assert!(message.contains("sync_interval"), "{message}");
    }
    assert!(!std::path::Path::new("never-created.db").exists());
}
