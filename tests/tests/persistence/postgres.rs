//! The PostgreSQL backend, when a server is reachable: the URL comes from `AMQTT_TEST_POSTGRES`,
//! else `postgresql+asyncpg://amqtt:amqtt@127.0.0.1/amqtt_test`. Without a server on
//! 127.0.0.1:5432 the tests are skipped, except under CI (`CI` set), where they fail.
//!
//! The database is shared with other test runs (one at a time) and is not assumed empty: every
//! client id and topic carries this process's id.

use amqtt_tests::service_reachable;

use super::scenario::Scenario;
use super::support::{SETTLE, StoreBroker, run_tag};

/// The database URL the tests use.
fn url() -> String {
    std::env::var("AMQTT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgresql+asyncpg://amqtt:amqtt@127.0.0.1/amqtt_test".to_owned())
}

/// Whether a PostgreSQL server listens on 127.0.0.1:5432 (see [`service_reachable`]).
async fn reachable() -> bool {
    service_reachable("PostgreSQL", "127.0.0.1:5432").await
}

/// The store section for the test database.
fn store(clear_on_shutdown: bool) -> String {
    format!(
        "  persistence:\n    connection: \"{}\"\n    clear_on_shutdown: {clear_on_shutdown}\n",
        url()
    )
}

/// One test, not two: brokers sharing a database must not run at the same time (a clean stop
/// that clears would delete the other's state).
#[tokio::test]
async fn postgres_store_survives_kill9_and_a_clean_stop_without_clearing() {
    if !reachable().await {
        return;
    }
    let mut broker = StoreBroker::start("", &store(false)).await;
    let killed = Scenario::new(&format!("{}-pg-kill", run_tag()));
    killed.prepare(broker.addr()).await;
    tokio::time::sleep(SETTLE).await;
    broker.kill9();
    broker.restart().await;
    killed.verify(broker.addr()).await;

    let stopped = Scenario::new(&format!("{}-pg-term", run_tag()));
    stopped.prepare(broker.addr()).await;
    broker.terminate().await;
    broker.restart().await;
    stopped.verify(broker.addr()).await;

    // Leave the shared database as clean as it was: a stop that clears.
    broker.terminate().await;
    broker.restart_with_store(&store(true)).await;
    broker.terminate().await;
}
