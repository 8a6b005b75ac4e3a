//! The end of a connection the broker closes after a server DISCONNECT
//! (`Outbox::push_disconnect`): the packet must reach the client before the socket closes.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Longest the broker keeps reading a connection it sent a DISCONNECT to.
const LINGER: Duration = Duration::from_millis(500);

/// Reads and discards what the client still sends, until it closes or [`LINGER`] passes. A
/// socket closed with unread bytes in its receive buffer is reset, and a reset may destroy the
/// DISCONNECT still in flight to the client (after, say, a packet too large whose body was
/// never read).
pub(super) async fn linger<R: AsyncRead + Unpin>(reader: &mut R) {
    let drain = async {
        let mut scratch = [0u8; 512];
        while let Ok(1..) = reader.read(&mut scratch).await {}
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}
