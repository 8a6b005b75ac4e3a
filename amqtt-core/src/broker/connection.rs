//! One client connection: the CONNECT handshake, then the reader loop that handles every packet
//! in the connection's own task, while a second task writes the outbox.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::journal::Journal;
use super::outbox::Outbox;
use super::session::Producer;
use super::session::Session;
use super::state::{Core, HeldBack, Shared};
use super::stats::Stats;
use super::subscriptions::SliceYield;
use crate::codec::{
    self, ByteString, ConnAck, Connect, ConnectReturnCode, DecodeError, LastWill, Packet, Publish,
    QoS, SubAck, SubAckCode, Subscribe, Unsubscribe, frame_len,
};
use crate::plugin::{Action, Hooks, Plugin, SessionInfo};
use crate::store::StoreOp;
use crate::topic::valid_topic_filter;

/// Bytes reserved for a read when the size of the next frame is not known yet.
const READ_CHUNK: usize = 4096;
/// Bytes an idle connection reads into its task's own state when data arrives: a full read
/// means more is waiting, and the rest goes to a [`READ_CHUNK`] buffer.
const IDLE_READ: usize = 128;
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

/// Reads one packet, growing `buf` only as far as the frame at hand needs and, beyond one chunk,
/// in proportion to what has arrived.
/// Cancel-safe: a partial frame stays in `buf`.
///
/// An idle connection holds no read buffer: when nothing is buffered and nothing is ready to
/// read, `buf` is released and the wait uses [`IDLE_READ`] bytes of the task's own state.
async fn read_packet<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    max_packet_size: usize,
    stats: &Stats,
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
        let read = if buf.is_empty() {
            buf.reserve(READ_CHUNK);
            let ready = {
                let mut read = std::pin::pin!(reader.read_buf(buf));
                std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await
            };
            match ready {
                Poll::Ready(read) => read,
                Poll::Pending => {
                    *buf = BytesMut::new();
                    let mut first = [0u8; IDLE_READ];
                    let read = reader.read(&mut first).await;
                    if let Ok(n @ 1..) = read {
                        if n == IDLE_READ {
                            buf.reserve(READ_CHUNK);
                        }
                        buf.extend_from_slice(&first[..n]);
                    }
                    read
                }
            }
        } else {
            // Room for at least one chunk (a burst of small packets is read at once) and for
            // the rest of the frame, but not more than the bytes already received: a header
            // that declares a huge frame and sends nothing after it reserves little, and a
            // real large frame still grows in a few doublings.
            buf.reserve(needed.min(buf.len()).max(READ_CHUNK));
            reader.read_buf(buf).await
        };
        match read.map_err(ReadError::Io)? {
            0 if buf.is_empty() => return Ok(None),
            0 => return Err(ReadError::Truncated),
            n => stats.bytes_received.add(n as u64),
        }
    }
}

/// Where a connection comes from.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// The peer's address, when the transport has one.
    pub(crate) peer: Option<SocketAddr>,
    /// The listener's name.
    pub(crate) listener: Arc<str>,
    /// The client's verified TLS certificate chain (DER); empty without one.
    pub(crate) peer_certificates: Vec<Bytes>,
    /// When the connection was accepted: transport handshakes and CONNECT together must be done
    /// within `connect_timeout` of it.
    pub(crate) accepted: Instant,
}

impl Origin {
    /// A connection accepted now, without a client certificate.
    pub(crate) fn new(peer: Option<SocketAddr>, listener: Arc<str>) -> Origin {
        Origin {
            peer,
            listener,
            peer_certificates: Vec::new(),
            accepted: Instant::now(),
        }
    }
}

/// Serves one client connection to its end. The CONNECT exchange and the close run in boxed
/// futures: they are large (authentication, plugin hooks) and short-lived, while the task's own
/// future, which an idle connection holds for its whole life, stays the size of the read loop.
pub(crate) async fn serve<P: Plugin, S>(shared: Arc<Shared<P>>, stream: S, origin: Origin)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Some(opened) = Box::pin(open(&shared, stream, &origin)).await else {
        return;
    };
    let Opened {
        mut reader,
        buf,
        session,
        info,
        outbox,
        writer_task,
        keep_alive,
    } = opened;
    let mut connection = Connection {
        shared: &shared,
        session: &session,
        info: &info,
        outbox: &outbox,
        keep_alive,
    };
    let end = connection.read_loop(&mut reader, buf).await;
    Box::pin(connection.close(end, writer_task)).await;
}

/// A connection past its CONNECT exchange.
struct Opened<S> {
    reader: ReadHalf<S>,
    /// What was read past the CONNECT (a client may send its next packets without waiting).
    buf: BytesMut,
    session: Arc<Session>,
    info: Arc<SessionInfo>,
    outbox: Arc<Outbox>,
    writer_task: JoinHandle<()>,
    keep_alive: Option<Duration>,
}

/// Reads and answers the CONNECT, attaches the session and starts the writer task; `None` when
/// the connection ends before that (refused, malformed, timed out, or broker shutdown).
async fn open<P: Plugin, S>(
    shared: &Arc<Shared<P>>,
    mut stream: S,
    origin: &Origin,
) -> Option<Opened<S>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let core = &*shared.core;
    let peer = origin.peer;
    let max = core.config.max_packet_size;
    let mut buf = BytesMut::new();
    let first = tokio::select! {
        first = tokio::time::timeout_at(origin.accepted + core.config.connect_timeout, read_packet(&mut stream, &mut buf, max, &core.stats)) => first,
        () = core.shutdown.fired() => return None,
    };
    let first = match first {
        Err(_) => {
            tracing::debug!(?peer, "no CONNECT within the connect timeout; closing");
            return None;
        }
        Ok(Ok(Some(packet))) => packet,
        Ok(Ok(None)) => return None,
        Ok(Err(ReadError::Decode(DecodeError::UnsupportedProtocolLevel(level)))) => {
            tracing::info!(?peer, level, "unsupported protocol level; CONNACK 0x01");
            refuse(
                shared,
                &mut stream,
                ConnectReturnCode::UnacceptableProtocolVersion,
            )
            .await;
            return None;
        }
        Ok(Err(e)) => {
            core.stats.protocol_errors.increment();
            tracing::info!(?peer, error = ?e, "invalid CONNECT; closing");
            return None;
        }
    };
    core.stats.packets_received.increment();
    if P::HOOKS.contains(Hooks::PACKET_RECEIVED) {
        shared.plugins.on_mqtt_packet_received(&first, None);
    }
    let Packet::Connect(connect) = first else {
        core.stats.protocol_errors.increment();
        tracing::info!(
            ?peer,
            packet = first.name(),
            "first packet is not CONNECT; closing"
        );
        return None;
    };
    let Some(info) = session_info(core, &connect, origin) else {
        tracing::info!(?peer, "empty client id with clean session 0; CONNACK 0x02");
        refuse(shared, &mut stream, ConnectReturnCode::IdentifierRejected).await;
        return None;
    };
    if P::HOOKS.contains(Hooks::AUTHENTICATE) && !shared.plugins.authenticate(&info).await.admits()
    {
        tracing::info!(?peer, client_id = %info.client_id, "authentication failed; CONNACK 0x05");
        refuse(shared, &mut stream, ConnectReturnCode::NotAuthorized).await;
        return None;
    }
    let info = Arc::new(info);

    let outbox = Arc::new(Outbox::new(core.config.max_outbound));
    let (session, present) = core.attach(&info, &outbox).await;
    if core.shutdown.is_fired() {
        // Registered after `Core::shut_down` closed the others: close this one too.
        outbox.close();
    }
    let connected = core.stats.clients_connected.increment_get();
    core.stats.clients_maximum.raise_to(connected);
    core.stats.clients_total.increment();
    tracing::debug!(?peer, client_id = %info.client_id, session_present = present, "client connected");

    let (reader, writer) = tokio::io::split(stream);
    let writer_task = {
        let shared = shared.clone();
        let outbox = outbox.clone();
        let info = info.clone();
        tokio::spawn(async move {
            let core = &shared.core;
            outbox
                .run_writer(
                    writer,
                    &core.stats,
                    &shared.plugins,
                    &info,
                    core.journal.as_deref(),
                )
                .await;
        })
    };
    if P::HOOKS.contains(Hooks::CLIENT_CONNECTED) {
        shared
            .plugins
            .on_broker_client_connected(&info.client_id, &info)
            .await;
    }
    Some(Opened {
        reader,
        buf,
        session,
        info,
        outbox,
        writer_task,
        keep_alive: keep_alive_limit(connect.keep_alive, core.config.timeout_disconnect_delay),
    })
}

/// The session as plugins see it, or `None` when an empty client id must be refused.
///
/// Its fields are copies, not views of the CONNECT frame: the session outlives the frame, and a
/// view would keep the whole read buffer it came in alive.
fn session_info(core: &Core, connect: &Connect, origin: &Origin) -> Option<SessionInfo> {
    let copy = |s: &ByteString| ByteString::from(&**s);
    let client_id = match (connect.client_id.is_empty(), connect.clean_session) {
        (false, _) => copy(&connect.client_id),
        (true, true) => core.generate_client_id(),
        (true, false) => return None,
    };
    let mut info = SessionInfo::new(client_id);
    info.username = connect.username.as_ref().map(copy);
    info.password = connect.password.as_deref().map(Bytes::copy_from_slice);
    info.clean_session = connect.clean_session;
    info.keep_alive = connect.keep_alive;
    info.will = connect.will.as_ref().map(|will| LastWill {
        topic: copy(&will.topic),
        message: Bytes::copy_from_slice(&will.message),
        ..will.clone()
    });
    info.remote_addr = origin.peer;
    info.listener = Some(origin.listener.clone());
    info.peer_certificates = origin.peer_certificates.clone();
    Some(info)
}

/// 1.5 times the keep-alive plus the configured grace ([MQTT-3.1.2-24]); `None` when disabled.
fn keep_alive_limit(keep_alive: u16, delay: Duration) -> Option<Duration> {
    (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500) + delay)
}

/// Answers a refused CONNECT and lets the connection close.
async fn refuse<P: Plugin, S: AsyncWrite + Unpin>(
    shared: &Shared<P>,
    stream: &mut S,
    code: ConnectReturnCode,
) {
    let connack = Packet::ConnAck(ConnAck {
        session_present: false,
        code,
    });
    if P::HOOKS.contains(Hooks::PACKET_SENT) {
        shared.plugins.on_mqtt_packet_sent(&connack, None);
    }
    let mut out = BytesMut::new();
    connack.encode(&mut out);
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

/// The per-connection state of the reader loop.
struct Connection<'a, P> {
    shared: &'a Shared<P>,
    session: &'a Arc<Session>,
    info: &'a SessionInfo,
    outbox: &'a Arc<Outbox>,
    keep_alive: Option<Duration>,
}

impl<P: Plugin> Connection<'_, P> {
    fn client_id(&self) -> &str {
        &self.info.client_id
    }

    /// Ends the connection: publishes the will unless the client disconnected (or the broker is
    /// stopping), detaches the session, and lets the writer flush what is queued.
    async fn close(&self, end: End, writer_task: JoinHandle<()>) {
        let core = &*self.shared.core;
        tracing::debug!(client_id = self.client_id(), reason = ?end, "client disconnected");
        if end != End::Disconnect
            && end != End::Shutdown
            && let Some(will) = &self.info.will
        {
            let will = Publish {
                dup: false,
                qos: will.qos,
                retain: will.retain,
                topic: will.topic.clone(),
                packet_id: None,
                payload: will.message.clone(),
            };
            self.publish_checked(&will, None).await;
        }
        core.detach(self.session, self.outbox).await;
        core.stats.clients_connected.decrement();
        self.outbox.close();
        if P::HOOKS.contains(Hooks::CLIENT_DISCONNECTED) {
            self.shared
                .plugins
                .on_broker_client_disconnected(self.client_id(), self.info)
                .await;
        }
        let abort = writer_task.abort_handle();
        if tokio::time::timeout(WRITER_GRACE, writer_task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }

    async fn read_loop<R: AsyncRead + Unpin>(&mut self, reader: &mut R, mut buf: BytesMut) -> End {
        let core = &*self.shared.core;
        let max = core.config.max_packet_size;
        let mut held = HeldBack::default();
        loop {
            let read = async {
                // Backpressure: a publisher whose last message went to a congested subscriber
                // is not read until that subscriber drains, for at most `backpressure_timeout`.
                // The broker is the one not reading, so this wait does not count against the
                // publisher's keep-alive. Boxed: only a publisher held back needs this state.
                if !held.is_empty() {
                    Box::pin(held.wait(core.limits, core.config.backpressure_timeout)).await;
                }
                // A client that does not read what we send stops being read. This wait counts
                // against the keep-alive, so a client that neither reads nor sends is dropped.
                let next = async {
                    self.outbox.room().await;
                    read_packet(reader, &mut buf, max, &core.stats).await
                };
                match self.keep_alive {
                    Some(limit) => tokio::time::timeout(limit, next).await.ok(),
                    None => Some(next.await),
                }
            };
            let result = tokio::select! {
                result = read => result,
                // Shutdown closes every outbox (`Core::shut_down`): one wait serves both.
                () = self.outbox.closed() => return match core.shutdown.is_fired() {
                    true => End::Shutdown,
                    false => End::Closed,
                },
            };
            let client_id = self.client_id();
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
                Some(Err(ReadError::Decode(e))) => return self.malformed(e),
            };
            // Boxed, once per read rather than per packet: handling packets (plugin hooks,
            // routing) is most of a connection's state, and an idle connection, waiting above,
            // should not hold it. The box holds a concrete type: no dynamic dispatch.
            if let Some(end) = Box::pin(self.burst(packet, &mut buf, &mut held)).await {
                return end;
            }
        }
    }

    /// Handles `first`, then every packet already buffered after it, without arming the
    /// keep-alive timer or the close and shutdown waits; returns when a read would be needed,
    /// the publisher is held back, or the connection must end (`Some`).
    async fn burst(
        &mut self,
        first: Packet,
        buf: &mut BytesMut,
        held: &mut HeldBack,
    ) -> Option<End> {
        let core = &*self.shared.core;
        let mut packet = first;
        loop {
            if let Some(end) = self.received(packet, held).await {
                return Some(end);
            }
            if !held.is_empty()
                || self.outbox.is_closed()
                || core.shutdown.is_fired()
                || !self.outbox.has_room()
            {
                return None;
            }
            packet = match codec::decode(buf, core.config.max_packet_size) {
                Ok(Some(packet)) => packet,
                Ok(None) => return None,
                Err(e) => return Some(self.malformed(e)),
            };
        }
    }

    /// Counts a packet, shows it to the plugins and handles it; `Some` ends the connection.
    async fn received(&mut self, packet: Packet, held: &mut HeldBack) -> Option<End> {
        self.shared.core.stats.packets_received.increment();
        if self.shared.hooked(Hooks::PACKET_RECEIVED) {
            self.shared
                .plugins
                .on_mqtt_packet_received(&packet, Some(self.info));
        }
        self.handle(packet, held).await
    }

    /// Counts and logs a malformed packet, which ends the connection.
    fn malformed(&self, error: DecodeError) -> End {
        self.shared.core.stats.protocol_errors.increment();
        tracing::warn!(client_id = self.client_id(), %error, "malformed packet; closing connection");
        End::ProtocolError
    }

    /// Handles one packet; `Some` ends the connection.
    async fn handle(&mut self, packet: Packet, held: &mut HeldBack) -> Option<End> {
        let limits = self.shared.core.limits;
        match packet {
            Packet::Publish(publish) => self.handle_publish(publish, held).await,
            Packet::PubAck(id) | Packet::PubComp(id) => self.session.complete(id, limits),
            Packet::PubRec(id) => self.session.received(id),
            Packet::PubRel(id) => {
                let mark = self.durable_mark();
                let mut state = self.session.lock();
                if state.incoming_qos2.remove(&id.get()) {
                    state.journal_op(|client_id| StoreOp::Qos2Released {
                        client_id,
                        packet_id: id,
                    });
                }
                drop(state);
                self.push_durable(Packet::PubComp(id), mark);
            }
            // Boxed: rare, and their futures are large; inline they would enlarge the state
            // every idle connection keeps.
            Packet::Subscribe(subscribe) => Box::pin(self.handle_subscribe(subscribe)).await,
            Packet::Unsubscribe(unsubscribe) => {
                Box::pin(self.handle_unsubscribe(unsubscribe)).await;
            }
            Packet::PingReq => self.outbox.push(Packet::PingResp),
            Packet::Disconnect => return Some(End::Disconnect),
            other @ (Packet::Connect(_)
            | Packet::ConnAck(_)
            | Packet::SubAck(_)
            | Packet::UnsubAck(_)
            | Packet::PingResp) => {
                self.shared.core.stats.protocol_errors.increment();
                tracing::warn!(
                    client_id = self.client_id(),
                    packet = other.name(),
                    "protocol violation; closing connection"
                );
                return Some(End::ProtocolError);
            }
        }
        None
    }

    async fn handle_publish(&mut self, publish: Publish, held: &mut HeldBack) {
        self.shared.core.stats.messages_received.increment();
        if self.shared.hooked(Hooks::MESSAGE_RECEIVED) {
            self.shared
                .plugins
                .on_broker_message_received(self.client_id(), &publish)
                .await;
        }
        let mark = self.durable_mark();
        match (publish.qos, publish.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => {
                self.publish_checked(&publish, Some(held)).await;
                self.push_durable(Packet::PubAck(id), mark);
            }
            (QoS::ExactlyOnce, Some(id)) => {
                // Delivered once when first received; a retransmission (DUP) only gets PUBREC again.
                let mut group = None;
                let first = {
                    let mut state = self.session.lock();
                    // A stored session's id and the copies routed reach the store in one batch
                    // (see `journal.rs`).
                    if state.is_stored() {
                        group = self.shared.core.journal.as_deref().map(Journal::group);
                    }
                    let first = state.incoming_qos2.insert(id.get());
                    if first {
                        state.journal_op(|client_id| StoreOp::Qos2Received {
                            client_id,
                            packet_id: id,
                        });
                    }
                    first
                };
                if first {
                    self.publish_checked(&publish, Some(held)).await;
                }
                drop(group);
                self.push_durable(Packet::PubRec(id), mark);
            }
            _ => self.publish_checked(&publish, Some(held)).await,
        }
    }

    /// Where the store's journal stands before a packet is handled: an acknowledgement pushed
    /// with [`Connection::push_durable`] waits for whatever was journaled after it.
    fn durable_mark(&self) -> u64 {
        self.shared
            .core
            .journal
            .as_ref()
            .map_or(0, |j| j.appended())
    }

    /// Queues an acknowledgement that promises what was journaled since `mark` is durable: in
    /// [`Durability::Always`](crate::store::Durability) it waits for the store's commit when
    /// anything was journaled since (by this packet's handling or, harmlessly, by another
    /// client's). Everything queued after it waits too, so acknowledgements keep their order.
    fn push_durable(&self, packet: Packet, mark: u64) {
        let hold = match &self.shared.core.journal {
            Some(journal) if journal.holds_acks() && journal.appended() > mark => {
                Some(journal.appended())
            }
            _ => None,
        };
        self.outbox.push_held(packet, hold);
    }

    /// Routes a message from this client (or its will) if it may be published: `$` topics are
    /// reserved for the broker (dropped, as aMQTT does) except under a prefix a plugin opened
    /// with [`BrokerContext::open_dollar_prefix`](crate::plugin::BrokerContext::open_dollar_prefix),
    /// and the plugins may deny the topic. `held` receives the congested subscribers to wait for
    /// (see [`Shared::route`]).
    async fn publish_checked(&self, message: &Publish, held: Option<&mut HeldBack>) {
        if message.topic.starts_with('$') && !self.shared.core.dollar_topic_open(&message.topic) {
            tracing::debug!(topic = %message.topic, "client publish to a $ topic dropped");
            return;
        }
        let plugins = &self.shared.plugins;
        if self.shared.hooked(Hooks::TOPIC_FILTERING)
            && !plugins
                .topic_filtering(self.info, &message.topic, Action::Publish)
                .await
                .permits()
        {
            tracing::debug!(client_id = self.client_id(), topic = %message.topic, "publish denied by a plugin");
            return;
        }
        if self.shared.hooked(Hooks::MESSAGE_BROADCAST) {
            plugins
                .on_broker_message_broadcast(self.client_id(), message)
                .await;
        }
        self.shared.route(self.client_id(), message, held).await;
    }

    async fn handle_subscribe(&mut self, subscribe: Subscribe) {
        let shared = self.shared;
        let mut codes = Vec::with_capacity(subscribe.filters.len());
        let mut granted = Vec::with_capacity(subscribe.filters.len());
        let mut slices = SliceYield::default();
        let mark = self.durable_mark();
        for (filter, qos) in subscribe.filters {
            let allowed = valid_topic_filter(&filter)
                && (!P::HOOKS.contains(Hooks::TOPIC_FILTERING)
                    || shared
                        .plugins
                        .topic_filtering(self.info, &filter, Action::Subscribe)
                        .await
                        .permits());
            if allowed {
                codes.push(SubAckCode::Success(qos));
                granted.push((filter, qos));
            } else {
                codes.push(SubAckCode::Failure);
            }
            slices.tick().await;
        }
        if !shared
            .core
            .subscribe(self.session, self.outbox, &granted)
            .await
        {
            // Taken over (or the session ended) meanwhile: this connection is closing and its
            // subscriptions would belong to a session it no longer has.
            return;
        }
        self.push_durable(
            Packet::SubAck(SubAck {
                packet_id: subscribe.packet_id,
                codes,
            }),
            mark,
        );
        if P::HOOKS.contains(Hooks::CLIENT_SUBSCRIBED) {
            for (filter, qos) in &granted {
                shared
                    .plugins
                    .on_broker_client_subscribed(self.client_id(), filter, *qos)
                    .await;
                slices.tick().await;
            }
        }
        // Retained messages go to this subscriber only, for each filter just subscribed.
        for (filter, qos) in granted {
            for message in shared.core.router.retained_matching(&filter) {
                shared
                    .deliver(self.session, &message, qos, Producer::Capped)
                    .await;
            }
            slices.tick().await;
        }
    }

    async fn handle_unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        let mark = self.durable_mark();
        if !self
            .shared
            .core
            .unsubscribe(self.session, self.outbox, &unsubscribe.filters)
            .await
        {
            return; // taken over meanwhile: this connection is closing
        }
        self.push_durable(Packet::UnsubAck(unsubscribe.packet_id), mark);
        if P::HOOKS.contains(Hooks::CLIENT_UNSUBSCRIBED) {
            let mut slices = SliceYield::default();
            for filter in &unsubscribe.filters {
                self.shared
                    .plugins
                    .on_broker_client_unsubscribed(self.client_id(), filter)
                    .await;
                slices.tick().await;
            }
        }
    }
}
