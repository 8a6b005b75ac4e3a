//! `clear_on_shutdown`: by default (aMQTT's) a clean stop deletes everything stored, SQLite file
//! included, so the next start has no sessions and no retained messages; `false` keeps the file
//! and what it holds.

use super::scenario::Scenario;
use super::support::StoreBroker;

#[tokio::test]
async fn a_clean_stop_clears_the_store_by_default() {
    let mut broker = StoreBroker::start("", "  persistence:\n").await;
    let scenario = Scenario::new("cleared");
    scenario.prepare(broker.addr()).await;
    let db = broker.path("amqtt.db");
    assert!(
        db.is_file(),
        "the default store {} exists while the broker runs",
        db.display()
    );
    broker.terminate().await;
    assert!(
        !db.exists(),
        "clear_on_shutdown (default true) removes {} at a clean stop",
        db.display()
    );
    broker.restart().await;
    scenario.verify_gone(broker.addr()).await;
    broker.terminate().await;
}

#[tokio::test]
async fn sigint_is_a_clean_stop_too() {
    let mut broker = StoreBroker::start("", "  persistence:\n    clear_on_shutdown: true\n").await;
    let scenario = Scenario::new("sigint");
    scenario.prepare(broker.addr()).await;
    broker.interrupt().await;
    assert!(
        !broker.path("amqtt.db").exists(),
        "clear_on_shutdown: true removes amqtt.db at SIGINT"
    );
    broker.restart().await;
    scenario.verify_gone(broker.addr()).await;
    broker.terminate().await;
}

#[tokio::test]
async fn clear_on_shutdown_false_keeps_the_file_and_its_state() {
    let store = "  persistence:\n    clear_on_shutdown: false\n";
    let mut broker = StoreBroker::start("", store).await;
    let scenario = Scenario::new("kept");
    scenario.prepare(broker.addr()).await;
    broker.terminate().await;
    let db = broker.path("amqtt.db");
    let len = std::fs::metadata(&db)
        .unwrap_or_else(|e| panic!("{} kept after a clean stop: {e}", db.display()))
        .len();
    assert!(len > 0, "{} is not empty", db.display());
    broker.restart().await;
    scenario.verify(broker.addr()).await;
    broker.terminate().await;
}
