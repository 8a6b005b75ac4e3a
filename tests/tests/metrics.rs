//! The `metrics` plugin over real HTTP: `/metrics` in the OpenMetrics text format, with figures
//! that move as clients connect, publish and lose messages; `/health`; a bind address that
//! cannot be bound.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use amqtt_core::broker::Broker;
use amqtt_core::client::{ClientError, ClientOptions, MqttClient};
use amqtt_core::codec::QoS;
use amqtt_core::config::BrokerConfig;
use amqtt_core::plugin::{Plugin, plugin};
use amqtt_plugins::PackagedPlugins;
use amqtt_tests::{RECV_TIMEOUT, TestBroker};

/// A broker with the stock plugin set: anonymous clients admitted or not, and `metrics` on a
/// free port. Returns the broker and the metrics address.
async fn start(allow_anonymous: bool) -> (TestBroker<PackagedPlugins>, SocketAddr) {
    let port = free_port();
    let yaml = format!(
        "plugins:\n  auth_anonymous:\n    allow_anonymous: {allow_anonymous}\n  \
         metrics:\n    bind: 127.0.0.1:{port}\nmax_queued: 2\n"
    );
    let broker = TestBroker::<PackagedPlugins>::start_with_plugins(&yaml).await;
    (broker, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    socket.local_addr().expect("local address").port()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(RECV_TIMEOUT)
        .build()
        .expect("an HTTP client")
}

/// `GET http://addr/path`: status and body.
async fn get(addr: SocketAddr, path: &str) -> (reqwest::StatusCode, String, String) {
    let response = http()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.expect("a text body");
    (status, content_type, body)
}

/// The figures of one scrape, by sample name and labels (`name{k="v",...}`, labels sorted).
struct Scrape(HashMap<String, f64>);

impl Scrape {
    fn value(&self, sample: &str) -> f64 {
        *self
            .0
            .get(sample)
            .unwrap_or_else(|| panic!("no sample `{sample}` in {:?}", self.0.keys()))
    }
}

/// Fetches `/metrics`, checks its structure ([`check_exposition`]) and reads it with a parser
/// of the Prometheus text format.
async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, content_type, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    check_exposition(&body);
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("the text format parses");
    let mut figures = HashMap::new();
    for sample in parsed.samples {
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            other => panic!("unexpected sample kind {other:?}"),
        };
        let mut labels: Vec<String> = sample
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        labels.sort();
        let key = if labels.is_empty() {
            sample.metric
        } else {
            format!("{}{{{}}}", sample.metric, labels.join(","))
        };
        assert!(figures.insert(key.clone(), value).is_none(), "{key} twice");
    }
    Scrape(figures)
}

/// The OpenMetrics structure, strictly: every family is `# HELP` (non-empty), then `# TYPE`
/// (counter or gauge), then `# UNIT` when its name ends in a unit, then its samples, named
/// `<family>_total` for a counter and `<family>` for a gauge; every family once; `# EOF` last.
fn check_exposition(body: &str) {
    let mut lines = body.lines().peekable();
    let mut families = Vec::new();
    while let Some(line) = lines.next() {
        if line == "# EOF" {
            assert!(lines.next().is_none(), "text after # EOF");
            assert!(families.len() > 10, "too few families: {families:?}");
            return;
        }
        let help = line
            .strip_prefix("# HELP ")
            .unwrap_or_else(|| panic!("a family starts with # HELP, not `{line}`"));
        let (name, text) = help.split_once(' ').expect("# HELP name text");
        assert!(name.starts_with("amqtt_") && !text.is_empty(), "{line}");
        assert!(!families.contains(&name), "family {name} twice");
        families.push(name);
        let kind = lines
            .next()
            .and_then(|l| l.strip_prefix(&format!("# TYPE {name} ")))
            .unwrap_or_else(|| panic!("# TYPE {name} follows its # HELP"));
        let sample = match kind {
            "counter" => format!("{name}_total"),
            "gauge" => name.to_owned(),
            other => panic!("{name}: unexpected type {other}"),
        };
        if name.ends_with("_bytes") {
            assert_eq!(lines.next(), Some(format!("# UNIT {name} bytes").as_str()));
        }
        let mut samples = 0;
        while let Some(line) = lines.next_if(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').expect("sample value");
            let series_name = series.split('{').next().unwrap_or_default();
            assert_eq!(series_name, sample, "{line}");
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("{line}: not a number"));
            samples += 1;
        }
        assert!(samples > 0, "{name} has no sample");
    }
    panic!("no # EOF at the end");
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
    let (broker, metrics) = start(true).await;
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

    let after = scrape(metrics).await;
    assert_eq!(after.value("amqtt_messages_received_total{qos=\"1\"}"), 6.0);
    assert_eq!(after.value("amqtt_messages_received_total{qos=\"0\"}"), 1.0);
    assert!(after.value("amqtt_messages_sent_total{qos=\"1\"}") >= 1.0);
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
    // The same counters as `$SYS` and the broker's handle: nothing counted twice.
    let stats = broker.handle.stats();
    assert_eq!(
        after.value("amqtt_packets_received_total"),
        stats.packets_received.get() as f64
    );
    assert_eq!(
        after.value("amqtt_messages_dropped_total{reason=\"queue_full\"}"),
        stats.dropped_queue_full.get() as f64
    );
    broker.stop().await;
}

/// Polls `/metrics` until `sample` has `value`.
async fn wait_for(addr: SocketAddr, sample: &str, value: f64) {
    let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
    while scrape(addr).await.value(sample) != value {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{sample} never reached {value}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn refused_clients_count_as_authentication_failures() {
    let (broker, metrics) = start(false).await;
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
