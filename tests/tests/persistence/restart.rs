//! A restart keeps persistent sessions, their subscriptions, their offline queues and the
//! retained messages: after a clean stop that does not clear the store (every `sync` mode), and
//! after `kill -9` with the default `sync: always`.

use super::scenario::Scenario;
use super::support::{SETTLE, StoreBroker};

/// A SQLite store in the working directory that a clean stop keeps.
const KEEP: &str = "  persistence:\n    connection: sqlite+aiosqlite:///store.db\n    \
                    clear_on_shutdown: false\n";

#[tokio::test]
async fn sigterm_restart_keeps_sessions_queues_and_retained() {
    let mut broker = StoreBroker::start("", KEEP).await;
    let scenario = Scenario::new("term");
    scenario.prepare(broker.addr()).await;
    broker.terminate().await;
    let db = broker.path("store.db");
    assert!(
        db.is_file(),
        "clear_on_shutdown: false keeps {} after a clean stop",
        db.display()
    );
    broker.restart().await;
    scenario.verify(broker.addr()).await;
    broker.terminate().await;
}

#[tokio::test]
async fn kill9_restart_keeps_sessions_queues_and_retained() {
    let mut broker = StoreBroker::start("", "  persistence:\n").await;
    let scenario = Scenario::new("kill");
    scenario.prepare(broker.addr()).await;
    tokio::time::sleep(SETTLE).await;
    broker.kill9();
    broker.restart().await;
    scenario.verify(broker.addr()).await;
}

/// `sync: batch` and `sync: none` make no promise for `kill -9`, but a clean stop commits
/// everything.
/// `sync` holds the extra lines of the store's section.
async fn sigterm_restart_with_sync(name: &str, sync: &str) {
    let store = format!("{KEEP}{sync}");
    let mut broker = StoreBroker::start("", &store).await;
    let scenario = Scenario::new(name);
    scenario.prepare(broker.addr()).await;
    broker.terminate().await;
    broker.restart().await;
    scenario.verify(broker.addr()).await;
    broker.terminate().await;
}

#[tokio::test]
async fn sync_batch_sigterm_restart_keeps_the_queues() {
    sigterm_restart_with_sync("batch", "    sync: batch\n").await;
}

#[tokio::test]
async fn sync_none_sigterm_restart_keeps_the_queues() {
    sigterm_restart_with_sync("none", "    sync: none\n").await;
}

#[tokio::test]
async fn sync_batch_with_an_interval_sigterm_restart_keeps_the_queues() {
    sigterm_restart_with_sync("batch-slow", "    sync: batch\n    sync_interval: 0.5\n").await;
}

/// With `sync: always` too, a publisher subscribed to its own topic gets its PUBACK before the
/// copy routed back to it (the PUBACK still waits for the store's commit of that copy).
#[tokio::test]
async fn the_publishers_ack_comes_before_its_own_copy_with_sync_always() {
    use amqtt_core::codec::QoS;

    use super::support::{connect, expect_messages, publish, subscribe};

    let mut broker = StoreBroker::start("", "  persistence:\n").await;
    let mut client = connect(broker.addr(), "echo-always", false, false).await;
    subscribe(&mut client, 1, &[("echo/#", QoS::AtLeastOnce)]).await;
    // `publish` asserts that the next packet is the PUBACK.
    publish(&mut client, "echo/a", b"a", QoS::AtLeastOnce, false, 5).await;
    expect_messages(&mut client, &[("echo/a", b"a", QoS::AtLeastOnce, false)]).await;
    broker.terminate().await;
}

/// An MQTT 5.0 session and the properties of the message queued for it survive `kill -9`:
/// after the restart the client resumes its session and gets the message with its user
/// properties, content type and correlation data.
#[tokio::test]
async fn kill9_restart_keeps_v5_sessions_and_message_properties() {
    use amqtt_core::client::{ClientOptions, MqttClient};
    use amqtt_core::codec::{ByteString, Properties, ProtocolVersion, QoS};
    use bytes::Bytes;

    let mut broker = StoreBroker::start("", "  persistence:\n").await;
    let url = format!("mqtt://{}", broker.addr());
    let v5 = |id: &str, clean: bool| {
        ClientOptions::new()
            .client_id(id)
            .clean_session(clean)
            .auto_reconnect(false)
            .protocol(ProtocolVersion::V5)
            .connect_properties(Properties {
                session_expiry_interval: Some(3600),
                ..Properties::default()
            })
    };
    let subscriber = MqttClient::connect(&url, v5("v5-keeper", true))
        .await
        .expect("connect");
    subscriber
        .subscribe(&[("v5keep/#", QoS::AtLeastOnce)])
        .await
        .expect("subscribe");
    subscriber.disconnect().await.expect("disconnect");
    let properties = Properties {
        user_properties: vec![(ByteString::from("k"), ByteString::from("v"))],
        content_type: Some(ByteString::from("text/plain")),
        correlation_data: Some(Bytes::from_static(b"id-1")),
        ..Properties::default()
    };
    let publisher = MqttClient::connect(&url, v5("v5-sender", true))
        .await
        .expect("connect");
    publisher
        .publish_with(
            "v5keep/a",
            "queued",
            QoS::AtLeastOnce,
            false,
            Some(properties.clone()),
        )
        .await
        .expect("publish");
    publisher.disconnect().await.expect("disconnect");
    tokio::time::sleep(SETTLE).await;
    broker.kill9();
    broker.restart().await;
    let mut subscriber = MqttClient::connect(&url, v5("v5-keeper", false))
        .await
        .expect("reconnect");
    assert!(subscriber.session_present(), "the v5 session survived");
    let message = subscriber
        .deliver_message(std::time::Duration::from_secs(5))
        .await
        .expect("the queued message");
    assert_eq!(&message.payload[..], b"queued");
    assert_eq!(message.properties.as_deref(), Some(&properties));
    subscriber.disconnect().await.expect("disconnect");
}
