//! End-to-end tests of `my_plugin`: a broker over `MyPlugins` runs in-process on 127.0.0.1:0
//! (amqtt-test's `TestBroker`), and test clients check what the plugin changes.

use amqtt_core::codec::{QoS, ReasonCode};
use amqtt_test::TestBroker;
use my_broker::{DEFAULT_CONFIG, MyPlugins};

/// The plugins of these tests, under the default listener on an ephemeral port.
const PLUGINS: &str = "
plugins:
  my_plugin:
    banned_clients: [mallory]
    readonly_prefix: announcements/
    greeting_topic: announcements/welcome
  auth_anonymous:
";

async fn start() -> TestBroker<MyPlugins> {
    TestBroker::start_with_plugins(PLUGINS).await
}

#[tokio::test]
async fn banned_client_is_not_authorized() {
    let broker = start().await;

    assert_eq!(broker.refused("mallory").await, ReasonCode::NotAuthorized);
    // Everyone else is left to auth_anonymous, which admits them.
    broker.client("alice").await;

    broker.stop().await;
}

#[tokio::test]
async fn connected_clients_are_greeted_and_counted() {
    let broker = start().await;
    let mut watcher = broker.client("watcher").await;
    watcher
        .subscribe(1, &[("announcements/welcome", QoS::AtLeastOnce)])
        .await;

    let _alice = broker.client("alice").await;

    // The plugin publishes at QoS 0, so it is delivered at QoS 0.
    watcher
        .expect_publish(
            "announcements/welcome",
            "welcome alice (connection #2)",
            QoS::AtMostOnce,
            false,
        )
        .await;
    assert_eq!(broker.plugins().0.connections(), 2);

    broker.stop().await;
}

#[tokio::test]
async fn clients_cannot_publish_under_the_readonly_prefix() {
    let broker = start().await;
    let mut reader = broker.client("reader").await;
    // Subscribing under the prefix is allowed: the plugin only denies publishing there.
    let filters = [
        ("announcements/news", QoS::AtMostOnce),
        ("news/today", QoS::AtMostOnce),
    ];
    reader.subscribe(1, &filters).await;

    let mut writer = broker.client("writer").await;
    // Both are acknowledged (MQTT 3.1.1 has no way to refuse a PUBLISH), but the denied one is
    // dropped. The broker routes a message before acknowledging it, so had the first one been
    // delivered, the reader would see it before the second.
    writer
        .publish("announcements/news", "fake news", QoS::AtLeastOnce, false)
        .await;
    writer
        .publish("news/today", "real news", QoS::AtLeastOnce, false)
        .await;

    reader
        .expect_publish("news/today", "real news", QoS::AtMostOnce, false)
        .await;

    broker.stop().await;
}

#[tokio::test]
async fn shipped_config_runs() {
    let yaml = DEFAULT_CONFIG.replace("0.0.0.0:1883", "127.0.0.1:0");
    let broker = TestBroker::<MyPlugins>::start_config(&yaml).await;

    assert_eq!(broker.refused("mallory").await, ReasonCode::NotAuthorized);
    broker.client("alice").await;

    broker.stop().await;
}
