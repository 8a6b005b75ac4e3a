//! [`ScramClient`]: the client side of SCRAM-SHA-256, for
//! [`ClientOptions::authenticator`](amqtt_core::client::ClientOptions::authenticator).

use std::num::NonZeroU32;

use amqtt_core::client::Authenticator;
use aws_lc_rs::constant_time;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;

use super::messages::{self, ClientFinal, ClientFirst, ServerFirst};
use super::{METHOD, hmac_of, nonce, salted_password};

/// Logs in by SCRAM-SHA-256 with a user name and password, and checks the broker's proof that
/// it knows the user's credential.
#[derive(Clone)]
pub struct ScramClient {
    username: String,
    password: String,
}

impl ScramClient {
    /// The authenticator of `username` with `password`.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> ScramClient {
        ScramClient {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The exchange after the server-first message: the client-final message without proof,
    /// the AuthMessage and the salted password.
    fn keys(&self, client_first: &[u8], server_first: &[u8]) -> Result<Keys, String> {
        let utf8 = |b| std::str::from_utf8(b).map_err(|_| "not UTF-8".to_owned());
        let (client_first, server_first) = (utf8(client_first)?, utf8(server_first)?);
        let first = ClientFirst::parse(client_first)?;
        let server = ServerFirst::parse(server_first)?;
        if !server.nonce.starts_with(first.nonce) || server.nonce.len() == first.nonce.len() {
            return Err("the server's nonce does not extend ours".to_owned());
        }
        let iterations = NonZeroU32::new(server.iterations).ok_or("zero iterations")?;
        let salted = salted_password(self.password.as_bytes(), &server.salt, iterations);
        let without_proof = ClientFinal::build_without_proof(first.gs2_header, server.nonce);
        let auth_message = messages::auth_message(first.bare, server_first, &without_proof);
        Ok(Keys {
            without_proof,
            auth_message,
            salted,
        })
    }
}

/// What both of the client's later steps compute from the first two messages.
struct Keys {
    without_proof: String,
    auth_message: Vec<u8>,
    salted: [u8; 32],
}

impl Authenticator for ScramClient {
    fn method(&self) -> &str {
        METHOD
    }

    fn start(&self) -> Option<Bytes> {
        Some(Bytes::from(ClientFirst::build(&self.username, &nonce())))
    }

    fn respond(
        &self,
        history: &[Bytes],
        challenge: Option<&[u8]>,
    ) -> Result<Option<Bytes>, String> {
        let [client_first] = history else {
            return Err("unexpected SCRAM step".to_owned());
        };
        let keys = self.keys(client_first, challenge.unwrap_or_default())?;
        let client_key = hmac_of(&keys.salted, &[b"Client Key"]);
        let proof = BASE64.encode(messages::client_proof(&client_key, &keys.auth_message));
        Ok(Some(Bytes::from(format!(
            "{},p={proof}",
            keys.without_proof
        ))))
    }

    fn finish(&self, history: &[Bytes], data: Option<&[u8]>) -> Result<(), String> {
        let [client_first, server_first, _client_final] = history else {
            return Err("the broker admitted us before the SCRAM exchange ended".to_owned());
        };
        let keys = self.keys(client_first, server_first)?;
        let server_key = hmac_of(&keys.salted, &[b"Server Key"]);
        let expected = messages::server_final(&server_key, &keys.auth_message);
        let data = data.unwrap_or_default();
        constant_time::verify_slices_are_equal(expected.as_bytes(), data)
            .map_err(|_| "the broker's SCRAM signature is wrong".to_owned())
    }
}

impl std::fmt::Debug for ScramClient {
    /// No password in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}
