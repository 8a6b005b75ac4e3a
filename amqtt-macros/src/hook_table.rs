//! The list of plugin hooks, written once. Everything else is generated from it: the `Hooks`
//! constants, the hook methods of the `Plugin` trait with their defaults, the forwarding of
//! `Option<P>` and of tuples (`hook_items`), and the checks of `#[plugin]` (`validate`).

/// How a set of plugins combines its members' answers to a hook.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combine {
    /// Every member is called; nothing is returned.
    Each,
    /// `Verdict`s combined with `Verdict::and`: any Deny denies, otherwise any Allow allows.
    Verdicts,
    /// As `Verdicts`, but the members after a Deny are not asked.
    VerdictsUntilDeny,
    /// `Result<(), PluginError>`: the first error stops the rest and is returned.
    UntilError,
    /// `AuthAnswer`: the first member that does not abstain answers; the rest are not asked.
    FirstAnswer,
    /// `Result<Reload<'_>, PluginError>`: every member stages its changes, which are joined;
    /// the first error stops the rest and drops what was staged.
    Staged,
}

impl Combine {
    /// The hook's return type, as written in `amqtt_core::plugin`; `None` for `()`.
    pub(crate) const fn returns(self) -> Option<&'static str> {
        match self {
            Combine::Each => None,
            Combine::Verdicts | Combine::VerdictsUntilDeny => Some("Verdict"),
            Combine::UntilError => Some("Result<(), PluginError>"),
            Combine::FirstAnswer => Some("AuthAnswer"),
            Combine::Staged => Some("Result<Reload<'_>, PluginError>"),
        }
    }

    /// What a plugin that does not implement the hook answers, as an expression.
    pub(crate) const fn default_answer(self) -> &'static str {
        match self {
            Combine::Each => "()",
            Combine::Verdicts | Combine::VerdictsUntilDeny => "Verdict::Abstain",
            Combine::UntilError => "Ok(())",
            Combine::FirstAnswer => "AuthAnswer::Abstain",
            Combine::Staged => "Ok(Reload::none())",
        }
    }
}

/// One hook of `amqtt_core::plugin::Plugin`.
pub(crate) struct HookSpec {
    /// The method name.
    pub(crate) name: &'static str,
    /// The `Hooks` constant for it; its bit is its index in [`HOOK_TABLE`].
    pub(crate) constant: &'static str,
    /// Its parameters after `&self`: name and type, as in `amqtt_core::plugin`.
    pub(crate) params: &'static [(&'static str, &'static str)],
    /// Whether it is an `async fn` (the per-packet hooks are not).
    pub(crate) is_async: bool,
    /// How a plugin set combines its members' answers (and so what it returns).
    pub(crate) combine: Combine,
    /// The method's documentation.
    pub(crate) doc: &'static str,
}

impl HookSpec {
    /// Its return type, when it returns something.
    pub(crate) const fn returns(&self) -> Option<&'static str> {
        self.combine.returns()
    }
}

/// An async hook that returns nothing.
const fn event(
    name: &'static str,
    constant: &'static str,
    params: &'static [(&'static str, &'static str)],
    doc: &'static str,
) -> HookSpec {
    HookSpec {
        name,
        constant,
        params,
        is_async: true,
        combine: Combine::Each,
        doc,
    }
}

const CLIENT_SESSION: &[(&str, &str)] = &[("client_id", "&str"), ("session", "&SessionInfo")];
const CLIENT_MESSAGE: &[(&str, &str)] = &[("client_id", "&str"), ("message", "&Publish")];
const PACKET_SESSION: &[(&str, &str)] =
    &[("packet", "&Packet"), ("session", "Option<&SessionInfo>")];

/// Every hook, in bit order.
pub(crate) const HOOK_TABLE: &[HookSpec] = &[
    event(
        "on_broker_pre_start",
        "BROKER_PRE_START",
        &[],
        "Before the listeners start accepting.",
    ),
    event(
        "on_broker_post_start",
        "BROKER_POST_START",
        &[],
        "After the listeners started accepting.",
    ),
    event(
        "on_broker_pre_shutdown",
        "BROKER_PRE_SHUTDOWN",
        &[],
        "When shutdown begins, before connections are closed.",
    ),
    event(
        "on_broker_post_shutdown",
        "BROKER_POST_SHUTDOWN",
        &[],
        "After every connection has ended.",
    ),
    event(
        "on_broker_client_connected",
        "CLIENT_CONNECTED",
        CLIENT_SESSION,
        "A client was accepted (CONNACK 0x00 queued).",
    ),
    event(
        "on_broker_client_disconnected",
        "CLIENT_DISCONNECTED",
        CLIENT_SESSION,
        "A client's connection ended (after its will, if any, was published).",
    ),
    event(
        "on_broker_client_subscribed",
        "CLIENT_SUBSCRIBED",
        &[("client_id", "&str"), ("topic", "&str"), ("qos", "QoS")],
        "A subscription was granted (after the SUBACK was queued).",
    ),
    event(
        "on_broker_client_unsubscribed",
        "CLIENT_UNSUBSCRIBED",
        &[("client_id", "&str"), ("topic", "&str")],
        "A subscription was removed by UNSUBSCRIBE.",
    ),
    event(
        "on_broker_message_received",
        "MESSAGE_RECEIVED",
        CLIENT_MESSAGE,
        "Every PUBLISH received from a client, before validation and the publish check.",
    ),
    event(
        "on_broker_message_broadcast",
        "MESSAGE_BROADCAST",
        CLIENT_MESSAGE,
        "A message accepted for routing (after validation and the publish check).",
    ),
    event(
        "on_broker_retained_message",
        "RETAINED_MESSAGE",
        CLIENT_MESSAGE,
        "A retained message was stored or (empty payload) cleared, or a QoS 1/2 message was \
         queued for an offline client (`client_id` is then that client's).",
    ),
    HookSpec {
        is_async: false,
        ..event(
            "on_mqtt_packet_received",
            "PACKET_RECEIVED",
            PACKET_SESSION,
            "Every packet decoded from a peer. Synchronous: it runs once per packet.",
        )
    },
    HookSpec {
        is_async: false,
        ..event(
            "on_mqtt_packet_sent",
            "PACKET_SENT",
            PACKET_SESSION,
            "Every packet about to be written to a peer. Synchronous: it runs once per packet.",
        )
    },
    HookSpec {
        combine: Combine::Verdicts,
        ..event(
            "authenticate",
            "AUTHENTICATE",
            &[("session", "&SessionInfo")],
            "Whether a connecting client may connect (user name, password, certificate...). Not \
             asked for a client that authenticated by method ([`Plugin::authenticate_exchange`]).",
        )
    },
    HookSpec {
        combine: Combine::FirstAnswer,
        ..event(
            "authenticate_exchange",
            "AUTHENTICATE_EXCHANGE",
            &[
                ("session", "&SessionInfo"),
                ("method", "&str"),
                ("data", "Option<&[u8]>"),
                ("step", "AuthStep<'_>"),
            ],
            "One step of an MQTT 5.0 enhanced authentication (a CONNECT or AUTH with the \
             Authentication Method `method` and Authentication Data `data`): continue with a \
             challenge, admit, refuse, or abstain for a method this plugin does not know. \
             `step` holds what was exchanged before, so a plugin keeps no state per exchange. \
             The first plugin that does not abstain answers; when all abstain the client gets \
             0x8C Bad authentication method. A client admitted this way is not asked \
             [`Plugin::authenticate`].",
        )
    },
    HookSpec {
        combine: Combine::VerdictsUntilDeny,
        ..event(
            "topic_filtering",
            "TOPIC_FILTERING",
            &[
                ("session", "&SessionInfo"),
                ("topic", "&str"),
                ("action", "Action"),
            ],
            "Whether a client may subscribe to, publish to, or receive from `topic`.",
        )
    },
    event(
        "close",
        "CLOSE",
        &[],
        "The broker is stopping for good: release resources. Called after \
         `on_broker_post_shutdown`.",
    ),
    HookSpec {
        combine: Combine::UntilError,
        ..event(
            "start",
            "START",
            &[],
            "Once, while the broker binds: after every plugin is built, before any listener is \
             bound. Connect to backends and check what only a running system can tell (a server \
             that does not answer, a schema that is missing). An error stops the broker: \
             `Broker::bind` fails with it. Name the plugin in it with [`PluginError::named`].",
        )
    },
    HookSpec {
        combine: Combine::UntilError,
        ..event(
            "check",
            "CHECK",
            &[],
            "Once, when a configuration is checked (`amqtt --check-config`, `Broker::check`): \
             after every plugin is built, in place of [`Plugin::start`], which is not called. \
             Check what `start` would need without taking anything a running broker may hold: \
             that an address of the plugin's own resolves (bind nothing), that a file it reads \
             is there. An error fails the check as it would fail `Broker::bind`. Name the \
             plugin in it with [`PluginError::named`].",
        )
    },
    HookSpec {
        combine: Combine::Staged,
        ..event(
            "reload",
            "RELOAD",
            &[("plugins", "&PluginsSection")],
            "Hot reload (the stock broker's SIGHUP, `BrokerHandle::reload`): re-read the files \
             this plugin loaded (password files, ACLs, keys...) and, where it supports it, its \
             section of the new configuration's `plugins` (`plugins.config_of::<Self>()`); \
             check them, and return what puts them in place without changing anything yet. \
             The broker commits every plugin's [`Reload`] only when all of them, and every TLS \
             listener, reloaded without error; an error keeps the old state everywhere and is \
             logged. Name the plugin in it with [`PluginError::named`]. Read files on a \
             blocking thread (`tokio::task::spawn_blocking`) and log what was loaded inside the \
             `Reload`, which runs only on commit. Not called when the new section adds or \
             removes a plugin: that reload is refused.",
        )
    },
];

/// The hook whose method is called `name`.
pub(crate) fn lookup(name: &str) -> Option<&'static HookSpec> {
    HOOK_TABLE.iter().find(|h| h.name == name)
}

impl HookSpec {
    /// The hook as it must be written, for error messages.
    pub(crate) fn signature(&self) -> String {
        let asyncness = if self.is_async { "async " } else { "" };
        let params = std::iter::once("&self".to_owned())
            .chain(self.params.iter().map(|(name, ty)| format!("{name}: {ty}")))
            .collect::<Vec<_>>()
            .join(", ");
        let returns = self
            .returns()
            .map(|r| format!(" -> {r}"))
            .unwrap_or_default();
        format!("{asyncness}fn {}({params}){returns}", self.name)
    }
}
