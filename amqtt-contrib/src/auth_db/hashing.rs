//! The password hashes of `user_auth.password_hash`, as aMQTT writes them (pwdlib): argon2id
//! PHC strings with argon2-cffi's default parameters, bcrypt `$2b$12$`, and passlib's legacy
//! `$pbkdf2-sha256$` (verify only).

use std::num::NonZeroU32;

use argon2::{Argon2, PasswordVerifier as _};
use base64::Engine as _;

/// The hash verified for an unknown user when argon2 is the current scheme, so that an unknown
/// user costs as much time as a known one (argon2id, aMQTT's parameters; its password is thrown
/// away).
const ARGON2_DUMMY: &str = "$argon2id$v=19$m=65536,t=3,p=4$yLQl3LuaU0zQ0PugpS+ZMA$WWOMUlUKVqnPfrSL93dmxMC3bCCeGXQJYgfGN78t+UE";

/// The same for bcrypt (cost 12).
const BCRYPT_DUMMY: &str = "$2b$12$CnL.zp8v5tpZ5p/u7rc2JOYiMcSrFU2SxcnW82Yjf7gXZm8.3nE8K";

/// argon2-cffi's defaults, which pwdlib (so aMQTT) writes and checks hashes against: memory in
/// KiB, passes, lanes, output and salt lengths in bytes.
const ARGON2_MEMORY_KIB: u32 = 65_536;
const ARGON2_PASSES: u32 = 3;
const ARGON2_LANES: u32 = 4;
const ARGON2_OUTPUT_LEN: usize = 32;
const ARGON2_SALT_LEN: usize = 16;

/// pwdlib's bcrypt cost and prefix.
const BCRYPT_COST: u32 = 12;

/// A scheme of the `hash_schemes` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashScheme {
    /// Argon2 (`$argon2id$`, `$argon2i$`, `$argon2d$`); new hashes are argon2id.
    Argon2,
    /// bcrypt (`$2a$`, `$2b$`, `$2x$`, `$2y$`); new hashes are `$2b$12$`.
    Bcrypt,
    /// passlib's PBKDF2-HMAC-SHA256 (`$pbkdf2-sha256$rounds$salt$checksum`): verified, never
    /// written.
    Pbkdf2Sha256,
}

impl HashScheme {
    /// The name used in `hash_schemes`.
    pub fn name(self) -> &'static str {
        match self {
            HashScheme::Argon2 => "argon2",
            HashScheme::Bcrypt => "bcrypt",
            HashScheme::Pbkdf2Sha256 => "pbkdf2_sha256",
        }
    }

    /// The scheme named `name` in `hash_schemes`.
    fn from_name(name: &str) -> Option<HashScheme> {
        [
            HashScheme::Argon2,
            HashScheme::Bcrypt,
            HashScheme::Pbkdf2Sha256,
        ]
        .into_iter()
        .find(|scheme| scheme.name() == name)
    }

    /// The scheme a stored hash was written with, recognised by its prefix.
    pub fn of_hash(hash: &str) -> Option<HashScheme> {
        if ["$argon2id$", "$argon2i$", "$argon2d$"]
            .iter()
            .any(|p| hash.starts_with(p))
        {
            Some(HashScheme::Argon2)
        } else if ["$2a$", "$2b$", "$2x$", "$2y$"]
            .iter()
            .any(|p| hash.starts_with(p))
        {
            Some(HashScheme::Bcrypt)
        } else if hash.starts_with("$pbkdf2-sha256$") {
            Some(HashScheme::Pbkdf2Sha256)
        } else {
            None
        }
    }

    /// Whether this scheme writes new hashes.
    fn writes(self) -> bool {
        !matches!(self, HashScheme::Pbkdf2Sha256)
    }

    /// Whether `password` matches `hash` (a hash of this scheme); a malformed hash never
    /// matches. The crates compare digests in constant time.
    fn verify(self, password: &[u8], hash: &str) -> bool {
        match self {
            HashScheme::Argon2 => argon2::PasswordHash::new(hash)
                .is_ok_and(|parsed| Argon2::default().verify_password(password, &parsed).is_ok()),
            HashScheme::Bcrypt => bcrypt::verify(password, hash).unwrap_or(false),
            HashScheme::Pbkdf2Sha256 => verify_pbkdf2_sha256(password, hash).unwrap_or(false),
        }
    }

    /// A new hash of `password`, with aMQTT's parameters and a random salt.
    fn hash(self, password: &[u8]) -> Result<String, String> {
        match self {
            HashScheme::Argon2 => {
                use argon2::PasswordHasher as _;
                let mut salt = [0u8; ARGON2_SALT_LEN];
                aws_lc_rs::rand::fill(&mut salt).map_err(|_| "no random salt".to_owned())?;
                let hash = argon2_writer()?
                    .hash_password_with_salt(password, &salt)
                    .map_err(|e| e.to_string())?;
                Ok(hash.to_string())
            }
            HashScheme::Bcrypt => bcrypt::hash(password, BCRYPT_COST).map_err(|e| e.to_string()),
            HashScheme::Pbkdf2Sha256 => Err("pbkdf2_sha256 only verifies old hashes".to_owned()),
        }
    }

    /// Whether a hash of this scheme, being the current scheme, was written with parameters
    /// other than the ones new hashes get (pwdlib's `check_needs_rehash`).
    fn outdated(self, hash: &str) -> bool {
        match self {
            HashScheme::Argon2 => !argon2_current(hash),
            HashScheme::Bcrypt => !hash.starts_with(&format!("$2b${BCRYPT_COST:02}$")),
            HashScheme::Pbkdf2Sha256 => true,
        }
    }
}

/// The argon2 hasher of new hashes (argon2id v19, argon2-cffi's parameters).
fn argon2_writer() -> Result<Argon2<'static>, String> {
    let params = argon2::Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_PASSES,
        ARGON2_LANES,
        Some(ARGON2_OUTPUT_LEN),
    )
    .map_err(|e| e.to_string())?;
    Ok(Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    ))
}

/// Whether an argon2 hash has exactly the parameters new hashes get.
fn argon2_current(hash: &str) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(hash) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    parsed.algorithm.as_str() == "argon2id"
        && parsed.version == Some(0x13)
        && params.m_cost() == ARGON2_MEMORY_KIB
        && params.t_cost() == ARGON2_PASSES
        && params.p_cost() == ARGON2_LANES
        && parsed.hash.is_some_and(|h| h.len() == ARGON2_OUTPUT_LEN)
        && parsed.salt.is_some_and(|s| s.len() == ARGON2_SALT_LEN)
}

/// Checks a passlib `$pbkdf2-sha256$rounds$salt$checksum` hash (salt and checksum in passlib's
/// "adapted base64": `.` for `+`, no padding); `None` when malformed.
fn verify_pbkdf2_sha256(password: &[u8], hash: &str) -> Option<bool> {
    let mut fields = hash.strip_prefix("$pbkdf2-sha256$")?.split('$');
    let rounds: NonZeroU32 = fields.next()?.parse().ok()?;
    let decode = |field: &str| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(field.replace('.', "+"))
            .ok()
    };
    let salt = decode(fields.next()?)?;
    let checksum = decode(fields.next()?)?;
    if fields.next().is_some() || checksum.is_empty() {
        return None;
    }
    Some(
        aws_lc_rs::pbkdf2::verify(
            aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
            rounds,
            &salt,
            password,
            &checksum,
        )
        .is_ok(),
    )
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The password matches; `rehash` is the new hash to store when the stored one is of another
    /// scheme than the current one, or of the current one with other parameters.
    Match {
        /// The replacement hash, if the stored one is outdated.
        rehash: Option<String>,
    },
    /// The password does not match.
    Mismatch,
    /// The stored hash is of no configured scheme.
    UnknownScheme,
}

/// The configured hash schemes: the first writes new hashes, every one verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hasher {
    schemes: Vec<HashScheme>,
}

impl Default for Hasher {
    /// aMQTT's default: argon2, then bcrypt.
    fn default() -> Hasher {
        Hasher {
            schemes: vec![HashScheme::Argon2, HashScheme::Bcrypt],
        }
    }
}

impl Hasher {
    /// The schemes named in `hash_schemes`, in order; an empty list is aMQTT's default. As in
    /// aMQTT, a list with `pbkdf2_sha256` but no `argon2` gets `argon2` in front (a verify-only
    /// scheme cannot write); one that puts `pbkdf2_sha256` first otherwise is refused. `scrypt`
    /// (aMQTT's other legacy scheme) is not supported. The error is the message for the key.
    pub fn from_names(names: &[String]) -> Result<Hasher, String> {
        if names.is_empty() {
            return Ok(Hasher::default());
        }
        let mut schemes = Vec::with_capacity(names.len() + 1);
        for name in names {
            let scheme = HashScheme::from_name(name).ok_or_else(|| {
                format!(
                    "unsupported password hash scheme `{name}`: expected argon2, bcrypt or \
                     pbkdf2_sha256"
                )
            })?;
            if !schemes.contains(&scheme) {
                schemes.push(scheme);
            }
        }
        if schemes.contains(&HashScheme::Pbkdf2Sha256) && !schemes.contains(&HashScheme::Argon2) {
            schemes.insert(0, HashScheme::Argon2);
        }
        if !schemes[0].writes() {
            return Err(format!(
                "`{}` can only verify old hashes: list argon2 or bcrypt first",
                schemes[0].name()
            ));
        }
        Ok(Hasher { schemes })
    }

    /// The scheme new hashes are written with.
    pub fn current(&self) -> HashScheme {
        self.schemes[0]
    }

    /// The configured schemes, the current one first.
    pub fn schemes(&self) -> &[HashScheme] {
        &self.schemes
    }

    /// A new hash of `password` in the current scheme. Slow on purpose: call it on a blocking
    /// thread.
    pub fn hash(&self, password: &[u8]) -> Result<String, String> {
        self.current().hash(password)
    }

    /// Checks `password` against `stored` and, when it matches and `stored` is outdated, makes
    /// the replacement hash (pwdlib's `verify_and_update`). Slow on purpose: call it on a
    /// blocking thread.
    pub fn check(&self, password: &[u8], stored: &str) -> Checked {
        let Some(scheme) = HashScheme::of_hash(stored).filter(|s| self.schemes.contains(s)) else {
            return Checked::UnknownScheme;
        };
        if !scheme.verify(password, stored) {
            return Checked::Mismatch;
        }
        let outdated = scheme != self.current() || scheme.outdated(stored);
        let rehash = if outdated {
            match self.hash(password) {
                Ok(hash) => Some(hash),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot re-hash the password");
                    None
                }
            }
        } else {
            None
        };
        Checked::Match { rehash }
    }

    /// Spends the time of a check for a user that does not exist: the result is meaningless.
    pub fn check_dummy(&self, password: &[u8]) -> bool {
        match self.current() {
            HashScheme::Bcrypt => HashScheme::Bcrypt.verify(password, BCRYPT_DUMMY),
            HashScheme::Argon2 | HashScheme::Pbkdf2Sha256 => {
                HashScheme::Argon2.verify(password, ARGON2_DUMMY)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn schemes_are_read_as_amqtt_reads_them() {
        assert_eq!(Hasher::from_names(&[]), Ok(Hasher::default()));
        let h = Hasher::from_names(&names(&["bcrypt", "pbkdf2_sha256"])).expect("valid");
        assert_eq!(
            h.schemes(),
            [
                HashScheme::Argon2,
                HashScheme::Bcrypt,
                HashScheme::Pbkdf2Sha256
            ]
        );
        assert!(
            Hasher::from_names(&names(&["pbkdf2_sha256", "argon2"]))
                .expect_err("refused")
                .contains("list argon2 or bcrypt first")
        );
        assert!(
            Hasher::from_names(&names(&["md5"]))
                .expect_err("refused")
                .contains("`md5`")
        );
    }

    /// Hashes written by pwdlib (aMQTT 0.12.1's `PasswordHasher().hash("secret")`).
    #[test]
    fn pwdlib_hashes_verify() {
        let h = Hasher::default();
        assert_eq!(
            h.check(b"secret", ARGON2_DUMMY),
            Checked::Match { rehash: None },
            "aMQTT's argon2 parameters are current"
        );
        assert_eq!(h.check(b"wrong", ARGON2_DUMMY), Checked::Mismatch);
        assert!(HashScheme::Bcrypt.verify(b"dummy", BCRYPT_DUMMY));
        assert!(!HashScheme::Bcrypt.outdated(BCRYPT_DUMMY));
        assert_eq!(h.check(b"x", "$1$abc$def"), Checked::UnknownScheme);
        let argon_only = Hasher::from_names(&names(&["argon2"])).expect("valid");
        assert_eq!(
            argon_only.check(b"dummy", BCRYPT_DUMMY),
            Checked::UnknownScheme
        );
    }

    #[test]
    fn a_bcrypt_hash_is_rehashed_to_argon2() {
        let stored = bcrypt::hash("pw", 4).expect("bcrypt");
        let Checked::Match { rehash: Some(new) } = Hasher::default().check(b"pw", &stored) else {
            panic!("expected a re-hash");
        };
        assert!(new.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"), "{new}");
        assert!(argon2_current(&new));
        assert_eq!(
            Hasher::default().check(b"pw", &new),
            Checked::Match { rehash: None }
        );
    }

    /// A passlib-format hash of "password" (made with Python's hashlib and passlib's adapted
    /// base64), whose salt and checksum hold a `.` (passlib's `+`).
    #[test]
    fn passlib_pbkdf2_sha256_verifies() {
        let hash =
            "$pbkdf2-sha256$29000$.PvvYW1xdHQtc2FsdAA$LhxYvMc/d2uYcKAooM.HRR8zRqdLlR0HnHYgdsOZoh4";
        assert_eq!(verify_pbkdf2_sha256(b"password", hash), Some(true));
        assert_eq!(verify_pbkdf2_sha256(b"Password", hash), Some(false));
        assert_eq!(
            verify_pbkdf2_sha256(b"password", "$pbkdf2-sha256$0$a$b"),
            None
        );
    }
}
