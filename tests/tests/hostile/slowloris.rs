//! Case 2: slowloris. Many sockets connect and send nothing, a CONNECT one byte every 200 ms,
//! or only the start of a fixed header; others connect properly with keep-alive 1 s and then go
//! silent. With `connect_timeout: 1` every one of them must be closed within about the timeout
//! (plus a margin), none may get a CONNACK, and the probe must not notice.

use std::net::SocketAddr;
use std::time::Duration;

use amqtt_core::codec::{Connect, Packet, QoS};
use amqtt_tests::{connect_packet, read_until_closed, will};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::support::{LiveBroker, Probe, encode, open_raw};

/// The broker's `connect_timeout` in this test.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How late past its deadline a close may come on a loaded two-core machine.
const MARGIN: Duration = Duration::from_millis(1500);
/// Sockets that connect and send nothing. The test process holds both ends of every socket
/// and shares its descriptor limit with the suite's other tests: many, but not thousands.
const SILENT: usize = 100;
/// Sockets that send a CONNECT one byte every 200 ms.
const TRICKLING: usize = 30;
/// Sockets that send `0x10 0x80` (a CONNECT whose remaining length never ends) and stop.
const HEADER_ONLY: usize = 30;
/// Clients that connect with keep-alive 1 s and then go silent.
const KEEP_ALIVE_SILENT: usize = 30;

/// How one slow socket ended: how long after it connected the broker closed it, and what the
/// broker sent before.
struct Closed {
    after: Duration,
    received: Vec<u8>,
}

/// Connects and sends nothing; waits for the broker to close (or gives up after `wait`).
async fn silent(addr: SocketAddr, wait: Duration) -> Option<Closed> {
    let mut stream = open_raw(addr).await;
    let started = Instant::now();
    let received = read_until_closed(&mut stream, wait).await?;
    Some(Closed {
        after: started.elapsed(),
        received,
    })
}

/// Sends `bytes` one byte every 200 ms, watching for the close in between; `None` if the broker
/// has not closed after `wait`.
async fn trickle(addr: SocketAddr, bytes: Vec<u8>, wait: Duration) -> Option<Closed> {
    let mut stream = open_raw(addr).await;
    let started = Instant::now();
    let mut received = Vec::new();
    let mut next = 0;
    while started.elapsed() < wait {
        if next < bytes.len() && stream.write_all(&bytes[next..=next]).await.is_ok() {
            next += 1;
        }
        let mut chunk = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut chunk)).await {
            Err(_) => {}
            Ok(Ok(0) | Err(_)) => {
                return Some(Closed {
                    after: started.elapsed(),
                    received,
                });
            }
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
        }
    }
    None
}

/// Connects `client_id` with keep-alive 1 s, reads the CONNACK, then stays silent; the time is
/// counted from the CONNACK.
async fn silent_after_connect(
    addr: SocketAddr,
    client_id: String,
    wait: Duration,
) -> Option<Closed> {
    let mut stream = open_raw(addr).await;
    let connect = Connect {
        keep_alive: 1,
        ..connect_packet(&client_id, true)
    };
    stream
        .write_all(&encode(&Packet::Connect(Box::new(connect))))
        .await
        .expect("send CONNECT");
    let mut connack = [0u8; 4];
    tokio::time::timeout(wait, stream.read_exact(&mut connack))
        .await
        .expect("CONNACK in time")
        .expect("CONNACK");
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
    let started = Instant::now();
    let received = read_until_closed(&mut stream, wait).await?;
    Some(Closed {
        after: started.elapsed(),
        received,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_sockets_are_closed_at_the_connect_timeout_and_the_probe_is_unaffected() {
    let broker = LiveBroker::start(&format!(
        "connect_timeout: {}\ntimeout_disconnect_delay: 0\n",
        CONNECT_TIMEOUT.as_secs_f64()
    ))
    .await;
    let probe = Probe::start(broker.addr(), "slowloris").await;
    let addr = broker.addr();
    // Give up well after the deadline, so a broker that never closes fails instead of hanging.
    let wait = CONNECT_TIMEOUT + MARGIN + Duration::from_secs(2);

    // A long CONNECT (will, credentials): at 5 bytes a second it would take about 12 s.
    let slow_connect = encode(&Packet::Connect(Box::new(Connect {
        will: Some(will("slow/will", "a will message", QoS::AtLeastOnce, false)),
        username: Some("a-slow-user".into()),
        ..connect_packet("slow-client-with-a-long-id", true)
    })));
    let mut tasks = Vec::new();
    for _ in 0..SILENT {
        tasks.push(("silent", tokio::spawn(silent(addr, wait))));
    }
    for _ in 0..TRICKLING {
        let bytes = slow_connect.clone();
        tasks.push((
            "trickling CONNECT",
            tokio::spawn(trickle(addr, bytes, wait)),
        ));
    }
    for _ in 0..HEADER_ONLY {
        // CONNECT, and a remaining length that never ends.
        let bytes = vec![0x10, 0x80];
        tasks.push(("header only", tokio::spawn(trickle(addr, bytes, wait))));
    }
    let mut keep_alive_tasks = Vec::new();
    for i in 0..KEEP_ALIVE_SILENT {
        let id = format!("slow-after-connect-{i}");
        keep_alive_tasks.push(tokio::spawn(silent_after_connect(addr, id, wait)));
    }

    for (what, task) in tasks {
        let closed = task
            .await
            .expect("slow socket task")
            .unwrap_or_else(|| panic!("a {what} socket was still open after {wait:?}"));
        assert!(
            closed.after <= CONNECT_TIMEOUT + MARGIN,
            "a {what} socket was closed only after {:?}",
            closed.after
        );
        // Closing much before the timeout would mean the test measures something else.
        assert!(
            closed.after >= CONNECT_TIMEOUT / 2,
            "a {what} socket was closed already after {:?}",
            closed.after
        );
        assert!(
            closed.received.is_empty(),
            "a {what} socket got {:02x?}",
            closed.received
        );
    }
    // Keep-alive 1 s: closed 1.5 s after the last packet.
    let keep_alive_limit = Duration::from_millis(1500);
    for task in keep_alive_tasks {
        let closed = task
            .await
            .expect("keep-alive task")
            .expect("a client silent past its keep-alive was still open");
        assert!(
            closed.after <= keep_alive_limit + MARGIN,
            "a client silent past its keep-alive was closed only after {:?}",
            closed.after
        );
        assert!(closed.received.is_empty(), "got {:02x?}", closed.received);
    }

    let (report, _probe) = probe.finish().await;
    println!("slowloris: probe {report:?}");
    broker.settle(1).await;
    assert_eq!(
        broker.broker.handle.session_count(),
        1,
        "only the probe's session"
    );
    broker.assert_consistent().await;
}
