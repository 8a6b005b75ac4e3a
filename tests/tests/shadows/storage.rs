//! The shadows in the database: they survive a restart (SQLite, PostgreSQL), and rows are
//! aMQTT's: this broker reads a row as aMQTT writes it and writes rows aMQTT reads.

use amqtt_tests::service_reachable;
use serde_json::{Value, json};
use sqlx::Row;

use crate::support::{
    POSTGRES, POSTGRES_ADDR, broker, client, listen, reply, request, sqlite_url, unique,
};

/// Updates `device`'s shadow `main` on a broker over `connection`, stops it, and asserts a new
/// broker on the same database answers `get` with the state and version.
async fn survives_a_restart(connection: &str, device: &str) {
    let first = broker(connection, "").await;
    let mut c = client(&first, &unique("c"), None).await;
    listen(&mut c, device, "main", &["update/accepted"]).await;
    for n in 1..=2 {
        let body =
            format!(r#"{{"state": {{"desired": {{"n": {n}}}, "reported": {{"up": true}}}}}}"#);
        request(&mut c, device, "main", "update", &body).await;
        assert_eq!(
            reply(&mut c, device, "main", "update/accepted").await["version"],
            n
        );
    }
    c.disconnect().await;
    first.stop().await;

    let second = broker(connection, "").await;
    let mut c = client(&second, &unique("c"), None).await;
    listen(&mut c, device, "main", &["get/accepted", "update/accepted"]).await;
    request(&mut c, device, "main", "get", "").await;
    let got = reply(&mut c, device, "main", "get/accepted").await;
    assert_eq!(got["version"], 2);
    assert_eq!(
        got["state"],
        json!({"desired": {"n": 2}, "reported": {"up": true}})
    );
    request(
        &mut c,
        device,
        "main",
        "update",
        r#"{"state": {"reported": {"n": 2}}}"#,
    )
    .await;
    assert_eq!(
        reply(&mut c, device, "main", "update/accepted").await["version"],
        3
    );
    second.stop().await;
}

#[tokio::test]
async fn shadows_survive_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    survives_a_restart(&sqlite_url(&dir), &unique("dev")).await;
}

#[tokio::test]
async fn shadows_survive_a_restart_on_postgres() {
    if !service_reachable("PostgreSQL", POSTGRES_ADDR).await {
        return;
    }
    let device = unique("dev");
    survives_a_restart(POSTGRES, &device).await;
    // The rows as aMQTT reads them: one per version, the document as JSON.
    let pool = sqlx::PgPool::connect("postgres://amqtt:amqtt@127.0.0.1/amqtt_test")
        .await
        .expect("PostgreSQL");
    let rows = sqlx::query(
        "SELECT version, state::text FROM shadows_shadow WHERE device_id = $1 ORDER BY version",
    )
    .bind(&device)
    .fetch_all(&pool)
    .await
    .expect("rows");
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, [1, 2, 3]);
    let last: Value = serde_json::from_str(rows[2].get(1)).expect("JSON");
    assert_eq!(last["state"]["reported"], json!({"up": true, "n": 2}));
}

#[tokio::test]
async fn rows_are_amqtts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let connection = sqlite_url(&dir);
    let broker = broker(&connection, "").await; // creates the table
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("shadows.db").display()
    ))
    .await
    .expect("the SQLite file");
    let device = unique("dev");

    // A row as aMQTT writes it: deleted keys kept as null, version and timestamp null in the
    // document.
    let amqtt_state = json!({
        "state": {"desired": {"a": 1, "gone": null}, "reported": {}},
        "metadata": {"desired": {"a": {"timestamp": 1_700_000_000}, "gone": null}, "reported": {}},
        "version": null,
        "timestamp": null
    });
    sqlx::query(
        "INSERT INTO shadows_shadow (id, device_id, name, version, state, created_at) \
         VALUES ('6f1c2b9e-0000-4000-8000-000000000001', ?, 'main', 1, ?, 1700000000)",
    )
    .bind(&device)
    .bind(amqtt_state.to_string())
    .execute(&pool)
    .await
    .expect("insert");

    let mut c = client(&broker, &unique("c"), None).await;
    listen(
        &mut c,
        &device,
        "main",
        &["get/accepted", "update/accepted"],
    )
    .await;
    request(&mut c, &device, "main", "get", "").await;
    let got = reply(&mut c, &device, "main", "get/accepted").await;
    assert_eq!(
        got,
        json!({
            "state": {"desired": {"a": 1}, "reported": {}},
            "metadata": {"desired": {"a": {"timestamp": 1_700_000_000}}, "reported": {}},
            "timestamp": 1_700_000_000,
            "version": 1
        })
    );

    request(
        &mut c,
        &device,
        "main",
        "update",
        r#"{"state": {"reported": {"a": 1}}}"#,
    )
    .await;
    assert_eq!(
        reply(&mut c, &device, "main", "update/accepted").await["version"],
        2
    );
    let row = sqlx::query(
        "SELECT id, version, state, created_at FROM shadows_shadow \
         WHERE device_id = ? AND version = 2",
    )
    .bind(&device)
    .fetch_one(&pool)
    .await
    .expect("the new row");
    let id: String = row.get(0);
    assert_eq!((id.len(), &id[14..15]), (36, "4"), "a UUID4: {id}");
    let state: Value = serde_json::from_str(row.get(2)).expect("JSON");
    assert_eq!(
        state["state"],
        json!({"desired": {"a": 1}, "reported": {"a": 1}})
    );
    assert_eq!(
        state["metadata"]["desired"]["a"]["timestamp"], 1_700_000_000,
        "an untouched key keeps its timestamp"
    );
    assert_eq!(state["version"], 2);
    let created_at: i64 = row.get(3);
    assert_eq!(state["timestamp"], created_at);
}
