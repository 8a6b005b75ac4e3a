//! `kill -9` in the middle of a flood to an offline persistent subscriber, with the default
//! `sync: always`: every QoS 1 message the broker acknowledged is delivered after the restart
//! (at least once), and with a conforming QoS 2 publisher that resumes its handshakes every
//! message is delivered exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use amqtt_core::codec::{Packet, Publish, QoS};
use amqtt_tests::{RawClient, pid};
use tokio::time::Instant;

use super::support::{StoreBroker, connect, disconnect, publish_bytes, subscribe};

/// Messages in a flood; packet ids are 1..=FLOOD, each used once.
const FLOOD: u16 = 3000;

/// Most messages a publisher has unacknowledged at a time.
const WINDOW: usize = 100;

/// Acknowledgements after which the broker is killed, mid-flood.
const KILL_AFTER: usize = 1000;

/// A flood's broker: queues large enough that nothing is dropped for a full one.
const EXTRA: &str = "max_queued: 100000\n";

/// Longest wait for the next packet while a flood or a drain should be making progress.
const STALL: Duration = Duration::from_secs(10);

/// Longest a whole drain may take.
const DRAIN_WITHIN: Duration = Duration::from_secs(30);

/// Silence after the last expected message before a drain ends (duplicates would come in it).
const DRAIN_SILENCE: Duration = Duration::from_secs(1);

/// The payload of message `seq`.
fn payload(seq: u16) -> String {
    seq.to_string()
}

/// The PUBLISH of message `seq` (its packet id is `seq`).
fn message(topic: &str, seq: u16, qos: QoS, dup: bool) -> Publish {
    Publish {
        dup,
        ..publish_bytes(topic, payload(seq).as_bytes(), qos, false, Some(seq))
    }
}

/// The next packet, failing the test after [`STALL`] (`what` says what was going on).
async fn next(client: &mut RawClient, what: &str) -> Packet {
    match client.recv_within(STALL).await {
        Some(packet) => packet,
        None => panic!("nothing from the broker for {STALL:?} during {what}"),
    }
}

/// Connects `client_id` (clean-session 0) subscribed to `filter` at `qos`, and disconnects it.
async fn offline_subscriber(broker: &StoreBroker, client_id: &str, filter: &str, qos: QoS) {
    let mut sub = connect(broker.addr(), client_id, false, false).await;
    subscribe(&mut sub, 1, &[(filter, qos)]).await;
    disconnect(sub).await;
}

/// Reconnects the persistent subscriber `client_id` and takes everything queued for it,
/// completing each handshake, until every payload of `expected` has arrived and then
/// [`DRAIN_SILENCE`] passes. Returns how often each payload arrived.
async fn drain(
    broker: &StoreBroker,
    client_id: &str,
    expected: &BTreeSet<String>,
) -> BTreeMap<String, u32> {
    let mut sub = connect(broker.addr(), client_id, false, true).await;
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let deadline = Instant::now() + DRAIN_WITHIN;
    loop {
        let complete = expected.iter().all(|p| seen.contains_key(p));
        let wait = if complete { DRAIN_SILENCE } else { STALL };
        assert!(
            Instant::now() < deadline,
            "the drain took longer than {DRAIN_WITHIN:?}: {} of {} expected payloads seen",
            expected.iter().filter(|p| seen.contains_key(*p)).count(),
            expected.len()
        );
        let Some(packet) = sub.recv_within(wait).await else {
            assert!(
                complete,
                "the subscriber was sent nothing for {STALL:?}; missing {} of {} payloads, \
                 e.g. {:?}",
                expected.iter().filter(|p| !seen.contains_key(*p)).count(),
                expected.len(),
                expected.iter().find(|p| !seen.contains_key(*p))
            );
            break;
        };
        match packet {
            Packet::Publish(p) => {
                let text = String::from_utf8_lossy(&p.payload).into_owned();
                *seen.entry(text).or_default() += 1;
                match (p.qos, p.packet_id) {
                    (QoS::AtLeastOnce, Some(id)) => sub.send(Packet::PubAck(id.into())).await,
                    (QoS::ExactlyOnce, Some(id)) => sub.send(Packet::PubRec(id.into())).await,
                    other => panic!("unexpected QoS/packet id {other:?} in the drain"),
                }
            }
            Packet::PubRel(amqtt_core::codec::Ack { packet_id: id, .. }) => {
                sub.send(Packet::PubComp(id.into())).await
            }
            other => panic!("unexpected {other:?} in the drain"),
        }
    }
    disconnect(sub).await;
    seen
}

#[tokio::test]
async fn acknowledged_qos1_messages_survive_kill9_mid_flood() {
    let mut broker = StoreBroker::start(EXTRA, "  persistence:\n").await;
    offline_subscriber(&broker, "flood1-sub", "flood1/#", QoS::AtLeastOnce).await;

    let mut publisher = connect(broker.addr(), "flood1-pub", true, false).await;
    let mut acked = BTreeSet::new();
    let mut unacked = BTreeSet::new();
    let mut next_seq = 1;
    // The kill comes right after a burst of new PUBLISHes.
    loop {
        while next_seq <= FLOOD && unacked.len() < WINDOW {
            let publish = message("flood1/t", next_seq, QoS::AtLeastOnce, false);
            publisher.send(Packet::Publish(publish)).await;
            unacked.insert(next_seq);
            next_seq += 1;
        }
        if acked.len() >= KILL_AFTER {
            break;
        }
        match next(&mut publisher, "the QoS 1 flood").await {
            Packet::PubAck(amqtt_core::codec::Ack { packet_id: id, .. }) => {
                assert!(
                    unacked.remove(&id.get()),
                    "PUBACK {id} for nothing in flight"
                );
                acked.insert(payload(id.get()));
            }
            other => panic!("unexpected {other:?} during the flood"),
        }
    }
    assert!(
        !unacked.is_empty(),
        "the flood was still running at the kill"
    );
    broker.kill9();
    drop(publisher);

    broker.restart().await;
    let seen = drain(&broker, "flood1-sub", &acked).await;
    let lost: Vec<&String> = acked.iter().filter(|p| !seen.contains_key(*p)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged messages lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        lost.first()
    );
}

/// Where a QoS 2 message stands at its publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// PUBLISH sent, no PUBREC yet.
    Published,
    /// PUBREC received and PUBREL sent, no PUBCOMP yet.
    Released,
    /// PUBCOMP received.
    Complete,
}

/// A QoS 2 publisher's side of the flood: the stage of every message sent so far.
struct Qos2Publisher {
    client: RawClient,
    stages: BTreeMap<u16, Stage>,
    next_seq: u16,
}

impl Qos2Publisher {
    /// Messages at `stage`.
    fn count(&self, stage: Stage) -> usize {
        self.stages.values().filter(|s| **s == stage).count()
    }

    /// Messages sent and not complete.
    fn open(&self) -> usize {
        self.stages.len() - self.count(Stage::Complete)
    }

    /// Messages whose PUBREC has arrived.
    fn received(&self) -> usize {
        self.stages.len() - self.count(Stage::Published)
    }

    /// Sends new messages while fewer than [`WINDOW`] await their PUBREC (and fewer than twice
    /// that are open: PUBCOMPs lag, since each waits for a commit).
    async fn fill_window(&mut self) {
        while self.next_seq <= FLOOD
            && self.count(Stage::Published) < WINDOW
            && self.open() < 2 * WINDOW
        {
            let publish = message("flood2/t", self.next_seq, QoS::ExactlyOnce, false);
            self.client.send(Packet::Publish(publish)).await;
            self.stages.insert(self.next_seq, Stage::Published);
            self.next_seq += 1;
        }
    }

    /// Takes one packet: PUBREC is answered with PUBREL, PUBCOMP completes a message.
    async fn step(&mut self) {
        match next(&mut self.client, "the QoS 2 flood").await {
            Packet::PubRec(amqtt_core::codec::Ack { packet_id: id, .. }) => {
                let stage = self
                    .stages
                    .get_mut(&id.get())
                    .expect("PUBREC for a sent id");
                assert_ne!(*stage, Stage::Complete, "PUBREC {id} after PUBCOMP");
                *stage = Stage::Released;
                self.client.send(Packet::PubRel(id.into())).await;
            }
            Packet::PubComp(amqtt_core::codec::Ack { packet_id: id, .. }) => {
                let stage = self
                    .stages
                    .get_mut(&id.get())
                    .expect("PUBCOMP for a sent id");
                assert_eq!(*stage, Stage::Released, "PUBCOMP {id} before PUBREC");
                *stage = Stage::Complete;
            }
            other => panic!("unexpected {other:?} during the QoS 2 flood"),
        }
    }

    /// After reconnecting: resumes every open message as a conforming client does, in the
    /// order they were first sent: PUBREL again for the released ones, the PUBLISH again (DUP
    /// 1, same id) for the others.
    async fn resume(&mut self) {
        let open: Vec<(u16, Stage)> = self
            .stages
            .iter()
            .filter(|(_, stage)| **stage != Stage::Complete)
            .map(|(seq, stage)| (*seq, *stage))
            .collect();
        for (seq, stage) in open {
            let packet = if stage == Stage::Released {
                Packet::PubRel(pid(seq).into())
            } else {
                Packet::Publish(message("flood2/t", seq, QoS::ExactlyOnce, true))
            };
            self.client.send(packet).await;
        }
    }
}

#[tokio::test]
async fn qos2_messages_are_delivered_exactly_once_across_kill9_mid_flood() {
    let mut broker = StoreBroker::start(EXTRA, "  persistence:\n").await;
    offline_subscriber(&broker, "flood2-sub", "flood2/#", QoS::ExactlyOnce).await;

    let mut publisher = Qos2Publisher {
        client: connect(broker.addr(), "flood2-pub", false, false).await,
        stages: BTreeMap::new(),
        next_seq: 1,
    };
    // The kill comes right after a burst of new PUBLISHes, some of which the broker may have
    // stored (and routed) without its PUBREC having been sent or read.
    loop {
        publisher.fill_window().await;
        if publisher.received() >= KILL_AFTER {
            break;
        }
        publisher.step().await;
    }
    assert!(
        publisher.count(Stage::Published) > 0,
        "some PUBLISHes awaited their PUBREC at the kill"
    );
    broker.kill9();

    broker.restart().await;
    publisher.client = connect(broker.addr(), "flood2-pub", false, true).await;
    publisher.resume().await;
    let deadline = Instant::now() + DRAIN_WITHIN;
    while publisher.next_seq <= FLOOD || publisher.open() > 0 {
        assert!(
            Instant::now() < deadline,
            "the publisher did not finish within {DRAIN_WITHIN:?}: {} messages open",
            publisher.open()
        );
        publisher.fill_window().await;
        publisher.step().await;
    }
    disconnect(publisher.client).await;

    let all: BTreeSet<String> = (1..=FLOOD).map(payload).collect();
    let seen = drain(&broker, "flood2-sub", &all).await;
    let missing: Vec<&String> = all.iter().filter(|p| !seen.contains_key(*p)).collect();
    let duplicated: Vec<(&String, &u32)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    let unexpected: Vec<&String> = seen.keys().filter(|p| !all.contains(*p)).collect();
    assert!(
        missing.is_empty() && duplicated.is_empty() && unexpected.is_empty(),
        "not exactly once: {} missing (e.g. {:?}), {} duplicated (e.g. {:?}), {} unexpected",
        missing.len(),
        missing.first(),
        duplicated.len(),
        duplicated.first(),
        unexpected.len()
    );
}
