//! Waits with a deadline: a condition on broker state, a future, a message, a close.

use std::time::Duration;

use amqtt_core::client::{Message, MqttClient};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::RECV_TIMEOUT;

/// Polls `condition` every 10 ms until it holds, failing the test (naming `what`) after
/// [`RECV_TIMEOUT`]. For broker state that changes after the packet a test can observe, e.g.
/// `handle.session_count()` once a connection has been closed.
pub async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Awaits `future`, failing the test if it takes over [`RECV_TIMEOUT`].
pub async fn in_time<T>(future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(RECV_TIMEOUT, future).await {
        Ok(output) => output,
        Err(_) => panic!("not done within {RECV_TIMEOUT:?}"),
    }
}

/// The next message `client` receives on its subscriptions, failing the test if none arrives
/// within [`RECV_TIMEOUT`] or the connection is closed.
pub async fn next_message(client: &mut MqttClient) -> Message {
    match client.deliver_message(RECV_TIMEOUT).await {
        Some(message) => message,
        None => panic!("no message within {RECV_TIMEOUT:?}"),
    }
}

/// Reads everything the broker sends on a raw `stream` until it closes the connection (end of
/// stream or reset): `Some(bytes)` with all it sent first, or `None` if it is still open after
/// `wait`. For asserting the exact bytes before a close, e.g. a refusing CONNACK or nothing.
pub async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let read_all = async {
        let mut chunk = [0u8; 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(wait, read_all).await.ok()?;
    Some(received)
}
