//! A raw MQTT 5.0 client for these tests: sends and receives whole packets encoded as 5.0.

use amqtt_core::codec::{
    self, ByteString, ConnAck, Connect, LastWill, Packet, ProtocolVersion, ReasonBody, ReasonCode,
};
use amqtt_tests::RECV_TIMEOUT;
use bytes::BytesMut;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A CONNECT of MQTT 5.0 for `client_id` with Clean Start `clean_start` and, if given, a
/// Session Expiry Interval; keep-alive 0, no will.
pub(crate) fn v5_connect(client_id: &str, clean_start: bool, expiry: Option<u32>) -> Connect {
    let mut connect = Connect {
        protocol: ProtocolVersion::V5,
        clean_session: clean_start,
        client_id: ByteString::from(client_id),
        ..Connect::default()
    };
    connect.properties.session_expiry_interval = expiry;
    connect
}

/// `will` with a Will Delay Interval of `seconds`.
pub(crate) fn delayed(mut will: LastWill, seconds: u32) -> LastWill {
    will.properties = Some(
        codec::Properties {
            will_delay_interval: Some(seconds),
            ..codec::Properties::default()
        }
        .into(),
    );
    will
}

/// A raw MQTT 5.0 client over TCP.
pub(crate) struct V5Client {
    stream: TcpStream,
    buf: BytesMut,
}

impl V5Client {
    /// Connects with `connect` (which must name 5.0) and returns the client and the CONNACK.
    pub(crate) async fn connect_with(addr: SocketAddr, connect: Connect) -> (V5Client, ConnAck) {
        let stream = TcpStream::connect(addr).await.expect("tcp connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut client = V5Client {
            stream,
            buf: BytesMut::new(),
        };
        client.send(Packet::Connect(Box::new(connect))).await;
        match client.recv().await {
            Packet::ConnAck(ack) => (client, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects `client_id` (see [`v5_connect`]), asserts success and returns the client and
    /// the CONNACK's session-present flag.
    pub(crate) async fn connect(
        addr: SocketAddr,
        client_id: &str,
        clean_start: bool,
        expiry: Option<u32>,
    ) -> (V5Client, bool) {
        let connect = v5_connect(client_id, clean_start, expiry);
        let (client, ack) = V5Client::connect_with(addr, connect).await;
        assert_eq!(ack.code, ReasonCode::Success);
        (client, ack.session_present)
    }

    /// Sends one packet, encoded as 5.0.
    pub(crate) async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.encode_as(ProtocolVersion::V5, &mut out);
        self.stream.write_all(&out).await.expect("write to broker");
    }

    /// Sends DISCONNECT with `body` and closes the socket.
    pub(crate) async fn disconnect_with(mut self, body: ReasonBody) {
        self.send(Packet::Disconnect(body)).await;
        let _ = self.stream.shutdown().await;
    }

    /// Closes the connection abruptly (RST), as from a client that vanished.
    pub(crate) fn reset(self) {
        let _ = self.stream.set_zero_linger();
    }

    /// The next packet, failing the test after [`RECV_TIMEOUT`] or if the broker closes.
    pub(crate) async fn recv(&mut self) -> Packet {
        match tokio::time::timeout(RECV_TIMEOUT, self.read_packet()).await {
            Ok(Some(packet)) => packet,
            Ok(None) => panic!("broker closed the connection"),
            Err(_) => panic!("no packet from the broker within {RECV_TIMEOUT:?}"),
        }
    }

    /// Asserts the next packet is a DISCONNECT with `reason` and the broker then closes the
    /// connection.
    pub(crate) async fn expect_disconnect(&mut self, reason: ReasonCode) {
        match self.recv().await {
            Packet::Disconnect(body) => assert_eq!(body.reason, reason, "{body:?}"),
            other => panic!("expected DISCONNECT {reason:?}, got {other:?}"),
        }
        self.expect_closed().await;
    }

    /// Asserts the broker closes the connection without sending anything more.
    pub(crate) async fn expect_closed(&mut self) {
        match tokio::time::timeout(RECV_TIMEOUT, self.read_packet()).await {
            Ok(None) => {}
            Ok(Some(packet)) => panic!("expected the close, got {packet:?}"),
            Err(_) => panic!("broker did not close the connection"),
        }
    }

    /// Reads one packet; `None` when the broker closed the connection.
    async fn read_packet(&mut self) -> Option<Packet> {
        loop {
            let max = codec::MAX_REMAINING_LENGTH + 5;
            match codec::decode_as(&mut self.buf, max, ProtocolVersion::V5) {
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
}
