//! The CONNECT exchange: reading the CONNECT within the connect timeout, authenticating,
//! attaching the session and splitting the socket for the reader and the writer, or refusing
//! with a CONNACK.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::time::Instant;

use super::enhanced_auth::{self, Rejected, refusal_connack, write_packet};
use super::framing::{ReadError, read_packet};
use super::outbox::Outbox;
use super::session::Session;
use super::shared::{Core, Shared};
use crate::cluster::Cluster;
use crate::codec::{
    ByteString, ConnAck, Connect, DecodeError, LastWill, Packet, Properties, ProtocolVersion,
    ReasonCode,
};
use crate::plugin::{Hooks, Plugin, SessionInfo};

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

/// A connection's stream and where it comes from, handed on in one box: a connection's future
/// then holds one pointer for them, where an async fn's by-value arguments keep their room in its
/// state for its whole life, long after they were moved on.
pub(crate) struct Incoming<S> {
    pub(crate) stream: S,
    pub(crate) origin: Origin,
}

/// A connection past its CONNECT exchange.
pub(super) struct Opened<S> {
    pub(super) reader: ReadHalf<S>,
    /// What was read past the CONNECT (a client may send its next packets without waiting).
    pub(super) buf: BytesMut,
    pub(super) session: Arc<Session>,
    pub(super) info: Arc<SessionInfo>,
    pub(super) outbox: Arc<Outbox>,
    /// The socket's write half, for the writer the connection's task runs.
    pub(super) writer: WriteHalf<S>,
    pub(super) keep_alive: Option<Duration>,
}

/// Reads and answers the CONNECT, attaches the session and splits the socket; `None` when
/// the connection ends before that (refused, malformed, timed out, or broker shutdown).
pub(super) async fn open<P: Plugin, C: Cluster, S>(
    shared: &Arc<Shared<P, C>>,
    incoming: Box<Incoming<S>>,
) -> Option<Opened<S>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Incoming { mut stream, origin } = *incoming;
    let origin = &origin;
    let core = &*shared.core;
    let peer = origin.peer;
    let max = core.config.max_packet_size;
    let mut buf = BytesMut::new();
    let first = tokio::select! {
        first = tokio::time::timeout_at(origin.accepted + core.config.connect_timeout, read_packet(&mut stream, &mut buf, max, &core.stats, ProtocolVersion::V311)) => first,
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
            let code = ReasonCode::UnsupportedProtocolVersion;
            refuse(
                shared,
                &mut stream,
                ProtocolVersion::V311,
                ConnAck::new(false, code),
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
    let protocol = connect.protocol;
    let Some((mut info, assigned)) = session_info(core, &connect, origin) else {
        tracing::info!(?peer, %protocol, "empty client id refused; CONNACK 0x02 (5.0: 0x85)");
        let code = ReasonCode::ClientIdentifierNotValid;
        refuse(shared, &mut stream, protocol, ConnAck::new(false, code)).await;
        return None;
    };
    // A client that authenticates by method is admitted by that exchange alone: the
    // `authenticate` hook (user name and password) is not asked.
    let mut auth_properties = None;
    if let Some(method) = &connect.properties.authentication_method {
        let data = connect.properties.authentication_data.as_deref();
        let deadline = origin.accepted + core.config.connect_timeout;
        let exchange =
            enhanced_auth::at_connect(shared, &mut stream, &mut buf, info, method, data, deadline);
        match exchange.await {
            Ok((admitted, properties)) => {
                info = admitted;
                auth_properties = Some(properties);
            }
            Err(Rejected::ConnAck(connack)) => {
                refuse(shared, &mut stream, protocol, connack).await;
                return None;
            }
            Err(Rejected::Close) => return None,
        }
    } else if P::HOOKS.contains(Hooks::AUTHENTICATE) {
        let verdict = shared.plugins.authenticate(&info).await;
        if !verdict.admits() {
            core.stats.auth_failures.increment();
            let connack = refusal_connack(verdict.refusal());
            tracing::info!(?peer, client_id = %info.client_id, reason = ?connack.code, "authentication failed; CONNACK 0x05 (5.0: the plugin's reason, else 0x87)");
            refuse(shared, &mut stream, protocol, connack).await;
            return None;
        }
    }
    if C::ENABLED {
        match shared.cluster.claim(&info.client_id).await {
            Ok(Some(handoff)) => {
                core.adopt(handoff).await;
                shared.cluster.adopted(&info.client_id).await;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(?peer, client_id = %info.client_id, error = %e, "cluster cannot settle who owns the client id; CONNACK 0x03 (5.0: 0x88)");
                let connack = ConnAck::new(false, ReasonCode::ServerUnavailable);
                refuse(shared, &mut stream, protocol, connack).await;
                return None;
            }
        }
    }
    let info = Arc::new(info);

    let outbox = Arc::new(Outbox::new(core.config.max_outbound, info.clone()));
    let connack_properties = protocol.is_v5().then(|| {
        let mut properties = connack_properties(core, assigned.then(|| info.client_id.clone()));
        properties.server_keep_alive = server_keep_alive(core, &connect);
        if let Some(auth) = auth_properties {
            properties.authentication_method = auth.authentication_method;
            properties.authentication_data = auth.authentication_data;
        }
        Box::new(properties)
    });
    let (session, present) = core.attach(&info, &outbox, connack_properties).await;
    if core.shutdown.is_fired() {
        // Registered after `Core::shut_down` closed the others: close this one too.
        outbox.push_disconnect(protocol, ReasonCode::ServerShuttingDown);
        outbox.close();
    }
    let connected = core.stats.clients_connected.increment_get();
    core.stats.clients_maximum.raise_to(connected);
    core.stats.clients_total.increment();
    tracing::debug!(?peer, client_id = %info.client_id, session_present = present, "client connected");

    let (reader, writer) = tokio::io::split(stream);
    if P::HOOKS.contains(Hooks::CLIENT_CONNECTED) {
        shared
            .plugins
            .on_broker_client_connected(&info.client_id, &info)
            .await;
    }
    let keep_alive = keep_alive_limit(info.keep_alive, core.config.timeout_disconnect_delay);
    Some(Opened {
        reader,
        buf,
        session,
        info,
        outbox,
        writer,
        keep_alive,
    })
}

/// The session as plugins see it, and whether its client id was assigned by the broker; `None`
/// when an empty client id must be refused (3.1: always; 3.1.1: without clean session; 5.0
/// assigns one whatever the clean start flag says).
///
/// Its fields are copies, not views of the CONNECT frame: the session outlives the frame, and a
/// view would keep the whole read buffer it came in alive.
fn session_info(core: &Core, connect: &Connect, origin: &Origin) -> Option<(SessionInfo, bool)> {
    let copy = |s: &ByteString| ByteString::from(&**s);
    let assigned = connect.client_id.is_empty();
    let client_id = match (assigned, connect.protocol, connect.clean_session) {
        (false, _, _) => copy(&connect.client_id),
        (true, ProtocolVersion::V5, _) | (true, ProtocolVersion::V311, true) => {
            core.generate_client_id()
        }
        (true, _, _) => return None,
    };
    let mut info = SessionInfo::new(client_id);
    info.protocol = connect.protocol;
    if !connect.properties.is_empty() {
        info.properties = Some(Box::new(connect.properties.detached()));
    }
    info.username = connect.username.as_ref().map(copy);
    info.password = connect.password.as_deref().map(Bytes::copy_from_slice);
    info.clean_session = connect.clean_session;
    info.keep_alive = server_keep_alive(core, connect).unwrap_or(connect.keep_alive);
    info.will = connect.will.as_ref().map(|will| LastWill {
        topic: copy(&will.topic),
        message: Bytes::copy_from_slice(&will.message),
        properties: will.properties.as_ref().map(|p| Arc::new(p.detached())),
        ..will.clone()
    });
    info.remote_addr = origin.peer;
    info.listener = Some(origin.listener.clone());
    info.peer_certificates = origin.peer_certificates.clone();
    Some((info, assigned))
}

/// The properties of an MQTT 5.0 CONNACK: the client id the broker assigned, and the limits
/// and features of this broker a client must respect.
fn connack_properties(core: &Core, assigned: Option<ByteString>) -> Properties {
    Properties {
        assigned_client_identifier: assigned,
        maximum_packet_size: u32::try_from(core.config.max_packet_size)
            .ok()
            .and_then(std::num::NonZeroU32::new),
        topic_alias_maximum: Some(core.config.topic_alias_maximum).filter(|&max| max > 0),
        receive_maximum: std::num::NonZeroU16::new(core.config.receive_maximum)
            .filter(|max| max.get() != u16::MAX),
        ..Properties::default()
    }
}

/// The Server Keep Alive for an MQTT 5.0 client that asks for more than `max_keep_alive`, or
/// for none (0): it is held to the maximum. A 3.1.1 client keeps what it asked for (3.1.1 has
/// no way to tell it otherwise).
fn server_keep_alive(core: &Core, connect: &Connect) -> Option<u16> {
    let max = core.config.max_keep_alive?;
    let asked = connect.keep_alive;
    (connect.protocol.is_v5() && (asked == 0 || asked > max)).then_some(max)
}

/// 1.5 times the keep-alive plus the configured grace ([MQTT-3.1.2-24]); `None` when disabled.
fn keep_alive_limit(keep_alive: u16, delay: Duration) -> Option<Duration> {
    (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500) + delay)
}

/// Answers a refused CONNECT with `connack` and lets the connection close.
async fn refuse<P: Plugin, C: Cluster, S: AsyncWrite + Unpin>(
    shared: &Shared<P, C>,
    stream: &mut S,
    protocol: ProtocolVersion,
    connack: ConnAck,
) {
    let _ = write_packet(shared, stream, protocol, &Packet::ConnAck(connack)).await;
    let _ = stream.shutdown().await;
}
