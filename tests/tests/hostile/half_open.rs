//! Case 3: half-open connections dropped with RST. Clients connect, subscribe, publish at QoS 1
//! and 2 and stop half-way (no PUBREL, no PUBACK for what they were sent), then reset the
//! socket. Their clean sessions must all go: the session and subscription counts return to
//! where they started, the state stays consistent, and (against the broker binary) resident
//! memory returns near its starting point.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use amqtt_core::codec::{Packet, QoS};
use amqtt_tests::publish_packet;
use tokio::sync::Barrier;

use crate::support::{ChildBroker, Hostile, LiveBroker, Probe, SysWatch};

/// One client of a round: connect `rst-<round>-<i>`, subscribe to `rst/all` (QoS 2) and its own
/// topic (QoS 1); once the whole round has subscribed, publish `payload` at QoS 1 to its own
/// topic and wait for the PUBACK and the message (which it never acknowledges), then stop a
/// QoS 2 exchange half-way as its role says; once the whole round is there, reset the socket.
///
/// Roles by `i % 4`: QoS 2 to `rst/all` and wait for the PUBREC (no PUBREL); nothing more;
/// QoS 2 and reset without reading the PUBREC; nothing more (QoS 2 messages are in flight to
/// every client when it resets).
async fn half_open_client(
    addr: SocketAddr,
    round: usize,
    i: usize,
    payload: Arc<str>,
    subscribed: Arc<Barrier>,
    published: Arc<Barrier>,
) {
    let client_id = format!("rst-{round}-{i}");
    let own = format!("rst/own/{client_id}");
    let mut client = Hostile::connect(addr, &client_id, true).await;
    client
        .subscribe(
            1,
            &[("rst/all", QoS::ExactlyOnce), (&own, QoS::AtLeastOnce)],
        )
        .await;
    subscribed.wait().await;
    let id = std::num::NonZeroU16::new(77).expect("non-zero");
    let publish = publish_packet(&own, &payload, QoS::AtLeastOnce, false, Some(77));
    client.send(&Packet::Publish(publish)).await;
    let (mut acked, mut delivered) = (false, false);
    while !(acked && delivered) {
        match client.recv().await {
            Packet::PubAck(ack) if ack.packet_id == id => acked = true,
            Packet::Publish(p) if p.topic == own.as_str() => delivered = true,
            _ => {}
        }
    }
    let id = std::num::NonZeroU16::new(78).expect("non-zero");
    let half_way = publish_packet("rst/all", "half-way", QoS::ExactlyOnce, false, Some(78));
    match i % 4 {
        0 => {
            client.send(&Packet::Publish(half_way)).await;
            client.recv_until(|p| *p == Packet::PubRec(id.into())).await;
        }
        2 => client.send(&Packet::Publish(half_way)).await,
        _ => {}
    }
    published.wait().await;
    client.reset();
}

/// Runs one round of `clients` half-open clients at once and waits for all of them to have
/// reset their sockets.
async fn round(addr: SocketAddr, round: usize, clients: usize, payload: Arc<str>) {
    let subscribed = Arc::new(Barrier::new(clients));
    let published = Arc::new(Barrier::new(clients));
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            tokio::spawn(half_open_client(
                addr,
                round,
                i,
                payload.clone(),
                subscribed.clone(),
                published.clone(),
            ))
        })
        .collect();
    // A client that fails leaves the others waiting at a barrier: bound the round.
    let all = async {
        for task in tasks {
            task.await.expect("half-open client");
        }
    };
    tokio::time::timeout(Duration::from_secs(20), all)
        .await
        .expect("a round of half-open clients finishes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_half_open_clients_leave_no_session_or_subscription_behind() {
    let broker = LiveBroker::start("").await;
    let probe = Probe::start(broker.addr(), "half-open").await;
    let sessions_before = broker.broker.handle.session_count();
    let subscriptions_before = broker.ctx.subscription_count();

    let payload: Arc<str> = "half-way".into();
    for n in 0..4 {
        round(broker.addr(), n, 60, payload.clone()).await;
    }

    let (report, _probe) = probe.finish().await;
    println!("half-open: probe {report:?}");
    broker.settle(1).await;
    // The connection tasks end after the counter drops: give the clean-up a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while broker.broker.handle.session_count() != sessions_before
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        broker.broker.handle.session_count(),
        sessions_before,
        "sessions after the reset clients are gone: {:?}",
        broker.ctx.sessions()
    );
    assert_eq!(broker.ctx.subscription_count(), subscriptions_before);
    broker.assert_consistent().await;
}

/// Memory a broker may keep after the hostile phase, over its starting point: allocators keep
/// some freed memory. A leak of the rounds' sessions with their in-flight messages would exceed
/// it (`ROUNDS * CLIENTS * PAYLOAD` is 40 MiB held by the QoS 1 messages alone).
const RSS_BUDGET_KIB: u64 = 32 * 1024;
const ROUNDS: usize = 8;
const CLIENTS: usize = 80;
const PAYLOAD: usize = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_half_open_clients_give_their_memory_back() {
    let mut broker = ChildBroker::start("").await;
    let probe = Probe::start(broker.addr, "half-open-rss").await;
    let mut sys = SysWatch::start(
        broker.addr,
        &["clients/connected", "messages/subscriptions/count"],
    )
    .await;
    let within = Duration::from_secs(5);
    // The probe's subscription and the watcher's two.
    sys.wait_for("messages/subscriptions/count", |n| n == 3, within)
        .await;

    let payload: Arc<str> = "x".repeat(PAYLOAD).into();
    // A warm-up round, so runtime threads, buffers and allocator arenas exist before measuring.
    round(broker.addr, 0, CLIENTS, payload.clone()).await;
    sys.wait_for("clients/connected", |n| n == 2, within).await;
    let start = broker.rss_kib();

    let mut peak = start;
    for n in 1..=ROUNDS {
        round(broker.addr, n, CLIENTS, payload.clone()).await;
        peak = peak.max(broker.rss_kib());
        broker.assert_running();
    }

    sys.wait_for("clients/connected", |n| n == 2, within).await;
    sys.wait_for("messages/subscriptions/count", |n| n == 3, within)
        .await;
    let (report, _probe) = probe.finish().await;
    let end = broker.rss_kib();
    println!("half-open RSS: start {start} KiB, peak {peak} KiB, end {end} KiB; probe {report:?}");
    broker.assert_running();
    assert!(
        end <= start + RSS_BUDGET_KIB,
        "resident memory grew from {start} KiB to {end} KiB (peak {peak} KiB) after \
         {ROUNDS} rounds of {CLIENTS} reset clients"
    );
}
