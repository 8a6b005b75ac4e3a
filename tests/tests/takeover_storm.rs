//! The takeover storm: many connections with one client id that subscribe and drop their
//! sockets, so SUBSCRIBE, takeover and detach interleave in every order. Afterwards every
//! subscription in the index must belong to a live session: none may be left behind for a
//! session that was taken over or ended (they would store every matching message forever).
//! The clean-session storm, with a probe client, is in `hostile/takeover.rs`; these are the
//! persistent and mixed storms.

use std::net::SocketAddr;
use std::time::Duration;

use amqtt_core::codec::{ByteString, Packet, QoS, Subscribe};
use amqtt_tests::{RawClient, TestBroker, connect_packet, pid, wait_until};
use bytes::BytesMut;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Concurrent storming tasks.
const TASKS: usize = 50;
/// How long each round of the storm lasts.
const STORM: Duration = Duration::from_millis(1500);

/// The bytes of a CONNECT for `client_id` followed at once by a SUBSCRIBE to `storm/#`.
fn connect_and_subscribe(client_id: &str, clean_session: bool) -> Vec<u8> {
    let mut out = BytesMut::new();
    Packet::Connect(Box::new(connect_packet(client_id, clean_session))).encode(&mut out);
    Packet::Subscribe(Subscribe {
        packet_id: pid(1),
        filters: vec![
            (ByteString::from("storm/#"), QoS::AtLeastOnce.into()),
            (ByteString::from("storm/+/x"), QoS::ExactlyOnce.into()),
        ],
        properties: None,
    })
    .encode(&mut out);
    out.to_vec()
}

/// One storming connection: CONNECT and SUBSCRIBE, sometimes a wait for the broker's first
/// bytes (so the SUBSCRIBE is handled before the close, or not), then a reset (RST).
async fn storm_once(addr: SocketAddr, client_id: &str, clean_session: bool, wait: bool) {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return;
    };
    let bytes = connect_and_subscribe(client_id, clean_session);
    if tokio::io::AsyncWriteExt::write_all(&mut stream, &bytes)
        .await
        .is_err()
    {
        return;
    }
    if wait {
        let mut buf = [0u8; 64];
        let _ = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await;
    }
    // Linger 0: closing sends RST, as an abruptly dropped client does.
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Runs [`TASKS`] tasks storming with one client id for [`STORM`]; `clean` picks the session
/// kind of each connection from its task and round number.
async fn storm(addr: SocketAddr, client_id: &'static str, clean: fn(usize, usize) -> bool) {
    let deadline = tokio::time::Instant::now() + STORM;
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            tokio::spawn(async move {
                let mut round = 0;
                while tokio::time::Instant::now() < deadline {
                    storm_once(addr, client_id, clean(task, round), round % 2 == 0).await;
                    round += 1;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("storm task");
    }
    // Connections still in the accept queue are served (and reset) within moments.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Waits for the broker to finish the closes the storm left behind, then asserts its state.
async fn assert_settled(broker: &TestBroker, sessions: usize, subscriptions: usize) {
    let handle = &broker.handle;
    wait_until("the stormed sessions to settle", || {
        handle.session_count() == sessions && handle.subscription_count() == subscriptions
    })
    .await;
    broker.assert_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_clean_and_persistent_takeover_storm_keeps_one_session_consistent() {
    let broker = TestBroker::start("").await;
    // Persistent and clean connections alternate, so a persistent session is resumed, taken
    // over, discarded by a clean one and created again, in every order.
    storm(broker.addr, "storm-mixed", |task, round| {
        (task + round) % 3 == 0
    })
    .await;
    // Whatever connection came last decides: a persistent session with its two filters, or
    // nothing.
    let handle = &broker.handle;
    wait_until("the stormed sessions to settle", || {
        matches!(
            (handle.session_count(), handle.subscription_count()),
            (0, 0) | (1, 2)
        )
    })
    .await;
    broker.assert_consistent().await;

    // A clean connection ends whichever session is left: nothing may remain.
    RawClient::connect(broker.addr, "storm-mixed")
        .await
        .disconnect()
        .await;
    assert_settled(&broker, 0, 0).await;
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_takeover_storm_keeps_exactly_the_sessions_subscriptions() {
    let broker = TestBroker::start("").await;
    storm(broker.addr, "storm-persistent", |_, _| false).await;
    // Every connection was persistent: one session, subscribed to its two filters once each.
    assert_settled(&broker, 1, 2).await;
    broker.stop().await;
}
