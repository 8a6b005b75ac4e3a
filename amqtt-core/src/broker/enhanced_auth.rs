//! MQTT 5.0 enhanced authentication (spec 4.12): the AUTH exchanges of a CONNECT with an
//! Authentication Method, and the re-authentication of a connected client (AUTH 0x19).
//!
//! The broker holds each exchange ([`Exchange`]: the method and the data exchanged so far) and
//! asks the plugins' `authenticate_exchange` hook at every step; the first plugin that does not
//! abstain answers. A client admitted by an exchange is not asked the `authenticate` hook.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::framing::{ReadError, read_packet};
use super::outbox::Outbox;
use super::shared::Shared;
use crate::codec::{
    ByteString, ConnAck, Packet, PacketKind, Properties, ProtocolVersion, ReasonBody, ReasonCode,
};
use crate::plugin::{AuthAnswer, AuthStep, Hooks, Plugin, Refusal, SessionInfo};

/// The most steps (client data answered by the plugins) one exchange may take: a bound on the
/// memory its history holds.
const MAX_STEPS: usize = 16;

/// One enhanced-authentication exchange: its method and every Authentication Data exchanged,
/// which the plugins see as [`AuthStep::history`].
#[derive(Debug)]
pub(super) struct Exchange {
    method: ByteString,
    history: Vec<Bytes>,
}

/// How an exchange at CONNECT ended without admitting the client.
pub(super) enum Rejected {
    /// Answer with this CONNACK and close.
    ConnAck(ConnAck),
    /// Close without a word (timeout, the client left, broker shutdown).
    Close,
}

/// Why a re-authentication ends the connection.
pub(super) enum ReauthFailure {
    /// The client broke the protocol (the rule it broke): DISCONNECT 0x82.
    Protocol(&'static str),
    /// The plugins refused: DISCONNECT with the refusal's reason.
    Refused(Refusal),
}

impl Exchange {
    fn new(method: &ByteString) -> Exchange {
        Exchange {
            method: ByteString::from(&**method),
            history: Vec::new(),
        }
    }

    /// Asks the plugins about the client's `data`; a Continue is added to the history.
    async fn ask<P: Plugin>(
        &mut self,
        plugins: &P,
        info: &SessionInfo,
        data: Option<&[u8]>,
        reauthentication: bool,
    ) -> AuthAnswer {
        if self.history.len() >= 2 * MAX_STEPS {
            return AuthAnswer::refuse(ReasonCode::NotAuthorized, "too many authentication steps");
        }
        if !P::HOOKS.contains(Hooks::AUTHENTICATE_EXCHANGE) {
            return AuthAnswer::Abstain;
        }
        let step = AuthStep {
            reauthentication,
            history: &self.history,
        };
        let answer = plugins
            .authenticate_exchange(info, &self.method, data, step)
            .await;
        if let AuthAnswer::Continue(reply) = &answer {
            self.history
                .push(Bytes::copy_from_slice(data.unwrap_or_default()));
            self.history.push(reply.clone());
        }
        answer
    }

    /// The client's Authentication Data in an AUTH of this exchange, which must have reason
    /// `expected` and this exchange's method (spec 4.12); else the rule broken.
    fn client_data<'b>(
        &self,
        body: &'b ReasonBody,
        expected: ReasonCode,
    ) -> Result<Option<&'b [u8]>, &'static str> {
        if body.reason != expected {
            return Err("AUTH with an unexpected reason code");
        }
        let properties = body.properties.as_deref();
        match properties.and_then(|p| p.authentication_method.as_ref()) {
            Some(method) if *method == self.method => {}
            _ => return Err("AUTH without the exchange's authentication method"),
        }
        Ok(properties.and_then(|p| p.authentication_data.as_deref()))
    }

    /// An AUTH with `reason`, this exchange's method and `data`.
    fn auth(&self, reason: ReasonCode, data: Option<Bytes>) -> Packet {
        Packet::Auth(ReasonBody {
            reason,
            properties: Some(Box::new(self.properties(data))),
        })
    }

    /// The Authentication Method and Data properties, for an AUTH or the CONNACK.
    fn properties(&self, data: Option<Bytes>) -> Properties {
        Properties {
            authentication_method: Some(self.method.clone()),
            authentication_data: data,
            ..Properties::default()
        }
    }
}

/// Runs the exchange a CONNECT with Authentication Method `method` and data `data` asks for:
/// AUTH 0x18 to the client and back until the plugins decide, by `deadline` (the connect
/// timeout). Returns the CONNACK's Authentication Method and final Data when they admit the
/// client.
pub(super) async fn at_connect<P: Plugin, S>(
    shared: &Shared<P>,
    stream: &mut S,
    buf: &mut BytesMut,
    info: &SessionInfo,
    method: &ByteString,
    data: Option<&[u8]>,
    deadline: Instant,
) -> Result<Properties, Rejected>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let core = &*shared.core;
    let client_id = &*info.client_id;
    let mut exchange = Exchange::new(method);
    let mut data = data.map(Bytes::copy_from_slice);
    loop {
        let answer = exchange
            .ask(&shared.plugins, info, data.as_deref(), false)
            .await;
        let challenge = match answer {
            AuthAnswer::Continue(challenge) => challenge,
            AuthAnswer::Success(last) => return Ok(exchange.properties(last)),
            AuthAnswer::Refuse(refusal) => {
                tracing::info!(client_id, reason = ?refusal.reason, "enhanced authentication refused");
                return Err(Rejected::ConnAck(refusal_connack(Some(refusal))));
            }
            AuthAnswer::Abstain => {
                tracing::info!(client_id, method = %exchange.method, "no plugin knows the authentication method; CONNACK 0x8C");
                let code = ReasonCode::BadAuthenticationMethod;
                return Err(Rejected::ConnAck(ConnAck::new(false, code)));
            }
        };
        let auth = exchange.auth(ReasonCode::ContinueAuthentication, Some(challenge));
        if write_packet(shared, stream, ProtocolVersion::V5, &auth)
            .await
            .is_err()
        {
            return Err(Rejected::Close);
        }
        let max = core.config.max_packet_size;
        let read = read_packet(stream, buf, max, &core.stats, ProtocolVersion::V5);
        let packet = tokio::select! {
            read = tokio::time::timeout_at(deadline, read) => read,
            () = core.shutdown.fired() => return Err(Rejected::Close),
        };
        let packet = match packet {
            Ok(Ok(Some(packet))) => packet,
            Err(_) => {
                tracing::info!(
                    client_id,
                    "enhanced authentication not done within the connect timeout; closing"
                );
                return Err(Rejected::Close);
            }
            Ok(Err(ReadError::Decode(error))) => {
                core.stats.protocol_errors.increment();
                tracing::info!(client_id, %error, "malformed packet during enhanced authentication; CONNACK 0x81");
                return Err(Rejected::ConnAck(ConnAck::new(
                    false,
                    ReasonCode::MalformedPacket,
                )));
            }
            Ok(Ok(None) | Err(_)) => return Err(Rejected::Close),
        };
        core.stats.packets_received.increment();
        if P::HOOKS.contains(Hooks::PACKET_RECEIVED) {
            shared.plugins.on_mqtt_packet_received(&packet, None);
        }
        let body = match packet {
            Packet::Auth(body) => body,
            Packet::Disconnect(_) => return Err(Rejected::Close),
            other => return Err(protocol_error(shared, client_id, other.name())),
        };
        match exchange.client_data(&body, ReasonCode::ContinueAuthentication) {
            Ok(next) => data = next.map(Bytes::copy_from_slice),
            Err(what) => return Err(protocol_error(shared, client_id, what)),
        }
    }
}

/// Counts and logs a protocol violation during the exchange at CONNECT: CONNACK 0x82.
fn protocol_error<P>(shared: &Shared<P>, client_id: &str, what: &str) -> Rejected {
    shared.core.stats.protocol_errors.increment();
    tracing::info!(
        client_id,
        what,
        "protocol violation during enhanced authentication; CONNACK 0x82"
    );
    Rejected::ConnAck(ConnAck::new(false, ReasonCode::ProtocolError))
}

/// Handles an AUTH from a connected client (spec 4.12.1): AUTH 0x19 with the CONNECT's method
/// starts a re-authentication, AUTH 0x18 continues it; the plugins' answers are queued on
/// `outbox` (AUTH 0x18, or AUTH 0x00 on success), and the connection keeps working meanwhile.
pub(super) async fn reauthenticate<P: Plugin>(
    shared: &Shared<P>,
    info: &SessionInfo,
    outbox: &Outbox,
    ongoing: &mut Option<Box<Exchange>>,
    body: &ReasonBody,
) -> Result<(), ReauthFailure> {
    let Some(method) = info
        .properties
        .as_deref()
        .and_then(|p| p.authentication_method.as_ref())
    else {
        return Err(ReauthFailure::Protocol(
            "AUTH from a client that did not authenticate by method",
        ));
    };
    let (mut exchange, expected) = match ongoing.take() {
        Some(exchange) => (exchange, ReasonCode::ContinueAuthentication),
        None => (Box::new(Exchange::new(method)), ReasonCode::ReAuthenticate),
    };
    let data = exchange
        .client_data(body, expected)
        .map_err(ReauthFailure::Protocol)?;
    match exchange.ask(&shared.plugins, info, data, true).await {
        AuthAnswer::Continue(challenge) => {
            outbox.push(exchange.auth(ReasonCode::ContinueAuthentication, Some(challenge)));
            *ongoing = Some(exchange);
        }
        AuthAnswer::Success(last) => outbox.push(exchange.auth(ReasonCode::Success, last)),
        AuthAnswer::Refuse(refusal) => return Err(ReauthFailure::Refused(refusal)),
        AuthAnswer::Abstain => {
            return Err(ReauthFailure::Refused(Refusal {
                reason: ReasonCode::BadAuthenticationMethod,
                reason_string: None,
            }));
        }
    }
    Ok(())
}

/// The CONNACK of a failed authentication: the plugin's refusal (reason code and reason string,
/// which only a 5.0 client sees), else 0x87 Not authorized (0x05 in 3.1.1).
pub(super) fn refusal_connack(refusal: Option<Refusal>) -> ConnAck {
    let Some(refusal) = refusal else {
        return ConnAck::new(false, ReasonCode::NotAuthorized);
    };
    let mut connack = ConnAck::new(false, refusal.reason_in(PacketKind::ConnAck));
    connack.properties = reason_string(refusal);
    connack
}

/// The DISCONNECT that ends a failed re-authentication: the refusal's reason code (0x87 when a
/// DISCONNECT cannot carry it) and reason string.
pub(super) fn refusal_disconnect(refusal: Refusal) -> ReasonBody {
    ReasonBody {
        reason: refusal.reason_in(PacketKind::Disconnect),
        properties: reason_string(refusal),
    }
}

/// The Reason String property of a refusal that has one.
fn reason_string(refusal: Refusal) -> Option<Box<Properties>> {
    refusal.reason_string.map(|text| {
        Box::new(Properties {
            reason_string: Some(ByteString::from(text)),
            ..Properties::default()
        })
    })
}

/// Writes `packet` straight to a connection that has no writer task yet (the CONNECT exchange),
/// showing it to the plugins first and counting it.
pub(super) async fn write_packet<P: Plugin, S: AsyncWrite + Unpin>(
    shared: &Shared<P>,
    stream: &mut S,
    protocol: ProtocolVersion,
    packet: &Packet,
) -> std::io::Result<()> {
    if P::HOOKS.contains(Hooks::PACKET_SENT) {
        shared.plugins.on_mqtt_packet_sent(packet, None);
    }
    let mut out = BytesMut::new();
    packet.encode_as(protocol, &mut out);
    stream.write_all(&out).await?;
    shared.core.stats.packets_sent.increment();
    shared.core.stats.bytes_sent.add(out.len() as u64);
    stream.flush().await
}
