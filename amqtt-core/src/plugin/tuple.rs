//! `Plugin` for `()`, `Option<P>` and tuples of up to 16 plugins (one arity-driver macro).
//!
//! A tuple calls each member's hook in order, but only members whose `HOOKS` contain it: the
//! test is on a constant, so the compiler keeps exactly the calls that do something.

use super::{Action, Hooks, Plugin, PluginError, SessionInfo, Verdict};
use crate::codec::{Packet, Publish, QoS};

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

    async fn on_broker_pre_start(&self) {
        if let Some(p) = self {
            p.on_broker_pre_start().await;
        }
    }
    async fn on_broker_post_start(&self) {
        if let Some(p) = self {
            p.on_broker_post_start().await;
        }
    }
    async fn on_broker_pre_shutdown(&self) {
        if let Some(p) = self {
            p.on_broker_pre_shutdown().await;
        }
    }
    async fn on_broker_post_shutdown(&self) {
        if let Some(p) = self {
            p.on_broker_post_shutdown().await;
        }
    }
    async fn on_broker_client_connected(&self, client_id: &str, session: &SessionInfo) {
        if let Some(p) = self {
            p.on_broker_client_connected(client_id, session).await;
        }
    }
    async fn on_broker_client_disconnected(&self, client_id: &str, session: &SessionInfo) {
        if let Some(p) = self {
            p.on_broker_client_disconnected(client_id, session).await;
        }
    }
    async fn on_broker_client_subscribed(&self, client_id: &str, topic: &str, qos: QoS) {
        if let Some(p) = self {
            p.on_broker_client_subscribed(client_id, topic, qos).await;
        }
    }
    async fn on_broker_client_unsubscribed(&self, client_id: &str, topic: &str) {
        if let Some(p) = self {
            p.on_broker_client_unsubscribed(client_id, topic).await;
        }
    }
    async fn on_broker_message_received(&self, client_id: &str, message: &Publish) {
        if let Some(p) = self {
            p.on_broker_message_received(client_id, message).await;
        }
    }
    async fn on_broker_message_broadcast(&self, client_id: &str, message: &Publish) {
        if let Some(p) = self {
            p.on_broker_message_broadcast(client_id, message).await;
        }
    }
    async fn on_broker_retained_message(&self, client_id: &str, message: &Publish) {
        if let Some(p) = self {
            p.on_broker_retained_message(client_id, message).await;
        }
    }
    fn on_mqtt_packet_received(&self, packet: &Packet, session: Option<&SessionInfo>) {
        if let Some(p) = self {
            p.on_mqtt_packet_received(packet, session);
        }
    }
    fn on_mqtt_packet_sent(&self, packet: &Packet, session: Option<&SessionInfo>) {
        if let Some(p) = self {
            p.on_mqtt_packet_sent(packet, session);
        }
    }
    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        match self {
            Some(p) => p.authenticate(session).await,
            None => Verdict::Abstain,
        }
    }
    async fn topic_filtering(&self, session: &SessionInfo, topic: &str, action: Action) -> Verdict {
        match self {
            Some(p) => p.topic_filtering(session, topic, action).await,
            None => Verdict::Abstain,
        }
    }
    async fn close(&self) {
        if let Some(p) = self {
            p.close().await;
        }
    }
    async fn start(&self) -> Result<(), PluginError> {
        match self {
            Some(p) => p.start().await,
            None => Ok(()),
        }
    }
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

            async fn on_broker_pre_start(&self) {
                $(if $T::HOOKS.contains(Hooks::BROKER_PRE_START) { self.$i.on_broker_pre_start().await; })+
            }
            async fn on_broker_post_start(&self) {
                $(if $T::HOOKS.contains(Hooks::BROKER_POST_START) { self.$i.on_broker_post_start().await; })+
            }
            async fn on_broker_pre_shutdown(&self) {
                $(if $T::HOOKS.contains(Hooks::BROKER_PRE_SHUTDOWN) { self.$i.on_broker_pre_shutdown().await; })+
            }
            async fn on_broker_post_shutdown(&self) {
                $(if $T::HOOKS.contains(Hooks::BROKER_POST_SHUTDOWN) { self.$i.on_broker_post_shutdown().await; })+
            }
            async fn on_broker_client_connected(&self, client_id: &str, session: &SessionInfo) {
                $(if $T::HOOKS.contains(Hooks::CLIENT_CONNECTED) {
                    self.$i.on_broker_client_connected(client_id, session).await;
                })+
            }
            async fn on_broker_client_disconnected(&self, client_id: &str, session: &SessionInfo) {
                $(if $T::HOOKS.contains(Hooks::CLIENT_DISCONNECTED) {
                    self.$i.on_broker_client_disconnected(client_id, session).await;
                })+
            }
            async fn on_broker_client_subscribed(&self, client_id: &str, topic: &str, qos: QoS) {
                $(if $T::HOOKS.contains(Hooks::CLIENT_SUBSCRIBED) {
                    self.$i.on_broker_client_subscribed(client_id, topic, qos).await;
                })+
            }
            async fn on_broker_client_unsubscribed(&self, client_id: &str, topic: &str) {
                $(if $T::HOOKS.contains(Hooks::CLIENT_UNSUBSCRIBED) {
                    self.$i.on_broker_client_unsubscribed(client_id, topic).await;
                })+
            }
            async fn on_broker_message_received(&self, client_id: &str, message: &Publish) {
                $(if $T::HOOKS.contains(Hooks::MESSAGE_RECEIVED) {
                    self.$i.on_broker_message_received(client_id, message).await;
                })+
            }
            async fn on_broker_message_broadcast(&self, client_id: &str, message: &Publish) {
                $(if $T::HOOKS.contains(Hooks::MESSAGE_BROADCAST) {
                    self.$i.on_broker_message_broadcast(client_id, message).await;
                })+
            }
            async fn on_broker_retained_message(&self, client_id: &str, message: &Publish) {
                $(if $T::HOOKS.contains(Hooks::RETAINED_MESSAGE) {
                    self.$i.on_broker_retained_message(client_id, message).await;
                })+
            }
            fn on_mqtt_packet_received(&self, packet: &Packet, session: Option<&SessionInfo>) {
                $(if $T::HOOKS.contains(Hooks::PACKET_RECEIVED) { self.$i.on_mqtt_packet_received(packet, session); })+
            }
            fn on_mqtt_packet_sent(&self, packet: &Packet, session: Option<&SessionInfo>) {
                $(if $T::HOOKS.contains(Hooks::PACKET_SENT) { self.$i.on_mqtt_packet_sent(packet, session); })+
            }
            async fn authenticate(&self, session: &SessionInfo) -> Verdict {
                let mut verdict = Verdict::Abstain;
                $(if $T::HOOKS.contains(Hooks::AUTHENTICATE) {
                    verdict = verdict.and(self.$i.authenticate(session).await);
                })+
                verdict
            }
            async fn topic_filtering(&self, session: &SessionInfo, topic: &str, action: Action) -> Verdict {
                let mut verdict = Verdict::Abstain;
                $(if $T::HOOKS.contains(Hooks::TOPIC_FILTERING) {
                    // Any Deny decides: the remaining members need not be asked.
                    if verdict == Verdict::Deny {
                        return verdict;
                    }
                    verdict = verdict.and(self.$i.topic_filtering(session, topic, action).await);
                })+
                verdict
            }
            async fn close(&self) {
                $(if $T::HOOKS.contains(Hooks::CLOSE) { self.$i.close().await; })+
            }
            async fn start(&self) -> Result<(), PluginError> {
                $(if $T::HOOKS.contains(Hooks::START) { self.$i.start().await?; })+
                Ok(())
            }
        }
    };
}

for_each_arity!(impl_tuple; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15);
