//! What plugins reach beyond the hooks' arguments, end to end: the retained messages themselves
//! through `BrokerContext`, subscriptions with MQTT 5.0 options it makes, attributes an auth
//! plugin attaches to a connection for a topic plugin to read, and the listener a client came
//! through.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use amqtt_core::codec::{MAX_VAR_INT, Packet, Properties, QoS, SubAckCode};
use amqtt_core::plugin::{
    Action, BrokerContext, ContextError, FromConfig, Hooks, Plugin, PluginError, SessionInfo,
    Verdict,
};
use amqtt_core::store::Grant;
use amqtt_tests::v5::{V5Client, publish_v5, session_connect, subscription_ids};
use amqtt_tests::{RawClient, TestBroker, wait_until};

/// What the auth step learned about a client: its role, from the user name's prefix.
#[derive(Debug, PartialEq, Eq)]
enum Role {
    Reader,
    Writer,
}

/// Tags each connection with a role at `authenticate` and lets only writers publish; records the
/// listener every client came through. Keeps its context.
struct Tagger {
    ctx: BrokerContext,
    listeners: Mutex<Vec<Option<String>>>,
}

impl Plugin for Tagger {
    const HOOKS: Hooks = Hooks::AUTHENTICATE.union(Hooks::TOPIC_FILTERING);

    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        let role = match session.username.as_deref() {
            Some(name) if name.starts_with("writer") => Role::Writer,
            _ => Role::Reader,
        };
        session.attributes.insert("tagger.role", role);
        self.listeners
            .lock()
            .expect("not poisoned")
            .push(session.listener.as_deref().map(str::to_owned));
        Verdict::Allow
    }

    async fn topic_filtering(
        &self,
        session: &SessionInfo,
        _topic: &str,
        action: Action,
    ) -> Verdict {
        let role = session.attributes.get::<Role>("tagger.role");
        match (action, role.as_deref()) {
            (Action::Publish, Some(Role::Writer)) | (Action::Subscribe | Action::Receive, _) => {
                Verdict::Allow
            }
            _ => Verdict::Deny,
        }
    }
}

impl FromConfig for Tagger {
    const NAME: &'static str = "tagger";
    type Config = BTreeMap<String, u32>;
    fn build(_config: Self::Config, ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(Tagger {
            ctx: ctx.clone(),
            listeners: Mutex::new(Vec::new()),
        })
    }
}

const Q1: QoS = QoS::AtLeastOnce;

/// Connects `client_id` with user name `username`.
async fn connect_as(addr: std::net::SocketAddr, client_id: &str, username: &str) -> RawClient {
    let mut connect = amqtt_tests::connect_packet(client_id, true);
    connect.username = Some(username.into());
    let (client, ack) = RawClient::connect_with(addr, connect).await;
    assert_eq!(ack.code, amqtt_core::codec::ReasonCode::Success);
    client
}

#[tokio::test]
async fn attributes_set_at_authenticate_are_read_by_topic_filtering() {
    let broker = TestBroker::<Tagger>::start_with_plugins("plugins:\n  tagger:\n").await;
    let mut sub = connect_as(broker.addr, "sub", "reader-s").await;
    let ack = sub.subscribe(1, &[("attr/#", Q1)]).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(Q1)]);

    let mut writer = connect_as(broker.addr, "w", "writer-1").await;
    writer.publish("attr/w", "from writer", Q1, false).await;
    sub.expect_publish_and_ack("attr/w", "from writer", Q1, false)
        .await;
    // A reader's publish is acknowledged and dropped: its attribute says reader.
    let mut reader = connect_as(broker.addr, "r", "reader-1").await;
    reader.publish("attr/r", "from reader", Q1, false).await;
    sub.expect_silence(std::time::Duration::from_millis(300))
        .await;

    let listeners = broker
        .handle
        .plugins()
        .listeners
        .lock()
        .expect("not poisoned")
        .clone();
    assert_eq!(listeners, vec![Some("default".to_owned()); 3]);
    for client in [sub, writer, reader] {
        client.disconnect().await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn the_context_gives_the_retained_messages_themselves() {
    let broker = TestBroker::<Tagger>::start_with_plugins("plugins:\n  tagger:\n").await;
    let ctx = broker.handle.plugins().ctx.clone();
    let mut writer = connect_as(broker.addr, "w", "writer-1").await;
    writer.publish("ret/a", "A", Q1, true).await;
    writer.publish("ret/b/c", "C", QoS::AtMostOnce, true).await;
    writer.publish("other", "O", Q1, true).await;
    wait_until("three retained", || ctx.retained_count() == 3).await;

    let a = ctx.retained_message("ret/a").expect("retained");
    assert_eq!((&*a.topic, &a.payload[..], a.qos), ("ret/a", &b"A"[..], Q1));
    assert!(ctx.retained_message("ret/none").is_none());
    assert!(
        ctx.retained_message("ret/#").is_none(),
        "a filter is not a topic name"
    );

    let mut topics: Vec<String> = ctx
        .retained_messages("ret/#")
        .expect("valid filter")
        .into_iter()
        .map(|m| m.topic.to_string())
        .collect();
    topics.sort();
    assert_eq!(topics, ["ret/a", "ret/b/c"]);
    assert_eq!(ctx.retained_messages("#").expect("valid").len(), 3);
    assert_eq!(
        ctx.retained_messages("a/#/b"),
        Err(ContextError::InvalidTopicFilter("a/#/b".into()))
    );
    writer.disconnect().await;
    broker.stop().await;
}

#[tokio::test]
async fn a_plugin_subscribes_a_client_with_mqtt_5_options() {
    let broker = TestBroker::<Tagger>::start_with_plugins("plugins:\n  tagger:\n").await;
    let ctx = broker.handle.plugins().ctx.clone();
    let options = Grant {
        id: NonZeroU32::new(7),
        qos: Q1,
        no_local: true,
        retain_as_published: true,
    };
    ctx.add_subscription_with("opts", "opt/#", options)
        .expect("subscription with options");
    for (filter, grant) in [
        ("$share/g/opt/#", options),
        (
            "opt/big",
            Grant {
                id: NonZeroU32::new(MAX_VAR_INT + 1),
                ..Grant::from(Q1)
            },
        ),
    ] {
        let refused = ctx.add_subscription_with("opts", filter, grant);
        assert!(
            matches!(
                refused,
                Err(ContextError::InvalidSubscriptionOptions { .. })
            ),
            "{filter}: {refused:?}"
        );
    }

    // The client resumes the session the plugin made; the options hold for it.
    let mut connect = session_connect("opts", false, Some(60));
    connect.username = Some("writer-opts".into());
    let (mut client, ack) = V5Client::connect_with(broker.addr, connect).await;
    assert!(ack.session_present, "{ack:?}");
    let own = publish_v5(
        "opt/own",
        "own",
        QoS::AtMostOnce,
        None,
        Properties::default(),
    );
    client.send(Packet::Publish(own)).await;
    client.expect_silence(Duration::from_millis(300)).await;
    let mut writer = connect_as(broker.addr, "w", "writer-1").await;
    writer.publish("opt/r", "kept", Q1, true).await;
    let got = client.recv_publish().await;
    assert_eq!((&*got.topic, got.qos, got.retain), ("opt/r", Q1, true));
    assert_eq!(subscription_ids(&got), [7]);
    writer.disconnect().await;
    broker.stop().await;
}
