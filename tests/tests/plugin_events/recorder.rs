//! The recording plugin the event tests install, and how it formats each hook call.

use std::collections::BTreeMap;
use std::sync::Mutex;

use amqtt_core::codec::{Packet, Publish, QoS};
use amqtt_core::plugin::{
    Action, BrokerContext, FromConfig, Hooks, Plugin, PluginError, SessionInfo, Verdict,
};

/// The recorder's configuration (unused; a map so an empty section is valid).
pub(crate) type RecorderConfig = BTreeMap<String, u32>;

/// Writes down every hook call. Admits every client (`authenticate` says Allow) and abstains on
/// every topic question, so it changes nothing about the broker's behaviour.
#[derive(Default)]
pub(crate) struct Recorder {
    events: Mutex<Vec<String>>,
}

impl Recorder {
    pub(crate) fn push(&self, event: String) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event);
    }

    pub(crate) fn events(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// `topic qosN[ retain] payload` (an empty payload is `<empty>`).
pub(crate) fn message(p: &Publish) -> String {
    let payload = if p.payload.is_empty() {
        "<empty>".to_owned()
    } else {
        String::from_utf8_lossy(&p.payload).into_owned()
    };
    let retain = if p.retain { " retain" } else { "" };
    format!("{} qos{}{retain} {payload}", p.topic, p.qos as u8)
}

/// The client id of a session given to a packet hook, `none` without one.
pub(crate) fn who(session: Option<&SessionInfo>) -> &str {
    session.map_or("none", |s| &s.client_id)
}

/// ` session=<id>` when the session passed along does not belong to `client_id`.
pub(crate) fn mismatch(client_id: &str, session: &SessionInfo) -> String {
    if &*session.client_id == client_id {
        String::new()
    } else {
        format!(" session={}", session.client_id)
    }
}

impl Plugin for Recorder {
    const HOOKS: Hooks = Hooks::ALL;

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
    async fn on_broker_client_connected(&self, client_id: &str, session: &SessionInfo) {
        let extra = mismatch(client_id, session);
        self.push(format!("client_connected {client_id}{extra}"));
    }
    async fn on_broker_client_disconnected(&self, client_id: &str, session: &SessionInfo) {
        let extra = mismatch(client_id, session);
        self.push(format!("client_disconnected {client_id}{extra}"));
    }
    async fn on_broker_client_subscribed(&self, client_id: &str, topic: &str, qos: QoS) {
        self.push(format!(
            "client_subscribed {client_id} {topic} qos{}",
            qos as u8
        ));
    }
    async fn on_broker_client_unsubscribed(&self, client_id: &str, topic: &str) {
        self.push(format!("client_unsubscribed {client_id} {topic}"));
    }
    async fn on_broker_message_received(&self, client_id: &str, m: &Publish) {
        self.push(format!("message_received {client_id} {}", message(m)));
    }
    async fn on_broker_message_broadcast(&self, client_id: &str, m: &Publish) {
        self.push(format!("message_broadcast {client_id} {}", message(m)));
    }
    async fn on_broker_retained_message(&self, client_id: &str, m: &Publish) {
        self.push(format!("retained_message {client_id} {}", message(m)));
    }
    fn on_mqtt_packet_received(&self, packet: &Packet, session: Option<&SessionInfo>) {
        self.push(format!(
            "packet_received {} {}",
            packet.name(),
            who(session)
        ));
    }
    fn on_mqtt_packet_sent(&self, packet: &Packet, session: Option<&SessionInfo>) {
        self.push(format!("packet_sent {} {}", packet.name(), who(session)));
    }
    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        let user = session.username.as_deref().unwrap_or("none");
        self.push(format!("authenticate {} user={user}", session.client_id));
        Verdict::Allow
    }
    async fn topic_filtering(&self, session: &SessionInfo, topic: &str, action: Action) -> Verdict {
        self.push(format!(
            "topic_filtering {} {topic} {action:?}",
            session.client_id
        ));
        Verdict::Abstain
    }
    async fn close(&self) {
        self.push("close".into());
    }
}

impl FromConfig for Recorder {
    const NAME: &'static str = "recorder";
    type Config = RecorderConfig;
    fn build(_config: RecorderConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(Recorder::default())
    }
}
