//! `amqtt.contrib.ldap.UserAuthLdapPlugin`: user name and password checked by binding to LDAP.

use amqtt_core::plugin::{
    BrokerContext, FromConfig, Plugin, PluginError, SessionInfo, Verdict, plugin,
};
use serde::{Deserialize, Serialize};

use super::directory::{Directory, Lookup};
use super::{CommonKeys, DEFAULT_TIMEOUT};
use crate::answer_cache::{AnswerCache, DEFAULT_CACHE_SIZE, LoginKey};

/// Configuration of [`UserAuthLdap`]: aMQTT's keys, and `timeout`, `cache_ttl`, `cache_size`.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserAuthLdapConfig {
    /// The LDAP URL, e.g. `ldap://localhost:389` or `ldaps://...`. Required.
    pub server: Option<String>,
    /// Where users are (search mode: the search base; direct mode: their DN's parent). Required.
    pub base_dn: Option<String>,
    /// The attribute holding the user name, e.g. `uid`. Required.
    pub user_attribute: Option<String>,
    /// The account that searches users; without it, clients bind directly.
    pub bind_dn: Option<String>,
    /// Its password (required with `bind_dn`).
    pub bind_password: Option<String>,
    /// Seconds to wait for the server, per connection and per operation (default 5).
    pub timeout: f64,
    /// Seconds an answer is reused; 0 (the default) turns the cache off.
    pub cache_ttl: f64,
    /// Answers held at most by the cache.
    pub cache_size: usize,
}

impl Default for UserAuthLdapConfig {
    fn default() -> UserAuthLdapConfig {
        UserAuthLdapConfig {
            server: None,
            base_dn: None,
            user_attribute: None,
            bind_dn: None,
            bind_password: None,
            timeout: DEFAULT_TIMEOUT,
            cache_ttl: 0.0,
            cache_size: DEFAULT_CACHE_SIZE,
        }
    }
}

/// Admits a client when a bind to the directory with its user name and password succeeds
/// (aMQTT's `UserAuthLdapPlugin`).
///
/// Verdicts: no user name, no or an empty password, an unknown user, a user name that matches
/// several entries, a wrong password, or a server that cannot be asked: Deny (CONNACK 0x05).
/// A successful bind: Allow.
pub struct UserAuthLdap {
    directory: Directory,
    cache: Option<AnswerCache<LoginKey, Verdict>>,
}

#[plugin(
    name = "auth_ldap",
    alias = "amqtt.contrib.ldap.UserAuthLdapPlugin",
    config = UserAuthLdapConfig
)]
impl Plugin for UserAuthLdap {
    fn build(config: UserAuthLdapConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        let keys = CommonKeys {
            server: &config.server,
            base_dn: &config.base_dn,
            user_attribute: &config.user_attribute,
            bind_dn: &config.bind_dn,
            bind_password: &config.bind_password,
            timeout: config.timeout,
        }
        .directory_keys()?;
        let cache = AnswerCache::configured(config.cache_ttl, config.cache_size)
            .map_err(PluginError::new)?;
        Ok(UserAuthLdap {
            directory: Directory::new(keys),
            cache,
        })
    }

    async fn start(&self) -> Result<(), PluginError> {
        self.directory
            .check()
            .await
            .map_err(|message| PluginError::named(<Self as FromConfig>::NAME, message))
    }

    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        let Some(username) = session.username.as_deref() else {
            tracing::debug!("LDAP authentication failure: no user name");
            return Verdict::Deny;
        };
        let password = session.password.as_deref().unwrap_or_default();
        let key = self
            .cache
            .as_ref()
            .map(|_| LoginKey::new(username, password));
        if let (Some(cache), Some(key)) = (&self.cache, &key)
            && let Some(answer) = cache.get(key)
        {
            return answer;
        }
        let Ok(password) = std::str::from_utf8(password) else {
            tracing::debug!(
                user = username,
                "LDAP authentication failure: password not UTF-8"
            );
            return Verdict::Deny;
        };
        // Boxed: a directory exchange is a large future, which would otherwise enlarge the
        // CONNECT path of every broker built with this plugin, configured or not.
        let verdict = match Box::pin(self.directory.login(username, password, &[])).await {
            Ok(Lookup::Found(entry)) => {
                tracing::debug!(
                    user = username,
                    dn = entry.dn,
                    "LDAP authentication success"
                );
                Verdict::Allow
            }
            Ok(Lookup::Refused(why)) => {
                tracing::debug!(user = username, why, "LDAP authentication failure");
                Verdict::Deny
            }
            Err(e) => {
                // Not cached: the next attempt asks again.
                tracing::warn!(user = username, error = %e, "LDAP server not asked; login refused");
                return Verdict::Deny;
            }
        };
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            cache.insert(key, verdict);
        }
        verdict
    }
}
