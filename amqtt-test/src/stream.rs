//! Whole MQTT packets over a TCP stream, encoded and decoded for one protocol version: what
//! [`crate::RawClient`] and [`crate::v5::V5Client`] share.

use std::net::SocketAddr;
use std::time::Duration;

use amqtt_core::codec::{self, Packet, ProtocolVersion};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::RECV_TIMEOUT;

/// A TCP connection to a broker that sends and receives whole packets of `version`.
pub(crate) struct PacketStream {
    stream: TcpStream,
    buf: BytesMut,
    version: ProtocolVersion,
}

impl PacketStream {
    /// Opens a TCP connection (no delay) without sending anything.
    pub(crate) async fn open(addr: SocketAddr, version: ProtocolVersion) -> PacketStream {
        let stream = TcpStream::connect(addr).await.expect("tcp connect");
        stream.set_nodelay(true).expect("nodelay");
        PacketStream {
            stream,
            buf: BytesMut::new(),
            version,
        }
    }

    /// Sends one packet.
    pub(crate) async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.encode_as(self.version, &mut out);
        self.send_raw(&out).await;
    }

    /// Sends bytes as they are.
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to broker");
    }

    /// Receives the next packet, failing the test after [`RECV_TIMEOUT`] or if the broker
    /// closes.
    pub(crate) async fn recv(&mut self) -> Packet {
        match self.recv_within(RECV_TIMEOUT).await {
            Some(packet) => packet,
            None => panic!("no packet from the broker within {RECV_TIMEOUT:?}"),
        }
    }

    /// The next packet if one arrives within `wait`; panics if the connection closes.
    pub(crate) async fn recv_within(&mut self, wait: Duration) -> Option<Packet> {
        match tokio::time::timeout(wait, self.read_packet()).await {
            Err(_) => None,
            Ok(Some(packet)) => Some(packet),
            Ok(None) => panic!("broker closed the connection"),
        }
    }

    /// Asserts no packet arrives within `wait` (and the connection stays open).
    pub(crate) async fn expect_silence(&mut self, wait: Duration) {
        if let Some(packet) = self.recv_within(wait).await {
            panic!("expected no packet, got {packet:?}");
        }
    }

    /// Reads one packet; `None` when the broker closed the connection.
    pub(crate) async fn read_packet(&mut self) -> Option<Packet> {
        loop {
            let max = codec::MAX_REMAINING_LENGTH + 5;
            match codec::decode_as(&mut self.buf, max, self.version) {
                Ok(Some(packet)) => return Some(packet),
                Ok(None) => {}
                Err(e) => panic!("broker sent a malformed packet: {e}"),
            }
            self.buf.reserve(4096);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Shuts the write side down, after a DISCONNECT.
    pub(crate) async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Closes the connection abruptly: with linger 0 the close sends RST, as from a client that
    /// vanished.
    pub(crate) fn reset(self) {
        // A socket that cannot take the option still closes, just with FIN.
        let _ = self.stream.set_zero_linger();
    }
}
