//! `$` topics: the shadow plugin opens `$shadow/` to client publishes, and nothing else.

use std::time::Duration;

use amqtt_core::codec::{QoS, SubAckCode};
use amqtt_tests::{RawClient, TestBroker};

use crate::support::{broker, client, sqlite_url, unique};

const SILENCE: Duration = Duration::from_millis(300);

/// Subscribes `c` to `filters` at QoS 0, all granted.
async fn subscribe_all(c: &mut RawClient, filters: &[&str]) {
    let asked: Vec<(&str, QoS)> = filters.iter().map(|f| (*f, QoS::AtMostOnce)).collect();
    let ack = c.subscribe(1, &asked).await;
    assert!(
        ack.codes
            .iter()
            .all(|c| *c == SubAckCode::Success(QoS::AtMostOnce))
    );
}

#[tokio::test]
async fn clients_publish_to_shadow_topics_and_to_no_other_dollar_topic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = broker(&sqlite_url(&dir), "").await;
    let dev = unique("dev");
    let mut sub = client(&broker, &unique("sub"), None).await;
    let request = format!("$shadow/{dev}/main/update");
    subscribe_all(
        &mut sub,
        &["#", "$SYS/#", "$other/#", "$shadowx/#", &request],
    )
    .await;
    let mut publisher = client(&broker, &unique("pub"), None).await;
    for topic in [
        "$SYS/broker/uptime",
        "$other/x",
        "$shadowx/a/b/update",
        &request,
    ] {
        publisher
            .publish(topic, "{}", QoS::AtLeastOnce, false)
            .await;
    }
    // Only the shadow request is routed, and only to the explicit filter (`#` does not match
    // a `$` topic).
    let message = sub.recv_publish().await;
    assert_eq!(&*message.topic, request);
    sub.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn without_the_shadow_plugin_shadow_topics_stay_closed() {
    let broker = TestBroker::start("").await;
    let mut sub = RawClient::connect(broker.addr, &unique("sub")).await;
    subscribe_all(&mut sub, &["$shadow/#"]).await;
    let mut publisher = RawClient::connect(broker.addr, &unique("pub")).await;
    publisher
        .publish("$shadow/d/main/update", "{}", QoS::AtLeastOnce, false)
        .await;
    sub.expect_silence(SILENCE).await;
}
