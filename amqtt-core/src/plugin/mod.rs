//! Plugins: the [`Plugin`] trait the broker is generic over, composed at compile time.
//!
//! A plugin is a type. A broker over `(Auth, Acl, Logger)` calls each hook of each member in
//! tuple order; every call is monomorphized, and a call site whose hook no member implements is
//! removed by the compiler (the broker tests the constant [`Plugin::HOOKS`] first).
//! Tuples nest, so a named tuple is a plugin group, and `Option<P>` is a plugin that is on only
//! when its configuration section is present.
//!
//! Hooks run in the connection's task: they must not block, and a plugin with slow I/O hands the
//! work to a task of its own.

/// Calls `$m!` for every prefix of the list: arities 1 to 16.
macro_rules! for_each_arity {
    ($m:ident; $($T:ident $i:tt),+) => {
        for_each_arity!(@step $m; []; $($T $i),+);
    };
    (@step $m:ident; [$($done:tt)*]; $T:ident $i:tt $(, $rest:ident $ri:tt)*) => {
        $m!($($done)* $T $i);
        for_each_arity!(@step $m; [$($done)* $T $i,]; $($rest $ri),*);
    };
    (@step $m:ident; [$($done:tt)*];) => {};
}

mod attributes;
mod build;
mod context;
mod exchange;
mod hooks;
mod reload;
mod tuple;

pub use amqtt_macros::plugin;
pub use attributes::SessionAttributes;
pub use build::{
    BuildPlugins, FromConfig, PluginConfig, PluginError, PluginKeys, known_plugin_names,
    plugin_members,
};
pub(crate) use build::{build_plugin_set, check_known_keys, insert_effective};
pub use context::{BrokerContext, ContextError, SessionInfo, SessionSummary, SessionTotals};
pub use exchange::{AuthAnswer, AuthStep};
pub use hooks::Hooks;
pub use reload::{Reload, Swappable};

use crate::codec::{Packet, Publish, QoS, ReasonCode};
use crate::config::PluginsSection;

/// A plugin's answer to an authentication or topic-filtering question (aMQTT's True/False/None).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Verdict {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
    /// No opinion: the other plugins decide.
    #[default]
    Abstain,
    /// Denied, saying why to an MQTT 5.0 client: a Deny with a reason code and reason string
    /// (a 3.1.1 client sees a plain Deny).
    Refuse(Refusal),
}

/// Why a plugin refused: the reason code and reason string an MQTT 5.0 client gets in the
/// CONNACK (authentication) or SUBACK (subscribe). A code the packet cannot carry, or one that
/// is not a failure, is sent as 0x87 Not authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Refusal {
    /// The reason code, e.g. [`ReasonCode::Banned`] or [`ReasonCode::QuotaExceeded`].
    pub reason: ReasonCode,
    /// A human-readable reason, sent as the Reason String property.
    pub reason_string: Option<&'static str>,
}

impl Verdict {
    /// A refusal with `reason` and `reason_string`.
    pub const fn refuse(reason: ReasonCode, reason_string: &'static str) -> Verdict {
        Verdict::Refuse(Refusal {
            reason,
            reason_string: Some(reason_string),
        })
    }

    /// Combines two plugins' answers: any Deny or Refuse denies (the first one is kept),
    /// otherwise any Allow allows.
    pub const fn and(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Deny | Verdict::Refuse(_), _) => self,
            (_, Verdict::Deny | Verdict::Refuse(_)) => other,
            (Verdict::Allow, _) | (_, Verdict::Allow) => Verdict::Allow,
            _ => Verdict::Abstain,
        }
    }

    /// The broker's authentication rule: at least one plugin allowed and none denied.
    pub const fn admits(self) -> bool {
        matches!(self, Verdict::Allow)
    }

    /// The broker's topic rule: any Deny denies, all-Abstain allows.
    pub const fn permits(self) -> bool {
        !matches!(self, Verdict::Deny | Verdict::Refuse(_))
    }

    /// The refusal a Refuse carries.
    pub const fn refusal(self) -> Option<Refusal> {
        match self {
            Verdict::Refuse(refusal) => Some(refusal),
            _ => None,
        }
    }
}

impl Refusal {
    /// The reason code to send in a `kind` packet: this one when that packet may carry it as a
    /// failure, else 0x87 Not authorized.
    pub fn reason_in(self, kind: crate::codec::PacketKind) -> ReasonCode {
        if self.reason.is_error() && self.reason.allowed_in(kind) {
            self.reason
        } else {
            ReasonCode::NotAuthorized
        }
    }
}

impl From<bool> for Verdict {
    fn from(allowed: bool) -> Verdict {
        if allowed {
            Verdict::Allow
        } else {
            Verdict::Deny
        }
    }
}

impl From<Option<bool>> for Verdict {
    fn from(answer: Option<bool>) -> Verdict {
        answer.map_or(Verdict::Abstain, Verdict::from)
    }
}

/// What a client wants to do with a topic, for [`Plugin::topic_filtering`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Subscribe to a topic filter.
    Subscribe,
    /// Publish to a topic name.
    Publish,
    /// Receive a message published to a topic name (checked per subscriber at fan-out).
    Receive,
}

/// A broker plugin: every hook defaults to a no-op.
///
/// Write plugins with `#[plugin]` (crate `amqtt-macros`), which sets [`Plugin::HOOKS`] to exactly
/// the hooks the impl defines. A hand-written impl keeps the default, [`Hooks::ALL`], so none of
/// its hooks is ever skipped.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a broker plugin",
    label = "not a plugin",
    note = "write `#[plugin(name = \"...\")] impl Plugin for {Self} {{ ... }}`, or compose plugins as a tuple"
)]
pub trait Plugin: Send + Sync + 'static {
    /// The hooks this plugin implements; the broker calls no other.
    const HOOKS: Hooks = Hooks::ALL;

    /// The hooks this value has switched on at run time: [`Plugin::HOOKS`] unless the value
    /// turns members off (an `Option` that is `None` has none; a tuple has its members'). The
    /// broker skips a per-message hook that no member has on.
    fn active_hooks(&self) -> Hooks {
        Self::HOOKS
    }

    // Every hook, with its documentation and a default that does nothing, from the one list
    // of hooks (amqtt-macros' `hook_table`): the per-connection events, `authenticate`,
    // `authenticate_exchange` and `topic_filtering` (answering Abstain), the broker lifecycle,
    // and `start` (answering Ok).
    amqtt_macros::__plugin_trait_hooks!();
}
