//! [`Authenticator`]: the client side of an MQTT 5.0 enhanced authentication method (AUTH
//! exchanges, spec 4.12), set with [`ClientOptions::authenticator`](super::ClientOptions::authenticator).

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::codec::{ByteString, Packet, Properties, ReasonBody, ReasonCode};

/// The client side of an enhanced authentication method (SCRAM, Kerberos...): the first
/// Authentication Data, the answers to the broker's challenges, and the check of its last word.
///
/// Like the broker's hook, an authenticator keeps no state per exchange: every call gets the
/// data exchanged so far (`history`: this side's first data, the broker's first challenge, this
/// side's answer, and so on, absent data as empty), so one value serves every reconnection.
pub trait Authenticator: Send + Sync + 'static {
    /// The Authentication Method, e.g. `SCRAM-SHA-256`.
    fn method(&self) -> &str;

    /// The Authentication Data that starts an exchange: in the CONNECT, or in the AUTH 0x19 of
    /// a re-authentication ([`MqttClient::reauthenticate`](super::MqttClient::reauthenticate)).
    fn start(&self) -> Option<Bytes>;

    /// The answer to the broker's AUTH 0x18 (Continue authentication) carrying `challenge`;
    /// an error ends the connection attempt or, during a re-authentication, the connection.
    fn respond(&self, history: &[Bytes], challenge: Option<&[u8]>)
    -> Result<Option<Bytes>, String>;

    /// Checks the broker's final Authentication Data in its CONNACK 0x00 or, after a
    /// re-authentication, its AUTH 0x00 (a method that authenticates the server, as SCRAM does,
    /// verifies it here); an error ends the connection attempt or fails the re-authentication.
    /// Accepts by default.
    fn finish(&self, history: &[Bytes], data: Option<&[u8]>) -> Result<(), String> {
        let _ = (history, data);
        Ok(())
    }
}

/// A shared [`Authenticator`], as [`ClientOptions`](super::ClientOptions) holds it.
#[derive(Clone)]
pub(super) struct SharedAuthenticator(pub(super) Arc<dyn Authenticator>);

impl fmt::Debug for SharedAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Authenticator")
            .field(&self.0.method())
            .finish()
    }
}

/// The client's AUTH 0x18 answering the broker's AUTH `body`, recording both in `history`; an
/// error when the broker's AUTH does not continue this method's exchange or the authenticator
/// cannot answer.
pub(super) fn answer(
    authenticator: &dyn Authenticator,
    history: &mut Vec<Bytes>,
    body: &ReasonBody,
) -> Result<Packet, String> {
    let properties = body.properties.as_deref();
    let method = properties.and_then(|p| p.authentication_method.as_deref());
    if body.reason != ReasonCode::ContinueAuthentication || method != Some(authenticator.method()) {
        return Err(format!(
            "unexpected AUTH from the broker: {:?}, method {method:?}",
            body.reason
        ));
    }
    let challenge = properties.and_then(|p| p.authentication_data.as_deref());
    let response = authenticator.respond(history, challenge)?;
    history.push(Bytes::copy_from_slice(challenge.unwrap_or_default()));
    history.push(response.clone().unwrap_or_default());
    Ok(packet(
        authenticator,
        ReasonCode::ContinueAuthentication,
        response,
    ))
}

/// An AUTH with `reason`, the authenticator's method and `data`.
pub(super) fn packet(
    authenticator: &dyn Authenticator,
    reason: ReasonCode,
    data: Option<Bytes>,
) -> Packet {
    Packet::Auth(ReasonBody {
        reason,
        properties: Some(Box::new(Properties {
            authentication_method: Some(ByteString::from(authenticator.method())),
            authentication_data: data,
            ..Properties::default()
        })),
    })
}
