//! Raw MQTT connection helpers: packet ids, packet reading and a whole-packet client.

use std::net::SocketAddr;
use std::time::Duration;

use amqtt_core::codec::{self, ByteString, Packet, PacketId, QoS, Subscribe};
use amqtt_test::connect_packet;
use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Result;

/// Longest wait for any single answer from the broker (SUBACK, CONNACK).
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);

/// A packet id from a counter (wraps, never zero).
pub(crate) fn packet_id(counter: u64) -> PacketId {
    PacketId::new((counter % 65_535) as u16 + 1).expect("1..=65535 is non-zero")
}

/// Reads the next packet from `stream` into `buf`; `None` once the broker has closed.
pub(crate) async fn read_packet<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut BytesMut,
) -> Result<Option<Packet>> {
    loop {
        if let Some(packet) = codec::decode(buf, codec::MAX_REMAINING_LENGTH + 5)? {
            return Ok(Some(packet));
        }
        buf.reserve(64 * 1024);
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// A raw MQTT client that sends and receives whole packets.
pub(crate) struct Client {
    /// The connection.
    pub(crate) stream: TcpStream,
    /// Received bytes not yet decoded.
    pub(crate) buf: BytesMut,
}

impl Client {
    /// Connects with a clean session and waits for an accepting CONNACK.
    pub(crate) async fn connect(addr: SocketAddr, client_id: &str) -> Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut client = Client {
            stream,
            buf: BytesMut::new(),
        };
        client
            .send(&Packet::Connect(Box::new(connect_packet(client_id, true))))
            .await?;
        match client.recv().await? {
            Packet::ConnAck(ack) if ack.code == codec::ReasonCode::Success => Ok(client),
            other => {
                Err(format!("{client_id}: expected an accepting CONNACK, got {other:?}").into())
            }
        }
    }

    /// Sends one packet.
    pub(crate) async fn send(&mut self, packet: &Packet) -> Result<()> {
        let mut out = BytesMut::with_capacity(packet.encoded_len());
        packet.encode(&mut out);
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// Receives the next packet within [`ANSWER_TIMEOUT`].
    async fn recv(&mut self) -> Result<Packet> {
        match tokio::time::timeout(ANSWER_TIMEOUT, read_packet(&mut self.stream, &mut self.buf))
            .await
        {
            Err(_) => Err(format!("no packet from the broker within {ANSWER_TIMEOUT:?}").into()),
            Ok(Ok(Some(packet))) => Ok(packet),
            Ok(Ok(None)) => Err("the broker closed the connection".into()),
            Ok(Err(e)) => Err(e),
        }
    }

    /// Waits for the SUBACK of `id` and checks it grants all `count` filters.
    pub(crate) async fn expect_suback(&mut self, id: PacketId, count: usize) -> Result<()> {
        loop {
            match self.recv().await? {
                Packet::SubAck(ack) if ack.packet_id == id => {
                    let failed = ack
                        .codes
                        .iter()
                        .filter(|c| matches!(c, codec::SubAckCode::Failure(_)))
                        .count();
                    if ack.codes.len() != count || failed > 0 {
                        return Err(format!(
                            "SUBACK with {} codes ({failed} failures) for {count} filters",
                            ack.codes.len()
                        )
                        .into());
                    }
                    return Ok(());
                }
                Packet::Publish(_) | Packet::PubAck(_) => {}
                other => return Err(format!("expected SUBACK, got {other:?}").into()),
            }
        }
    }

    /// Subscribes to `filters` in SUBSCRIBEs of `chunk` filters, waiting for each SUBACK.
    pub(crate) async fn subscribe_many(
        &mut self,
        filters: impl Iterator<Item = String>,
        chunk: usize,
    ) -> Result<()> {
        let mut counter = 0;
        let mut batch = Vec::with_capacity(chunk);
        let mut filters = filters.peekable();
        while filters.peek().is_some() {
            batch.clear();
            batch.extend(
                filters
                    .by_ref()
                    .take(chunk)
                    .map(|f| (ByteString::from(f), QoS::AtMostOnce.into())),
            );
            counter += 1;
            let id = packet_id(counter);
            let count = batch.len();
            self.send(&Packet::Subscribe(Subscribe {
                packet_id: id,
                filters: std::mem::take(&mut batch),
                properties: None,
            }))
            .await?;
            self.expect_suback(id, count).await?;
        }
        Ok(())
    }

    /// Sends DISCONNECT (if `polite`) and closes the socket.
    pub(crate) async fn close(mut self, polite: bool) -> Result<()> {
        if polite {
            self.send(&Packet::Disconnect(Default::default())).await?;
        }
        self.stream.shutdown().await?;
        drop(self.stream);
        Ok(())
    }
}
