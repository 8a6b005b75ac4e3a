//! aMQTT's password-file authentication plugin, [`FileAuth`].
//!
//! Turn it on with the path of a password file:
//!
//! ```yaml
//! plugins:
//!   amqtt.plugins.authentication.FileAuthPlugin:   # or its short name, auth_file
//!     password_file: /etc/amqtt/passwd              # `password-file` is accepted too
//! ```
//!
//! The file holds one `username:hash` pair per line; blank lines and lines starting with `#` are
//! ignored. A hash is an argon2 PHC string (`$argon2id$`, `$argon2i$`, `$argon2d$`), a bcrypt
//! hash (`$2b$`, `$2a$`, `$2y$`), a sha512-crypt hash (`$6$`) or a SCRAM-SHA-256 verifier
//! (`SCRAM-SHA-256$`, which the `auth_scram` plugin reads too: see [`crate::scram`]). The
//! `amqtt_passwd` tool writes argon2id entries, and SCRAM verifiers with `--scram`. The broker refuses to start when the file cannot be read, when a line is not
//! `username:hash`, or when a hash is in none of those formats; the message names the file and,
//! for a bad line, its number.
//!
//! Verdicts: a client without a user name gets no answer from this plugin (another plugin
//! decides); a client with a user name is allowed only when its password matches the file, and
//! denied otherwise (no password, unknown user, wrong password: CONNACK 0x05).
//!
//! The file is read again on a hot reload (the broker's SIGHUP; the path may change with the
//! new configuration) or by [`FileAuth::reread_password_file`]; a file that fails to load then
//! leaves the users loaded before in force (and, on a hot reload, every other part of the old
//! configuration).

use std::collections::HashMap;
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use amqtt_core::config::PluginsSection;
use amqtt_core::plugin::{
    BrokerContext, FromConfig, Plugin, PluginError, Reload, SessionInfo, Swappable, Verdict, plugin,
};
use argon2::{Argon2, PasswordVerifier as _};

use crate::scram::ScramCredential;
use crate::users_file::{UserTable, UsersFile};
use serde::{Deserialize, Serialize};
use sha_crypt::ShaCrypt;
use tokio::sync::Semaphore;

/// The hash checked when the user is unknown, so that an unknown user costs as much time as a
/// known one: an argon2id hash with the argon2 crate's default parameters (those `amqtt_passwd`
/// uses). Its result is thrown away, so its password does not matter.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$15my1lzSiySOQnygj0JH8Q$RB2CmbK6kDtiSpzqMNe5nN+dSXSvuGf61+BRi/GcANw";

/// Configuration of [`FileAuth`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileAuthConfig {
    /// The password file: `username:hash` lines. Required.
    #[serde(alias = "password-file")]
    pub password_file: Option<PathBuf>,
}

/// Admits clients whose user name and password match an entry of a password file.
///
/// Password checks run on tokio's blocking threads (argon2 and bcrypt are slow on purpose), at
/// most as many at once as the machine has cores, so a flood of bad logins neither stalls the
/// connection runtime nor takes unbounded memory.
pub struct FileAuth {
    users: Swappable<UsersFile<Users>>,
    dummy: Arc<StoredHash>,
    checks: Arc<Semaphore>,
}

#[plugin(
    name = "auth_file",
    alias = "amqtt.plugins.authentication.FileAuthPlugin",
    config = FileAuthConfig
)]
impl Plugin for FileAuth {
    fn build(config: FileAuthConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        let users = UsersFile::load(config.password_file)?;
        let dummy = StoredHash::parse(DUMMY_HASH)
            .map_err(|e| PluginError::new(format!("built-in dummy hash: {e}")))?;
        let cores = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        Ok(FileAuth {
            users: Swappable::new(users),
            dummy: Arc::new(dummy),
            checks: Arc::new(Semaphore::new(cores)),
        })
    }

    async fn reload(&self, plugins: &PluginsSection) -> Result<Reload<'_>, PluginError> {
        let configured = plugins.config_of::<Self>()?.unwrap_or_default();
        UsersFile::stage(&self.users, Self::NAME, configured.password_file).await
    }

    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        let Some(username) = &session.username else {
            return Verdict::Abstain;
        };
        let Some(password) = session.password.clone() else {
            tracing::debug!(user = ?&**username, "authentication failure: no password");
            return Verdict::Deny;
        };
        let Ok(permit) = self.checks.clone().acquire_owned().await else {
            return Verdict::Deny; // never closed
        };
        let file = self.users.current();
        let dummy = self.dummy.clone();
        let name = username.to_string();
        // The lookup is inside the blocking task too: known and unknown users take one path.
        let checked = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match file.users.get(&name) {
                Some(hash) => Some(hash.verify(&password)),
                None => {
                    black_box(dummy.verify(&password));
                    None
                }
            }
        })
        .await;
        match checked {
            Ok(Some(true)) => {
                tracing::debug!(user = ?&**username, "authentication success");
                Verdict::Allow
            }
            Ok(Some(false)) => {
                tracing::debug!(user = ?&**username, "authentication failure: wrong password");
                Verdict::Deny
            }
            Ok(None) => {
                tracing::debug!(user = ?&**username, "authentication failure: unknown user");
                Verdict::Deny
            }
            Err(e) => {
                tracing::error!(error = %e, "password check failed");
                Verdict::Deny
            }
        }
    }
}

impl FileAuth {
    /// Reads the password file again and, if it loads, puts its users in force at once; returns
    /// how many there are. On error the users loaded before stay in force. (A hot reload of the
    /// broker does this through the `reload` hook, together with every other plugin.)
    pub fn reread_password_file(&self) -> Result<usize, PluginError> {
        let file = UsersFile::<Users>::read(Some(self.password_file()))?;
        let count = file.users.len();
        file.put_in_force(&self.users);
        Ok(count)
    }

    /// The password file this plugin reads.
    pub fn password_file(&self) -> PathBuf {
        self.users.current().path.clone()
    }

    /// Number of users currently in force.
    pub fn user_count(&self) -> usize {
        self.users.current().users.len()
    }
}

impl std::fmt::Debug for FileAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileAuth")
            .field("password_file", &self.users.current().path)
            .finish_non_exhaustive()
    }
}

/// User name to password hash.
pub(crate) type Users = HashMap<String, StoredHash>;

impl UserTable for Users {
    const LOADED: &'static str = "password file loaded";

    fn read(path: &Path) -> Result<Users, PluginError> {
        read_password_file(path)
    }

    fn len(&self) -> usize {
        HashMap::len(self)
    }
}

/// Reads and parses a password file; errors name the file and, for a bad line, its number.
pub(crate) fn read_password_file(path: &Path) -> Result<Users, PluginError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        PluginError::new(format!("cannot read password file {}: {e}", path.display()))
    })?;
    parse_password_file(&text).map_err(|(line, message)| {
        PluginError::new(format!(
            "password file {}, line {line}: {message}",
            path.display()
        ))
    })
}

/// Parses the text of a password file; an error carries the 1-based line number.
fn parse_password_file(text: &str) -> Result<Users, (usize, String)> {
    let mut users = Users::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((username, hash)) = line.split_once(':') else {
            return Err((number, "expected `username:hash`".to_owned()));
        };
        if username.is_empty() {
            return Err((number, "empty user name".to_owned()));
        }
        let hash = StoredHash::parse(hash).map_err(|e| (number, e))?;
        if users.insert(username.to_owned(), hash).is_some() {
            tracing::warn!(
                user = ?username,
                line = number,
                "user listed twice in the password file: the later line wins"
            );
        }
    }
    Ok(users)
}

/// A password hash from the file, checked for its format when the file was read.
pub(crate) enum StoredHash {
    /// An argon2 PHC string, parsed (boxed: it is ten times the size of the others).
    Argon2(Box<argon2::PasswordHash>),
    /// A bcrypt hash.
    Bcrypt(String),
    /// A sha512-crypt hash.
    Sha512Crypt(String),
    /// A SCRAM-SHA-256 verifier (for the `auth_scram` plugin; plain passwords are checked
    /// against it too).
    Scram(ScramCredential),
}

impl std::fmt::Debug for StoredHash {
    /// The kind of hash only: hashes stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoredHash::Argon2(_) => "Argon2(..)",
            StoredHash::Bcrypt(_) => "Bcrypt(..)",
            StoredHash::Sha512Crypt(_) => "Sha512Crypt(..)",
            StoredHash::Scram(_) => "Scram(..)",
        })
    }
}

impl StoredHash {
    /// Recognises and checks the format of `hash`; the error says what is wrong.
    fn parse(hash: &str) -> Result<StoredHash, String> {
        const ARGON2: [&str; 3] = ["$argon2id$", "$argon2i$", "$argon2d$"];
        const BCRYPT: [&str; 3] = ["$2b$", "$2a$", "$2y$"];
        if ARGON2.iter().any(|prefix| hash.starts_with(prefix)) {
            parse_argon2(hash)
                .map(|parsed| StoredHash::Argon2(Box::new(parsed)))
                .map_err(|e| format!("invalid argon2 hash: {e}"))
        } else if BCRYPT.iter().any(|prefix| hash.starts_with(prefix)) {
            bcrypt::HashParts::from_str(hash)
                .map(|_| StoredHash::Bcrypt(hash.to_owned()))
                .map_err(|e| format!("invalid bcrypt hash: {e}"))
        } else if hash.starts_with("$6$") {
            check_sha512_crypt(hash)
                .map(|()| StoredHash::Sha512Crypt(hash.to_owned()))
                .map_err(|e| format!("invalid sha512-crypt hash: {e}"))
        } else if ScramCredential::is_scram(hash) {
            ScramCredential::parse(hash)
                .map(StoredHash::Scram)
                .map_err(|e| format!("invalid SCRAM-SHA-256 verifier: {e}"))
        } else {
            Err(
                "unrecognised password hash format (expected argon2 `$argon2id$...`, \
                 bcrypt `$2b$...`, sha512-crypt `$6$...` or `SCRAM-SHA-256$...`)"
                    .to_owned(),
            )
        }
    }

    /// Whether `password` matches; the crates compare the digests in constant time.
    fn verify(&self, password: &[u8]) -> bool {
        match self {
            StoredHash::Argon2(hash) => {
                Argon2::default().verify_password(password, &**hash).is_ok()
            }
            StoredHash::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            StoredHash::Sha512Crypt(hash) => ShaCrypt::default()
                .verify_password(password, hash.as_str())
                .is_ok(),
            StoredHash::Scram(credential) => credential.verify_password(password),
        }
    }
}

/// Parses an argon2 PHC string and checks that the argon2 crate can verify against it.
fn parse_argon2(hash: &str) -> Result<argon2::PasswordHash, String> {
    let parsed = argon2::PasswordHash::new(hash).map_err(|e| e.to_string())?;
    argon2::Algorithm::new(parsed.algorithm.as_str()).map_err(|e| e.to_string())?;
    if let Some(version) = parsed.version {
        argon2::Version::try_from(version).map_err(|e| e.to_string())?;
    }
    argon2::Params::try_from(&parsed).map_err(|e| e.to_string())?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("salt or hash missing".to_owned());
    }
    Ok(parsed)
}

/// Checks the shape of a sha512-crypt hash: `$6$[rounds=N$]salt$hash`, the hash being 86
/// characters of crypt's base64 (64 bytes).
fn check_sha512_crypt(hash: &str) -> Result<(), String> {
    let fields: Vec<&str> = hash
        .strip_prefix("$6$")
        .unwrap_or(hash)
        .split('$')
        .collect();
    let (salt, digest) = match fields.as_slice() {
        [rounds, salt, digest] => {
            let rounds = rounds
                .strip_prefix("rounds=")
                .ok_or("expected `rounds=N` before the salt")?;
            let rounds: u32 = rounds
                .parse()
                .map_err(|_| format!("bad rounds `{rounds}`"))?;
            sha_crypt::Params::new(rounds).map_err(|_| {
                format!(
                    "rounds {rounds} out of range {}..={}",
                    sha_crypt::Params::ROUNDS_MIN,
                    sha_crypt::Params::ROUNDS_MAX
                )
            })?;
            (*salt, *digest)
        }
        [salt, digest] => (*salt, *digest),
        _ => return Err("expected `$6$salt$hash`".to_owned()),
    };
    if salt.is_empty() || salt.starts_with("rounds=") {
        return Err("empty salt".to_owned());
    }
    let crypt64 = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '/';
    if digest.len() != 86 || !digest.chars().all(crypt64) {
        return Err("the hash is not 86 characters of crypt base64".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blank_lines_and_crlf_are_skipped() {
        let text = "# users\r\n\r\n  alice:$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1\r\n";
        let users = parse_password_file(text).expect("parses");
        assert_eq!(users.len(), 1);
        assert!(users["alice"].verify(b"secret"));
        assert!(!users["alice"].verify(b"Secret"));
    }

    #[test]
    fn errors_carry_the_line_number() {
        let bad = |text: &str| parse_password_file(text).expect_err("rejected");
        assert_eq!(bad("# x\nalice\n").0, 2);
        assert_eq!(bad(":$6$a$b\n").0, 1);
        let (line, message) = bad("\n\nbob:plaintext\n");
        assert_eq!(line, 3);
        assert!(message.contains("unrecognised"), "{message}");
        assert!(bad("carol:$argon2id$v=19$garbage\n").1.contains("argon2"));
        assert!(bad("dave:$2b$04$short\n").1.contains("bcrypt"));
        assert!(bad("erin:$6$salt$short\n").1.contains("sha512-crypt"));
        assert!(bad("erin:$6$rounds=10$salt$x\n").1.contains("rounds"));
    }

    #[test]
    fn sha512_crypt_with_rounds_from_glibc() {
        // Made with glibc's crypt(3).
        let hash = "$6$rounds=1000$abcdefgh$nhYjN017qxiYztzyUpZtPnUQcnLy62KsunSLHNeLahp2EHPlAKmFFlrjEwSXGo2kgY5hR2.peKEg2VGUqIJJu1";
        let stored = StoredHash::parse(hash).expect("valid");
        assert!(stored.verify(b"secret"));
        assert!(!stored.verify(b"secret "));
    }

    #[test]
    fn argon2_and_bcrypt_reference_vectors() {
        // Made with the argon2 reference implementation's CLI (m=8 KiB, t=1, p=1).
        for hash in [
            "$argon2id$v=19$m=8,t=1,p=1$YW1xdHRzYWx0c2FsdA$E+gMMkOiFsmeSODsrnfRqd63Mq6lrwu1uV5dOC/JNxU",
            "$argon2i$v=19$m=8,t=1,p=1$YW1xdHRzYWx0c2FsdA$0Sr34Far7A5fRkroTuMo2kBkSgjG2IOYBMeh6Mmn2yY",
            "$argon2d$v=19$m=8,t=1,p=1$YW1xdHRzYWx0c2FsdA$1WU0VYp6Oz0uLMweqhVp/xj8NSKbELV/tLim9ttuuqE",
        ] {
            let stored = StoredHash::parse(hash).expect("valid");
            assert!(stored.verify(b"hunter2"), "{hash}");
            assert!(!stored.verify(b"hunter3"), "{hash}");
        }
        // OpenBSD / crypt_blowfish test vector.
        let stored =
            StoredHash::parse("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
                .expect("valid");
        assert!(stored.verify(b"U*U"));
        assert!(!stored.verify(b"U*V"));
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(matches!(
            StoredHash::parse(DUMMY_HASH),
            Ok(StoredHash::Argon2(_))
        ));
    }
}
