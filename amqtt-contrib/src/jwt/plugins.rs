//! The two plugins: logins ([`UserAuthJwt`]) and topics ([`TopicAuthJwt`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use amqtt_core::plugin::{
    Action, BrokerContext, Plugin, PluginError, SessionInfo, Verdict, plugin,
};
use amqtt_core::topic::{filter_matches, valid_topic_filter};
use amqtt_plugins::topic_checking::filter_covers;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::key::{KeySources, Verifier};

/// Configuration of [`UserAuthJwt`]: aMQTT's keys, plus `public_key` and `public_key_file`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserAuthJwtConfig {
    /// The HMAC secret (HS*), or a PEM public key (other algorithms).
    pub secret_key: Option<String>,
    /// The claim holding the user name. Required.
    pub user_claim: Option<String>,
    /// The algorithm tokens must be signed with (default `HS256`).
    pub algorithm: Option<String>,
    /// A PEM public key, as text (ours).
    pub public_key: Option<String>,
    /// A PEM public key file (ours).
    pub public_key_file: Option<PathBuf>,
}

/// Configuration of [`TopicAuthJwt`]: aMQTT's keys, plus `public_key` and `public_key_file`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicAuthJwtConfig {
    /// The HMAC secret (HS*), or a PEM public key (other algorithms).
    pub secret_key: Option<String>,
    /// The claim listing the topics the client may publish to. Required.
    pub publish_claim: Option<String>,
    /// The claim listing the topic filters the client may subscribe to. Required.
    pub subscribe_claim: Option<String>,
    /// The claim listing the topics the client may receive from. Required.
    pub receive_claim: Option<String>,
    /// The algorithm tokens must be signed with (default `HS256`).
    pub algorithm: Option<String>,
    /// A PEM public key, as text (ours).
    pub public_key: Option<String>,
    /// A PEM public key file (ours).
    pub public_key_file: Option<PathBuf>,
}

/// A required claim name; the error names its key.
fn required(value: Option<String>, key: &str, what: &str) -> Result<String, PluginError> {
    match value {
        Some(claim) if !claim.is_empty() => Ok(claim),
        _ => Err(PluginError::new(format!(
            "`{key}`: required: the claim that holds {what}"
        ))),
    }
}

/// Admits a client whose password is a token, verified with the configured algorithm and key,
/// whose `user_claim` equals the client's user name (aMQTT's `UserAuthJwtPlugin`).
///
/// No opinion when the client sends no user name or no password; denied when the token is
/// malformed, signed with another algorithm or key, expired (`exp`), not yet valid (`nbf`),
/// or names another user.
#[derive(Debug)]
pub struct UserAuthJwt {
    verifier: Verifier,
    user_claim: String,
}

#[plugin(
    name = "auth_jwt",
    alias = "amqtt.contrib.jwt.UserAuthJwtPlugin",
    config = UserAuthJwtConfig
)]
impl Plugin for UserAuthJwt {
    fn build(config: UserAuthJwtConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        let user_claim = required(config.user_claim, "user_claim", "the user name")?;
        let verifier = Verifier::new(KeySources {
            algorithm: config.algorithm.as_deref(),
            secret_key: config.secret_key.as_deref(),
            public_key: config.public_key.as_deref(),
            public_key_file: config.public_key_file.as_deref(),
        })
        .map_err(PluginError::new)?;
        Ok(UserAuthJwt {
            verifier,
            user_claim,
        })
    }

    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        let (Some(user), Some(token)) = (session.username.as_deref(), session.password.as_deref())
        else {
            return Verdict::Abstain;
        };
        if user.is_empty() || token.is_empty() {
            return Verdict::Abstain;
        }
        match self.verifier.claims(token) {
            Ok(claims) => {
                let matches = claims.get(&self.user_claim).and_then(Value::as_str) == Some(user);
                if !matches {
                    tracing::debug!(user, claim = %self.user_claim, "jwt names another user");
                }
                Verdict::from(matches)
            }
            Err(e) => {
                tracing::debug!(user, error = %e, "jwt refused");
                Verdict::Deny
            }
        }
    }
}

/// Allows a client the topics its token (the password) lists in the claim of the action
/// (aMQTT's `TopicAuthJwtPlugin`).
///
/// Publish and receive are allowed when a listed filter matches the topic (MQTT matching);
/// subscribe when a listed filter covers the whole requested filter (`a/#` grants `a/+/c`,
/// `a/+` does not grant `a/#`). Denied when the client has no password, when the token does
/// not verify (as for [`UserAuthJwt`]), or when the claim is missing or lists no such topic.
#[derive(Debug)]
pub struct TopicAuthJwt {
    verifier: Verifier,
    publish_claim: String,
    subscribe_claim: String,
    receive_claim: String,
}

#[plugin(
    name = "topic_jwt",
    alias = "amqtt.contrib.jwt.TopicAuthJwtPlugin",
    config = TopicAuthJwtConfig
)]
impl Plugin for TopicAuthJwt {
    fn build(config: TopicAuthJwtConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        let publish_claim = required(config.publish_claim, "publish_claim", "the publish topics")?;
        let subscribe_claim = required(
            config.subscribe_claim,
            "subscribe_claim",
            "the subscribe topic filters",
        )?;
        let receive_claim = required(config.receive_claim, "receive_claim", "the receive topics")?;
        let verifier = Verifier::new(KeySources {
            algorithm: config.algorithm.as_deref(),
            secret_key: config.secret_key.as_deref(),
            public_key: config.public_key.as_deref(),
            public_key_file: config.public_key_file.as_deref(),
        })
        .map_err(PluginError::new)?;
        Ok(TopicAuthJwt {
            verifier,
            publish_claim,
            subscribe_claim,
            receive_claim,
        })
    }

    async fn topic_filtering(&self, session: &SessionInfo, topic: &str, action: Action) -> Verdict {
        // aMQTT answers None without a token, which its broker takes as a denial.
        let Some(token) = session.password.as_deref().filter(|t| !t.is_empty()) else {
            return Verdict::Deny;
        };
        let claims = match self.session_claims(session, token) {
            Ok(claims) => claims,
            Err(e) => {
                tracing::debug!(user = ?session.username.as_deref(), error = %e, "jwt refused");
                return Verdict::Deny;
            }
        };
        let claim = match action {
            Action::Publish => &self.publish_claim,
            Action::Subscribe => &self.subscribe_claim,
            Action::Receive => &self.receive_claim,
        };
        let filters: Vec<&str> = match claims.get(claim) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(one)) => vec![one.as_str()],
            _ => Vec::new(),
        };
        let allowed = filters.into_iter().any(|filter| match action {
            Action::Subscribe => filter_covers(filter, topic),
            Action::Publish | Action::Receive => {
                valid_topic_filter(filter) && filter_matches(filter, topic)
            }
        });
        Verdict::from(allowed)
    }
}

/// The attribute under which a connection's verified token claims are kept.
const CLAIMS_ATTRIBUTE: &str = "topic_jwt.claims";

impl TopicAuthJwt {
    /// The claims of the connection's token: its signature is verified at the first topic check
    /// and the claims kept in the connection's attributes, so the checks of every message that
    /// follows (one per delivery) do not verify it again. `exp` is checked each time, so a token
    /// that expires while connected stops granting topics, as when it was verified every time.
    fn session_claims(
        &self,
        session: &SessionInfo,
        token: &[u8],
    ) -> Result<Arc<Map<String, Value>>, String> {
        if let Some(claims) = session
            .attributes
            .get::<Map<String, Value>>(CLAIMS_ATTRIBUTE)
        {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            return match claims.get("exp").and_then(Value::as_u64) {
                Some(exp) if exp < now => Err("ExpiredSignature".to_owned()),
                _ => Ok(claims),
            };
        }
        let claims = self.verifier.claims(token).map_err(|e| e.to_string())?;
        session.attributes.insert(CLAIMS_ATTRIBUTE, claims);
        session
            .attributes
            .get::<Map<String, Value>>(CLAIMS_ATTRIBUTE)
            .ok_or_else(|| "claims just stored are gone".to_owned())
    }
}
