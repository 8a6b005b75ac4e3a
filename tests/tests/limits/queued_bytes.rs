//! `max_queued_bytes`: the bytes all sessions queue together are bounded; past the budget an
//! offline session drops further QoS 1/2 messages (counted) instead of growing, and a connected
//! one that does not read holds its publishers back until it is stalled, then drops (counted).

use amqtt_core::codec::{Packet, QoS};
use std::time::{Duration, Instant};

use amqtt_tests::{RawClient, connect_packet, pid, publish_packet, wait_until};
use bytes::BytesMut;

use super::{broker_with_sys, sys_shows, sys_watcher};

/// This process's resident memory in bytes (the broker runs in it).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

#[tokio::test]
async fn a_flood_to_an_offline_session_stops_at_the_budget() {
    const BUDGET: u64 = 1 << 20;
    const MESSAGES: usize = 1000;
    const PAYLOAD: usize = 16 * 1024;
    // Queues long enough for the whole flood: only the byte budget stops it.
    let broker = broker_with_sys("max_queued_bytes: 1048576\nmax_queued: 100000\n").await;
    let mut sys = sys_watcher(&broker, "messages/publish/dropped/queued_bytes").await;
    // Two persistent sessions, subscribed and gone offline: the budget is for both together.
    for id in ["offline-a", "offline-b"] {
        let (mut client, _) = RawClient::connect_with(broker.addr, connect_packet(id, false)).await;
        client.subscribe(1, &[("flood", QoS::AtLeastOnce)]).await;
        client.disconnect().await;
    }
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    let payload = "x".repeat(PAYLOAD);
    let before = resident_bytes();
    for chunk in 0..MESSAGES / 100 {
        let mut out = BytesMut::new();
        for i in chunk * 100..(chunk + 1) * 100 {
            let id = Some(i as u16 + 1);
            Packet::Publish(publish_packet(
                "flood",
                &payload,
                QoS::AtLeastOnce,
                false,
                id,
            ))
            .encode(&mut out);
        }
        publisher.send_raw(&out).await;
        for i in chunk * 100..(chunk + 1) * 100 {
            assert_eq!(
                publisher.recv().await,
                Packet::PubAck(pid(i as u16 + 1).into())
            );
        }
    }
    let grown = resident_bytes().saturating_sub(before);
    let queued = broker.handle.queued_bytes().expect("counted");
    let message = (PAYLOAD + "flood".len()) as u64;
    // Full to the budget (at most one message past it), and not beyond.
    assert!(
        queued >= BUDGET && queued < BUDGET + message,
        "{queued} bytes queued"
    );
    let kept = queued.div_ceil(message);
    let dropped = broker.handle.stats().dropped_queued_bytes.get();
    assert_eq!(dropped, 2 * MESSAGES as u64 - kept);
    // 32 MB were routed to the two sessions; memory grew by little more than the budget.
    assert!(
        grown < 8 * BUDGET,
        "resident memory grew by {grown} bytes for a budget of {BUDGET}"
    );
    eprintln!(
        "flood of {} MB: resident memory grew by {} KB",
        (2 * MESSAGES * PAYLOAD) >> 20,
        grown >> 10
    );
    sys_shows(&mut sys, "messages/publish/dropped/queued_bytes", dropped).await;

    // A session that comes back gets what was kept for it, and its bytes leave the budget.
    let (mut back, _) =
        RawClient::connect_with(broker.addr, connect_packet("offline-a", false)).await;
    let mut received = 0;
    while let Some(packet) = back.recv_within(Duration::from_millis(300)).await {
        let Packet::Publish(publish) = packet else {
            panic!("expected PUBLISH, got {packet:?}");
        };
        back.ack(publish.qos, publish.packet_id).await;
        received += 1;
    }
    assert!(received > 0);
    wait_until("the budget to give back what was sent", || {
        broker.handle.queued_bytes() == Some(queued - received * message)
    })
    .await;
    broker.stop().await;
}

#[tokio::test]
async fn a_connected_subscriber_that_does_not_read_is_capped_at_the_budget() {
    const BUDGET: u64 = 64 * 1024;
    const MESSAGES: u16 = 200;
    const CHUNK: u16 = 50;
    // Topic and payload: 4 KiB a message, 16 to the budget.
    const MESSAGE: u64 = 4096;
    let payload = "x".repeat(MESSAGE as usize - "slow".len());
    // Queues long enough for the whole flood, two messages in flight: only the byte budget
    // and the slow-consumer policy (stalled after 0.3 s) stop it.
    let broker = broker_with_sys(
        "max_queued_bytes: 65536\nmax_queued: 100000\nmax_inflight: 2\n\
         backpressure_timeout: 0.3\n",
    )
    .await;
    let mut sys = sys_watcher(&broker, "messages/publish/dropped/queued_bytes").await;
    // Connected and subscribed, and from now on never reads its socket or acknowledges.
    let mut slow = RawClient::connect(broker.addr, "slow").await;
    slow.subscribe(1, &[("slow", QoS::AtLeastOnce)]).await;
    let mut publisher = RawClient::connect(broker.addr, "pub").await;
    let started = Instant::now();
    let mut peak = 0;
    for chunk in 0..MESSAGES / CHUNK {
        let ids = chunk * CHUNK + 1..=(chunk + 1) * CHUNK;
        let mut out = BytesMut::new();
        for id in ids.clone() {
            let publish = publish_packet("slow", &payload, QoS::AtLeastOnce, false, Some(id));
            Packet::Publish(publish).encode(&mut out);
        }
        publisher.send_raw(&out).await;
        for id in ids {
            assert_eq!(publisher.recv().await, Packet::PubAck(pid(id).into()));
            peak = peak.max(broker.handle.queued_bytes().expect("counted"));
        }
    }
    // The publisher was held back until the subscriber was found stalled.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "the flood took {took:?}"
    );
    // At most one message past the budget (the publisher's own, before it waited).
    assert!(peak <= BUDGET + MESSAGE, "{peak} bytes queued at the peak");
    let queued = broker.handle.queued_bytes().expect("counted");
    assert!(queued >= BUDGET, "{queued} bytes queued");
    // Every message went somewhere: 2 in flight, the queued ones kept, the rest dropped.
    let kept = queued / MESSAGE;
    let dropped = broker.handle.stats().dropped_queued_bytes.get();
    assert_eq!(dropped, u64::from(MESSAGES) - 2 - kept);
    sys_shows(&mut sys, "messages/publish/dropped/queued_bytes", dropped).await;
    drop(slow);
    broker.stop().await;
}
