//! `Plugin` for `()`, `Option<P>` and tuples of up to 16 plugins (one arity-driver macro).
//!
//! A tuple calls each member's hook in order, but only members whose `HOOKS` contain it: the
//! test is on a constant, so the compiler keeps exactly the calls that do something.

use super::{
    Action, AuthAnswer, AuthStep, Hooks, Plugin, PluginError, Reload, SessionInfo, Verdict,
};
use crate::codec::{Packet, Publish, QoS};
use crate::config::PluginsSection;

impl Plugin for () {
    const HOOKS: Hooks = Hooks::NONE;
}

impl<P: Plugin> Plugin for Option<P> {
    const HOOKS: Hooks = P::HOOKS;

    fn active_hooks(&self) -> Hooks {
        match self {
            Some(p) => p.active_hooks(),
            None => Hooks::NONE,
        }
    }

    amqtt_macros::__option_hooks!();
}

/// Implements `Plugin` for one tuple arity: `impl_tuple!(A 0, B 1, ...)`.
macro_rules! impl_tuple {
    ($($T:ident $i:tt),+) => {
        #[diagnostic::do_not_recommend]
        impl<$($T: Plugin),+> Plugin for ($($T,)+) {
            const HOOKS: Hooks = Hooks::NONE $(.union($T::HOOKS))+;

            fn active_hooks(&self) -> Hooks {
                Hooks::NONE $(.union(self.$i.active_hooks()))+
            }

            amqtt_macros::__tuple_hooks!($($T $i),+);
        }
    };
}

for_each_arity!(impl_tuple; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15);
