//! The `metrics` plugin over real HTTP: `/metrics` in the OpenMetrics text format, with figures
//! that move as clients connect, publish and lose messages; `/health`; a bind address that
//! cannot be bound.

#[path = "metrics/limits.rs"]
mod limits;
#[path = "metrics/scrape.rs"]
mod scrape;

use std::net::SocketAddr;
use std::time::Duration;

use amqtt_core::broker::Broker;
use amqtt_core::client::{ClientError, ClientOptions, MqttClient};
use amqtt_core::codec::QoS;
use amqtt_core::config::BrokerConfig;
use amqtt_core::plugin::{Plugin, plugin};
use amqtt_plugins::PackagedPlugins;
use amqtt_tests::{RECV_TIMEOUT, TestBroker};
use scrape::{free_port, get, scrape, wait_for};

/// A broker with the stock plugin set: anonymous clients admitted or not, `metrics` on a free
/// port, and the broker keys `extra`. Returns the broker and the metrics address.
async fn start(allow_anonymous: bool, extra: &str) -> (TestBroker<PackagedPlugins>, SocketAddr) {
    let port = free_port();
    let yaml = format!(
        "plugins:\n  auth_anonymous:\n    allow_anonymous: {allow_anonymous}\n  \
         metrics:\n    bind: 127.0.0.1:{port}\n{extra}"
    );
    let broker = TestBroker::<PackagedPlugins>::start_with_plugins(&yaml).await;
    (broker, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn options(id: &str) -> ClientOptions {
    ClientOptions::new()
        .client_id(id)
        .auto_reconnect(false)
        .ack_timeout(RECV_TIMEOUT)
}

async fn connect(addr: SocketAddr, options: ClientOptions) -> Result<MqttClient, ClientError> {
    tokio::time::timeout(
        RECV_TIMEOUT,
        MqttClient::connect(&format!("mqtt://{addr}"), options),
    )
    .await
    .expect("connects or is refused in time")
}

#[tokio::test]
async fn the_figures_move_with_connections_messages_and_drops() {
    let (broker, metrics) = start(true, "max_queued: 2\n").await;
    let before = scrape(metrics).await;
    assert_eq!(before.value("amqtt_connections{listener=\"default\"}"), 0.0);
    assert_eq!(
        before.value("amqtt_messages_received_total{qos=\"1\"}"),
        0.0
    );

    // A persistent subscriber goes offline; the publisher sends it more than max_queued (2).
    let subscriber = connect(broker.addr, options("sub").clean_session(false))
        .await
        .expect("subscriber connects");
    subscriber
        .subscribe(&[("metrics/#", QoS::AtLeastOnce)])
        .await
        .expect("subscribed");
    let publisher = connect(broker.addr, options("pub"))
        .await
        .expect("publisher connects");
    let during = scrape(metrics).await;
    assert_eq!(during.value("amqtt_connections{listener=\"default\"}"), 2.0);
    assert_eq!(during.value("amqtt_clients_connected"), 2.0);
    assert_eq!(during.value("amqtt_sessions{state=\"online\"}"), 2.0);
    assert_eq!(during.value("amqtt_subscriptions"), 1.0);

    publisher
        .publish(
            "metrics/live",
            "to an online subscriber",
            QoS::AtLeastOnce,
            false,
        )
        .await
        .expect("published");
    publisher
        .publish("metrics/retained", "kept", QoS::AtMostOnce, true)
        .await
        .expect("published");
    let mut subscriber = subscriber;
    subscriber
        .deliver_message(RECV_TIMEOUT)
        .await
        .expect("the live message arrives");
    subscriber.disconnect().await.expect("subscriber leaves");
    wait_for(metrics, "amqtt_sessions{state=\"offline\"}", 1.0).await;
    for n in 0..5 {
        publisher
            .publish(
                "metrics/queued",
                format!("message {n}"),
                QoS::AtLeastOnce,
                false,
            )
            .await
            .expect("published");
    }

    // What the clients did: the subscriber sent CONNECT, SUBSCRIBE, a PUBACK and DISCONNECT,
    // the publisher CONNECT and 7 PUBLISH; the broker sent two CONNACKs, a SUBACK, two
    // PUBLISH to the online subscriber (QoS 1 and the QoS 0 retained one) and 6 PUBACKs.
    let after = scrape(metrics).await;
    assert_eq!(after.value("amqtt_packets_received_total"), 4.0 + 8.0);
    assert_eq!(
        after.value("amqtt_packets_sent_total"),
        2.0 + 1.0 + 2.0 + 6.0
    );
    assert_eq!(after.value("amqtt_messages_received_total{qos=\"1\"}"), 6.0);
    assert_eq!(after.value("amqtt_messages_received_total{qos=\"0\"}"), 1.0);
    assert_eq!(after.value("amqtt_messages_sent_total{qos=\"1\"}"), 1.0);
    assert_eq!(after.value("amqtt_messages_sent_total{qos=\"0\"}"), 1.0);
    assert_eq!(after.value("amqtt_clients_accepted_total"), 2.0);
    assert_eq!(
        after.value("amqtt_messages_dropped_total{reason=\"queue_full\"}"),
        3.0
    );
    assert_eq!(after.value("amqtt_queued_messages"), 2.0);
    assert_eq!(after.value("amqtt_retained_messages"), 1.0);
    assert_eq!(after.value("amqtt_connections{listener=\"default\"}"), 1.0);
    for figure in ["amqtt_received_bytes_total", "amqtt_sent_bytes_total"] {
        assert!(after.value(figure) > during.value(figure), "{figure} moved");
    }
    // 5 queued for the offline subscriber, max_queued 2: 2 kept, 3 dropped, none in flight.
    assert_eq!(after.value("amqtt_sessions{state=\"offline\"}"), 1.0);
    assert_eq!(after.value("amqtt_sessions{state=\"online\"}"), 1.0);
    assert_eq!(
        after.value("amqtt_inflight_messages{direction=\"out\"}"),
        0.0
    );

    // The subscriber comes back and takes what was kept: nothing is queued or in flight any
    // more, and both sessions are online.
    let mut subscriber = connect(broker.addr, options("sub").clean_session(false))
        .await
        .expect("subscriber reconnects");
    for n in 0..2 {
        let message = subscriber
            .deliver_message(RECV_TIMEOUT)
            .await
            .expect("a kept message arrives");
        assert_eq!(&message.payload[..], format!("message {n}").as_bytes());
    }
    wait_for(metrics, "amqtt_inflight_messages{direction=\"out\"}", 0.0).await;
    let back = scrape(metrics).await;
    assert_eq!(back.value("amqtt_queued_messages"), 0.0);
    assert_eq!(back.value("amqtt_sessions{state=\"online\"}"), 2.0);
    assert_eq!(back.value("amqtt_sessions{state=\"offline\"}"), 0.0);
    assert_eq!(back.value("amqtt_messages_sent_total{qos=\"1\"}"), 3.0);
    broker.stop().await;
}

#[tokio::test]
async fn refused_clients_count_as_authentication_failures() {
    let (broker, metrics) = start(false, "").await;
    let refused = connect(broker.addr, options("anonymous")).await;
    assert!(refused.is_err(), "an anonymous client is refused");
    let figures = scrape(metrics).await;
    assert_eq!(figures.value("amqtt_auth_failures_total"), 1.0);
    assert_eq!(figures.value("amqtt_clients_accepted_total"), 0.0);
    broker.stop().await;
}

/// Holds the broker in its shutdown for a while after `metrics` has seen it begin.
#[derive(Default)]
struct SlowShutdown;

#[plugin(name = "slow_shutdown")]
impl Plugin for SlowShutdown {
    async fn on_broker_pre_shutdown(&self) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn health_is_ok_while_serving_and_unavailable_once_stopping() {
    let port = free_port();
    let metrics = SocketAddr::from(([127, 0, 0, 1], port));
    let yaml = format!("plugins:\n  metrics:\n    bind: 127.0.0.1:{port}\n  slow_shutdown:\n");
    let broker =
        TestBroker::<(Option<amqtt_plugins::Metrics>, SlowShutdown)>::start_with_plugins(&yaml)
            .await;
    let (status, _, body) = get(metrics, "/health").await;
    assert_eq!((status.as_u16(), &*body), (200, "ok\n"));
    broker.handle.shutdown();
    let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
    loop {
        let (status, _, body) = get(metrics, "/health").await;
        if status == 503 {
            assert_eq!(body, "shutting down\n");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/health stays {status}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _, _) = get(metrics, "/nothing").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_address_that_cannot_be_bound_stops_the_broker_naming_the_plugin_and_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("local address");
    let yaml = format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins:\n  metrics:\n    bind: {addr}\n"
    );
    let config = BrokerConfig::from_yaml(&yaml).expect("valid config");
    let error = match Broker::<PackagedPlugins>::bind(config).await {
        Ok(_) => panic!("the broker started with its metrics address taken"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.starts_with("plugin `metrics`: cannot bind ") && error.contains(&addr.to_string()),
        "{error}"
    );
}
