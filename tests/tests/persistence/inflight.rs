//! Unfinished QoS handshakes survive `kill -9`: messages in flight to a persistent subscriber
//! are resent with DUP 1 and their packet ids (a QoS 2 message whose PUBREC the broker had is
//! resumed with PUBREL instead), and a QoS 2 packet id a publisher sent that awaits PUBREL still
//! deduplicates the retransmitted PUBLISH.

use std::num::NonZeroU16;

use amqtt_core::codec::{Packet, Publish, QoS};
use amqtt_tests::{RawClient, pid};

use super::support::{
    SETTLE, SILENCE, StoreBroker, connect, disconnect, expect_message, publish, publish_bytes,
    subscribe,
};

/// What the subscriber is sent before the kill: topic, payload, QoS.
const SENT: [(&str, &str, QoS); 5] = [
    ("q1/a", "m1", QoS::AtLeastOnce),
    ("q1/b", "m2", QoS::AtLeastOnce),
    ("q1/c", "m3", QoS::AtLeastOnce),
    ("q2/x", "released", QoS::ExactlyOnce),
    ("q2/y", "unanswered", QoS::ExactlyOnce),
];

/// Receives a PUBLISH and asserts it is `topic`/`payload` at `qos` with `dup`, not retained;
/// returns its packet id.
async fn recv_message(
    client: &mut RawClient,
    (topic, payload, qos): (&str, &str, QoS),
    dup: bool,
) -> NonZeroU16 {
    let publish = client.recv_publish().await;
    let id = publish
        .packet_id
        .expect("a QoS 1/2 PUBLISH has a packet id");
    let expected = Publish {
        dup,
        ..publish_bytes(topic, payload.as_bytes(), qos, false, Some(id.get()))
    };
    assert_eq!(publish, expected, "expected {payload:?} with DUP {dup}");
    id
}

#[tokio::test]
async fn messages_in_flight_to_a_subscriber_are_resumed_after_kill9() {
    let mut broker = StoreBroker::start("", "  persistence:\n").await;
    let addr = broker.addr();
    let mut sub = connect(addr, "inflight-sub", false, false).await;
    subscribe(
        &mut sub,
        1,
        &[("q1/#", QoS::AtLeastOnce), ("q2/#", QoS::ExactlyOnce)],
    )
    .await;
    let mut publisher = connect(addr, "inflight-pub", true, false).await;
    for (n, (topic, payload, qos)) in (1..).zip(SENT) {
        publish(&mut publisher, topic, payload.as_bytes(), qos, false, n).await;
    }
    // The subscriber takes every message and answers only the first QoS 2 one, with PUBREC.
    let mut ids = Vec::new();
    for message in SENT {
        ids.push(recv_message(&mut sub, message, false).await);
    }
    let released = ids[3];
    sub.send(Packet::PubRec(released.into())).await;
    assert_eq!(sub.recv().await, Packet::PubRel(released.into()));
    tokio::time::sleep(SETTLE).await;
    broker.kill9();
    drop((sub, publisher));

    broker.restart().await;
    let mut sub = connect(addr, "inflight-sub", false, true).await;
    // The QoS 1 messages again, in order, DUP 1, same ids; the released one as PUBREL; the
    // unanswered QoS 2 one as PUBLISH, DUP 1, same id. The two QoS need not interleave as before.
    let mut qos1 = Vec::new();
    let (mut got_rel, mut got_unanswered) = (false, false);
    while qos1.len() < 3 || !got_rel || !got_unanswered {
        match sub.recv().await {
            Packet::PubRel(amqtt_core::codec::Ack { packet_id: id, .. }) => {
                assert_eq!(id, released, "PUBREL of the released message");
                assert!(!got_rel, "PUBREL {id} twice");
                got_rel = true;
            }
            Packet::Publish(p) if p.qos == QoS::AtLeastOnce => {
                let n = qos1.len();
                assert!(n < 3, "a fourth QoS 1 message: {p:?}");
                let (topic, payload, qos) = SENT[n];
                let expected = Publish {
                    dup: true,
                    ..publish_bytes(topic, payload.as_bytes(), qos, false, Some(ids[n].get()))
                };
                assert_eq!(p, expected, "QoS 1 message {n} resent in order");
                qos1.push(ids[n]);
            }
            Packet::Publish(p) => {
                let expected = Publish {
                    dup: true,
                    ..publish_bytes(
                        "q2/y",
                        b"unanswered",
                        QoS::ExactlyOnce,
                        false,
                        Some(ids[4].get()),
                    )
                };
                assert_eq!(
                    p, expected,
                    "only the unanswered QoS 2 message is resent as PUBLISH"
                );
                assert!(!got_unanswered, "{p:?} twice");
                got_unanswered = true;
            }
            other => panic!("unexpected {other:?} after the restart"),
        }
    }
    sub.expect_silence(SILENCE).await;

    // Finish every handshake; a second kill and restart then has nothing to resend.
    for id in qos1 {
        sub.send(Packet::PubAck(id.into())).await;
    }
    sub.send(Packet::PubComp(released.into())).await;
    sub.ack(QoS::ExactlyOnce, Some(ids[4])).await;
    sub.expect_silence(SILENCE).await;
    tokio::time::sleep(SETTLE).await;
    broker.kill9();
    drop(sub);
    broker.restart().await;
    let mut sub = connect(addr, "inflight-sub", false, true).await;
    sub.expect_silence(SILENCE).await;
    disconnect(sub).await;
}

#[tokio::test]
async fn a_qos2_id_awaiting_pubrel_deduplicates_the_retransmission_after_kill9() {
    let mut broker = StoreBroker::start("", "  persistence:\n").await;
    let addr = broker.addr();
    let mut sub = connect(addr, "in2-sub", false, false).await;
    subscribe(&mut sub, 1, &[("in2/t", QoS::ExactlyOnce)]).await;
    disconnect(sub).await;

    let mut publisher = connect(addr, "in2-pub", false, false).await;
    let message = publish_bytes("in2/t", b"exactly once", QoS::ExactlyOnce, false, Some(7));
    publisher.send(Packet::Publish(message.clone())).await;
    assert_eq!(publisher.recv().await, Packet::PubRec(pid(7).into()));
    tokio::time::sleep(SETTLE).await;
    broker.kill9();
    drop(publisher);

    broker.restart().await;
    // The publisher, not knowing whether its PUBLISH arrived, retransmits it (DUP 1, id 7).
    let mut publisher = connect(addr, "in2-pub", false, true).await;
    let retransmission = Publish {
        dup: true,
        ..message
    };
    publisher.send(Packet::Publish(retransmission)).await;
    assert_eq!(publisher.recv().await, Packet::PubRec(pid(7).into()));
    publisher.send(Packet::PubRel(pid(7).into())).await;
    assert_eq!(publisher.recv().await, Packet::PubComp(pid(7).into()));
    publisher.expect_silence(SILENCE).await;

    let mut sub = connect(addr, "in2-sub", false, true).await;
    expect_message(&mut sub, "in2/t", b"exactly once", QoS::ExactlyOnce, false).await;
    sub.expect_silence(SILENCE).await;
    disconnect(sub).await;
    disconnect(publisher).await;
}
