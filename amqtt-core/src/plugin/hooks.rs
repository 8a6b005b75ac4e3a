//! [`Hooks`]: the set of hooks a plugin implements, known at compile time.

use std::fmt;

/// A set of plugin hooks, one bit each. `Plugin::HOOKS` is a constant of this type; the broker
/// tests it before every hook call, so a hook no plugin implements costs nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hooks(u32);

macro_rules! hooks {
    ($($(#[$doc:meta])* $name:ident = $bit:literal, $method:literal;)*) => {
        impl Hooks {
            $($(#[$doc])* pub const $name: Hooks = Hooks(1 << $bit);)*

            /// Every hook.
            pub const ALL: Hooks = Hooks(0 $(| (1 << $bit))*);

            /// The hook method names, in bit order: what `#[plugin]` accepts.
            pub const NAMES: &'static [&'static str] = &[$($method),*];

            /// The hook whose method is called `method`.
            pub const fn from_name(method: &str) -> Option<Hooks> {
                $(if const_str_eq(method, $method) { return Some(Hooks::$name); })*
                None
            }
        }
    };
}

hooks! {
    /// `on_broker_pre_start`.
    BROKER_PRE_START = 0, "on_broker_pre_start";
    /// `on_broker_post_start`.
    BROKER_POST_START = 1, "on_broker_post_start";
    /// `on_broker_pre_shutdown`.
    BROKER_PRE_SHUTDOWN = 2, "on_broker_pre_shutdown";
    /// `on_broker_post_shutdown`.
    BROKER_POST_SHUTDOWN = 3, "on_broker_post_shutdown";
    /// `on_broker_client_connected`.
    CLIENT_CONNECTED = 4, "on_broker_client_connected";
    /// `on_broker_client_disconnected`.
    CLIENT_DISCONNECTED = 5, "on_broker_client_disconnected";
    /// `on_broker_client_subscribed`.
    CLIENT_SUBSCRIBED = 6, "on_broker_client_subscribed";
    /// `on_broker_client_unsubscribed`.
    CLIENT_UNSUBSCRIBED = 7, "on_broker_client_unsubscribed";
    /// `on_broker_message_received`.
    MESSAGE_RECEIVED = 8, "on_broker_message_received";
    /// `on_broker_message_broadcast`.
    MESSAGE_BROADCAST = 9, "on_broker_message_broadcast";
    /// `on_broker_retained_message`.
    RETAINED_MESSAGE = 10, "on_broker_retained_message";
    /// `on_mqtt_packet_received`.
    PACKET_RECEIVED = 11, "on_mqtt_packet_received";
    /// `on_mqtt_packet_sent`.
    PACKET_SENT = 12, "on_mqtt_packet_sent";
    /// `authenticate`.
    AUTHENTICATE = 13, "authenticate";
    /// `topic_filtering`.
    TOPIC_FILTERING = 14, "topic_filtering";
    /// `close`.
    CLOSE = 15, "close";
    /// `start`.
    START = 16, "start";
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl Hooks {
    /// No hook.
    pub const NONE: Hooks = Hooks(0);

    /// Both sets.
    pub const fn union(self, other: Hooks) -> Hooks {
        Hooks(self.0 | other.0)
    }

    /// Whether every hook of `other` is in `self`.
    pub const fn contains(self, other: Hooks) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = Hooks::NAMES
            .iter()
            .enumerate()
            .filter(|(bit, _)| self.0 & (1 << bit) != 0)
            .map(|(_, name)| name);
        f.debug_set().entries(names).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Hooks;

    #[test]
    fn names_map_to_their_bits() {
        assert_eq!(Hooks::from_name("authenticate"), Some(Hooks::AUTHENTICATE));
        assert_eq!(Hooks::from_name("on_conect"), None);
        assert_eq!(Hooks::NAMES.len(), 17);
        for name in Hooks::NAMES {
            let hook = Hooks::from_name(name).expect("every listed name maps");
            assert!(Hooks::ALL.contains(hook));
        }
    }

    #[test]
    fn union_and_contains() {
        let set = Hooks::CLOSE.union(Hooks::AUTHENTICATE);
        assert!(set.contains(Hooks::CLOSE));
        assert!(!set.contains(Hooks::TOPIC_FILTERING));
        assert!(Hooks::NONE.is_empty());
        assert_eq!(format!("{set:?}"), r#"{"authenticate", "close"}"#);
    }
}
