//! `ShadowTopicAuthPlugin`: a device uses only its own shadow topics, a superuser every shadow
//! topic, nobody anything else.

use std::time::Duration;

use amqtt_core::codec::{QoS, SubAckCode};
use amqtt_tests::TestBroker;
use serde_json::json;

use crate::support::{Shadows, broker, client, listen, reply, request, sqlite_url, unique};

const OK0: SubAckCode = SubAckCode::Success(QoS::AtMostOnce);
const REFUSED: SubAckCode = SubAckCode::FAILURE;

async fn auth_broker(dir: &tempfile::TempDir) -> TestBroker<Shadows> {
    broker(
        &sqlite_url(dir),
        "  amqtt.contrib.shadows.ShadowTopicAuthPlugin:\n    superusers: [app-admin]\n",
    )
    .await
}

#[tokio::test]
async fn a_device_subscribes_only_to_its_own_shadow_topics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = auth_broker(&dir).await;
    let (me, other) = (unique("dev"), unique("dev"));
    let mut c = client(&broker, &unique("c"), Some(&me)).await;
    let mine = format!("$shadow/{me}/main/update/accepted");
    let my_all = format!("$shadow/{me}/#");
    let theirs = format!("$shadow/{other}/main/update/accepted");
    let filters = [
        mine.as_str(),
        &my_all,
        &theirs,
        "$shadow/+/main/update/accepted",
        "$shadow/#",
        "sensors/x",
    ];
    let asked: Vec<(&str, QoS)> = filters.iter().map(|f| (*f, QoS::AtMostOnce)).collect();
    assert_eq!(
        c.subscribe(1, &asked).await.codes,
        [OK0, OK0, REFUSED, REFUSED, REFUSED, REFUSED]
    );
    // Without a user name, no shadow topic at all.
    let mut anonymous = client(&broker, &unique("c"), None).await;
    let asked = [(mine.as_str(), QoS::AtMostOnce)];
    assert_eq!(anonymous.subscribe(1, &asked).await.codes, [REFUSED]);
}

#[tokio::test]
async fn another_devices_update_is_dropped_and_a_superusers_applied() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = auth_broker(&dir).await;
    let (me, other) = (unique("dev"), unique("dev"));
    let mut device = client(&broker, &unique("c"), Some(&me)).await;
    listen(
        &mut device,
        &me,
        "main",
        &["update/accepted", "update/delta", "get/rejected"],
    )
    .await;

    // Another device may not update my shadow: nothing is written, nothing answered.
    let mut intruder = client(&broker, &unique("c"), Some(&other)).await;
    request(
        &mut intruder,
        &me,
        "main",
        "update",
        r#"{"state": {"desired": {"x": 1}}}"#,
    )
    .await;
    device.expect_silence(Duration::from_millis(300)).await;
    request(&mut device, &me, "main", "get", "").await;
    assert_eq!(
        reply(&mut device, &me, "main", "get/rejected").await["code"],
        404
    );

    // The application (a superuser) may, and the device sees the delta.
    let mut app = client(&broker, &unique("c"), Some("app-admin")).await;
    let asked = [("$shadow/#", QoS::AtMostOnce)];
    assert_eq!(app.subscribe(1, &asked).await.codes, [OK0]);
    let body = r#"{"state": {"desired": {"x": 1}}}"#;
    app.publish(
        &format!("$shadow/{me}/main/update"),
        body,
        QoS::AtMostOnce,
        false,
    )
    .await;
    assert_eq!(
        reply(&mut device, &me, "main", "update/accepted").await["version"],
        1
    );
    let delta = reply(&mut device, &me, "main", "update/delta").await;
    assert_eq!(delta["state"], json!({"x": 1}));
    // The superuser receives every shadow topic, its own request first.
    let first = app.recv_publish().await;
    assert_eq!(&*first.topic, format!("$shadow/{me}/main/update"));
}
