//! The checker that compares the recorder's log with the expected events step by step (the
//! order rules are in `plugin_events.rs`), the connect helper, and the checker's own self-test.

use std::time::Duration;

use amqtt_core::codec::{ByteString, ConnAck, ReasonCode};
use amqtt_tests::{RECV_TIMEOUT, RawClient, TestBroker, connect_packet};

use crate::recorder::Recorder;

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
            code: ReasonCode::Success,
            properties: None,
        },
        "CONNACK for {client_id}"
    );
    client
}

#[test]
fn the_step_checker_rejects_missing_extra_and_misordered_events() {
    let fails = |actual: &[&str], expected: &[&str]| {
        let actual: Vec<String> = actual.iter().map(|s| (*s).to_owned()).collect();
        let expected = expected.to_vec();
        std::panic::catch_unwind(move || check_step("self-test", &actual, &expected)).is_err()
    };
    let expected = [
        "message_received c1 t/a qos1 m",
        "topic_filtering c1 t/a Publish",
        "topic_filtering c2 t/a Receive",
        "packet_sent PUBLISH c2",
        "topic_filtering c3 t/a Receive",
        "packet_sent PUBLISH c3",
        "packet_sent PUBACK c1",
    ];
    // Accepted: the listing itself, Receive checks of one fan-out swapped, packets late.
    assert!(!fails(&expected, &expected));
    assert!(!fails(
        &[
            "message_received c1 t/a qos1 m",
            "topic_filtering c1 t/a Publish",
            "topic_filtering c3 t/a Receive",
            "topic_filtering c2 t/a Receive",
            "packet_sent PUBACK c1",
            "packet_sent PUBLISH c3",
            "packet_sent PUBLISH c2",
        ],
        &expected
    ));
    // Rejected: reader events swapped, a packet before the event that queued it, a missing or
    // an extra event.
    assert!(fails(
        &[
            "topic_filtering c1 t/a Publish",
            "message_received c1 t/a qos1 m",
            "topic_filtering c2 t/a Receive",
            "packet_sent PUBLISH c2",
            "topic_filtering c3 t/a Receive",
            "packet_sent PUBLISH c3",
            "packet_sent PUBACK c1",
        ],
        &expected
    ));
    assert!(fails(
        &[
            "message_received c1 t/a qos1 m",
            "topic_filtering c1 t/a Publish",
            "packet_sent PUBLISH c2",
            "topic_filtering c2 t/a Receive",
            "topic_filtering c3 t/a Receive",
            "packet_sent PUBLISH c3",
            "packet_sent PUBACK c1",
        ],
        &expected
    ));
    assert!(fails(&expected[..6], &expected));
    assert!(fails(&expected, &expected[..6]));
    // Two packets to one client keep their order.
    assert!(fails(
        &["a", "packet_sent PUBREC c1", "packet_sent PUBACK c1"],
        &["a", "packet_sent PUBACK c1", "packet_sent PUBREC c1"]
    ));
}
