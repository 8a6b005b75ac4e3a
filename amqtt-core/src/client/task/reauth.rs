//! Re-authentication (MQTT 5.0, spec 4.12.1) of a connected client: AUTH 0x19 with the
//! authenticator's first data, its answers to the broker's AUTH 0x18, and the broker's AUTH 0x00.
//! The connection keeps working meanwhile; a broker that refuses sends DISCONNECT and closes. A
//! broker whose challenge the authenticator cannot answer, or whose final data fails its check
//! (it did not prove itself), is sent DISCONNECT and the connection is closed for good
//! [MQTT-4.12.1-2]: an exchange left half done would leave the broker waiting for an answer.

use super::{Connection, Done};
use crate::client::{ClientError, auth};
use crate::codec::{ByteString, Packet, Properties, ReasonBody, ReasonCode};
use crate::plugin::Plugin;

/// The reason string of the DISCONNECT sent to a broker that failed the authenticator's check.
const SERVER_NOT_PROVEN: &str = "server authentication failed";

impl<P: Plugin> Connection<P> {
    /// Sends AUTH 0x19 to start a re-authentication that answers `done`.
    pub(super) fn start_reauthentication(&mut self, done: Done<()>) {
        let Some(authenticator) = self.settings.authenticator.clone() else {
            let error = "no authenticator: the connection did not use enhanced authentication";
            let _ = done.send(Err(ClientError::Authentication(error.to_owned())));
            return;
        };
        if self.reauthentication.is_some() {
            let error = "a re-authentication is already in progress";
            let _ = done.send(Err(ClientError::Authentication(error.to_owned())));
            return;
        }
        let data = authenticator.0.start();
        let history = vec![data.clone().unwrap_or_default()];
        self.send(auth::packet(
            &*authenticator.0,
            ReasonCode::ReAuthenticate,
            data,
        ));
        self.reauthentication = Some((history, done));
    }

    /// Handles the broker's AUTH: answers a challenge, or ends the re-authentication on
    /// success (checking the broker's final data). A challenge the authenticator cannot answer
    /// ends it as a failed check does.
    pub(super) fn reauthentication_step(&mut self, body: &ReasonBody) {
        let (Some(authenticator), Some((mut history, done))) = (
            self.settings.authenticator.clone(),
            self.reauthentication.take(),
        ) else {
            tracing::debug!("client ignores an AUTH outside a re-authentication");
            return;
        };
        let authenticator = &*authenticator.0;
        let failed = if body.reason == ReasonCode::Success {
            let properties = body.properties.as_deref();
            let data = properties.and_then(|p| p.authentication_data.as_deref());
            match authenticator.finish(&history, data) {
                Ok(()) => {
                    let _ = done.send(Ok(()));
                    return;
                }
                Err(error) => error,
            }
        } else {
            match auth::answer(authenticator, &mut history, body) {
                Ok(answer) => {
                    self.send(answer);
                    self.reauthentication = Some((history, done));
                    return;
                }
                Err(error) => error,
            }
        };
        tracing::debug!("client: re-authentication failed the authenticator: {failed}");
        self.close_unproven();
        let _ = done.send(Err(ClientError::ServerAuthenticationFailed(failed)));
    }

    /// Ends the connection with a broker that failed the authenticator's check: DISCONNECT 0x80
    /// Unspecified error with a reason string (0x87 Not authorized is a server's code only in a
    /// DISCONNECT, spec 3.14.2.1), then the close, without reconnecting.
    fn close_unproven(&mut self) {
        self.send(Packet::Disconnect(ReasonBody {
            reason: ReasonCode::UnspecifiedError,
            properties: Some(Box::new(Properties {
                reason_string: Some(ByteString::from(SERVER_NOT_PROVEN)),
                ..Properties::default()
            })),
        }));
        self.closing = true;
    }
}
