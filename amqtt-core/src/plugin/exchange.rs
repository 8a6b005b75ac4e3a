//! The types of MQTT 5.0 enhanced authentication (AUTH exchanges) as plugins see them:
//! [`AuthStep`], where an exchange stands, and [`AuthAnswer`], a plugin's answer to one step.

use bytes::Bytes;

use super::Refusal;
use crate::codec::ReasonCode;

/// Where an enhanced-authentication exchange stands when a plugin is asked about the client's
/// latest Authentication Data.
///
/// The broker keeps the exchange, not the plugin: `history` holds every Authentication Data
/// exchanged before this step, so a multi-step method (SCRAM: the server's nonce and salt) can
/// check the client's answer against what it said before without per-client state of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthStep<'a> {
    /// Whether this exchange re-authenticates a connected client (it sent AUTH 0x19) rather
    /// than admits a connecting one (CONNECT).
    pub reauthentication: bool,
    /// The Authentication Data exchanged before this step, oldest first: the client's first
    /// data (from the CONNECT or the AUTH 0x19), the plugin's first [`AuthAnswer::Continue`]
    /// data, the client's next data, and so on. Absent data is empty. Empty on the first step.
    pub history: &'a [Bytes],
}

impl AuthStep<'_> {
    /// Whether this is the exchange's first step (the client's first data).
    pub const fn is_first(&self) -> bool {
        self.history.is_empty()
    }

    /// The data the plugin sent in its last [`AuthAnswer::Continue`], if this is a later step.
    pub fn last_sent(&self) -> Option<&[u8]> {
        self.history.last().map(|data| &data[..])
    }
}

/// A plugin's answer to one step of an enhanced-authentication exchange
/// ([`Plugin::authenticate_exchange`](super::Plugin::authenticate_exchange)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AuthAnswer {
    /// This plugin does not know the method: the next plugin answers (when none does, the
    /// client gets 0x8C Bad authentication method).
    #[default]
    Abstain,
    /// Another step: the server sends AUTH 0x18 Continue authentication with this
    /// Authentication Data and waits for the client's AUTH 0x18.
    Continue(Bytes),
    /// Authenticated: CONNACK 0x00 (AUTH 0x00 after a re-authentication), with this final
    /// Authentication Data if any.
    Success(Option<Bytes>),
    /// Not authenticated: CONNACK (DISCONNECT after a re-authentication) with the refusal's
    /// reason code and reason string; a code the packet cannot carry is sent as 0x87.
    Refuse(Refusal),
}

impl AuthAnswer {
    /// A refusal with `reason` and `reason_string`.
    pub const fn refuse(reason: ReasonCode, reason_string: &'static str) -> AuthAnswer {
        AuthAnswer::Refuse(Refusal {
            reason,
            reason_string: Some(reason_string),
        })
    }

    /// Whether the plugin abstained.
    pub const fn abstains(&self) -> bool {
        matches!(self, AuthAnswer::Abstain)
    }
}
