//! The SCRAM messages (RFC 5802 section 7) and the proofs computed over them, for both sides.

use aws_lc_rs::constant_time;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Key, hmac_of, sha256};

/// The client-first message: `<gs2-header><client-first-bare>`, with
/// `client-first-bare = n=<user>,r=<client nonce>`.
#[derive(Debug)]
pub(super) struct ClientFirst<'a> {
    /// `n,,` or `y,,` (with an optional `a=<authzid>` between the commas).
    pub(super) gs2_header: &'a str,
    /// The message after the header, part of the AuthMessage.
    pub(super) bare: &'a str,
    /// The user name, unescaped.
    pub(super) username: String,
    /// The client's nonce.
    pub(super) nonce: &'a str,
}

impl ClientFirst<'_> {
    /// Parses a client-first message.
    pub(super) fn parse(message: &str) -> Result<ClientFirst<'_>, &'static str> {
        let header_end = match message.as_bytes().first() {
            Some(b'n' | b'y') => message
                .match_indices(',')
                .nth(1)
                .map(|(at, _)| at + 1)
                .ok_or("no GS2 header")?,
            Some(b'p') => return Err("channel binding is not supported"),
            _ => return Err("no GS2 header"),
        };
        let (gs2_header, bare) = message.split_at(header_end);
        let mut attributes = attributes(bare);
        let username = match attributes.next() {
            Some(('n', name)) => unescape(name)?,
            _ => return Err("no user name"),
        };
        let nonce = match attributes.next() {
            Some(('r', nonce)) if !nonce.is_empty() => nonce,
            _ => return Err("no client nonce"),
        };
        Ok(ClientFirst {
            gs2_header,
            bare,
            username,
            nonce,
        })
    }

    /// Builds the client-first message of `username` with `nonce` (no channel binding).
    pub(super) fn build(username: &str, nonce: &str) -> String {
        let username = username.replace('=', "=3D").replace(',', "=2C");
        format!("n,,n={username},r={nonce}")
    }
}

/// The server-first message: `r=<client nonce><server nonce>,s=<salt>,i=<iterations>`.
#[derive(Debug)]
pub(super) struct ServerFirst<'a> {
    /// The combined nonce.
    pub(super) nonce: &'a str,
    /// The salt.
    pub(super) salt: Vec<u8>,
    /// The iteration count.
    pub(super) iterations: u32,
}

impl ServerFirst<'_> {
    /// Parses a server-first message.
    pub(super) fn parse(message: &str) -> Result<ServerFirst<'_>, &'static str> {
        let mut attributes = attributes(message);
        let nonce = match attributes.next() {
            Some(('r', nonce)) => nonce,
            Some(('e', _)) => return Err("the server refused"),
            _ => return Err("no nonce"),
        };
        let salt = match attributes.next() {
            Some(('s', salt)) => BASE64.decode(salt).map_err(|_| "bad salt")?,
            _ => return Err("no salt"),
        };
        let iterations = match attributes.next() {
            Some(('i', count)) => count.parse().map_err(|_| "bad iteration count")?,
            _ => return Err("no iteration count"),
        };
        Ok(ServerFirst {
            nonce,
            salt,
            iterations,
        })
    }

    /// Builds a server-first message.
    pub(super) fn build(nonce: &str, salt: &[u8], iterations: u32) -> String {
        format!("r={nonce},s={},i={iterations}", BASE64.encode(salt))
    }
}

/// The client-final message: `c=<base64 gs2-header>,r=<nonce>,p=<proof>`.
#[derive(Debug)]
pub(super) struct ClientFinal<'a> {
    /// The message up to the proof, part of the AuthMessage.
    pub(super) without_proof: &'a str,
    /// The channel binding attribute, base64 (of the GS2 header, without channel binding).
    pub(super) channel_binding: &'a str,
    /// The combined nonce.
    pub(super) nonce: &'a str,
    /// The client proof.
    pub(super) proof: Key,
}

impl ClientFinal<'_> {
    /// Parses a client-final message.
    pub(super) fn parse(message: &str) -> Result<ClientFinal<'_>, &'static str> {
        let (without_proof, proof) = message.rsplit_once(",p=").ok_or("no proof")?;
        let mut attributes = attributes(without_proof);
        let channel_binding = match attributes.next() {
            Some(('c', binding)) => binding,
            _ => return Err("no channel binding attribute"),
        };
        let nonce = match attributes.next() {
            Some(('r', nonce)) => nonce,
            _ => return Err("no nonce"),
        };
        let proof = BASE64
            .decode(proof)
            .ok()
            .and_then(|p| Key::try_from(p).ok())
            .ok_or("bad proof")?;
        Ok(ClientFinal {
            without_proof,
            channel_binding,
            nonce,
            proof,
        })
    }

    /// The client-final message without its proof, for the AuthMessage.
    pub(super) fn build_without_proof(gs2_header: &str, nonce: &str) -> String {
        format!("c={},r={nonce}", BASE64.encode(gs2_header))
    }
}

/// `client-first-bare,server-first,client-final-without-proof`: what both signatures sign.
pub(super) fn auth_message(
    client_first_bare: &str,
    server_first: &str,
    final_bare: &str,
) -> Vec<u8> {
    [client_first_bare, server_first, final_bare]
        .join(",")
        .into_bytes()
}

/// The client proof: `ClientKey XOR HMAC(StoredKey, AuthMessage)`.
pub(super) fn client_proof(client_key: &Key, auth_message: &[u8]) -> Key {
    let signature = hmac_of(&sha256(client_key), &[auth_message]);
    std::array::from_fn(|i| client_key[i] ^ signature[i])
}

/// Whether `proof` shows knowledge of the password behind `stored_key` (constant time).
pub(super) fn proof_matches(stored_key: &Key, auth_message: &[u8], proof: &Key) -> bool {
    let signature = hmac_of(stored_key, &[auth_message]);
    let client_key: Key = std::array::from_fn(|i| proof[i] ^ signature[i]);
    constant_time::verify_slices_are_equal(&sha256(&client_key), stored_key).is_ok()
}

/// The server-final message, `v=<base64 HMAC(ServerKey, AuthMessage)>`.
pub(super) fn server_final(server_key: &Key, auth_message: &[u8]) -> String {
    format!("v={}", BASE64.encode(hmac_of(server_key, &[auth_message])))
}

/// The `x=value` attributes of a message, in order.
fn attributes(message: &str) -> impl Iterator<Item = (char, &str)> {
    message.split(',').map(|attribute| {
        let mut chars = attribute.chars();
        match (chars.next(), chars.next()) {
            (Some(name), Some('=')) => (name, &attribute[name.len_utf8() + 1..]),
            _ => ('\0', attribute),
        }
    })
}

/// A `saslname`: `=2C` is `,` and `=3D` is `=`; any other `=` is an error.
fn unescape(name: &str) -> Result<String, &'static str> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err("bad user name escape"),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}
