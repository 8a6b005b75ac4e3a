//! The background task that owns a client connection: it reads packets, answers the QoS
//! handshakes, coalesces writes, sends keep-alive pings and reconnects.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

mod handle;
mod reauth;
mod server;

pub(super) use server::ServerLimits;

use super::auth;
use super::options::Settings;
use super::{ClientError, Message};
use crate::codec::{
    self, ByteString, ConnAck, Packet, PacketId, Properties, ProtocolVersion, Publish, ReasonBody,
    ReasonCode, SubAckCode, Subscribe, SubscriptionOptions, Unsubscribe,
};
use crate::plugin::{Hooks, Plugin};
use crate::topic::alias::{InboundAliases, OutboundAliases};
use crate::transport::client::{ClientStream, ClientTransport};

/// The largest packet the client accepts.
const MAX_PACKET: usize = codec::MAX_REMAINING_LENGTH + 5;

/// The first delay between reconnection attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// A responder for one operation.
type Done<T> = oneshot::Sender<Result<T, ClientError>>;

/// Filters with their subscription options.
type Filters = Vec<(ByteString, SubscriptionOptions)>;

/// A SUBSCRIBE awaiting its SUBACK: its filters and properties, and the caller to answer (none
/// for the re-subscription after a reconnect).
type PendingSubscribe = (
    Filters,
    Option<Box<Properties>>,
    Option<Done<Vec<SubAckCode>>>,
);

/// A request from [`MqttClient`](super::MqttClient) to its task.
#[derive(Debug)]
pub(super) enum Command {
    Publish {
        publish: Publish,
        done: Done<()>,
    },
    Subscribe {
        filters: Filters,
        properties: Option<Box<Properties>>,
        done: Done<Vec<SubAckCode>>,
    },
    Unsubscribe {
        filters: Vec<ByteString>,
        done: Done<()>,
    },
    Disconnect {
        done: oneshot::Sender<()>,
    },
    Reauthenticate {
        done: Done<()>,
    },
}

/// An outgoing QoS 1/2 publish awaiting its acknowledgement.
#[derive(Debug)]
struct Outgoing {
    publish: Publish,
    /// QoS 2: PUBREC received and PUBREL sent.
    released: bool,
    done: Option<Done<()>>,
}

/// How a connection ended.
enum Exit {
    /// Closed on purpose (disconnect, or the client is gone).
    Done,
    /// Lost: reconnect if configured.
    Lost,
}

/// Opens a connection: transport, CONNECT, the AUTH exchange of an enhanced authentication
/// method (MQTT 5.0), CONNACK. Returns the stream, the bytes read after the CONNACK, and the
/// CONNACK.
pub(super) async fn open<P: Plugin>(
    transport: &ClientTransport,
    settings: &Settings,
    plugins: &P,
) -> Result<(ClientStream, BytesMut, ConnAck), ClientError> {
    let mut stream = transport.connect().await?;
    let mut connect = settings.connect.clone();
    let authenticator = settings.authenticator.as_ref().map(|a| &*a.0);
    let mut history = Vec::new();
    if let Some(authenticator) = authenticator {
        let data = authenticator.start();
        history.push(data.clone().unwrap_or_default());
        connect.properties.authentication_method = Some(ByteString::from(authenticator.method()));
        connect.properties.authentication_data = data;
    }
    let protocol = connect.protocol;
    send(
        &mut stream,
        plugins,
        protocol,
        &Packet::Connect(Box::new(connect)),
    )
    .await?;
    let mut buf = BytesMut::new();
    let exchange = async {
        loop {
            let packet = read(&mut stream, &mut buf, protocol).await?;
            if P::HOOKS.contains(Hooks::PACKET_RECEIVED) {
                plugins.on_mqtt_packet_received(&packet, None);
            }
            let (Some(authenticator), Packet::Auth(body)) = (authenticator, &packet) else {
                return Ok::<_, ClientError>(packet);
            };
            let answer = auth::answer(authenticator, &mut history, body)
                .map_err(ClientError::Authentication)?;
            send(&mut stream, plugins, protocol, &answer).await?;
        }
    };
    let packet = tokio::time::timeout(settings.connack_timeout, exchange)
        .await
        .map_err(|_| ClientError::ConnAckTimeout(settings.connack_timeout))??;
    match packet {
        Packet::ConnAck(ack) if ack.code == ReasonCode::Success => {
            if let Some(authenticator) = authenticator {
                let data = ack
                    .properties
                    .as_ref()
                    .and_then(|p| p.authentication_data.as_deref());
                authenticator
                    .finish(&history, data)
                    .map_err(ClientError::Authentication)?;
            }
            Ok((stream, buf, ack))
        }
        Packet::ConnAck(ack) => Err(ClientError::Refused(ack.code)),
        other => Err(ClientError::Protocol(format!(
            "expected CONNACK, got {}",
            other.name()
        ))),
    }
}

/// Writes one packet of the CONNECT exchange, showing it to the plugins first.
async fn send<P: Plugin>(
    stream: &mut ClientStream,
    plugins: &P,
    protocol: ProtocolVersion,
    packet: &Packet,
) -> Result<(), ClientError> {
    if P::HOOKS.contains(Hooks::PACKET_SENT) {
        plugins.on_mqtt_packet_sent(packet, None);
    }
    let mut out = BytesMut::new();
    packet.encode_as(protocol, &mut out);
    stream.write_all(&out).await?;
    stream.flush().await?;
    Ok(())
}

/// Reads one packet of the CONNECT exchange.
async fn read(
    stream: &mut ClientStream,
    buf: &mut BytesMut,
    protocol: ProtocolVersion,
) -> Result<Packet, ClientError> {
    loop {
        match codec::decode_as(buf, MAX_PACKET, protocol) {
            Ok(Some(packet)) => return Ok(packet),
            Ok(None) => {}
            Err(e) => return Err(ClientError::Protocol(e.to_string())),
        }
        buf.reserve(4096);
        if stream.read_buf(buf).await? == 0 {
            return Err(ClientError::Protocol(
                "the broker closed the connection before CONNACK".into(),
            ));
        }
    }
}

/// The state of a client connection, kept across reconnections.
pub(super) struct Connection<P> {
    transport: Arc<ClientTransport>,
    settings: Arc<Settings>,
    plugins: Arc<P>,
    commands: mpsc::UnboundedReceiver<Command>,
    messages: mpsc::UnboundedSender<Message>,
    /// The protocol spoken.
    version: ProtocolVersion,
    /// The broker's limits from the last CONNACK.
    server: ServerLimits,
    /// QoS 1/2 publishes waiting for room under the broker's Receive Maximum.
    waiting: VecDeque<Outgoing>,
    /// The reason of the last DISCONNECT the broker sent (MQTT 5.0).
    disconnect_reason: Arc<Mutex<Option<ReasonCode>>>,
    /// Encoded packets waiting to be written.
    out: BytesMut,
    next_id: u16,
    outgoing: BTreeMap<u16, Outgoing>,
    subscribing: HashMap<u16, PendingSubscribe>,
    unsubscribing: HashMap<u16, (Vec<ByteString>, Done<()>)>,
    /// Incoming QoS 2 ids delivered and awaiting PUBREL.
    incoming: HashSet<u16>,
    /// The granted subscriptions, re-subscribed after a reconnect.
    subscriptions: Filters,
    disconnecting: Option<oneshot::Sender<()>>,
    /// The client ends this connection for good once what is queued is written, without
    /// reconnecting: a broker failed the authenticator's check of its final data.
    closing: bool,
    /// The re-authentication in progress (MQTT 5.0): the data exchanged so far, and its caller.
    reauthentication: Option<(Vec<Bytes>, Done<()>)>,
    /// The topic aliases the broker set on this network connection (MQTT 5.0; only when the
    /// CONNECT's Topic Alias Maximum allowed it).
    aliases: InboundAliases,
    /// The topic aliases this client gave its topics on this network connection (MQTT 5.0;
    /// `None` unless both the options and the broker allow them).
    outbound_aliases: Option<OutboundAliases>,
}

impl<P: Plugin> Connection<P> {
    pub(super) fn new(
        transport: ClientTransport,
        settings: Settings,
        plugins: Arc<P>,
        commands: mpsc::UnboundedReceiver<Command>,
        messages: mpsc::UnboundedSender<Message>,
        connack: &ConnAck,
        disconnect_reason: Arc<Mutex<Option<ReasonCode>>>,
    ) -> Connection<P> {
        let mut connection = Connection {
            version: settings.connect.protocol,
            transport: Arc::new(transport),
            settings: Arc::new(settings),
            plugins,
            commands,
            messages,
            server: ServerLimits::from_connack(connack),
            waiting: VecDeque::new(),
            disconnect_reason,
            out: BytesMut::new(),
            next_id: 0,
            outgoing: BTreeMap::new(),
            subscribing: HashMap::new(),
            unsubscribing: HashMap::new(),
            incoming: HashSet::new(),
            subscriptions: Vec::new(),
            disconnecting: None,
            closing: false,
            reauthentication: None,
            aliases: InboundAliases::default(),
            outbound_aliases: None,
        };
        connection.outbound_aliases = connection.new_outbound_aliases();
        connection
    }

    /// Fresh outbound topic aliases for a new network connection: as many as both the options
    /// and the broker's last CONNACK allow, `None` for none.
    fn new_outbound_aliases(&self) -> Option<OutboundAliases> {
        let maximum = self.settings.outbound_topic_aliases;
        OutboundAliases::new(maximum.min(self.server.topic_alias_maximum))
    }

    /// Serves the connection, reconnecting after a loss while configured to.
    pub(super) async fn run(mut self, mut stream: ClientStream, mut buf: BytesMut) {
        loop {
            match self.serve(&mut stream, &mut buf).await {
                Exit::Done => return,
                Exit::Lost => {
                    tracing::debug!("client connection lost");
                    self.out.clear();
                    if !self.settings.auto_reconnect {
                        return;
                    }
                    let Some((s, b)) = self.reconnect().await else {
                        return;
                    };
                    (stream, buf) = (s, b);
                    self.resume();
                }
            }
        }
    }

    /// Reconnects with exponential backoff; `None` once the retries are exhausted.
    async fn reconnect(&mut self) -> Option<(ClientStream, BytesMut)> {
        let mut delay = FIRST_BACKOFF.min(self.settings.reconnect_max_interval);
        let mut attempts: i64 = 0;
        loop {
            let retries = self.settings.reconnect_retries;
            if retries >= 0 && attempts >= i64::from(retries) {
                tracing::debug!("client gives up reconnecting after {attempts} attempts");
                return None;
            }
            attempts += 1;
            self.wait_commands(tokio::time::sleep(delay)).await?;
            delay = (delay * 2).min(self.settings.reconnect_max_interval);
            let (transport, settings) = (Arc::clone(&self.transport), Arc::clone(&self.settings));
            let plugins = Arc::clone(&self.plugins);
            let opening = async move { open(&transport, &settings, &*plugins).await };
            match self.wait_commands(opening).await? {
                Ok((stream, buf, connack)) => {
                    // What commands queued is re-sent by `resume`; a re-authentication asked
                    // for meanwhile is moot (its caller is told the connection closed).
                    self.out.clear();
                    self.reauthentication = None;
                    self.aliases = InboundAliases::default();
                    self.server = ServerLimits::from_connack(&connack);
                    self.outbound_aliases = self.new_outbound_aliases();
                    return Some((stream, buf));
                }
                Err(e) => tracing::debug!("client reconnection failed: {e}"),
            }
        }
    }

    /// Runs `future` while taking commands (so callers do not wait on a dead connection);
    /// `None` if the client disconnected or is gone meanwhile.
    async fn wait_commands<T>(&mut self, future: impl Future<Output = T>) -> Option<T> {
        let mut future = std::pin::pin!(future);
        loop {
            tokio::select! {
                value = &mut future => return Some(value),
                command = self.commands.recv() => match command {
                    None => return None,
                    Some(Command::Disconnect { done }) => {
                        let _ = done.send(());
                        return None;
                    }
                    Some(command) => self.command(command),
                },
            }
        }
    }

    /// After a reconnect: subscribe again, then re-send pending operations and publishes.
    fn resume(&mut self) {
        // A re-subscription of an earlier reconnect that was never answered is superseded.
        self.subscribing.retain(|_, (_, _, done)| done.is_some());
        if !self.subscriptions.is_empty()
            && let Some(id) = self.allocate_id()
        {
            let filters = self.subscriptions.clone();
            self.subscribing.insert(id.get(), (filters, None, None));
        }
        let subscribing: Vec<_> = self
            .subscribing
            .iter()
            .map(|(id, (filters, properties, _))| (*id, filters.clone(), properties.clone()))
            .collect();
        for (id, filters, properties) in subscribing {
            if let Some(packet_id) = PacketId::new(id) {
                self.send(Packet::Subscribe(Subscribe {
                    packet_id,
                    filters,
                    properties,
                }));
            }
        }
        let unsubscribing: Vec<_> = self
            .unsubscribing
            .iter()
            .map(|(id, (filters, _))| (*id, filters.clone()))
            .collect();
        for (id, filters) in unsubscribing {
            if let Some(packet_id) = PacketId::new(id) {
                self.send(Packet::Unsubscribe(Unsubscribe {
                    packet_id,
                    filters,
                    properties: None,
                }));
            }
        }
        let resend: Vec<Packet> = self
            .outgoing
            .values()
            .map(|o| match (o.released, o.publish.packet_id) {
                (true, Some(id)) => Packet::PubRel(id.into()),
                _ => Packet::Publish(Publish {
                    dup: true,
                    ..o.publish.clone()
                }),
            })
            .collect();
        for packet in resend {
            self.send(packet);
        }
    }

    /// Serves one connection until it ends.
    async fn serve(&mut self, stream: &mut ClientStream, buf: &mut BytesMut) -> Exit {
        // A Server Keep Alive replaces the client's own (3.2.2.3.14).
        let keep_alive = match self.server.keep_alive {
            Some(seconds) => Duration::from_secs(u64::from(seconds)),
            None => self.settings.ping_interval,
        };
        let mut last_sent = Instant::now();
        let mut ping_sent: Option<Instant> = None;
        // Packets that came in with the CONNACK.
        if self.drain(buf).is_err() {
            return Exit::Lost;
        }
        loop {
            if !self.out.is_empty() {
                let written = async {
                    stream.write_all(&self.out).await?;
                    stream.flush().await
                };
                if written.await.is_err() && !self.closing {
                    return Exit::Lost;
                }
                self.out.clear();
                last_sent = Instant::now();
            }
            if self.closing || self.disconnecting.is_some() {
                let _ = stream.shutdown().await;
                if let Some(done) = self.disconnecting.take() {
                    let _ = done.send(());
                }
                return Exit::Done;
            }
            let deadline = match ping_sent {
                Some(at) => at + self.settings.ping_timeout,
                None => last_sent + keep_alive,
            };
            tokio::select! {
                command = self.commands.recv() => {
                    let Some(command) = command else { return Exit::Done };
                    self.command(command);
                    while let Ok(command) = self.commands.try_recv() {
                        self.command(command);
                    }
                }
                read = stream.read_buf(buf) => {
                    if !matches!(read, Ok(n) if n > 0) {
                        return Exit::Lost;
                    }
                    match self.drain(buf) {
                        Err(()) => {
                            // What a violation queued (a DISCONNECT with its reason) goes out
                            // before the close, if the socket takes it.
                            let _ = stream.write_all(&self.out).await;
                            return Exit::Lost;
                        }
                        Ok(true) => ping_sent = None,
                        Ok(false) => {}
                    }
                    buf.reserve(4096);
                }
                () = tokio::time::sleep_until(deadline), if !keep_alive.is_zero() => {
                    if ping_sent.is_some() {
                        tracing::debug!("client: no PINGRESP in time");
                        return Exit::Lost;
                    }
                    self.send(Packet::PingReq);
                    ping_sent = Some(Instant::now());
                }
            }
        }
    }

    /// Handles every whole packet in `buf` (none after one that makes the client close):
    /// `Ok(true)` if one was a PINGRESP, `Err` if the broker sent a malformed packet.
    fn drain(&mut self, buf: &mut BytesMut) -> Result<bool, ()> {
        let mut pong = false;
        // Nothing more is handled on a connection the client is closing.
        while !self.closing {
            match codec::decode_as(buf, MAX_PACKET, self.version) {
                Ok(Some(Packet::PingResp)) => {
                    self.received(&Packet::PingResp);
                    pong = true;
                }
                Ok(Some(Packet::Disconnect(body))) => {
                    tracing::debug!("client: the broker disconnected us: {:?}", body.reason);
                    if let Ok(mut reason) = self.disconnect_reason.lock() {
                        *reason = Some(body.reason);
                    }
                    return Err(());
                }
                Ok(Some(Packet::Publish(mut publish))) => {
                    let maximum = self.settings.connect.properties.topic_alias_maximum;
                    if self
                        .aliases
                        .resolve(&mut publish, maximum.unwrap_or(0))
                        .is_err()
                    {
                        tracing::debug!("client: the broker used an invalid topic alias");
                        let reason = ReasonCode::TopicAliasInvalid;
                        self.send(Packet::Disconnect(ReasonBody::new(reason)));
                        return Err(());
                    }
                    self.packet(Packet::Publish(publish));
                }
                Ok(Some(packet)) => self.packet(packet),
                Ok(None) => return Ok(pong),
                Err(e) => {
                    tracing::debug!("client: malformed packet from the broker: {e}");
                    return Err(());
                }
            }
        }
        Ok(pong)
    }
}
