//! amqtt-test against real brokers: refusals through both clients, a broker over a persistent
//! store restarted on the same file, and the packet-level client's exact view of a delivery.

use amqtt_core::client::{ClientError, ClientOptions};
use amqtt_core::codec::{QoS, ReasonCode, SubAckCode};
use amqtt_core::plugin::{Plugin, SessionInfo, Verdict, plugin};
use amqtt_store::SqlStore;
use amqtt_test::{RawClient, TestBroker, connect_packet, next_message, wait_until};

/// Admits every client but `mallory`.
#[derive(Default)]
pub struct NoMallory;

#[plugin(name = "no_mallory")]
impl Plugin for NoMallory {
    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        if &*session.client_id == "mallory" {
            Verdict::Deny
        } else {
            Verdict::Allow
        }
    }
}

#[tokio::test]
async fn a_refused_client_gets_the_code_and_is_disconnected() {
    let broker = TestBroker::<(NoMallory,)>::start_with_plugins("plugins:\n  no_mallory:\n").await;
    assert_eq!(broker.refused("mallory").await, ReasonCode::NotAuthorized);
    let refused = broker
        .mqtt_client_with(ClientOptions::new().client_id("mallory"))
        .await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Refused(ReasonCode::NotAuthorized))
        ),
        "{refused:?}"
    );
    broker.client("alice").await.disconnect().await;
    broker.stop().await;
}

#[tokio::test]
async fn raw_and_library_clients_talk_to_one_broker() {
    let broker = TestBroker::start("").await;
    let mut raw = broker.client("raw").await;
    let ack = raw.subscribe(1, &[("t/#", QoS::AtLeastOnce)]).await;
    assert_eq!(ack.codes, [SubAckCode::Success(QoS::AtLeastOnce)]);
    let mut library = broker.mqtt_client("library").await;
    library
        .subscribe(&[("t/#", QoS::AtMostOnce)])
        .await
        .expect("subscribed");

    raw.publish("t/1", "from raw", QoS::AtLeastOnce, false)
        .await;
    let message = next_message(&mut library).await;
    assert_eq!(
        (message.topic.as_ref(), message.qos),
        ("t/1", QoS::AtMostOnce)
    );
    assert_eq!(message.payload, "from raw");
    // The raw client is subscribed to its own topic too.
    raw.expect_publish_and_ack("t/1", "from raw", QoS::AtLeastOnce, false)
        .await;

    library
        .publish("t/2", "from library", QoS::ExactlyOnce, false)
        .await
        .expect("published");
    raw.expect_publish_and_ack("t/2", "from library", QoS::AtLeastOnce, false)
        .await;
    broker.stop().await;
}

#[tokio::test]
async fn a_broker_over_a_store_resumes_a_session_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!(
        "plugins:\n  persistence:\n    connection: \"sqlite:///{}\"\n    \
         clear_on_shutdown: false\n",
        dir.path().join("store.db").display()
    );
    let broker = TestBroker::<()>::start_with_store::<SqlStore>(&store).await;
    let (mut client, ack) =
        RawClient::connect_with(broker.addr, connect_packet("kept", false)).await;
    assert!(!ack.session_present);
    client.subscribe(1, &[("kept/#", QoS::AtLeastOnce)]).await;
    client.disconnect().await;
    wait_until("the session is offline", || {
        broker.handle.stats().clients_connected.get() == 0
    })
    .await;
    broker.stop().await;

    let broker = TestBroker::<()>::start_with_store::<SqlStore>(&store).await;
    let (_client, ack) = RawClient::connect_with(broker.addr, connect_packet("kept", false)).await;
    assert!(ack.session_present, "the store kept the session");
    assert_eq!(broker.handle.subscription_count(), 1);
    broker.stop().await;
}

#[tokio::test]
#[should_panic(expected = "exited (exit status: 126) before listening")]
async fn a_binary_that_exits_before_listening_fails_the_test_with_its_log() {
    // `sh -c FILE` tries to run the configuration file as a command and exits 126.
    amqtt_test::BrokerProcess::start("sh", "").await;
}
