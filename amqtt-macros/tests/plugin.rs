//! `#[plugin]` on plugins that compile: the constants it generates, `build`, and the hooks it
//! keeps callable.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use amqtt_core::codec::{Packet, Publish, QoS, ReasonCode};
use amqtt_core::config::PluginsSection;
use amqtt_core::plugin::{
    Action, AuthAnswer, AuthStep, BrokerContext, FromConfig, Hooks, Plugin, PluginError, Reload,
    SessionInfo, Verdict, known_plugin_names, plugin,
};

/// Runs a future that completes without waiting, as every hook here does.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the hook waited"),
    }
}

#[derive(Default)]
struct Quiet;

#[plugin(name = "quiet")]
impl Plugin for Quiet {}

#[test]
fn a_plugin_without_config_or_hooks() {
    assert_eq!(<Quiet as FromConfig>::NAME, "quiet");
    assert!(<Quiet as FromConfig>::ALIASES.is_empty());
    assert_eq!(<Quiet as Plugin>::HOOKS, Hooks::NONE);
    let _: <Quiet as FromConfig>::Config = ();
}

/// A config whose field has no serde default: an omitted section still builds from `Default`.
#[derive(serde::Deserialize, serde::Serialize)]
struct LimitConfig {
    max: u32,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig { max: 10 }
    }
}

struct Limit {
    max: u32,
}

#[plugin(name = "limit", alias = "amqtt.plugins.Limit", alias = "limits", config = LimitConfig)]
impl Plugin for Limit {
    fn build(config: LimitConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        if config.max == 0 {
            return Err(PluginError::new("max must be positive"));
        }
        Ok(Limit { max: config.max })
    }

    async fn topic_filtering(
        &self,
        _session: &SessionInfo,
        topic: &str,
        action: Action,
    ) -> Verdict {
        let deep = topic.split('/').count() > self.max as usize;
        Verdict::from(!(deep && action == Action::Publish))
    }
}

#[test]
fn a_plugin_with_config_and_aliases() {
    assert_eq!(<Limit as FromConfig>::NAME, "limit");
    assert_eq!(
        <Limit as FromConfig>::ALIASES,
        ["amqtt.plugins.Limit", "limits"]
    );
    assert_eq!(<Limit as Plugin>::HOOKS, Hooks::TOPIC_FILTERING);
    let config = <Limit as FromConfig>::Config::default();
    assert_eq!(config.max, 10);
    let limit = Limit { max: 2 };
    let session = SessionInfo::new("c");
    let deny = limit.topic_filtering(&session, "a/b/c", Action::Publish);
    assert_eq!(ready(deny), Verdict::Deny);
    let allow = limit.topic_filtering(&session, "a/b/c", Action::Subscribe);
    assert_eq!(ready(allow), Verdict::Allow);
}

/// A config where every field has a default.
#[derive(serde::Deserialize, serde::Serialize, Default)]
#[serde(default)]
struct GateConfig {
    allow_anonymous: bool,
}

struct Gate {
    allow_anonymous: bool,
}

#[plugin(name = "gate", config = GateConfig)]
impl Plugin for Gate {
    fn build(config: GateConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(Gate {
            allow_anonymous: config.allow_anonymous,
        })
    }

    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        Verdict::from(self.allow_anonymous || session.username.is_some())
    }
}

#[test]
fn hooks_are_exactly_the_ones_defined() {
    assert_eq!(<Gate as Plugin>::HOOKS, Hooks::AUTHENTICATE);
    let gate = Gate {
        allow_anonymous: false,
    };
    let anonymous = SessionInfo::new("c");
    assert_eq!(ready(gate.authenticate(&anonymous)), Verdict::Deny);
    let named = SessionInfo::new("c").with_credentials("u", None);
    assert_eq!(ready(gate.authenticate(&named)), Verdict::Allow);
    // The hooks it does not define keep the trait's defaults.
    assert_eq!(
        ready(gate.topic_filtering(&named, "t", Action::Publish)),
        Verdict::Abstain
    );
}

/// No config, but a `build` of its own.
struct Counter {
    start: u32,
}

#[plugin(name = "counter")]
impl Plugin for Counter {
    fn build(_config: (), _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(Counter { start: 1 })
    }

    fn on_mqtt_packet_received(&self, _packet: &Packet, _session: Option<&SessionInfo>) {}

    /// A hook written as a function returning a future.
    fn close(&self) -> impl Future<Output = ()> + Send {
        let start = self.start;
        async move {
            assert_eq!(start, 1);
        }
    }
}

#[test]
fn a_plugin_with_its_own_build_and_no_config() {
    assert_eq!(
        <Counter as Plugin>::HOOKS,
        Hooks::PACKET_RECEIVED.union(Hooks::CLOSE)
    );
    ready(Counter { start: 1 }.close());
}

#[test]
fn names_and_aliases_of_a_plugin_set() {
    let names = known_plugin_names::<(Quiet, (Option<Limit>, Gate))>();
    assert_eq!(
        names,
        ["quiet", "limit", "amqtt.plugins.Limit", "limits", "gate"]
    );
}

/// Every hook of the trait, each with its signature: also proves the macro's table agrees with
/// `Hooks::NAMES` (`HOOKS` is `Hooks::ALL` only if every hook maps to its own bit).
#[derive(Default)]
struct Everything;

#[plugin(name = "everything")]
impl Plugin for Everything {
    async fn on_broker_pre_start(&self) {}
    async fn on_broker_post_start(&self) {}
    async fn on_broker_pre_shutdown(&self) {}
    async fn on_broker_post_shutdown(&self) {}
    async fn on_broker_client_connected(&self, _client_id: &str, _session: &SessionInfo) {}
    async fn on_broker_client_disconnected(&self, _client_id: &str, _session: &SessionInfo) {}
    async fn on_broker_client_subscribed(&self, _client_id: &str, _topic: &str, _qos: QoS) {}
    async fn on_broker_client_unsubscribed(&self, _client_id: &str, _topic: &str) {}
    async fn on_broker_message_received(&self, _client_id: &str, _message: &Publish) {}
    async fn on_broker_message_broadcast(&self, _client_id: &str, _message: &Publish) {}
    async fn on_broker_retained_message(&self, _client_id: &str, _message: &Publish) {}
    fn on_mqtt_packet_received(&self, _packet: &Packet, _session: Option<&SessionInfo>) {}
    fn on_mqtt_packet_sent(&self, _packet: &Packet, _session: Option<&SessionInfo>) {}
    async fn authenticate(&self, _session: &SessionInfo) -> Verdict {
        Verdict::Allow
    }
    async fn authenticate_exchange(
        &self,
        _session: &SessionInfo,
        _method: &str,
        _data: Option<&[u8]>,
        _step: AuthStep<'_>,
    ) -> AuthAnswer {
        AuthAnswer::Success(None)
    }
    async fn topic_filtering(&self, _s: &SessionInfo, _topic: &str, _action: Action) -> Verdict {
        Verdict::Allow
    }
    async fn close(&self) {}
    async fn start(&self) -> Result<(), PluginError> {
        Ok(())
    }
    async fn check(&self) -> Result<(), PluginError> {
        Ok(())
    }
    async fn reload(&self, _plugins: &PluginsSection) -> Result<Reload<'_>, PluginError> {
        Ok(Reload::none())
    }
}

#[test]
fn all_twenty_hooks() {
    assert_eq!(<Everything as Plugin>::HOOKS, Hooks::ALL);
    assert_eq!(Hooks::NAMES.len(), 20);
}

/// Each hook alone sets its own bit, the one `Hooks::from_name` gives for its name.
macro_rules! one_hook_plugins {
    ($($ty:ident: $hook:ident $(-> $ret:ty)? { $($body:tt)* } ($($arg:ident: $arg_ty:ty),*) $($async:ident)?;)*) => {
        $(
            #[derive(Default)]
            struct $ty;

            #[plugin(name = "one")]
            impl Plugin for $ty {
                $($async)? fn $hook(&self, $($arg: $arg_ty),*) $(-> $ret)? { $($body)* }
            }
        )*

        #[test]
        fn each_hook_sets_its_own_bit() {
            $(
                let expected = Hooks::from_name(stringify!($hook)).expect("a hook name");
                assert_eq!(<$ty as Plugin>::HOOKS, expected, "{}", stringify!($hook));
            )*
        }
    };
}

one_hook_plugins! {
    PreStart: on_broker_pre_start {} () async;
    PostStart: on_broker_post_start {} () async;
    PreShutdown: on_broker_pre_shutdown {} () async;
    PostShutdown: on_broker_post_shutdown {} () async;
    Connected: on_broker_client_connected {} (_c: &str, _s: &SessionInfo) async;
    Disconnected: on_broker_client_disconnected {} (_c: &str, _s: &SessionInfo) async;
    Subscribed: on_broker_client_subscribed {} (_c: &str, _t: &str, _q: QoS) async;
    Unsubscribed: on_broker_client_unsubscribed {} (_c: &str, _t: &str) async;
    Received: on_broker_message_received {} (_c: &str, _m: &Publish) async;
    Broadcast: on_broker_message_broadcast {} (_c: &str, _m: &Publish) async;
    Retained: on_broker_retained_message {} (_c: &str, _m: &Publish) async;
    PacketIn: on_mqtt_packet_received {} (_p: &Packet, _s: Option<&SessionInfo>);
    PacketOut: on_mqtt_packet_sent {} (_p: &Packet, _s: Option<&SessionInfo>);
    Auth: authenticate -> Verdict { Verdict::Allow } (_s: &SessionInfo) async;
    Exchange: authenticate_exchange -> AuthAnswer { AuthAnswer::Abstain } (_s: &SessionInfo, _m: &str, _d: Option<&[u8]>, _t: AuthStep<'_>) async;
    Filter: topic_filtering -> Verdict { Verdict::Allow } (_s: &SessionInfo, _t: &str, _a: Action) async;
    Close: close {} () async;
    Start: start -> Result<(), PluginError> { Ok(()) } () async;
    Checks: check -> Result<(), PluginError> { Ok(()) } () async;
    Reloads: reload -> Result<Reload<'_>, PluginError> { Ok(Reload::none()) } (_p: &PluginsSection) async;
}

/// A hook behind `#[cfg]` counts only when it is compiled in.
#[derive(Default)]
struct Conditional;

#[plugin(name = "conditional")]
impl Plugin for Conditional {
    #[cfg(not(test))]
    async fn close(&self) {}

    #[cfg(test)]
    async fn on_broker_pre_start(&self) {}
}

#[test]
fn cfg_hooks() {
    assert_eq!(<Conditional as Plugin>::HOOKS, Hooks::BROKER_PRE_START);
}

/// Answers the enhanced authentication method it is named after, with a fixed answer.
struct Method(&'static str, AuthAnswer);

#[plugin(name = "method")]
impl Plugin for Method {
    fn build(_config: (), _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(Method("none", AuthAnswer::Abstain))
    }

    async fn authenticate_exchange(
        &self,
        _session: &SessionInfo,
        method: &str,
        _data: Option<&[u8]>,
        _step: AuthStep<'_>,
    ) -> AuthAnswer {
        if method == self.0 {
            self.1.clone()
        } else {
            AuthAnswer::Abstain
        }
    }
}

#[test]
fn the_first_plugin_that_knows_the_method_answers() {
    let refused = AuthAnswer::refuse(ReasonCode::BadUserNameOrPassword, "no");
    let set = (
        Quiet,
        Method("A", AuthAnswer::Success(None)),
        Some(Method("B", refused.clone())),
        Method("B", AuthAnswer::Success(None)),
    );
    assert!(<(Quiet, Method) as Plugin>::HOOKS.contains(Hooks::AUTHENTICATE_EXCHANGE));
    let session = SessionInfo::new("c");
    let step = AuthStep {
        reauthentication: false,
        history: &[],
    };
    let ask = |method| ready(set.authenticate_exchange(&session, method, None, step));
    assert_eq!(ask("A"), AuthAnswer::Success(None));
    assert_eq!(ask("B"), refused);
    assert_eq!(ask("C"), AuthAnswer::Abstain);
    assert_eq!(
        ready(Quiet.authenticate_exchange(&session, "A", None, step)),
        AuthAnswer::Abstain,
        "a plugin without the hook abstains"
    );
}
