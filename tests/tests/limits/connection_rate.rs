//! A listener's `max_connection_rate`: connections past it are closed before any handshake.

use std::time::Duration;

use amqtt_core::codec::Packet;
use amqtt_tests::{TestBroker, connect_packet};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{bind_with_sys, sys_shows, sys_watcher};

/// Opens a connection to `addr`, sends a CONNECT and tells whether a CONNACK came back
/// (`false`: the broker closed the connection).
async fn connects(addr: std::net::SocketAddr, client_id: String) -> bool {
    let mut stream = TcpStream::connect(addr).await.expect("TCP connect");
    let mut out = BytesMut::new();
    Packet::Connect(Box::new(connect_packet(&client_id, true))).encode(&mut out);
    // A refused connection may already be closed: the write can fail.
    let _ = stream.write_all(&out).await;
    let mut first = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut first)).await;
    matches!(read, Ok(Ok(1))) && first[0] == 0x20
}

#[tokio::test]
async fn connections_past_the_rate_are_closed_and_the_rate_refills() {
    // 5 a second with a burst of 5, on a second listener: the default one stays open.
    let broker =
        bind_with_sys("  limited:\n    bind: 127.0.0.1:0\n    max-connection-rate: 5\n").await;
    let limited = broker.local_addr("limited").expect("limited listener");
    let broker = TestBroker::serve(broker);
    let mut sys = sys_watcher(&broker, "clients/refused/rate").await;

    // A flood of 20 at once: the burst gets in (plus one refilled every 0.2 s the flood lasts).
    let flood: Vec<_> = (0..20)
        .map(|i| tokio::spawn(connects(limited, format!("flood{i}"))))
        .collect();
    let mut accepted = 0;
    for attempt in flood {
        accepted += u64::from(attempt.await.expect("attempt"));
    }
    assert!((5..=7).contains(&accepted), "{accepted} accepted");
    let refused = broker.handle.stats().connections_rate_limited.get();
    assert_eq!(refused, 20 - accepted);
    // Refused before any handshake: no CONNECT of theirs was read.
    assert_eq!(broker.handle.stats().clients_total.get(), accepted + 1);

    // A fifth of a second later there is a token again.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(connects(limited, "later".into()).await);
    sys_shows(&mut sys, "clients/refused/rate", refused).await;
    broker.stop().await;
}
