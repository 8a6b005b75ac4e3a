//! MQTT 5.0 enhanced authentication (spec 4.12): the AUTH exchanges of a CONNECT with an
//! Authentication Method, and the re-authentication of a connected client (AUTH 0x19).
//!
//! The broker holds each exchange ([`Exchange`]: the method and the data exchanged so far) and
//! asks the plugins' `authenticate_exchange` hook at every step; the first plugin that does not
//! abstain answers. A client admitted by an exchange is not asked the `authenticate` hook.
//! CONNECT and re-authentication fill in the client's [`SessionInfo`] the same way
//! ([`Exchange::start`], [`Exchange::admitted`]): after a re-authentication the plugins see the
//! new Authentication Method and Data, and what they attached to the client during it.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::framing::{ReadError, read_packet};
use super::outbox::Outbox;
use super::shared::Shared;
use crate::cluster::Cluster;
use crate::codec::{
    ByteString, ConnAck, Packet, PacketKind, Properties, ProtocolVersion, ReasonBody, ReasonCode,
};
use crate::plugin::{AuthAnswer, AuthStep, Hooks, Plugin, Refusal, SessionInfo};

/// The most steps (client data answered by the plugins) one exchange may take: a bound on the
/// memory its history holds.
const MAX_STEPS: usize = 16;

/// One enhanced-authentication exchange: its method and every Authentication Data exchanged,
/// which the plugins see as [`AuthStep::history`], and the client it authenticates.
#[derive(Debug)]
pub(super) struct Exchange {
    method: ByteString,
    history: Vec<Bytes>,
    /// The client as the plugins see it during the exchange, and once it admits the client:
    /// with this exchange's method and first data in its properties (see [`Exchange::start`]).
    client: SessionInfo,
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
    /// An exchange by `method` that starts with the client's first `data` (in its CONNECT or its
    /// AUTH 0x19): `client`'s properties take both, copied out of the frame, as a CONNECT's
    /// properties are, so the plugins see the authentication being made at every step.
    fn start(mut client: SessionInfo, method: &str, data: Option<&[u8]>) -> Exchange {
        let properties = client.properties.get_or_insert_default();
        properties.authentication_method = Some(ByteString::from(method));
        properties.authentication_data = data.map(Bytes::copy_from_slice);
        Exchange {
            method: ByteString::from(method),
            history: Vec::new(),
            client,
        }
    }

    /// The end of an exchange the plugins admitted with final `data`: the client as the plugins
    /// see it from now on (with whatever they attached to it meanwhile), and the Authentication
    /// Method and Data properties of the CONNACK or AUTH 0x00.
    fn admitted(self, data: Option<Bytes>) -> (SessionInfo, Properties) {
        let properties = self.properties(data);
        (self.client, properties)
    }

    /// Asks the plugins about the client's `data`; a Continue is added to the history.
    async fn ask<P: Plugin>(
        &mut self,
        plugins: &P,
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
            .authenticate_exchange(&self.client, &self.method, data, step)
            .await;
        if let AuthAnswer::Continue(reply) = &answer {
            self.history
                .push(Bytes::copy_from_slice(data.unwrap_or_default()));
            self.history.push(reply.clone());
        }
        answer
    }

    /// An AUTH with `reason`, this exchange's method and `data`.
    fn auth(&self, reason: ReasonCode, data: Option<Bytes>) -> Packet {
        auth_packet(reason, self.properties(data))
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

/// An AUTH with `reason` and `properties` (the exchange's method and data).
fn auth_packet(reason: ReasonCode, properties: Properties) -> Packet {
    Packet::Auth(ReasonBody {
        reason,
        properties: Some(Box::new(properties)),
    })
}

/// The client's Authentication Data in an AUTH of an exchange by `method`: the AUTH must have
/// reason `expected` and that method (spec 4.12); else the rule broken.
fn client_data<'b>(
    method: &str,
    body: &'b ReasonBody,
    expected: ReasonCode,
) -> Result<Option<&'b [u8]>, &'static str> {
    if body.reason != expected {
        return Err("AUTH with an unexpected reason code");
    }
    let properties = body.properties.as_deref();
    match properties.and_then(|p| p.authentication_method.as_deref()) {
        Some(sent) if sent == method => {}
        _ => return Err("AUTH without the exchange's authentication method"),
    }
    Ok(properties.and_then(|p| p.authentication_data.as_deref()))
}

/// Runs the exchange a CONNECT with Authentication Method `method` and data `data` asks for:
/// AUTH 0x18 to the client and back until the plugins decide, by `deadline` (the connect
/// timeout). When they admit the client, returns it as the plugins see it from now on
/// ([`Exchange::admitted`]) and the CONNACK's Authentication Method and final Data.
pub(super) async fn at_connect<P: Plugin, C: Cluster, S>(
    shared: &Shared<P, C>,
    stream: &mut S,
    buf: &mut BytesMut,
    info: SessionInfo,
    method: &str,
    data: Option<&[u8]>,
    deadline: Instant,
) -> Result<(SessionInfo, Properties), Rejected>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let core = &*shared.core;
    let client_id = &*info.client_id.clone();
    let mut exchange = Exchange::start(info, method, data);
    let mut data = data.map(Bytes::copy_from_slice);
    loop {
        let answer = exchange.ask(&shared.plugins, data.as_deref(), false).await;
        let challenge = match answer {
            AuthAnswer::Continue(challenge) => challenge,
            AuthAnswer::Success(last) => return Ok(exchange.admitted(last)),
            AuthAnswer::Refuse(refusal) => {
                core.stats.auth_failures.increment();
                tracing::info!(client_id, reason = ?refusal.reason, "enhanced authentication refused");
                return Err(Rejected::ConnAck(refusal_connack(Some(refusal))));
            }
            AuthAnswer::Abstain => {
                core.stats.auth_failures.increment();
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
        match client_data(&exchange.method, &body, ReasonCode::ContinueAuthentication) {
            Ok(next) => data = next.map(Bytes::copy_from_slice),
            Err(what) => return Err(protocol_error(shared, client_id, what)),
        }
    }
}

/// Counts and logs a protocol violation during the exchange at CONNECT: CONNACK 0x82.
fn protocol_error<P, C>(shared: &Shared<P, C>, client_id: &str, what: &str) -> Rejected {
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
/// On success, returns the client as the plugins see it from now on ([`Exchange::admitted`]).
pub(super) async fn reauthenticate<P: Plugin, C: Cluster>(
    shared: &Shared<P, C>,
    info: &SessionInfo,
    outbox: &Outbox,
    ongoing: &mut Option<Box<Exchange>>,
    body: &ReasonBody,
) -> Result<Option<SessionInfo>, ReauthFailure> {
    let Some(method) = info
        .properties
        .as_deref()
        .and_then(|p| p.authentication_method.as_ref())
    else {
        return Err(ReauthFailure::Protocol(
            "AUTH from a client that did not authenticate by method",
        ));
    };
    let (mut exchange, data) = match ongoing.take() {
        Some(exchange) => {
            let data = client_data(&exchange.method, body, ReasonCode::ContinueAuthentication);
            (exchange, data.map_err(ReauthFailure::Protocol)?)
        }
        None => {
            let data = client_data(method, body, ReasonCode::ReAuthenticate);
            let data = data.map_err(ReauthFailure::Protocol)?;
            (Box::new(Exchange::start(info.clone(), method, data)), data)
        }
    };
    match exchange.ask(&shared.plugins, data, true).await {
        AuthAnswer::Continue(challenge) => {
            outbox.push(exchange.auth(ReasonCode::ContinueAuthentication, Some(challenge)));
            *ongoing = Some(exchange);
        }
        AuthAnswer::Success(last) => {
            let (client, properties) = exchange.admitted(last);
            outbox.push(auth_packet(ReasonCode::Success, properties));
            return Ok(Some(client));
        }
        AuthAnswer::Refuse(refusal) => return Err(ReauthFailure::Refused(refusal)),
        AuthAnswer::Abstain => {
            return Err(ReauthFailure::Refused(Refusal {
                reason: ReasonCode::BadAuthenticationMethod,
                reason_string: None,
            }));
        }
    }
    Ok(None)
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
pub(super) async fn write_packet<P: Plugin, C: Cluster, S: AsyncWrite + Unpin>(
    shared: &Shared<P, C>,
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
