//! Update and get requests and their replies, on a SQLite file.

use std::time::Duration;

use serde_json::json;

use crate::support::{assert_recent, broker, client, listen, reply, request, sqlite_url, unique};

/// Every reply of an update, in the order the broker publishes them.
const UPDATE_REPLIES: [&str; 5] = [
    "update/accepted",
    "update/rejected",
    "update/delta",
    "update/iota",
    "update/documents",
];

#[tokio::test]
async fn update_is_accepted_with_delta_iota_and_documents() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&sqlite_url(&dir), "").await;
    let dev = unique("dev");
    let mut c = client(&broker, &unique("c"), None).await;
    listen(&mut c, &dev, "main", &UPDATE_REPLIES).await;

    let body = json!({"state": {
        "desired": {"color": "red", "power": {"on": true, "level": 3}},
        "reported": {"color": "blue", "power": {"on": true}}
    }});
    request(&mut c, &dev, "main", "update", &body.to_string()).await;

    let accepted = reply(&mut c, &dev, "main", "update/accepted").await;
    assert_eq!(accepted["state"], body["state"]);
    assert_eq!(accepted["version"], 1);
    assert_recent(&accepted["timestamp"]);
    let stamp = &accepted["metadata"]["desired"]["power"]["level"]["timestamp"];
    assert_recent(stamp);
    assert_recent(&accepted["metadata"]["reported"]["color"]["timestamp"]);

    let delta = reply(&mut c, &dev, "main", "update/delta").await;
    assert_eq!(
        delta["state"],
        json!({"color": "red", "power": {"level": 3}})
    );
    assert_eq!(
        delta["metadata"]["power"]["level"]["timestamp"],
        stamp.clone()
    );
    assert_eq!(delta["version"], 1);

    let iota = reply(&mut c, &dev, "main", "update/iota").await;
    assert_eq!(
        iota["state"],
        json!({"color": "red", "power": {"on": true, "level": 3}})
    );

    let documents = reply(&mut c, &dev, "main", "update/documents").await;
    assert_eq!(documents["previous"]["version"], 0);
    assert_eq!(
        documents["previous"]["state"],
        json!({"desired": {}, "reported": {}})
    );
    assert_eq!(documents["current"]["version"], 1);
    assert_eq!(documents["current"]["state"], body["state"]);
    assert_eq!(documents["current"]["metadata"], accepted["metadata"]);
    assert_eq!(documents["timestamp"], accepted["timestamp"]);
    c.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn null_deletes_and_no_delta_once_reported_matches() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&sqlite_url(&dir), "").await;
    let dev = unique("dev");
    let mut c = client(&broker, &unique("c"), None).await;
    listen(&mut c, &dev, "lamp", &UPDATE_REPLIES).await;

    let first =
        r#"{"state": {"desired": {"color": "red", "mode": "eco"}, "reported": {"old": 1}}}"#;
    request(&mut c, &dev, "lamp", "update", first).await;
    for suffix in ["accepted", "delta", "iota", "documents"] {
        reply(&mut c, &dev, "lamp", &format!("update/{suffix}")).await;
    }
    let second =
        r#"{"state": {"desired": {"mode": null}, "reported": {"color": "red", "old": null}}}"#;
    request(&mut c, &dev, "lamp", "update", second).await;
    let accepted = reply(&mut c, &dev, "lamp", "update/accepted").await;
    assert_eq!(
        accepted["state"],
        json!({"desired": {"color": "red"}, "reported": {"color": "red"}})
    );
    assert_eq!(
        accepted["metadata"]["desired"].as_object().map(|m| m.len()),
        Some(1),
        "deleted keys leave the metadata: {accepted}"
    );
    assert_eq!(accepted["version"], 2);
    // Desired and reported agree: no delta; the iota comes next, empty.
    let iota = reply(&mut c, &dev, "lamp", "update/iota").await;
    assert_eq!(iota["state"], json!({}));
    let documents = reply(&mut c, &dev, "lamp", "update/documents").await;
    assert_eq!(documents["previous"]["version"], 1);
    assert_eq!(documents["previous"]["state"]["desired"]["mode"], "eco");
    assert_eq!(documents["current"]["version"], 2);
}

#[tokio::test]
async fn get_answers_the_latest_version_or_404() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&sqlite_url(&dir), "").await;
    let dev = unique("dev");
    let mut c = client(&broker, &unique("c"), None).await;
    listen(&mut c, &dev, "main", &["get/accepted", "get/rejected"]).await;

    request(&mut c, &dev, "main", "get", "").await;
    let rejected = reply(&mut c, &dev, "main", "get/rejected").await;
    assert_eq!(
        rejected,
        json!({"code": 404, "message": "shadow not found"})
    );

    // Updates sent back to back apply in order.
    for n in 1..=5 {
        let body = format!(r#"{{"state": {{"reported": {{"n": {n}}}}}}}"#);
        request(&mut c, &dev, "main", "update", &body).await;
    }
    request(&mut c, &dev, "main", "get", "{}").await;
    let accepted = reply(&mut c, &dev, "main", "get/accepted").await;
    assert_eq!(accepted["version"], 5);
    assert_eq!(
        accepted["state"],
        json!({"desired": {}, "reported": {"n": 5}})
    );
    assert_recent(&accepted["metadata"]["reported"]["n"]["timestamp"]);
    assert_recent(&accepted["timestamp"]);

    // Another shadow of the same device is another document.
    listen(&mut c, &dev, "other", &["get/rejected"]).await;
    request(&mut c, &dev, "other", "get", "").await;
    assert_eq!(
        reply(&mut c, &dev, "other", "get/rejected").await["code"],
        404
    );
}

#[tokio::test]
async fn bad_updates_are_rejected_and_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&sqlite_url(&dir), "").await;
    let dev = unique("dev");
    let mut c = client(&broker, &unique("c"), None).await;
    listen(&mut c, &dev, "main", &UPDATE_REPLIES).await;

    for (body, code, message) in [
        ("{not json", 400, "Invalid JSON"),
        ("[1, 2]", 400, "Invalid JSON"),
        (
            r#"{"desired": {"a": 1}}"#,
            400,
            "Missing required node: state",
        ),
        (r#"{"state": "on"}"#, 400, "State node must be an object"),
        (
            r#"{"state": {"reported": 7}}"#,
            400,
            "Reported node must be an object",
        ),
        (
            r#"{"state": {"reported": {"a": 1}}, "version": 3}"#,
            409,
            "Version conflict",
        ),
    ] {
        request(&mut c, &dev, "main", "update", body).await;
        let rejected = reply(&mut c, &dev, "main", "update/rejected").await;
        assert_eq!(rejected["code"], code, "{body}");
        assert_eq!(rejected["message"], message, "{body}");
        assert_recent(&rejected["timestamp"]);
    }
    // The shadow does not exist: the expected version of a first update is 0.
    request(
        &mut c,
        &dev,
        "main",
        "update",
        r#"{"state": {"reported": {"a": 1}}, "version": 0}"#,
    )
    .await;
    let accepted = reply(&mut c, &dev, "main", "update/accepted").await;
    assert_eq!(accepted["version"], 1);
}

#[tokio::test]
async fn other_shadow_topics_are_not_requests() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&sqlite_url(&dir), "").await;
    let dev = unique("dev");
    let mut c = client(&broker, &unique("c"), None).await;
    listen(&mut c, &dev, "main", &UPDATE_REPLIES).await;
    let body = r#"{"state": {"reported": {"a": 1}}}"#;
    // A client publishing a reply topic, or an unknown operation, starts nothing.
    request(&mut c, &dev, "main", "update/accepted", body).await;
    assert_eq!(
        &*c.recv_publish().await.topic,
        format!("$shadow/{dev}/main/update/accepted"),
        "routed like any message"
    );
    request(&mut c, &dev, "main", "delete", body).await;
    request(&mut c, &dev, "main", "update/x", body).await;
    c.expect_silence(Duration::from_millis(300)).await;
}
