//! The per-message plugin path of the broker, written once and generic over the plugin set, and
//! the four plugin sets it is measured with. Shared through `#[path]` by the `dispatch` bench and
//! the `dispatch_count` binary (which counts instructions under valgrind), so both measure the
//! same code.
//!
//! The sets:
//! - (a) `()`: no plugins;
//! - (b) [`noop_plugins`]: three plugins that implement no hook (`HOOKS = NONE`);
//! - (c) [`real_plugins`]: three plugins with real hooks, composed as a tuple (static dispatch);
//! - (d) [`dyn_plugins`]: the same three behind `Vec<Box<dyn DynPlugin>>`, with boxed futures
//!   and a per-plugin hook test at run time: what aMQTT-style dynamic dispatch costs.

use std::future::Future;
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use amqtt_core::codec::{ByteString, Packet, Publish, QoS};
use amqtt_core::plugin::{Action, Hooks, Plugin, SessionInfo, Verdict};
use bytes::Bytes;

/// Subscribers the message fans out to.
pub(crate) const SUBSCRIBERS: usize = 10;

/// The topic of the benchmarked message; [`TopicAcl`] allows it.
const TOPIC: &str = "site/42/device/1337/telemetry/temperature";

/// What one message brings to the plugin path: the packet as decoded, its PUBLISH, the
/// publisher's session and the sessions of the subscribers it fans out to.
pub(crate) struct Inputs {
    packet: Packet,
    publish: Publish,
    session: SessionInfo,
    subscribers: Vec<SessionInfo>,
}

impl Inputs {
    /// A QoS 0 PUBLISH with a 64-byte payload from `publisher`, to [`SUBSCRIBERS`] subscribers.
    pub(crate) fn new() -> Inputs {
        let publish = Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: ByteString::from_static(TOPIC),
            packet_id: None,
            payload: Bytes::from(vec![0x5A; 64]),
            properties: None,
        };
        Inputs {
            packet: Packet::Publish(publish.clone()),
            publish,
            session: SessionInfo::new("publisher"),
            subscribers: (0..SUBSCRIBERS)
                .map(|i| SessionInfo::new(format!("subscriber-{i}")))
                .collect(),
        }
    }
}

/// The plugin calls the broker makes for one QoS 0 PUBLISH, each guarded as the broker guards it
/// (`if P::HOOKS.contains(..)`): packet received, message received, the publish check, then per
/// subscriber the receive check and (in that subscriber's writer) packet sent. Returns how many
/// subscribers the message is delivered to.
///
/// `on_mqtt_packet_sent` runs once per subscriber, as in the broker, where every subscriber's
/// writer reports the PUBLISH it writes to that subscriber.
pub(crate) async fn per_message<P: Plugin>(plugins: &P, inputs: &Inputs) -> usize {
    let Inputs {
        packet,
        publish,
        session,
        subscribers,
    } = inputs;
    if P::HOOKS.contains(Hooks::PACKET_RECEIVED) {
        plugins.on_mqtt_packet_received(packet, Some(session));
    }
    if P::HOOKS.contains(Hooks::MESSAGE_RECEIVED) {
        plugins
            .on_broker_message_received(&session.client_id, publish)
            .await;
    }
    if P::HOOKS.contains(Hooks::TOPIC_FILTERING)
        && !plugins
            .topic_filtering(session, &publish.topic, Action::Publish)
            .await
            .permits()
    {
        return 0;
    }
    let mut delivered = 0;
    for subscriber in subscribers {
        if P::HOOKS.contains(Hooks::TOPIC_FILTERING)
            && !plugins
                .topic_filtering(subscriber, &publish.topic, Action::Receive)
                .await
                .permits()
        {
            continue;
        }
        if P::HOOKS.contains(Hooks::PACKET_SENT) {
            plugins.on_mqtt_packet_sent(packet, Some(subscriber));
        }
        delivered += 1;
    }
    delivered
}

/// Runs the per-message path once for `plugins`, to completion; returns the deliveries.
///
/// The future is pinned where it is created and polled in place, as a task's future is: moving
/// it into the executor first would add a copy of the whole future per message, whose size
/// (unlike the path's instructions) depends on the awaits in code that is compiled out.
#[inline(always)]
pub(crate) fn run_message<P: Plugin>(plugins: &P, inputs: &Inputs) -> usize {
    poll_once(pin!(per_message(plugins, inputs)))
}

/// Polls `future` once with a no-op waker and returns its output: the plugin path never waits,
/// so this is a complete executor for it, and costs next to nothing.
///
/// The pinned future goes through `black_box` first, as a real executor polls a task through a
/// pointer: the compiler must not see the future being created next to its poll, or, where it
/// inlines both, it folds the state machine's resume points away for one plugin set and not for
/// another (depending on inlining heuristics), which never happens to a broker's tasks.
#[inline(never)]
pub(crate) fn poll_once<F: Future>(future: Pin<&mut F>) -> F::Output {
    match black_box(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the per-message plugin path never waits"),
    }
}

/// Declares plugins that implement no hook.
macro_rules! noop_plugins {
    ($($name:ident),+) => {$(
        /// A plugin that implements no hook.
        pub(crate) struct $name;

        impl Plugin for $name {
            const HOOKS: Hooks = Hooks::NONE;
        }
    )+};
}

noop_plugins!(NoopA, NoopB, NoopC);

/// (b): three plugins that implement no hook.
pub(crate) fn noop_plugins() -> (NoopA, NoopB, NoopC) {
    (NoopA, NoopB, NoopC)
}

/// Counts the messages clients publish (`on_broker_message_received`).
#[derive(Default)]
pub(crate) struct MessageCounter {
    messages: AtomicU64,
}

impl Plugin for MessageCounter {
    const HOOKS: Hooks = Hooks::MESSAGE_RECEIVED;

    async fn on_broker_message_received(&self, _client_id: &str, _message: &Publish) {
        self.messages.fetch_add(1, Ordering::Relaxed);
    }
}

/// Allows topics under a prefix and denies all others (`topic_filtering`).
pub(crate) struct TopicAcl {
    prefix: String,
}

impl Plugin for TopicAcl {
    const HOOKS: Hooks = Hooks::TOPIC_FILTERING;

    async fn topic_filtering(
        &self,
        _session: &SessionInfo,
        topic: &str,
        _action: Action,
    ) -> Verdict {
        Verdict::from(topic.starts_with(self.prefix.as_str()))
    }
}

/// Counts the PUBLISH packets received and sent (`on_mqtt_packet_received`, `on_mqtt_packet_sent`).
#[derive(Default)]
pub(crate) struct PacketCounter {
    received: AtomicU64,
    sent: AtomicU64,
}

impl Plugin for PacketCounter {
    const HOOKS: Hooks = Hooks::PACKET_RECEIVED.union(Hooks::PACKET_SENT);

    fn on_mqtt_packet_received(&self, packet: &Packet, _session: Option<&SessionInfo>) {
        if let Packet::Publish(_) = packet {
            self.received.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_mqtt_packet_sent(&self, packet: &Packet, _session: Option<&SessionInfo>) {
        if let Packet::Publish(_) = packet {
            self.sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The three plugins with real hooks.
fn three_plugins() -> (MessageCounter, TopicAcl, PacketCounter) {
    (
        MessageCounter::default(),
        TopicAcl {
            prefix: "site/".to_owned(),
        },
        PacketCounter::default(),
    )
}

/// (c): the three plugins with real hooks, as a tuple.
pub(crate) fn real_plugins() -> (MessageCounter, TopicAcl, PacketCounter) {
    three_plugins()
}

/// A boxed future, as an object-safe plugin trait must return.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An object-safe plugin trait, for the dynamic-dispatch yardstick only: every call is virtual,
/// every async hook allocates its future, and which hooks a plugin has is asked at run time.
pub(crate) trait DynPlugin: Send + Sync {
    /// The hooks this plugin implements.
    fn hook_set(&self) -> Hooks;
    /// `on_mqtt_packet_received`.
    fn packet_received(&self, packet: &Packet, session: Option<&SessionInfo>);
    /// `on_broker_message_received`.
    fn message_received<'a>(
        &'a self,
        client_id: &'a str,
        message: &'a Publish,
    ) -> BoxFuture<'a, ()>;
    /// `topic_filtering`.
    fn check_topic<'a>(
        &'a self,
        session: &'a SessionInfo,
        topic: &'a str,
        action: Action,
    ) -> BoxFuture<'a, Verdict>;
    /// `on_mqtt_packet_sent`.
    fn packet_sent(&self, packet: &Packet, session: Option<&SessionInfo>);
}

impl<P: Plugin> DynPlugin for P {
    fn hook_set(&self) -> Hooks {
        P::HOOKS
    }

    fn packet_received(&self, packet: &Packet, session: Option<&SessionInfo>) {
        self.on_mqtt_packet_received(packet, session);
    }

    fn message_received<'a>(
        &'a self,
        client_id: &'a str,
        message: &'a Publish,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.on_broker_message_received(client_id, message))
    }

    fn check_topic<'a>(
        &'a self,
        session: &'a SessionInfo,
        topic: &'a str,
        action: Action,
    ) -> BoxFuture<'a, Verdict> {
        Box::pin(self.topic_filtering(session, topic, action))
    }

    fn packet_sent(&self, packet: &Packet, session: Option<&SessionInfo>) {
        self.on_mqtt_packet_sent(packet, session);
    }
}

/// Plugins behind `Box<dyn DynPlugin>`: nothing is known at compile time, so the set claims every
/// hook and tests each plugin's hooks at run time, as aMQTT does.
pub(crate) struct DynPlugins(Vec<Box<dyn DynPlugin>>);

impl Plugin for DynPlugins {
    const HOOKS: Hooks = Hooks::ALL;

    fn on_mqtt_packet_received(&self, packet: &Packet, session: Option<&SessionInfo>) {
        for plugin in &self.0 {
            if plugin.hook_set().contains(Hooks::PACKET_RECEIVED) {
                plugin.packet_received(packet, session);
            }
        }
    }

    async fn on_broker_message_received(&self, client_id: &str, message: &Publish) {
        for plugin in &self.0 {
            if plugin.hook_set().contains(Hooks::MESSAGE_RECEIVED) {
                plugin.message_received(client_id, message).await;
            }
        }
    }

    async fn topic_filtering(&self, session: &SessionInfo, topic: &str, action: Action) -> Verdict {
        let mut verdict = Verdict::Abstain;
        for plugin in &self.0 {
            if plugin.hook_set().contains(Hooks::TOPIC_FILTERING) {
                if verdict == Verdict::Deny {
                    return verdict;
                }
                verdict = verdict.and(plugin.check_topic(session, topic, action).await);
            }
        }
        verdict
    }

    fn on_mqtt_packet_sent(&self, packet: &Packet, session: Option<&SessionInfo>) {
        for plugin in &self.0 {
            if plugin.hook_set().contains(Hooks::PACKET_SENT) {
                plugin.packet_sent(packet, session);
            }
        }
    }
}

/// (d): the three plugins of (c), each behind a `Box<dyn DynPlugin>`.
pub(crate) fn dyn_plugins() -> DynPlugins {
    let (counter, acl, packets) = three_plugins();
    DynPlugins(vec![Box::new(counter), Box::new(acl), Box::new(packets)])
}
