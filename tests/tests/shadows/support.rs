//! Helpers of the shadows tests: brokers, clients, requests and replies.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use amqtt_contrib::shadows::{ShadowPlugin, ShadowTopicAuthPlugin};
use amqtt_core::codec::{ByteString, QoS, ReasonCode, SubAckCode};
use amqtt_tests::{RawClient, TestBroker, connect_packet};
use serde_json::Value;

/// The plugin set of these tests.
pub(crate) type Shadows = (Option<ShadowPlugin>, Option<ShadowTopicAuthPlugin>);

/// The PostgreSQL database the CI prepares (`.ci/postgres.sh`).
pub(crate) const POSTGRES: &str = "postgresql+asyncpg://amqtt:amqtt@127.0.0.1/amqtt_test";
/// Its address, for `service_reachable`.
pub(crate) const POSTGRES_ADDR: &str = "127.0.0.1:5432";

/// A name no other test (of this run or another process) uses.
pub(crate) fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .subsec_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// aMQTT's URL of a SQLite file in `dir`.
pub(crate) fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!(
        "sqlite+aiosqlite:///{}",
        dir.path().join("shadows.db").display()
    )
}

/// A broker with the shadow plugin on `connection`, and `more` plugin lines (indented two
/// spaces).
pub(crate) async fn broker(connection: &str, more: &str) -> TestBroker<Shadows> {
    TestBroker::start_with_plugins(&format!(
        "plugins:\n  amqtt.contrib.shadows.ShadowPlugin:\n    connection: {connection}\n{more}"
    ))
    .await
}

/// A connected client, with `username` if given.
pub(crate) async fn client(
    broker: &TestBroker<Shadows>,
    client_id: &str,
    username: Option<&str>,
) -> RawClient {
    let mut connect = connect_packet(client_id, true);
    connect.username = username.map(ByteString::from);
    let (client, ack) = RawClient::connect_with(broker.addr, connect).await;
    assert_eq!(ack.code, ReasonCode::Success, "{client_id}");
    client
}

/// Subscribes at QoS 0 to the reply topics `suffixes` of `device`'s shadow `name`, asserting
/// they are granted.
pub(crate) async fn listen(client: &mut RawClient, device: &str, name: &str, suffixes: &[&str]) {
    let filters: Vec<String> = suffixes
        .iter()
        .map(|s| format!("$shadow/{device}/{name}/{s}"))
        .collect();
    let asked: Vec<(&str, QoS)> = filters
        .iter()
        .map(|f| (f.as_str(), QoS::AtMostOnce))
        .collect();
    let ack = client.subscribe(1, &asked).await;
    assert!(
        ack.codes
            .iter()
            .all(|c| *c == SubAckCode::Success(QoS::AtMostOnce)),
        "{filters:?}: {:?}",
        ack.codes
    );
}

/// Publishes a request to `$shadow/<device>/<name>/<op>`, at QoS 0: a reply may come before
/// the PUBACK of a QoS 1 request, which `RawClient::publish` would not expect.
pub(crate) async fn request(
    client: &mut RawClient,
    device: &str,
    name: &str,
    op: &str,
    body: &str,
) {
    let topic = format!("$shadow/{device}/{name}/{op}");
    client.publish(&topic, body, QoS::AtMostOnce, false).await;
}

/// The next message, which must be the reply `suffix` of the shadow: its JSON payload.
pub(crate) async fn reply(client: &mut RawClient, device: &str, name: &str, suffix: &str) -> Value {
    let message = client.recv_publish().await;
    assert_eq!(
        &*message.topic,
        format!("$shadow/{device}/{name}/{suffix}"),
        "payload: {}",
        String::from_utf8_lossy(&message.payload)
    );
    serde_json::from_slice(&message.payload).expect("a JSON reply")
}

/// Seconds since the epoch.
pub(crate) fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    i64::try_from(secs).expect("fits")
}

/// Asserts `value` is a timestamp of the last minute.
pub(crate) fn assert_recent(value: &Value) {
    let t = value
        .as_i64()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"));
    assert!((now() - 60..=now()).contains(&t), "{t} is not recent");
}
