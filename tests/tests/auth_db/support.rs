//! The databases the auth_db tests run on, unique names, and broker helpers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use amqtt_contrib::auth_db::admin::AuthAdmin;
use amqtt_contrib::db::DbUrl;
use amqtt_core::broker::{Broker, BrokerError};
use amqtt_core::codec::{ByteString, ReasonCode};
use amqtt_core::config::BrokerConfig;
use amqtt_core::plugin::BuildPlugins;
use amqtt_tests::{RawClient, connect_packet, service_reachable};
use bytes::Bytes;

/// The PostgreSQL database `.ci/postgres.sh` prepares.
pub(crate) const POSTGRES_URL: &str = "postgresql+asyncpg://amqtt:amqtt@127.0.0.1:5432/amqtt_test";
/// The MariaDB database `.ci/mariadb.sh` prepares.
pub(crate) const MARIADB_URL: &str = "mysql+aiomysql://amqtt:amqtt@127.0.0.1:3306/amqtt_test";

/// A name no other test (in this or another process) uses: user names, client ids.
pub(crate) fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A temporary directory, removed with its contents when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        let path = std::env::temp_dir().join(unique("amqtt-auth-db"));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// The aMQTT URL of a SQLite file `name` in the directory (not created).
    pub(crate) fn sqlite_url(&self, name: &str) -> String {
        format!("sqlite+aiosqlite:///{}", self.0.join(name).display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The URL of `name`'s server when it is reachable (else the test is skipped, or fails in CI).
pub(crate) async fn server_url(name: &str) -> Option<&'static str> {
    let (url, addr) = match name {
        "PostgreSQL" => (POSTGRES_URL, "127.0.0.1:5432"),
        _ => (MARIADB_URL, "127.0.0.1:3306"),
    };
    service_reachable(name, addr).await.then_some(url)
}

/// Opens `url` for setting up users, creating the tables when missing.
pub(crate) async fn admin(url: &str) -> AuthAdmin {
    let admin = AuthAdmin::open(&DbUrl::parse(url).expect("valid URL"))
        .await
        .expect("database opens");
    admin.sync().await.expect("tables created");
    admin
}

/// The section of plugin `class` (an aMQTT class path) for `url`, with `extra` keys.
pub(crate) fn section(class: &str, url: &str, extra: &str) -> String {
    format!("  amqtt.contrib.auth_db.{class}:\n    connection: '{url}'\n{extra}")
}

/// Connects with the given credentials and returns the CONNACK code.
pub(crate) async fn connack(
    addr: SocketAddr,
    user: Option<&str>,
    password: Option<&str>,
) -> ReasonCode {
    let mut connect = connect_packet(&unique("auth-db-client"), true);
    connect.username = user.map(ByteString::from);
    connect.password = password.map(|p| Bytes::copy_from_slice(p.as_bytes()));
    let (_client, ack) = RawClient::connect_with(addr, connect).await;
    ack.code
}

/// Connects as `user` (no password) and asserts the connection is accepted.
pub(crate) async fn connect_as(addr: SocketAddr, user: Option<&str>) -> RawClient {
    let mut connect = connect_packet(&unique("auth-db-client"), true);
    connect.username = user.map(ByteString::from);
    let (client, ack) = RawClient::connect_with(addr, connect).await;
    assert_eq!(ack.code, ReasonCode::Success, "{user:?}");
    client
}

/// Binds a broker over `P` with `plugins` as its `plugins:` section, expecting an error.
pub(crate) async fn bind_error<P: BuildPlugins>(plugins: &str) -> String {
    let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins:\n{plugins}");
    let config = BrokerConfig::from_yaml(&yaml).expect("the YAML itself is valid");
    let result: Result<Broker<P>, BrokerError> = Broker::<P>::bind(config).await;
    match result {
        Ok(_) => panic!("`{plugins}` must not bind"),
        Err(e) => e.to_string(),
    }
}
