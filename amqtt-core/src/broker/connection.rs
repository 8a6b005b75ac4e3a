//! One client connection: the CONNECT handshake, then the reader loop that handles every packet
//! in the connection's own task, while a second task writes the outbox.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::outbox::Outbox;
use super::session::Session;
use super::state::Shared;
use crate::codec::{
    self, ConnAck, Connect, ConnectReturnCode, DecodeError, Packet, Publish, QoS, SubAck,
    SubAckCode, Subscribe, Unsubscribe, frame_len,
};
use crate::plugin::Plugin;
use crate::topic::valid_topic_filter;

/// Bytes reserved for a read when the size of the next frame is not known yet.
const READ_CHUNK: usize = 4096;
/// A read buffer larger than this is released once it is empty.
const KEEP_READ_BUFFER: usize = 64 * 1024;
/// How long the writer may take to flush after the reader has finished.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// Why reading a packet failed.
#[derive(Debug)]
enum ReadError {
    Decode(DecodeError),
    Io(std::io::Error),
    /// The peer closed in the middle of a packet.
    Truncated,
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client sent DISCONNECT: no will.
    Disconnect,
    /// The socket closed or failed, or the connection was taken over.
    Closed,
    /// No packet within 1.5 times the keep-alive.
    KeepAliveExpired,
    /// A malformed packet or a protocol violation.
    ProtocolError,
    /// The broker is shutting down: no will.
    Shutdown,
}

/// Reads one packet, growing `buf` only as far as the frame at hand needs.
/// Cancel-safe: a partial frame stays in `buf`.
async fn read_packet<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    max_packet_size: usize,
) -> Result<Option<Packet>, ReadError> {
    loop {
        if let Some(packet) = codec::decode(buf, max_packet_size).map_err(ReadError::Decode)? {
            if buf.is_empty() && buf.capacity() > KEEP_READ_BUFFER {
                *buf = BytesMut::new();
            }
            return Ok(Some(packet));
        }
        let needed = match frame_len(buf, max_packet_size).map_err(ReadError::Decode)? {
            Some(total) => total - buf.len(),
            None => 1,
        };
        buf.reserve(needed.max(READ_CHUNK));
        if reader.read_buf(buf).await.map_err(ReadError::Io)? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(ReadError::Truncated)
            };
        }
    }
}

/// Serves one client connection to its end.
pub(crate) async fn serve<P: Plugin, S>(shared: Arc<Shared<P>>, mut stream: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let max = shared.config.max_packet_size;
    let mut buf = BytesMut::new();
    let first = tokio::select! {
        first = tokio::time::timeout(shared.config.connect_timeout, read_packet(&mut stream, &mut buf, max)) => first,
        () = shared.shutdown.fired() => return,
    };
    let connect = match first {
        Err(_) => {
            tracing::debug!(%peer, "no CONNECT within the connect timeout; closing");
            return;
        }
        Ok(Ok(Some(Packet::Connect(connect)))) => connect,
        Ok(Ok(Some(other))) => {
            shared.stats.protocol_errors.increment();
            tracing::info!(%peer, packet = other.name(), "first packet is not CONNECT; closing");
            return;
        }
        Ok(Ok(None)) => return,
        Ok(Err(ReadError::Decode(DecodeError::UnsupportedProtocolLevel(level)))) => {
            tracing::info!(%peer, level, "unsupported protocol level; CONNACK 0x01");
            refuse(&mut stream, ConnectReturnCode::UnacceptableProtocolVersion).await;
            return;
        }
        Ok(Err(e)) => {
            shared.stats.protocol_errors.increment();
            tracing::info!(%peer, error = ?e, "invalid CONNECT; closing");
            return;
        }
    };
    let Some(client_id) = client_id(&shared, &connect) else {
        tracing::info!(%peer, "empty client id with clean session 0; CONNACK 0x02");
        refuse(&mut stream, ConnectReturnCode::IdentifierRejected).await;
        return;
    };

    let outbox = Arc::new(Outbox::new(shared.config.max_outbound));
    let (session, present) = shared.attach(&client_id, connect.clean_session, &outbox);
    shared.stats.clients_connected.increment();
    shared.stats.clients_total.increment();
    tracing::debug!(%peer, client_id = %client_id, session_present = present, "client connected");

    let (mut reader, writer) = tokio::io::split(stream);
    let writer_task = {
        let shared = shared.clone();
        let outbox = outbox.clone();
        tokio::spawn(async move { outbox.run_writer(writer, &shared.stats).await })
    };
    let mut connection = Connection {
        shared: &shared,
        session: &session,
        outbox: &outbox,
        keep_alive: keep_alive_limit(connect.keep_alive, shared.config.timeout_disconnect_delay),
    };
    let end = connection.read_loop(&mut reader, buf, &client_id).await;
    tracing::debug!(client_id = %client_id, reason = ?end, "client disconnected");

    if end != End::Disconnect && end != End::Shutdown {
        if let Some(will) = connect.will {
            publish_from_client(
                &shared,
                Publish {
                    dup: false,
                    qos: will.qos,
                    retain: will.retain,
                    topic: will.topic,
                    packet_id: None,
                    payload: will.message,
                },
            );
        }
    }
    shared.detach(&session, &outbox);
    shared.stats.clients_connected.decrement();
    outbox.close();
    let abort = writer_task.abort_handle();
    if tokio::time::timeout(WRITER_GRACE, writer_task)
        .await
        .is_err()
    {
        abort.abort();
    }
}

/// The client id to use, or `None` when an empty one must be refused (clean session 0).
fn client_id<P: Plugin>(shared: &Shared<P>, connect: &Connect) -> Option<codec::ByteString> {
    match (connect.client_id.is_empty(), connect.clean_session) {
        (false, _) => Some(connect.client_id.clone()),
        (true, true) => Some(shared.generate_client_id()),
        (true, false) => None,
    }
}

/// 1.5 times the keep-alive plus the configured grace ([MQTT-3.1.2-24]); `None` when disabled.
fn keep_alive_limit(keep_alive: u16, delay: Duration) -> Option<Duration> {
    (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500) + delay)
}

/// Answers a refused CONNECT and lets the connection close.
async fn refuse<S: AsyncWrite + Unpin>(stream: &mut S, code: ConnectReturnCode) {
    let mut out = BytesMut::new();
    Packet::ConnAck(ConnAck {
        session_present: false,
        code,
    })
    .encode(&mut out);
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

/// Routes a message from a client. `$` topics are reserved for the broker: dropped, as aMQTT does.
fn publish_from_client<P: Plugin>(shared: &Shared<P>, message: Publish) {
    if message.topic.starts_with('$') {
        tracing::debug!(topic = %message.topic, "client publish to a $ topic dropped");
        return;
    }
    shared.publish(message);
}

/// The per-connection state of the reader loop.
struct Connection<'a, P> {
    shared: &'a Shared<P>,
    session: &'a Arc<Session>,
    outbox: &'a Arc<Outbox>,
    keep_alive: Option<Duration>,
}

impl<P: Plugin> Connection<'_, P> {
    async fn read_loop<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut R,
        mut buf: BytesMut,
        client_id: &str,
    ) -> End {
        let max = self.shared.config.max_packet_size;
        loop {
            let read = async {
                // Backpressure: a client that does not read what we send stops being read.
                // The wait counts against the keep-alive, so a client that neither reads nor
                // sends is still dropped.
                let next = async {
                    self.outbox.room().await;
                    read_packet(reader, &mut buf, max).await
                };
                match self.keep_alive {
                    Some(limit) => tokio::time::timeout(limit, next).await.ok(),
                    None => Some(next.await),
                }
            };
            let result = tokio::select! {
                result = read => result,
                () = self.outbox.closed() => return End::Closed,
                () = self.shared.shutdown.fired() => return End::Shutdown,
            };
            let packet = match result {
                None => {
                    tracing::info!(client_id, "keep-alive expired; closing");
                    return End::KeepAliveExpired;
                }
                Some(Ok(Some(packet))) => packet,
                Some(Ok(None)) => return End::Closed,
                Some(Err(ReadError::Io(e))) => {
                    tracing::debug!(client_id, error = %e, "read failed");
                    return End::Closed;
                }
                Some(Err(ReadError::Truncated)) => return End::Closed,
                Some(Err(ReadError::Decode(e))) => {
                    self.shared.stats.protocol_errors.increment();
                    tracing::warn!(client_id, error = %e, "malformed packet; closing connection");
                    return End::ProtocolError;
                }
            };
            if let Some(end) = self.handle(packet, client_id) {
                return end;
            }
        }
    }

    /// Handles one packet; `Some` ends the connection.
    fn handle(&mut self, packet: Packet, client_id: &str) -> Option<End> {
        let limits = self.shared.limits;
        match packet {
            Packet::Publish(publish) => self.handle_publish(publish),
            Packet::PubAck(id) | Packet::PubComp(id) => self.session.complete(id, limits),
            Packet::PubRec(id) => self.session.received(id),
            Packet::PubRel(id) => {
                self.session.lock().incoming_qos2.remove(&id.get());
                self.outbox.push(Packet::PubComp(id));
            }
            Packet::Subscribe(subscribe) => self.handle_subscribe(subscribe),
            Packet::Unsubscribe(unsubscribe) => self.handle_unsubscribe(unsubscribe),
            Packet::PingReq => self.outbox.push(Packet::PingResp),
            Packet::Disconnect => return Some(End::Disconnect),
            other @ (Packet::Connect(_)
            | Packet::ConnAck(_)
            | Packet::SubAck(_)
            | Packet::UnsubAck(_)
            | Packet::PingResp) => {
                self.shared.stats.protocol_errors.increment();
                tracing::warn!(
                    client_id,
                    packet = other.name(),
                    "protocol violation; closing connection"
                );
                return Some(End::ProtocolError);
            }
        }
        None
    }

    fn handle_publish(&mut self, publish: Publish) {
        self.shared.stats.messages_received.increment();
        match (publish.qos, publish.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => {
                publish_from_client(self.shared, publish);
                self.outbox.push(Packet::PubAck(id));
            }
            (QoS::ExactlyOnce, Some(id)) => {
                // Delivered once when first received; a retransmission (DUP) only gets PUBREC again.
                let first = self.session.lock().incoming_qos2.insert(id.get());
                if first {
                    publish_from_client(self.shared, publish);
                }
                self.outbox.push(Packet::PubRec(id));
            }
            _ => publish_from_client(self.shared, publish),
        }
    }

    fn handle_subscribe(&mut self, subscribe: Subscribe) {
        let mut codes = Vec::with_capacity(subscribe.filters.len());
        let mut granted = Vec::with_capacity(subscribe.filters.len());
        for (filter, qos) in subscribe.filters {
            if !valid_topic_filter(&filter) {
                codes.push(SubAckCode::Failure);
                continue;
            }
            self.session
                .lock()
                .subscriptions
                .insert(filter.to_string(), qos);
            self.shared.router.subscribe(&filter, self.session, qos);
            codes.push(SubAckCode::Success(qos));
            granted.push((filter, qos));
        }
        self.outbox.push(Packet::SubAck(SubAck {
            packet_id: subscribe.packet_id,
            codes,
        }));
        // Retained messages go to this subscriber only, for each filter just subscribed.
        for (filter, qos) in granted {
            for message in self.shared.router.retained_matching(&filter) {
                let qos = message.qos.min(qos);
                self.session
                    .deliver(message, qos, self.shared.limits, &self.shared.stats);
            }
        }
    }

    fn handle_unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        for filter in &unsubscribe.filters {
            if self
                .session
                .lock()
                .subscriptions
                .remove(&**filter)
                .is_some()
            {
                self.shared.router.unsubscribe(filter, self.session.key);
            }
        }
        self.outbox.push(Packet::UnsubAck(unsubscribe.packet_id));
    }
}
