//! One client connection past its CONNECT (`handshake`): the reader loop that handles every packet
//! and the writer that drains the outbox, both in the connection's one task (`writer_side.rs`),
//! and the close.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};

mod subscribe;
mod writer_side;

use super::enhanced_auth::{self, Exchange, ReauthFailure};
use super::framing::{ReadError, read_packet};
use super::handshake::{Incoming, Opened, open};
use super::journal::Journal;
use super::message_expiry;
use super::outbox::Outbox;
use super::publish_ack::{self, Owed};
use super::rate::{self, PublishRates};
use super::routing::HeldBack;
use super::session::Session;
use super::shared::Shared;
use super::will_delay::{self, PendingWill};
use super::{disconnect, expiry, inbound_quota};
use crate::cluster::{Cluster, HeldAck};
use crate::codec::{
    self, DecodeError, LastWill, Packet, PacketKind, PropertyId, Publish, QoS, ReasonBody,
    ReasonCode,
};
use crate::plugin::{Action, Hooks, Plugin, SessionInfo};
use crate::store::StoreOp;
use crate::topic::alias::InboundAliases;
use writer_side::WriterSide;

/// How long the writer may take to flush after the reader has finished.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client sent DISCONNECT (3.1.1, or 5.0 with reason 0x00): no will.
    Disconnect,
    /// The client sent an MQTT 5.0 DISCONNECT with another reason (0x04 Disconnect with Will
    /// Message, or an error): publish the will.
    DisconnectWithWill,
    /// The socket closed or failed, or the connection was taken over.
    Closed,
    /// No packet within 1.5 times the keep-alive.
    KeepAliveExpired,
    /// A malformed packet or a protocol violation.
    ProtocolError,
    /// The broker is shutting down: no will.
    Shutdown,
    /// A new connection of the client took the session over and continues it: no will, the
    /// client is back.
    TakenOver,
    /// A re-authentication (MQTT 5.0 AUTH) failed: the broker sent DISCONNECT.
    ReauthenticationFailed,
}

/// Serves one client connection to its end. The CONNECT exchange and the close run in boxed
/// futures: they are large (authentication, plugin hooks) and short-lived, while the task's own
/// future, which an idle connection holds for its whole life, stays the size of the read loop
/// and the writer.
pub(crate) async fn serve<P: Plugin, C: Cluster, S>(
    shared: Arc<Shared<P, C>>,
    incoming: Box<Incoming<S>>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    // Taken apart here, not bound whole: a binding would keep its room in this future.
    let Some(Opened {
        mut reader,
        buf,
        session,
        info,
        outbox,
        writer,
        keep_alive,
    }) = Box::pin(open(&shared, incoming)).await
    else {
        return;
    };
    let core = &*shared.core;
    let writer = outbox.run_writer(
        writer,
        &core.stats,
        &shared.plugins,
        core.journal.as_deref(),
    );
    let writer = std::pin::pin!(writer);
    let mut writer = WriterSide::new(writer);
    let mut connection = Connection {
        shared: &shared,
        session: &session,
        info,
        outbox: &outbox,
        keep_alive,
        aliases: InboundAliases::default(),
        reauthentication: None,
        rates: PublishRates::new(
            shared.core.config.max_messages_per_second,
            shared.core.config.max_bytes_per_second,
        ),
    };
    let end = {
        let reading = std::pin::pin!(connection.read_loop(&mut reader, buf));
        writer.alongside(reading).await
    };
    let will = Box::pin(connection.close(end, &mut writer)).await;
    if outbox.is_sealed() {
        Box::pin(disconnect::linger(&mut reader)).await;
    }
    drop(reader);
    if let Some(will) = will {
        Box::pin(connection.publish_delayed_will(will)).await;
    }
}

/// The per-connection state of the reader loop.
struct Connection<'a, P, C> {
    shared: &'a Shared<P, C>,
    session: &'a Arc<Session>,
    /// The client as the plugins see it: as its CONNECT described it, or its last
    /// re-authentication.
    info: Arc<SessionInfo>,
    outbox: &'a Arc<Outbox>,
    keep_alive: Option<Duration>,
    /// The topic aliases the client set on this connection (MQTT 5.0).
    aliases: InboundAliases,
    /// The re-authentication in progress (MQTT 5.0 AUTH 0x19), boxed: rare.
    reauthentication: Option<Box<Exchange>>,
    /// The client's PUBLISH rates, when the broker limits them; boxed, so a broker without
    /// them keeps one word per connection.
    rates: Option<Box<PublishRates>>,
}

impl<P: Plugin, C: Cluster> Connection<'_, P, C> {
    fn client_id(&self) -> &str {
        &self.info.client_id
    }

    /// Ends the connection: publishes the will unless the client disconnected, the broker is
    /// stopping, or a new connection continues the session; detaches the session, and lets the writer flush what is queued.
    /// A will with a delay is returned to wait for ([`Connection::publish_delayed_will`]).
    async fn close<W: Future<Output = ()>>(
        &self,
        end: End,
        writer: &mut WriterSide<'_, W>,
    ) -> Option<DelayedWill> {
        let delayed = writer
            .alongside(std::pin::pin!(self.end_session(end)))
            .await;
        writer.finish(WRITER_GRACE).await;
        delayed
    }

    /// [`Connection::close`] but for the writer: the will, the session's detach, the
    /// disconnected hook.
    async fn end_session(&self, end: End) -> Option<DelayedWill> {
        let core = &*self.shared.core;
        tracing::debug!(client_id = self.client_id(), reason = ?end, "client disconnected");
        let mut delayed = None;
        if !matches!(end, End::Disconnect | End::Shutdown | End::TakenOver)
            && let Some(will) = &self.info.will
        {
            match will_delay::will_delay(will) {
                Some(delay) => delayed = Some((delay, Arc::default())),
                None => {
                    self.publish_checked(&will_message(will), None, None).await;
                }
            }
        }
        let pending = delayed.as_ref().map(|(_, pending)| Arc::clone(pending));
        let kept = core.detach(self.session, self.outbox, pending).await;
        core.stats.clients_connected.decrement();
        self.outbox.close();
        if P::HOOKS.contains(Hooks::CLIENT_DISCONNECTED) {
            self.shared
                .plugins
                .on_broker_client_disconnected(self.client_id(), &self.info)
                .await;
        }
        delayed.map(|(delay, pending)| DelayedWill {
            delay,
            pending,
            kept,
        })
    }

    /// Publishes a will with a delay once it is due (see `will_delay.rs`), unless the session is
    /// resumed first or the broker stops.
    async fn publish_delayed_will(&self, will: DelayedWill) {
        let core = &*self.shared.core;
        let due = tokio::select! {
            due = will_delay::wait(self.session, &will.pending, will.kept, will.delay) => due,
            () = core.shutdown.fired() => false,
        };
        if let (true, Some(message)) = (due, &self.info.will) {
            tracing::debug!(client_id = self.client_id(), "delayed will published");
            self.publish_checked(&will_message(message), None, None)
                .await;
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
                    if C::ENABLED && held.take_cluster() {
                        let timeout = core.config.backpressure_timeout;
                        Box::pin(self.shared.cluster.relieved(timeout)).await;
                    }
                }
                // A client that does not read what we send stops being read. This wait counts
                // against the keep-alive, so a client that neither reads nor sends is dropped.
                let next = async {
                    self.outbox.room().await;
                    read_packet(reader, &mut buf, max, &core.stats, self.info.protocol).await
                };
                match self.keep_alive {
                    Some(limit) => tokio::time::timeout(limit, next).await.ok(),
                    None => Some(next.await),
                }
            };
            let result = tokio::select! {
                result = read => result,
                // Shutdown closes every outbox (`Core::shut_down`): one wait serves both.
                () = self.outbox.closed() => return if core.shutdown.is_fired() {
                    End::Shutdown
                } else if self.outbox.was_taken_over() {
                    End::TakenOver
                } else {
                    End::Closed
                },
            };
            let client_id = self.client_id();
            let packet = match result {
                None => {
                    tracing::info!(client_id, "keep-alive expired; closing");
                    self.disconnect_v5(ReasonCode::KeepAliveTimeout);
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
        // The packet reaches `handle` through this slot, not by value: a handler future built
        // around a moved packet is built on the stack and copied into this future's state, per
        // packet (see PERFORMANCE.md, "MQTT 5.0 and the 3.1.1 path").
        let mut next = Some(first);
        loop {
            if let Some(end) = self.handle(&mut next, held).await {
                return Some(end);
            }
            if !held.is_empty()
                || self.outbox.is_closed()
                || core.shutdown.is_fired()
                || !self.outbox.has_room()
            {
                return None;
            }
            next = match codec::decode_as(buf, core.config.max_packet_size, self.info.protocol) {
                Ok(Some(packet)) => Some(packet),
                Ok(None) => return None,
                Err(e) => return Some(self.malformed(e)),
            };
        }
    }

    /// Counts and logs a malformed packet, which ends the connection (an MQTT 5.0 client is
    /// told why with a DISCONNECT: 0x95 for a packet over `max_packet_size`, 0x82 Protocol Error
    /// for a Subscription Identifier of 0 or a SUBSCRIBE with two (section 3.8.2.1.2), 0x81
    /// otherwise).
    fn malformed(&self, error: DecodeError) -> End {
        self.shared.core.stats.protocol_errors.increment();
        tracing::warn!(client_id = self.client_id(), %error, "malformed packet; closing connection");
        self.disconnect_v5(match error {
            DecodeError::MaxSizeExceeded { .. } => ReasonCode::PacketTooLarge,
            DecodeError::InvalidPropertyValue(PropertyId::SubscriptionIdentifier)
            | DecodeError::DuplicateProperty(PropertyId::SubscriptionIdentifier) => {
                ReasonCode::ProtocolError
            }
            _ => ReasonCode::MalformedPacket,
        });
        End::ProtocolError
    }

    /// Queues a DISCONNECT with `reason` for an MQTT 5.0 client (3.1.1 has no server-sent
    /// DISCONNECT: the connection just closes).
    fn disconnect_v5(&self, reason: ReasonCode) {
        self.outbox.push_disconnect(self.info.protocol, reason);
    }

    /// Counts and logs a protocol violation (`what`: an unexpected packet's name, or the rule
    /// broken), which ends the connection (an MQTT 5.0 client is told `reason` with a
    /// DISCONNECT).
    fn violation(&self, what: &str, reason: ReasonCode) -> End {
        self.shared.core.stats.protocol_errors.increment();
        tracing::warn!(
            client_id = self.client_id(),
            what,
            "protocol violation; closing connection"
        );
        self.disconnect_v5(reason);
        End::ProtocolError
    }

    /// Counts the packet in `next` (taken from it), shows it to the plugins and handles it;
    /// `Some` ends the connection.
    async fn handle(&mut self, next: &mut Option<Packet>, held: &mut HeldBack) -> Option<End> {
        let packet = next.take()?;
        self.shared.core.stats.packets_received.increment();
        if self.shared.hooked(Hooks::PACKET_RECEIVED) {
            self.shared
                .plugins
                .on_mqtt_packet_received(&packet, Some(&self.info));
        }
        let limits = self.shared.core.limits;
        match packet {
            Packet::Publish(mut publish) => {
                if inbound_quota::exceeds_receive_maximum(
                    &self.shared.core,
                    self.session,
                    &self.info,
                    &publish,
                ) {
                    return Some(self.violation(
                        "receive maximum exceeded",
                        ReasonCode::ReceiveMaximumExceeded,
                    ));
                }
                // MQTT 5.0 only: resolve the topic alias, note the arrival for message expiry.
                if let Some(properties) = &publish.properties {
                    // Only the broker sets Subscription Identifiers [MQTT-3.3.4-6].
                    if !properties.subscription_identifiers.is_empty() {
                        let what = "subscription identifier in a client's PUBLISH";
                        return Some(self.violation(what, ReasonCode::ProtocolError));
                    }
                    let maximum = self.shared.core.config.topic_alias_maximum;
                    if self.aliases.resolve(&mut publish, maximum).is_err() {
                        return Some(
                            self.violation("invalid topic alias", ReasonCode::TopicAliasInvalid),
                        );
                    }
                    message_expiry::stamp(&mut publish);
                }
                // Over its rate: the client is not read until it is back within it (one
                // branch when no rate is set).
                if let Some(rates) = &mut self.rates
                    && let Some(wait) = rates.take(publish.topic.len() + publish.payload.len())
                {
                    self.shared.core.stats.publishes_throttled.increment();
                    Box::pin(rate::pause_reading(self.outbox, wait)).await;
                }
                self.handle_publish(publish, held).await;
            }
            Packet::PubAck(ack) | Packet::PubComp(ack) => {
                self.session
                    .complete(ack.packet_id, limits, &self.shared.core.stats);
            }
            // MQTT 5.0: a PUBREC with a failure code ends the exchange (no PUBREL).
            Packet::PubRec(ack) if ack.reason.is_error() => {
                self.session
                    .complete(ack.packet_id, limits, &self.shared.core.stats);
            }
            Packet::PubRec(ack) => self.session.received(ack.packet_id),
            Packet::PubRel(ack) => {
                let id = ack.packet_id;
                let mark = self.durable_mark();
                let mut state = self.session.lock();
                if state.incoming_qos2.remove(&id.get()) {
                    state.journal_op(|client_id| StoreOp::Qos2Released {
                        client_id,
                        packet_id: id,
                    });
                }
                drop(state);
                self.push_durable(Packet::PubComp(id.into()), mark);
            }
            // Boxed: rare, and their futures are large; inline they would enlarge the state
            // every idle connection keeps.
            Packet::Subscribe(subscribe) => {
                return Box::pin(self.handle_subscribe(subscribe)).await;
            }
            Packet::Unsubscribe(unsubscribe) => {
                Box::pin(self.handle_unsubscribe(unsubscribe)).await;
            }
            Packet::PingReq => self.outbox.push_ping_response(),
            Packet::Disconnect(body) => return Some(self.handle_disconnect(&body)),
            Packet::Auth(body) => return Box::pin(self.handle_auth(&body)).await,
            other @ (Packet::Connect(_)
            | Packet::ConnAck(_)
            | Packet::SubAck(_)
            | Packet::UnsubAck(_)
            | Packet::PingResp) => {
                return Some(self.violation(other.name(), ReasonCode::ProtocolError));
            }
        }
        None
    }

    /// A client's AUTH: a step of a re-authentication (`enhanced_auth`); `Some` when it breaks
    /// the protocol or fails, which ends the connection with a DISCONNECT.
    async fn handle_auth(&mut self, body: &ReasonBody) -> Option<End> {
        let (shared, outbox) = (self.shared, self.outbox);
        let ongoing = &mut self.reauthentication;
        let step = enhanced_auth::reauthenticate(shared, &self.info, outbox, ongoing, body);
        match step.await {
            Ok(None) => None,
            Ok(Some(client)) => {
                let client = Arc::new(client);
                let mut state = self.session.lock();
                if state.owned_by(outbox) {
                    state.set_info(client.clone());
                }
                drop(state);
                outbox.set_session_info(client.clone());
                self.info = client;
                None
            }
            Err(ReauthFailure::Protocol(what)) => {
                Some(self.violation(what, ReasonCode::ProtocolError))
            }
            Err(ReauthFailure::Refused(refusal)) => {
                self.shared.core.stats.auth_failures.increment();
                tracing::info!(client_id = self.client_id(), reason = ?refusal.reason, "re-authentication failed; closing");
                let disconnect = enhanced_auth::refusal_disconnect(refusal);
                outbox.push_disconnect_body(self.info.protocol, disconnect);
                Some(End::ReauthenticationFailed)
            }
        }
    }

    /// A client's DISCONNECT: applies its Session Expiry Interval (MQTT 5.0) and ends the
    /// connection, publishing the will for any reason but 0x00.
    fn handle_disconnect(&self, body: &ReasonBody) -> End {
        match expiry::disconnect_expiry(&self.info, body) {
            Err(()) => {
                let what = "session expiry interval set on DISCONNECT after 0 on CONNECT";
                return self.violation(what, ReasonCode::ProtocolError);
            }
            Ok(Some(seconds)) => {
                let mut state = self.session.lock();
                if state.owned_by(self.outbox) {
                    state.set_expiry_interval(seconds);
                }
            }
            Ok(None) => {}
        }
        // Only a normal disconnection discards the will [MQTT-3.14.4-3]: 0x04 asks for it, and a
        // client that leaves with an error reason is gone as much as one whose socket failed.
        // (Mosquitto 2.0 keeps it for 0x04 only.) A 3.1.1 DISCONNECT reads as 0x00.
        if body.reason == ReasonCode::Success {
            End::Disconnect
        } else {
            End::DisconnectWithWill
        }
    }

    async fn handle_publish(&mut self, publish: Publish, held: &mut HeldBack) {
        self.shared
            .core
            .stats
            .messages_received
            .increment(publish.qos);
        if self.shared.hooked(Hooks::MESSAGE_RECEIVED) {
            self.shared
                .plugins
                .on_broker_message_received(self.client_id(), &publish)
                .await;
        }
        let mark = self.durable_mark();
        match (publish.qos, publish.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => {
                let owed = Some(Owed::PubAck(id));
                let (ack, _) = self.publish_checked(&publish, Some(held), owed).await;
                self.settle_ack(ack, mark);
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
                let ack = if first {
                    let owed = Some(Owed::PubRec(id));
                    let (ack, reason) = self.publish_checked(&publish, Some(held), owed).await;
                    if reason.is_error() {
                        // MQTT 5.0: a PUBREC with a failure code ends the exchange; no PUBREL
                        // follows, so the id is free again.
                        let mut state = self.session.lock();
                        if state.incoming_qos2.remove(&id.get()) {
                            state.journal_op(|client_id| StoreOp::Qos2Released {
                                client_id,
                                packet_id: id,
                            });
                        }
                    }
                    ack
                } else {
                    self.push_ack_first(Packet::PubRec(id.into()))
                };
                drop(group);
                self.settle_ack(ack, mark);
            }
            _ => {
                self.publish_checked(&publish, Some(held), None).await;
            }
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

    /// Queues a publisher's PUBACK/PUBREC before the message is routed, so that it goes out ahead
    /// of the copies routed back to this connection. With a store that holds acknowledgements it
    /// is held until [`Connection::settle_ack`]; returns its position then.
    fn push_ack_first(&self, ack: Packet) -> Option<u64> {
        match &self.shared.core.journal {
            Some(journal) if journal.holds_acks() => Some(self.outbox.push_pending(ack)),
            _ => {
                self.outbox.push(ack);
                None
            }
        }
    }

    /// After routing: the acknowledgement [`Connection::push_ack_first`] held waits for what was
    /// journaled since `mark` (by this message's routing or, harmlessly, another client's), as
    /// [`Connection::push_durable`] does.
    fn settle_ack(&self, ack: Option<u64>, mark: u64) {
        let (Some(position), Some(journal)) = (ack, &self.shared.core.journal) else {
            return;
        };
        let appended = journal.appended();
        self.outbox
            .settle(position, (appended > mark).then_some(appended));
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
    ///
    /// The acknowledgement `owed` is queued once the outcome is known and before any copy is
    /// delivered (so it leaves ahead of the copies routed back to this client), with the reason
    /// code for it (`publish_ack.rs`). Returns the acknowledgement's position for [`Connection::settle_ack`] and the reason.
    async fn publish_checked(
        &self,
        message: &Publish,
        held: Option<&mut HeldBack>,
        owed: Option<Owed>,
    ) -> (Option<u64>, ReasonCode) {
        if message.topic.starts_with('$') && !self.shared.core.dollar_topic_open(&message.topic) {
            tracing::debug!(topic = %message.topic, "client publish to a $ topic dropped");
            return self.acknowledge(owed, ReasonCode::TopicNameInvalid, None);
        }
        let plugins = &self.shared.plugins;
        if self.shared.hooked(Hooks::TOPIC_FILTERING) {
            let verdict = plugins
                .topic_filtering(&self.info, &message.topic, Action::Publish)
                .await;
            if !verdict.permits() {
                tracing::debug!(client_id = self.client_id(), topic = %message.topic, "publish denied by a plugin");
                // A plugin's own reason (e.g. 0x97 Quota exceeded) when PUBACK/PUBREC can carry
                // it, with its reason string.
                let refusal = verdict.refusal();
                let reason = refusal.map_or(ReasonCode::NotAuthorized, |r| {
                    r.reason_in(PacketKind::PubAck)
                });
                let text = refusal.and_then(|r| r.reason_string);
                return self.acknowledge(owed, reason, text);
            }
        }
        if self.shared.hooked(Hooks::MESSAGE_BROADCAST) {
            plugins
                .on_broker_message_broadcast(self.client_id(), message)
                .await;
        }
        let mut acked = (None, ReasonCode::Success);
        self.shared
            .route_then(self.client_id(), message, held, |targets, remote| {
                let reason = publish_ack::routed(targets + usize::from(remote));
                match owed {
                    // Held until the other nodes have the message; the cluster releases it.
                    Some(owed) if C::ENABLED && remote => {
                        let (packet, reason) = owed.packet(reason, None, self.info.protocol);
                        acked.1 = reason;
                        let held = self.outbox.push_held_by(packet);
                        Some(HeldAck::new(held, self.shared.core.journal.clone()))
                    }
                    _ => {
                        acked = self.acknowledge(owed, reason, None);
                        None
                    }
                }
            })
            .await;
        acked
    }

    /// Queues the acknowledgement `owed`, if any ([`Connection::push_ack_first`]), with `reason`
    /// and `reason_string` on an MQTT 5.0 connection and success on the others; returns its
    /// position and the reason sent.
    fn acknowledge(
        &self,
        owed: Option<Owed>,
        reason: ReasonCode,
        reason_string: Option<&'static str>,
    ) -> (Option<u64>, ReasonCode) {
        let Some(owed) = owed else {
            return (None, reason);
        };
        let (packet, reason) = owed.packet(reason, reason_string, self.info.protocol);
        (self.push_ack_first(packet), reason)
    }
}

/// A will waiting for its delay after its connection closed.
struct DelayedWill {
    delay: Duration,
    /// Settled by the session when it ends or is resumed first.
    pending: Arc<PendingWill>,
    /// Whether the session stayed (offline) holding `pending`.
    kept: bool,
}

/// The message a will publishes: its topic, payload, QoS and retain flag, and (MQTT 5.0) its
/// properties but the will delay interval, which is the will's own and no PUBLISH may carry.
fn will_message(will: &LastWill) -> Publish {
    let properties = will.properties.as_ref().map(|p| {
        if p.will_delay_interval.is_some() {
            let mut p = (**p).clone();
            p.will_delay_interval = None;
            Arc::new(p)
        } else {
            p.clone()
        }
    });
    let mut message = Publish {
        properties,
        ..Publish::new(
            will.topic.clone(),
            will.message.clone(),
            will.qos,
            will.retain,
        )
    };
    // Its message expiry interval runs from its publication.
    message_expiry::stamp(&mut message);
    message
}
