//! `$` topics: the shadow plugin opens `$shadow/` to client publishes, and nothing else.

use std::collections::BTreeMap;
use std::time::Duration;

use amqtt_core::codec::{QoS, SubAckCode};
use amqtt_core::plugin::{BrokerContext, ContextError, FromConfig, Hooks, Plugin, PluginError};
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

/// Keeps the context it was built with, to open prefixes from the test. No hooks.
struct Opener {
    ctx: BrokerContext,
}

impl Plugin for Opener {
    const HOOKS: Hooks = Hooks::NONE;
}

impl FromConfig for Opener {
    const NAME: &'static str = "opener";
    type Config = BTreeMap<String, u32>;
    fn build(_config: Self::Config, ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(Opener { ctx: ctx.clone() })
    }
}

#[tokio::test]
async fn a_plugin_opens_only_a_dollar_prefix_and_never_sys() {
    let broker = TestBroker::<Opener>::start_with_plugins("plugins:\n  opener:\n").await;
    let ctx = broker.handle.plugins().ctx.clone();
    for bad in [
        "$SYS/", "$SYS/x/", "custom/", "$custom", "$/", "$a/+/", "$a/#",
    ] {
        assert_eq!(
            ctx.open_dollar_prefix(bad),
            Err(ContextError::InvalidTopicName(bad.to_owned())),
            "{bad}"
        );
    }
    ctx.open_dollar_prefix("$custom/").expect("a valid prefix");
    let mut sub = RawClient::connect(broker.addr, &unique("sub")).await;
    subscribe_all(&mut sub, &["$custom/#", "$customx/#", "$SYS/#"]).await;
    let mut publisher = RawClient::connect(broker.addr, &unique("pub")).await;
    for topic in ["$SYS/x", "$customx/a", "$custom/a"] {
        publisher.publish(topic, "m", QoS::AtLeastOnce, false).await;
    }
    assert_eq!(&*sub.recv_publish().await.topic, "$custom/a");
    sub.expect_silence(SILENCE).await;
}
