//! The recording plugin the event tests install, and the checker that compares its log with
//! the expected events step by step (the order rules are in `plugin_events.rs`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use amqtt_core::codec::{ByteString, ConnAck, ConnectReturnCode, Packet, Publish, QoS};
use amqtt_core::plugin::{
    Action, BrokerContext, FromConfig, Hooks, Plugin, PluginError, SessionInfo, Verdict,
};
use amqtt_tests::{RECV_TIMEOUT, RawClient, TestBroker, connect_packet};

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

pub(crate) fn is_sent(event: &str) -> bool {
    event.starts_with("packet_sent ")
}

pub(crate) fn is_receive_check(event: &str) -> bool {
    event.starts_with("topic_filtering ") && event.ends_with(" Receive")
}

/// The client a `packet_sent` event is for (its last word).
pub(crate) fn sent_to(event: &str) -> &str {
    event.rsplit(' ').next().unwrap_or("")
}

/// Whether the non-sent events `i < j` of `expected` are `Receive` checks of one fan-out:
/// every non-sent event from `i` to `j` is a `Receive` check.
pub(crate) fn same_fan_out(expected: &[&str], i: usize, j: usize) -> bool {
    expected[i..=j]
        .iter()
        .filter(|e| !is_sent(e))
        .all(|e| is_receive_check(e))
}

/// Whether the expected event `i` must be recorded before the expected event `j` (`i < j`).
pub(crate) fn ordered(expected: &[&str], i: usize, j: usize) -> bool {
    match (is_sent(expected[i]), is_sent(expected[j])) {
        // Reader-task events: in order, except the Receive checks of one fan-out.
        (false, false) => !same_fan_out(expected, i, j),
        // Writer-task events: in order for one client only.
        (true, true) => sent_to(expected[i]) == sent_to(expected[j]),
        // A packet is sent after the event listed just before it (which preceded its queueing),
        // and so after everything ordered before that event.
        (false, true) => match (0..j).rev().find(|&k| !is_sent(expected[k])) {
            Some(last) => i == last || (i < last && !same_fan_out(expected, i, last)),
            None => false,
        },
        // Nothing in a step waits for a packet to be written.
        (true, false) => false,
    }
}

/// Asserts that `actual` holds exactly the events of `expected` and respects every order
/// [`ordered`] derives from the listing.
pub(crate) fn check_step(step: &str, actual: &[String], expected: &[&str]) {
    let mut have: Vec<&str> = actual.iter().map(String::as_str).collect();
    let mut want = expected.to_vec();
    have.sort_unstable();
    want.sort_unstable();
    assert_eq!(
        have, want,
        "step `{step}`: wrong events (sorted)\nrecorded: {actual:#?}\nexpected: {expected:#?}"
    );
    // The position in `actual` of each expected event (k-th occurrence to k-th occurrence).
    let position: Vec<usize> = (0..expected.len())
        .map(|i| {
            let nth = expected[..i].iter().filter(|e| **e == expected[i]).count();
            actual
                .iter()
                .enumerate()
                .filter(|(_, a)| **a == expected[i])
                .nth(nth)
                .map(|(p, _)| p)
                .expect("the multisets are equal")
        })
        .collect();
    for j in 0..expected.len() {
        for i in 0..j {
            assert!(
                !ordered(expected, i, j) || position[i] < position[j],
                "step `{step}`: `{}` must be recorded before `{}`\nrecorded: {actual:#?}",
                expected[i],
                expected[j]
            );
        }
    }
}

/// Walks a recorder's log step by step.
pub(crate) struct Flow<'a> {
    pub(crate) recorder: &'a Recorder,
    pub(crate) seen: usize,
}

impl Flow<'_> {
    /// Waits (polling) until the recorder holds `expected.len()` more events, then checks them.
    pub(crate) async fn step(&mut self, step: &str, expected: &[&str]) {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        let want = self.seen + expected.len();
        loop {
            let events = self.recorder.events();
            if events.len() >= want {
                check_step(step, &events[self.seen..want], expected);
                self.seen = want;
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "step `{step}`: timed out\nrecorded: {:#?}\nexpected: {expected:#?}",
                &events[self.seen..]
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Asserts that nothing was recorded beyond the checked steps, after a short grace.
    pub(crate) async fn finish(&self) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let events = self.recorder.events();
        assert_eq!(
            &events[self.seen.min(events.len())..],
            &[] as &[String],
            "events after the last step"
        );
    }
}

/// Connects `client_id` with the given clean-session flag and user name; asserts acceptance and
/// the session-present flag.
pub(crate) async fn connect(
    broker: &TestBroker<Recorder>,
    client_id: &str,
    clean: bool,
    user: Option<&str>,
    present: bool,
) -> RawClient {
    let mut connect = connect_packet(client_id, clean);
    connect.username = user.map(ByteString::from);
    let (client, ack) = RawClient::connect_with(broker.addr, connect).await;
    assert_eq!(
        ack,
        ConnAck {
            session_present: present,
            code: ConnectReturnCode::Accepted
        },
        "CONNACK for {client_id}"
    );
    client
}
