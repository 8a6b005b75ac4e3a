use amqtt_core::codec::Packet;
use amqtt_core::plugin::{Action, Plugin, SessionInfo, Verdict, plugin};

#[derive(Default)]
struct Wrong;

#[plugin(name = "wrong")]
impl Plugin for Wrong {
    // Not async.
    fn authenticate(&self, _session: &SessionInfo) -> Verdict {
        Verdict::Allow
    }

    // A parameter missing.
    async fn topic_filtering(&self, _session: &SessionInfo, _topic: &str) -> Verdict {
        Verdict::Allow
    }

    // No `&self`.
    async fn close() {}

    // `&mut self`.
    async fn on_broker_pre_start(&mut self) {}

    // The per-packet hooks are synchronous.
    async fn on_mqtt_packet_sent(&self, _packet: &Packet, _session: Option<&SessionInfo>) {}

    // Returns a value from a hook that returns nothing.
    async fn on_broker_post_start(&self) -> Verdict {
        Verdict::Allow
    }

    // Written by #[plugin].
    const HOOKS: amqtt_core::plugin::Hooks = amqtt_core::plugin::Hooks::ALL;
}

fn main() {
    let _ = Action::Publish;
    let _ = <Wrong as Plugin>::HOOKS;
}
