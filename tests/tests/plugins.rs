//! End-to-end tests of plugin composition and of `BrokerContext`.
//!
//! Composition: nested tuples call each hook of each member in order; a tuple's `HOOKS` is the
//! union of its members' and each member is only called for its own; `Option<P>` is on only
//! when its section is present. `BrokerContext`: what a plugin that kept the context given to
//! its `build` can do to and see of the broker.
//! (Events, verdicts and config binding: `plugin_events.rs`, `plugin_verdicts.rs`,
//! `plugin_config.rs`.)

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use amqtt_core::codec::{Packet, Properties, Publish, QoS, ReasonCode, SubAckCode};
use amqtt_core::config::{BrokerConfig, PluginsSection};
use amqtt_core::plugin::{
    Action, AuthAnswer, AuthStep, BrokerContext, ContextError, FromConfig, Hooks, Plugin,
    PluginError, Reload, SessionInfo, SessionSummary, Verdict,
};
use amqtt_tests::v5::{V5Client, connect_v5};
use amqtt_tests::{RECV_TIMEOUT, RawClient, TestBroker, connect_packet, wait_until};

/// Test plugins' configuration (unused).
type NoConfig = BTreeMap<String, u32>;

/// One sequence for every tracer of this test binary, so the logs of several tracers can be
/// merged in call order.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The tracers whose `check` hook ran, in call order: `Broker::check` keeps no plugin set to
/// read a log from.
static CHECKED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Records every hook call with a global sequence number. `N` picks its name, so a tuple can
/// hold three distinct tracers. Admits every client.
#[derive(Default)]
struct Tracer<const N: usize> {
    log: Mutex<Vec<(u64, String)>>,
}

impl<const N: usize> Tracer<N> {
    fn push(&self, event: String) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        // Numbered under the lock, so the log is in sequence order.
        log.push((SEQUENCE.fetch_add(1, Ordering::SeqCst), event));
    }

    fn log(&self) -> Vec<(u64, String)> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn events(&self) -> Vec<String> {
        self.log().into_iter().map(|(_, e)| e).collect()
    }
}

impl<const N: usize> Plugin for Tracer<N> {
    async fn start(&self) -> Result<(), PluginError> {
        self.push("start".into());
        Ok(())
    }
    async fn check(&self) -> Result<(), PluginError> {
        CHECKED.lock().unwrap_or_else(|e| e.into_inner()).push(N);
        Ok(())
    }
    async fn reload(&self, _plugins: &PluginsSection) -> Result<Reload<'_>, PluginError> {
        self.push("reload".into());
        Ok(Reload::none())
    }
    async fn on_broker_pre_start(&self) {
        self.push("pre_start".into());
    }
    async fn on_broker_post_start(&self) {
        self.push("post_start".into());
    }
    async fn on_broker_pre_shutdown(&self) {
        self.push("pre_shutdown".into());
    }
    async fn on_broker_post_shutdown(&self) {
        self.push("post_shutdown".into());
    }
    async fn on_broker_client_connected(&self, client_id: &str, _s: &SessionInfo) {
        self.push(format!("client_connected {client_id}"));
    }
    async fn on_broker_client_disconnected(&self, client_id: &str, _s: &SessionInfo) {
        self.push(format!("client_disconnected {client_id}"));
    }
    async fn on_broker_client_subscribed(&self, client_id: &str, topic: &str, _qos: QoS) {
        self.push(format!("client_subscribed {client_id} {topic}"));
    }
    async fn on_broker_client_unsubscribed(&self, client_id: &str, topic: &str) {
        self.push(format!("client_unsubscribed {client_id} {topic}"));
    }
    async fn on_broker_message_received(&self, client_id: &str, m: &Publish) {
        self.push(format!("message_received {client_id} {}", m.topic));
    }
    async fn on_broker_message_broadcast(&self, client_id: &str, m: &Publish) {
        self.push(format!("message_broadcast {client_id} {}", m.topic));
    }
    async fn on_broker_retained_message(&self, client_id: &str, m: &Publish) {
        self.push(format!("retained_message {client_id} {}", m.topic));
    }
    fn on_mqtt_packet_received(&self, packet: &Packet, s: Option<&SessionInfo>) {
        let client = s.map_or("none", |s| &s.client_id);
        self.push(format!("packet_received {} {client}", packet.name()));
    }
    fn on_mqtt_packet_sent(&self, packet: &Packet, s: Option<&SessionInfo>) {
        let client = s.map_or("none", |s| &s.client_id);
        self.push(format!("packet_sent {} {client}", packet.name()));
    }
    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        self.push(format!("authenticate {}", session.client_id));
        Verdict::Allow
    }
    async fn authenticate_exchange(
        &self,
        session: &SessionInfo,
        method: &str,
        _data: Option<&[u8]>,
        _step: AuthStep<'_>,
    ) -> AuthAnswer {
        self.push(format!(
            "authenticate_exchange {} {method}",
            session.client_id
        ));
        AuthAnswer::Abstain
    }
    async fn topic_filtering(&self, s: &SessionInfo, topic: &str, action: Action) -> Verdict {
        self.push(format!(
            "topic_filtering {} {topic} {action:?}",
            s.client_id
        ));
        Verdict::Abstain
    }
    async fn close(&self) {
        self.push("close".into());
    }
}

impl<const N: usize> FromConfig for Tracer<N> {
    const NAME: &'static str = ["tracer_a", "tracer_b", "tracer_c"][N];
    type Config = NoConfig;
    fn build(_config: NoConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(Tracer::default())
    }
}

#[tokio::test]
async fn checking_a_configuration_calls_every_members_check_hook_in_order() {
    type P = (Tracer<0>, (Tracer<1>, Tracer<2>));
    let config =
        BrokerConfig::from_yaml("listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins: {}\n")
            .expect("valid");
    amqtt_core::broker::Broker::<P>::check(config)
        .await
        .expect("the configuration checks");
    let checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(checked, [0, 1, 2]);
}

/// Declares only `on_broker_client_connected` in its `HOOKS`, but overrides other hooks too:
/// the broker must call only the declared one.
#[derive(Default)]
struct Gated {
    connected: AtomicUsize,
    undeclared: AtomicUsize,
}

impl Plugin for Gated {
    const HOOKS: Hooks = Hooks::CLIENT_CONNECTED;
    async fn on_broker_client_connected(&self, _client_id: &str, _s: &SessionInfo) {
        self.connected.fetch_add(1, Ordering::SeqCst);
    }
    async fn on_broker_client_disconnected(&self, _client_id: &str, _s: &SessionInfo) {
        self.undeclared.fetch_add(1, Ordering::SeqCst);
    }
    fn on_mqtt_packet_received(&self, _packet: &Packet, _s: Option<&SessionInfo>) {
        self.undeclared.fetch_add(1, Ordering::SeqCst);
    }
    async fn authenticate(&self, _session: &SessionInfo) -> Verdict {
        self.undeclared.fetch_add(1, Ordering::SeqCst);
        Verdict::Deny
    }
    async fn topic_filtering(&self, _s: &SessionInfo, _t: &str, _a: Action) -> Verdict {
        self.undeclared.fetch_add(1, Ordering::SeqCst);
        Verdict::Deny
    }
    async fn close(&self) {
        self.undeclared.fetch_add(1, Ordering::SeqCst);
    }
}

impl FromConfig for Gated {
    const NAME: &'static str = "gated";
    type Config = NoConfig;
    fn build(_config: NoConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(Gated::default())
    }
}

/// Two client sessions exercising most hooks: `s` subscribes, `c` publishes a retained QoS 1
/// message that `s` receives, `s` unsubscribes, both disconnect. Returns once `s`'s UNSUBACK
/// arrived and both sent DISCONNECT.
async fn exercise(addr: std::net::SocketAddr) {
    let mut sub = RawClient::connect(addr, "s").await;
    let ack = sub.subscribe(1, &[("t", QoS::AtLeastOnce)]).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(QoS::AtLeastOnce)]);
    let mut client = RawClient::connect(addr, "c").await;
    client.publish("t", "m", QoS::AtLeastOnce, true).await;
    sub.expect_publish_and_ack("t", "m", QoS::AtLeastOnce, false)
        .await;
    sub.unsubscribe(2, &["t"]).await;
    sub.disconnect().await;
    client.disconnect().await;
}

/// Whether `events` holds both clients' `client_disconnected`.
fn both_gone(events: &[String]) -> bool {
    ["client_disconnected s", "client_disconnected c"]
        .iter()
        .all(|gone| events.iter().any(|e| e == gone))
}

#[tokio::test]
async fn nested_tuples_call_every_hook_in_member_order() {
    type P = (Tracer<0>, (Tracer<1>, Tracer<2>));
    // Always-on members need no section.
    let broker = TestBroker::<P>::start_with_plugins("plugins: {}\n").await;
    exercise(broker.addr).await;
    // An enhanced authentication method: every tracer abstains in turn, so 0x8C.
    let properties = Properties {
        authentication_method: Some("X-TRACE".into()),
        ..Properties::default()
    };
    let (_, ack) = V5Client::connect_with(broker.addr, connect_v5("m", properties)).await;
    assert_eq!(ack.code, ReasonCode::BadAuthenticationMethod);
    // `plugins: {}`: without the key the config has aMQTT's default plugins, which this
    // broker does not know (a reload refuses them, as a start would).
    let config =
        BrokerConfig::from_yaml("listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins: {}\n")
            .expect("valid");
    broker.handle.reload(&config).await.expect("reload");
    let handle = broker.handle.clone();
    let (a, (b, c)) = handle.plugins();
    wait_until("both clients are gone", || both_gone(&a.events())).await;
    broker.stop().await;

    let (a, b, c) = (a.log(), b.log(), c.log());
    let kinds: std::collections::BTreeSet<&str> = a
        .iter()
        .map(|(_, e)| e.split(' ').next().unwrap_or(""))
        .collect();
    // All but `check`, which only `Broker::check` calls (below).
    assert_eq!(
        kinds.len(),
        Hooks::NAMES.len() - 1,
        "not every hook fired: {kinds:?}"
    );
    assert_eq!(a.first().map(|(_, e)| e.as_str()), Some("start"));
    assert_eq!(a.last().map(|(_, e)| e.as_str()), Some("close"));
    let sorted = |log: &[(u64, String)]| {
        let mut events: Vec<String> = log.iter().map(|(_, e)| e.clone()).collect();
        events.sort();
        events
    };
    assert_eq!(sorted(&a), sorted(&b), "A and B saw different events");
    assert_eq!(sorted(&a), sorted(&c), "A and C saw different events");
    // Each call reaches A, then B, then C: match the k-th occurrence of each event.
    let seq_of = |log: &[(u64, String)], event: &str, nth: usize| {
        log.iter()
            .filter(|(_, e)| e == event)
            .nth(nth)
            .map(|(s, _)| *s)
            .expect("same events")
    };
    for (i, (seq_a, event)) in a.iter().enumerate() {
        let nth = a[..i].iter().filter(|(_, e)| e == event).count();
        let (seq_b, seq_c) = (seq_of(&b, event, nth), seq_of(&c, event, nth));
        assert!(
            *seq_a < seq_b && seq_b < seq_c,
            "`{event}` (#{nth}) called out of order: A {seq_a}, B {seq_b}, C {seq_c}"
        );
    }
}

#[test]
fn hooks_of_a_composition_are_the_union_of_its_members() {
    let both = Hooks::CLIENT_CONNECTED.union(Hooks::AUTHENTICATE);
    struct OnlyAuth;
    impl Plugin for OnlyAuth {
        const HOOKS: Hooks = Hooks::AUTHENTICATE;
    }
    assert_eq!(<(Gated, OnlyAuth) as Plugin>::HOOKS, both);
    assert_eq!(<((Gated,), ((), OnlyAuth)) as Plugin>::HOOKS, both);
    assert_eq!(<(Option<Gated>, Option<OnlyAuth>) as Plugin>::HOOKS, both);
    assert_eq!(<Option<OnlyAuth> as Plugin>::HOOKS, Hooks::AUTHENTICATE);
    assert_eq!(<() as Plugin>::HOOKS, Hooks::NONE);
    assert_eq!(<((), ((),)) as Plugin>::HOOKS, Hooks::NONE);
    assert_eq!(<(Gated, Tracer<0>) as Plugin>::HOOKS, Hooks::ALL);
    // A hand-written impl that leaves HOOKS alone has every hook.
    assert_eq!(<Tracer<0> as Plugin>::HOOKS, Hooks::ALL);

    // At run time a member switched off (`None`) contributes no hook.
    let off: (Option<OnlyAuth>, Option<OnlyAuth>) = (None, None);
    assert_eq!(off.active_hooks(), Hooks::NONE);
    let one_on: (Option<OnlyAuth>, Option<()>) = (Some(OnlyAuth), None);
    assert_eq!(one_on.active_hooks(), Hooks::AUTHENTICATE);
    assert_eq!(((Some(OnlyAuth),), ()).active_hooks(), Hooks::AUTHENTICATE);
}

#[tokio::test]
async fn a_member_is_called_only_for_the_hooks_it_declares() {
    // Alone: no auth hook (so everyone is admitted), no topic hook.
    let broker = TestBroker::<Gated>::start_with_plugins("plugins: {}\n").await;
    exercise(broker.addr).await;
    let handle = broker.handle.clone();
    wait_until("client_connected fired twice", || {
        handle.plugins().connected.load(Ordering::SeqCst) == 2
    })
    .await;
    broker.stop().await;
    assert_eq!(handle.plugins().undeclared.load(Ordering::SeqCst), 0);

    // Next to a plugin with every hook: the tuple has them all, the member still gets only its
    // own (its denying authenticate and topic_filtering would break `exercise`).
    let broker = TestBroker::<(Gated, Tracer<0>)>::start_with_plugins("plugins: {}\n").await;
    exercise(broker.addr).await;
    let handle = broker.handle.clone();
    wait_until("the tracer saw both clients go", || {
        both_gone(&handle.plugins().1.events())
    })
    .await;
    broker.stop().await;
    let gated = &handle.plugins().0;
    assert_eq!(gated.connected.load(Ordering::SeqCst), 2);
    assert_eq!(gated.undeclared.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_option_plugin_is_on_only_with_its_section() {
    type P = (Tracer<0>, Option<Tracer<1>>);
    for (yaml, on) in [
        ("plugins: {}\n", false),
        ("plugins:\n  tracer_b:\n", true),
        ("plugins:\n  tracer_a:\n", false),
    ] {
        let broker = TestBroker::<P>::start_with_plugins(yaml).await;
        let client = RawClient::connect(broker.addr, "c").await;
        let handle = broker.handle.clone();
        let (always, optional) = handle.plugins();
        wait_until("the always-on tracer saw the client", || {
            always.events().contains(&"client_connected c".to_owned())
        })
        .await;
        assert_eq!(optional.is_some(), on, "{yaml}");
        if let Some(optional) = optional {
            wait_until("the optional tracer saw the client", || {
                optional.events().contains(&"client_connected c".to_owned())
            })
            .await;
            assert_eq!(optional.events()[..3], ["start", "pre_start", "post_start"]);
        }
        client.disconnect().await;
        broker.stop().await;
    }
}

/// Keeps the context it was built with. No hooks, so every client is admitted.
struct Keeper {
    ctx: BrokerContext,
}

impl Plugin for Keeper {
    const HOOKS: Hooks = Hooks::NONE;
}

impl FromConfig for Keeper {
    const NAME: &'static str = "keeper";
    type Config = NoConfig;
    fn build(_config: NoConfig, ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(Keeper { ctx: ctx.clone() })
    }
}

const Q1: QoS = QoS::AtLeastOnce;
const SILENCE: Duration = Duration::from_millis(300);

#[tokio::test]
async fn a_plugin_acts_on_the_broker_through_its_context() {
    let broker = TestBroker::<Keeper>::start_with_plugins("plugins:\n  keeper:\n").await;
    let ctx = broker.handle.plugins().ctx.clone();
    assert_eq!(ctx.plugin_name(), "keeper");

    // publish reaches a subscriber, at min(QoS).
    let mut sub = RawClient::connect(broker.addr, "sub").await;
    let ack = sub.subscribe(1, &[("ctx/#", Q1)]).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(Q1)]);
    ctx.publish("ctx/a", "hello", QoS::ExactlyOnce, false)
        .await
        .expect("publish");
    sub.expect_publish_and_ack("ctx/a", "hello", Q1, false)
        .await;
    // With retain, it is delivered live with RETAIN 0 and stored.
    ctx.publish("ctx/p", "stored", QoS::AtMostOnce, true)
        .await
        .expect("publish");
    sub.expect_publish("ctx/p", "stored", QoS::AtMostOnce, false)
        .await;
    assert_eq!(ctx.retained_count(), 1);

    // retain stores without delivering; a later subscriber gets it with RETAIN 1.
    ctx.retain("ctx/r", "kept", Q1).expect("retain");
    assert_eq!(ctx.retained_count(), 2);
    sub.expect_silence(SILENCE).await;
    let mut late = RawClient::connect(broker.addr, "late").await;
    let ack = late.subscribe(1, &[("ctx/r", Q1)]).await;
    assert_eq!(ack.codes, vec![SubAckCode::Success(Q1)]);
    late.expect_publish_and_ack("ctx/r", "kept", Q1, true).await;
    // An empty payload clears it.
    ctx.retain("ctx/r", "", Q1).expect("retain");
    assert_eq!(ctx.retained_count(), 1);

    // Invalid names and filters are refused.
    assert_eq!(
        ctx.publish("ctx/#", "x", Q1, false).await,
        Err(ContextError::InvalidTopicName("ctx/#".into()))
    );
    assert_eq!(
        ctx.retain("", "x", Q1),
        Err(ContextError::InvalidTopicName(String::new()))
    );
    assert_eq!(
        ctx.add_subscription("someone", "a/#/b", Q1),
        Err(ContextError::InvalidTopicFilter("a/#/b".into()))
    );
    assert!(ctx.session("someone").is_none());

    // add_subscription creates an offline persistent session that queues QoS 1/2 messages.
    ctx.add_subscription("offline-client", "a/#", Q1)
        .expect("subscription");
    let offline = |queued| SessionSummary {
        client_id: "offline-client".into(),
        connected: false,
        clean_session: false,
        subscriptions: vec![("a/#".into(), Q1)],
        inflight: 0,
        queued,
        incoming_pending: 0,
    };
    assert_eq!(ctx.session("offline-client"), Some(offline(0)));
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    // QoS 0 first: the QoS 1 PUBACK then says both were handled.
    publisher
        .publish("a/c", "not queued", QoS::AtMostOnce, false)
        .await;
    publisher.publish("a/b", "queued", Q1, false).await;
    assert_eq!(ctx.session("offline-client"), Some(offline(1)));

    // The listings report all of it.
    let ids: Vec<String> = ctx.sessions().into_iter().map(|s| s.client_id).collect();
    assert_eq!(ids, ["late", "offline-client", "pub", "sub"]);
    let sub_summary = ctx.session("sub").expect("sub's session");
    assert!(sub_summary.connected && sub_summary.clean_session);
    assert_eq!(sub_summary.subscriptions, [("ctx/#".to_owned(), Q1)]);
    let mut subscriptions = ctx.subscriptions();
    subscriptions.sort();
    assert_eq!(
        subscriptions,
        [
            ("late".to_owned(), "ctx/r".to_owned(), Q1),
            ("offline-client".to_owned(), "a/#".to_owned(), Q1),
            ("sub".to_owned(), "ctx/#".to_owned(), Q1),
        ]
    );
    assert_eq!(ctx.subscription_count(), 3);
    assert_eq!(ctx.retained_count(), 1);
    let stats = ctx.stats();
    assert_eq!(stats.clients_connected.get(), 3);
    assert_eq!(stats.clients_total.get(), 3);
    // Messages the context publishes are not counted as received from clients.
    assert_eq!(stats.messages_received.get(), 2);

    // The client connects: session present, the queued QoS 1 message and nothing else.
    let (mut client, ack) =
        RawClient::connect_with(broker.addr, connect_packet("offline-client", false)).await;
    assert!(ack.session_present, "{ack:?}");
    client
        .expect_publish_and_ack("a/b", "queued", Q1, false)
        .await;
    client.expect_silence(SILENCE).await;
    let summary = ctx.session("offline-client").expect("session");
    assert!(summary.connected);
    assert_eq!((summary.queued, summary.inflight), (0, 0));
    assert_eq!(stats.clients_connected.get(), 4);

    // Once the broker has stopped, publishing fails.
    broker.stop().await;
    let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
    while ctx.publish("ctx/a", "late", Q1, false).await != Err(ContextError::Stopped) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "publish still accepted after the broker stopped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
