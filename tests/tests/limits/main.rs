//! Limits that protect the broker, each under a real flood over real sockets: subscriptions per
//! client, the connection rate of a listener, per-client message and byte rates, and the global
//! budget of bytes queued for sessions. Every refusal and drop is counted and shown in `$SYS`.

mod connection_rate;
mod publish_rates;
mod queued_bytes;
mod subscriptions;

use std::time::{Duration, Instant};

use amqtt_core::broker::Broker;
use amqtt_core::codec::QoS;
use amqtt_core::config::BrokerConfig;
use amqtt_plugins::PackagedPlugins;
use amqtt_tests::{RawClient, TestBroker};

/// A broker with the `$SYS` plugin publishing every second, and `extra` broker keys.
async fn broker_with_sys(extra: &str) -> TestBroker<PackagedPlugins> {
    TestBroker::serve(bind_with_sys(extra).await)
}

/// A bound broker with the `$SYS` plugin publishing every second and `extra` YAML after the
/// default listener (more listeners, indented, or broker keys).
async fn bind_with_sys(extra: &str) -> Broker<PackagedPlugins> {
    let config = BrokerConfig::from_yaml(&format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n{extra}\
         plugins:\n  auth_anonymous:\n  broker_sys:\n    sys_interval: 1\n"
    ))
    .expect("valid config");
    Broker::<PackagedPlugins>::bind(config)
        .await
        .expect("broker binds")
}

/// Waits until `$SYS/broker/<topic>` is published with the value `expected`.
async fn sys_shows(sys: &mut RawClient, topic: &str, expected: u64) {
    let topic = format!("$SYS/broker/{topic}");
    let deadline = Instant::now() + Duration::from_secs(3);
    let expected = expected.to_string();
    let mut last = None;
    while Instant::now() < deadline {
        let Some(amqtt_core::codec::Packet::Publish(publish)) =
            sys.recv_within(Duration::from_millis(1500)).await
        else {
            continue;
        };
        if *publish.topic == *topic {
            if publish.payload[..] == *expected.as_bytes() {
                return;
            }
            last = Some(String::from_utf8_lossy(&publish.payload).into_owned());
        }
    }
    panic!("{topic} never showed {expected} (last: {last:?})");
}

/// A client subscribed to `$SYS/broker/<topic>`.
async fn sys_watcher(broker: &TestBroker<PackagedPlugins>, topic: &str) -> RawClient {
    let mut sys = RawClient::connect(broker.addr, "sys-watcher").await;
    sys.subscribe(1, &[(&format!("$SYS/broker/{topic}"), QoS::AtMostOnce)])
        .await;
    sys
}
