//! SCRAM-SHA-256 (RFC 5802, RFC 7677) over MQTT 5.0 enhanced authentication: the broker plugin
//! [`ScramAuth`] (`auth_scram`) and the client side [`ScramClient`].
//!
//! The messages ride in the Authentication Data of method `SCRAM-SHA-256`: the CONNECT carries
//! the client-first message, the broker's AUTH 0x18 the server-first message, the client's
//! AUTH 0x18 the client-final message, and the CONNACK 0x00 the server-final message
//! (`v=<server signature>`), which the client checks: both sides prove they know the password.
//! Channel binding is not supported (`n,,` or `y,,` headers); passwords are used as UTF-8 bytes
//! without SASLprep normalisation.
//!
//! The broker keeps no passwords, only SCRAM verifiers ([`ScramCredential`]) in the password
//! file the `auth_file` plugin reads, in PostgreSQL's format:
//! `user:SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64). `amqtt_passwd
//! --scram` writes such lines; `auth_file` checks plain passwords against them too.
//!
//! The crypto is aws-lc-rs's (PBKDF2, HMAC, SHA-256, random, constant-time comparison). The
//! `scram` crate was not used: its last release depends on ring 0.16, which is unmaintained.

mod client;
mod messages;
mod server;

use std::fmt;
use std::num::NonZeroU32;

use aws_lc_rs::{constant_time, digest, hmac, pbkdf2};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

pub use client::ScramClient;
pub use server::{ScramAuth, ScramAuthConfig, USERNAME_ATTRIBUTE};

/// The Authentication Method name.
pub const METHOD: &str = "SCRAM-SHA-256";

/// The iteration count [`ScramCredential::generate`] uses (RFC 7677's minimum).
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// The prefix of a SCRAM-SHA-256 verifier in a password file.
const PREFIX: &str = "SCRAM-SHA-256$";

/// A SHA-256 digest or HMAC.
type Key = [u8; 32];

/// What the broker stores for a user: the salt and iteration count of the salted password and
/// the two keys derived from it (RFC 5802 section 3), never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    stored_key: Key,
    server_key: Key,
}

impl ScramCredential {
    /// The credential of `password` with `salt` and `iterations`.
    pub fn derive(password: &[u8], salt: &[u8], iterations: NonZeroU32) -> ScramCredential {
        let salted = salted_password(password, salt, iterations);
        ScramCredential {
            iterations,
            salt: salt.to_vec(),
            stored_key: sha256(&hmac_of(&salted, &[b"Client Key"])),
            server_key: hmac_of(&salted, &[b"Server Key"]),
        }
    }

    /// The credential of `password` with a random 16-byte salt and
    /// [`DEFAULT_ITERATIONS`].
    pub fn generate(password: &[u8]) -> ScramCredential {
        let iterations = NonZeroU32::new(DEFAULT_ITERATIONS).unwrap_or(NonZeroU32::MIN);
        ScramCredential::derive(password, &random::<16>(), iterations)
    }

    /// Parses `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`; the error says what
    /// is wrong.
    pub fn parse(text: &str) -> Result<ScramCredential, String> {
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or("expected `SCRAM-SHA-256$`")?;
        let (parameters, keys) = rest
            .split_once('$')
            .ok_or("expected `<iterations>:<salt>$<StoredKey>:<ServerKey>`")?;
        let (iterations, salt) = parameters
            .split_once(':')
            .ok_or("expected `<iterations>:<salt>`")?;
        let (stored_key, server_key) = keys
            .split_once(':')
            .ok_or("expected `<StoredKey>:<ServerKey>`")?;
        let iterations = iterations
            .parse::<NonZeroU32>()
            .map_err(|_| format!("bad iteration count `{iterations}`"))?;
        let salt = BASE64.decode(salt).map_err(|e| format!("bad salt: {e}"))?;
        Ok(ScramCredential {
            iterations,
            salt,
            stored_key: decode_key(stored_key).ok_or("bad StoredKey")?,
            server_key: decode_key(server_key).ok_or("bad ServerKey")?,
        })
    }

    /// Whether a SCRAM verifier is what `text` claims to be (its prefix).
    pub fn is_scram(text: &str) -> bool {
        text.starts_with(PREFIX)
    }

    /// Whether `password` is the one this credential was derived from (for plain user name and
    /// password logins); compared in constant time.
    pub fn verify_password(&self, password: &[u8]) -> bool {
        let salted = salted_password(password, &self.salt, self.iterations);
        let stored_key = sha256(&hmac_of(&salted, &[b"Client Key"]));
        constant_time::verify_slices_are_equal(&stored_key, &self.stored_key).is_ok()
    }
}

impl fmt::Display for ScramCredential {
    /// The password-file form, `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}:{}${}:{}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(self.stored_key),
            BASE64.encode(self.server_key)
        )
    }
}

impl fmt::Debug for ScramCredential {
    /// No keys in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredential")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// A 32-byte key in base64.
fn decode_key(text: &str) -> Option<Key> {
    BASE64.decode(text).ok()?.try_into().ok()
}

/// `Hi(password, salt, i)`: PBKDF2 with HMAC-SHA-256.
fn salted_password(password: &[u8], salt: &[u8], iterations: NonZeroU32) -> Key {
    let mut out = Key::default();
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        password,
        &mut out,
    );
    out
}

/// HMAC-SHA-256 of the concatenated `parts` under `key`.
fn hmac_of(key: &[u8], parts: &[&[u8]]) -> Key {
    let mut context = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, key));
    for part in parts {
        context.update(part);
    }
    let mut out = Key::default();
    out.copy_from_slice(context.sign().as_ref());
    out
}

/// SHA-256 of `data`.
fn sha256(data: &[u8]) -> Key {
    let mut out = Key::default();
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// `N` random bytes from the system's secure generator.
fn random<const N: usize>() -> [u8; N] {
    let mut out = [0; N];
    // The system generator fails only when the OS has no entropy source at all.
    aws_lc_rs::rand::fill(&mut out).expect("the system random generator works");
    out
}

/// A fresh nonce: 18 random bytes in base64 (printable, no comma).
fn nonce() -> String {
    BASE64.encode(random::<18>())
}

#[cfg(test)]
mod tests;
