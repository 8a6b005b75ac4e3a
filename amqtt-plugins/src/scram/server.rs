//! [`ScramAuth`]: the broker side of SCRAM-SHA-256, plugin `auth_scram`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use amqtt_core::codec::ReasonCode;
use amqtt_core::config::PluginsSection;
use amqtt_core::plugin::{
    AuthAnswer, AuthStep, BrokerContext, FromConfig, Plugin, PluginError, Reload, SessionInfo,
    Swappable, plugin,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::messages::{self, ClientFinal, ClientFirst, ServerFirst};
use super::{DEFAULT_ITERATIONS, METHOD, ScramCredential, hmac_of, nonce, random};
use crate::file_auth::{StoredHash, read_password_file};
use crate::users_file::{UserTable, UsersFile};

/// User name to SCRAM credential.
type ScramUsers = HashMap<String, ScramCredential>;

impl UserTable for ScramUsers {
    const LOADED: &'static str = "SCRAM credentials loaded";

    /// The SCRAM users of the password file at `path`.
    fn read(path: &Path) -> Result<ScramUsers, PluginError> {
        let users = read_password_file(path)?
            .into_iter()
            .filter_map(|(user, hash)| match hash {
                StoredHash::Scram(credential) => Some((user, credential)),
                _ => None,
            })
            .collect();
        Ok(users)
    }

    fn len(&self) -> usize {
        HashMap::len(self)
    }
}

/// The session attribute ([`SessionInfo::attributes`]) that holds the SCRAM user name (a
/// `String`) of a client this plugin admitted, for topic plugins and re-authentication.
pub const USERNAME_ATTRIBUTE: &str = "scram.username";

/// Configuration of [`ScramAuth`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScramAuthConfig {
    /// The password file (`auth_file`'s format): its `SCRAM-SHA-256$...` lines are the users
    /// who may log in by SCRAM. Required.
    #[serde(alias = "password-file")]
    pub password_file: Option<PathBuf>,
}

/// Authenticates MQTT 5.0 clients by the enhanced authentication method `SCRAM-SHA-256`
/// against the SCRAM verifiers of a password file (read at start and on a hot reload).
///
/// A client whose CONNECT also carries a user name must use that name in SCRAM. An unknown
/// user gets a salt derived from a per-broker secret and the default iteration count, as a
/// known one would (verifiers written with another count stand out), and fails at the proof:
/// the exchange does not tell which users exist. Failures are CONNACK 0x86 Bad user
/// name or password (0x87 for a malformed message). The plugin abstains for other methods and
/// has no `authenticate` hook: clients that send no method are left to the other plugins.
pub struct ScramAuth {
    /// The path of the password file and its SCRAM users.
    users: Swappable<UsersFile<ScramUsers>>,
    /// Keys the stand-in credentials of unknown users.
    secret: [u8; 32],
}

#[plugin(name = "auth_scram", config = ScramAuthConfig)]
impl Plugin for ScramAuth {
    fn build(config: ScramAuthConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        let users = UsersFile::load(config.password_file)?;
        Ok(ScramAuth {
            users: Swappable::new(users),
            secret: random(),
        })
    }

    async fn reload(&self, plugins: &PluginsSection) -> Result<Reload<'_>, PluginError> {
        let configured = plugins.config_of::<Self>()?.unwrap_or_default();
        UsersFile::stage(&self.users, Self::NAME, configured.password_file).await
    }

    async fn authenticate_exchange(
        &self,
        session: &SessionInfo,
        method: &str,
        data: Option<&[u8]>,
        step: AuthStep<'_>,
    ) -> AuthAnswer {
        if method != METHOD {
            return AuthAnswer::Abstain;
        }
        let data = data.unwrap_or_default();
        let answer = match step.history {
            [] => self.challenge(session, data, step),
            [client_first, server_first] => {
                self.verify(session, client_first, server_first, data, step)
            }
            _ => Err(Failure::Malformed("unexpected SCRAM step")),
        };
        answer.unwrap_or_else(|failure| {
            let why = failure.why();
            tracing::debug!(client_id = %session.client_id, why, "SCRAM authentication failed");
            match failure {
                Failure::Malformed(_) => {
                    AuthAnswer::refuse(ReasonCode::NotAuthorized, "malformed SCRAM message")
                }
                Failure::Credentials(_) => AuthAnswer::refuse(
                    ReasonCode::BadUserNameOrPassword,
                    "SCRAM authentication failed",
                ),
            }
        })
    }
}

/// Why an exchange failed, with the check that failed (for the log).
enum Failure {
    /// A message that is not SCRAM, or out of order.
    Malformed(&'static str),
    /// Wrong password, unknown user, or a user name that differs from the connection's.
    Credentials(&'static str),
}

impl Failure {
    /// The check that failed.
    fn why(&self) -> &'static str {
        match self {
            Failure::Malformed(why) | Failure::Credentials(why) => why,
        }
    }
}

impl ScramAuth {
    /// First step: the client-first message in, the server-first message out.
    fn challenge(
        &self,
        session: &SessionInfo,
        data: &[u8],
        step: AuthStep<'_>,
    ) -> Result<AuthAnswer, Failure> {
        let text = std::str::from_utf8(data).map_err(|_| Failure::Malformed("not UTF-8"))?;
        let first = ClientFirst::parse(text).map_err(Failure::Malformed)?;
        self.check_identity(session, &first.username, step)?;
        let (credential, _) = self.credential(&first.username);
        let nonce = format!("{}{}", first.nonce, nonce());
        let server_first =
            ServerFirst::build(&nonce, &credential.salt, credential.iterations.get());
        Ok(AuthAnswer::Continue(Bytes::from(server_first)))
    }

    /// Second step: the client-final message in, the server-final message out when the proof
    /// holds.
    fn verify(
        &self,
        session: &SessionInfo,
        client_first: &[u8],
        server_first: &[u8],
        data: &[u8],
        step: AuthStep<'_>,
    ) -> Result<AuthAnswer, Failure> {
        let utf8 = |b| std::str::from_utf8(b).map_err(|_| Failure::Malformed("not UTF-8"));
        let (client_first, server_first) = (utf8(client_first)?, utf8(server_first)?);
        let first = ClientFirst::parse(client_first).map_err(Failure::Malformed)?;
        let sent = ServerFirst::parse(server_first).map_err(Failure::Malformed)?;
        let last = ClientFinal::parse(utf8(data)?).map_err(Failure::Malformed)?;
        let binding = ClientFinal::build_without_proof(first.gs2_header, sent.nonce);
        if last.nonce != sent.nonce || !binding.starts_with(&format!("c={},", last.channel_binding))
        {
            return Err(Failure::Malformed("nonce or channel binding differs"));
        }
        let (credential, known) = self.credential(&first.username);
        let auth_message = messages::auth_message(first.bare, server_first, last.without_proof);
        if !messages::proof_matches(&credential.stored_key, &auth_message, &last.proof) || !known {
            return Err(Failure::Credentials("wrong proof"));
        }
        if !step.reauthentication {
            session
                .attributes
                .insert(USERNAME_ATTRIBUTE, first.username.clone());
        }
        tracing::debug!(client_id = %session.client_id, user = %first.username, "SCRAM authentication success");
        let server_final = messages::server_final(&credential.server_key, &auth_message);
        Ok(AuthAnswer::Success(Some(Bytes::from(server_final))))
    }

    /// A CONNECT user name must be the SCRAM user; a re-authentication must be by the user
    /// admitted at CONNECT.
    fn check_identity(
        &self,
        session: &SessionInfo,
        username: &str,
        step: AuthStep<'_>,
    ) -> Result<(), Failure> {
        if session
            .username
            .as_deref()
            .is_some_and(|name| name != username)
        {
            return Err(Failure::Credentials("CONNECT user name differs"));
        }
        if step.reauthentication
            && session
                .attributes
                .get::<String>(USERNAME_ATTRIBUTE)
                .is_none_or(|admitted| *admitted != username)
        {
            return Err(Failure::Credentials("re-authentication by another user"));
        }
        Ok(())
    }

    /// The user's credential, or a stand-in derived from the secret for an unknown user; and
    /// whether the user is known (one look at the users in force).
    fn credential(&self, username: &str) -> (ScramCredential, bool) {
        if let Some(credential) = self.users.with(|file| file.users.get(username).cloned()) {
            return (credential, true);
        }
        let salt = hmac_of(&self.secret, &[b"salt", username.as_bytes()]);
        let stand_in = ScramCredential {
            iterations: std::num::NonZeroU32::new(DEFAULT_ITERATIONS)
                .unwrap_or(std::num::NonZeroU32::MIN),
            salt: salt[..16].to_vec(),
            stored_key: hmac_of(&self.secret, &[b"stored", username.as_bytes()]),
            server_key: hmac_of(&self.secret, &[b"server", username.as_bytes()]),
        };
        (stand_in, false)
    }
}

impl std::fmt::Debug for ScramAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramAuth")
            .field("users", &self.users.current().users.len())
            .finish_non_exhaustive()
    }
}
