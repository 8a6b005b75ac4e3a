//! End-to-end tests of aMQTT's database auth plugins (`amqtt.contrib.auth_db`:
//! `UserAuthDBPlugin`, `TopicAuthDBPlugin`) and of the `amqtt_user_mgr`/`amqtt_topic_mgr`
//! tools, through real sockets, on SQLite always and on PostgreSQL and MariaDB when they run
//! (`.ci/postgres.sh`, `.ci/mariadb.sh`; in CI they must).

#[path = "auth_db/config.rs"]
mod config;
#[path = "auth_db/interop.rs"]
mod interop;
#[path = "auth_db/scenarios.rs"]
mod scenarios;
#[path = "auth_db/support.rs"]
mod support;
#[path = "auth_db/tools.rs"]
mod tools;

use support::{TempDir, server_url};

#[tokio::test]
async fn logins_on_sqlite() {
    let dir = TempDir::new();
    scenarios::logins(&dir.sqlite_url("auth.db")).await;
}

#[tokio::test]
async fn logins_on_postgresql() {
    if let Some(url) = server_url("PostgreSQL").await {
        scenarios::logins(url).await;
    }
}

#[tokio::test]
async fn logins_on_mariadb() {
    if let Some(url) = server_url("MariaDB").await {
        scenarios::logins(url).await;
    }
}

#[tokio::test]
async fn topic_lists_on_sqlite() {
    let dir = TempDir::new();
    scenarios::topic_lists(&dir.sqlite_url("auth.db")).await;
}

#[tokio::test]
async fn topic_lists_on_postgresql() {
    if let Some(url) = server_url("PostgreSQL").await {
        scenarios::topic_lists(url).await;
    }
}

#[tokio::test]
async fn topic_lists_on_mariadb() {
    if let Some(url) = server_url("MariaDB").await {
        scenarios::topic_lists(url).await;
    }
}
