//! [`Hooks`]: the set of hooks a plugin implements, known at compile time.

use std::fmt;

/// A set of plugin hooks, one bit each. `Plugin::HOOKS` is a constant of this type; the broker
/// tests it before every hook call, so a hook no plugin implements costs nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hooks(u32);

// A constant per hook, `ALL`, `NAMES` and `from_name`, from the one list of hooks (amqtt-macros'
// `hook_table`).
amqtt_macros::__hook_constants!();

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
        assert_eq!(Hooks::NAMES.len(), 20);
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
