//! aMQTT's anonymous authentication plugin.

use amqtt_core::plugin::{BrokerContext, Plugin, PluginError, SessionInfo, Verdict, plugin};
use serde::{Deserialize, Serialize};

/// Configuration of [`AnonymousAuth`].
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnonymousAuthConfig {
    /// Whether clients without a user name may connect.
    #[serde(alias = "allow-anonymous")]
    pub allow_anonymous: bool,
}

impl Default for AnonymousAuthConfig {
    fn default() -> Self {
        AnonymousAuthConfig {
            allow_anonymous: true,
        }
    }
}

/// Admits clients that send no user name when `allow_anonymous` is true (the default).
///
/// Unlike aMQTT, `allow_anonymous: false` does not admit a client just because it sent a user
/// name: a client without one is denied, and one with a user name gets no answer (Abstain) here,
/// so a password plugin decides. With `allow_anonymous: true` every client is allowed, as in aMQTT.
#[derive(Debug, Clone)]
pub struct AnonymousAuth {
    allow_anonymous: bool,
}

#[plugin(
    name = "auth_anonymous",
    alias = "amqtt.plugins.authentication.AnonymousAuthPlugin",
    config = AnonymousAuthConfig
)]
impl Plugin for AnonymousAuth {
    fn build(config: AnonymousAuthConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(AnonymousAuth {
            allow_anonymous: config.allow_anonymous,
        })
    }

    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        match (self.allow_anonymous, session.username.is_some()) {
            (true, _) => Verdict::Allow,
            (false, true) => Verdict::Abstain,
            (false, false) => Verdict::Deny,
        }
    }
}
