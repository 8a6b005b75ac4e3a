//! `amqtt.contrib.ldap.TopicAuthLdapPlugin`: each user's topic filters, read from attributes of
//! its LDAP entry.

use std::sync::Arc;

use amqtt_core::plugin::{
    Action, BrokerContext, FromConfig, Plugin, PluginError, SessionInfo, Verdict, plugin,
};
use amqtt_core::topic::filter_matches;
use amqtt_plugins::topic_checking::filter_covers;
use serde::{Deserialize, Serialize};

use super::directory::{Directory, Lookup, UserEntry};
use super::{CommonKeys, DEFAULT_TIMEOUT};
use crate::answer_cache::{AnswerCache, DEFAULT_CACHE_SIZE, LoginKey};

/// Configuration of [`TopicAuthLdap`]: aMQTT's keys, and `timeout`, `cache_ttl`, `cache_size`.
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicAuthLdapConfig {
    /// The LDAP URL, e.g. `ldap://localhost:389` or `ldaps://...`. Required.
    pub server: Option<String>,
    /// Where users are (search mode: the search base; direct mode: their DN's parent). Required.
    pub base_dn: Option<String>,
    /// The attribute holding the user name, e.g. `uid`. Required.
    pub user_attribute: Option<String>,
    /// The account that searches users; without it, each check binds as the user.
    pub bind_dn: Option<String>,
    /// Its password (required with `bind_dn`).
    pub bind_password: Option<String>,
    /// The attribute listing the topic filters the user may publish to. Required.
    pub publish_attribute: Option<String>,
    /// The attribute listing the topic filters the user may subscribe to. Required.
    pub subscribe_attribute: Option<String>,
    /// The attribute listing the topic filters the user may receive messages from. Required.
    pub receive_attribute: Option<String>,
    /// Seconds to wait for the server, per connection and per operation (default 5).
    pub timeout: f64,
    /// Seconds an entry's topic filters are reused; 0 (the default) turns the cache off.
    pub cache_ttl: f64,
    /// Users held at most by the cache.
    pub cache_size: usize,
}

impl Default for TopicAuthLdapConfig {
    fn default() -> TopicAuthLdapConfig {
        TopicAuthLdapConfig {
            server: None,
            base_dn: None,
            user_attribute: None,
            bind_dn: None,
            bind_password: None,
            publish_attribute: None,
            subscribe_attribute: None,
            receive_attribute: None,
            timeout: DEFAULT_TIMEOUT,
            cache_ttl: 0.0,
            cache_size: DEFAULT_CACHE_SIZE,
        }
    }
}

/// Whether an allowed filter (first) grants a topic or requested filter (second).
type TopicRule = fn(&str, &str) -> bool;

/// A user's topic filters, per action.
#[derive(Debug, Clone, Default)]
struct TopicRights {
    publish: Vec<String>,
    subscribe: Vec<String>,
    receive: Vec<String>,
}

/// Allows a user the topics listed in its entry's attributes (aMQTT's `TopicAuthLdapPlugin`).
///
/// Publish and receive are allowed when one of the filters of the action's attribute matches
/// the topic; subscribe when one of them covers the whole requested filter (`a/#` grants
/// `a/+/c`; `a/+` does not grant `a/#`). Anything else is denied: a client without a user name,
/// an unknown user, a user name that matches several entries, an entry without the attribute,
/// a server that cannot be asked.
pub struct TopicAuthLdap {
    directory: Directory,
    /// The attribute names for publish, subscribe and receive.
    attributes: [String; 3],
    cache: Option<AnswerCache<LoginKey, Arc<TopicRights>>>,
}

#[plugin(
    name = "topic_ldap",
    alias = "amqtt.contrib.ldap.TopicAuthLdapPlugin",
    config = TopicAuthLdapConfig
)]
impl Plugin for TopicAuthLdap {
    fn build(config: TopicAuthLdapConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
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
        let attribute = |key: &str, value: Option<String>| match value {
            Some(name)
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') =>
            {
                Ok(name)
            }
            Some(name) => Err(PluginError::new(format!(
                "`{key}`: `{name}` is not an LDAP attribute name"
            ))),
            None => Err(PluginError::new(format!(
                "`{key}`: required: the attribute listing the user's topic filters"
            ))),
        };
        let attributes = [
            attribute("publish_attribute", config.publish_attribute)?,
            attribute("subscribe_attribute", config.subscribe_attribute)?,
            attribute("receive_attribute", config.receive_attribute)?,
        ];
        Ok(TopicAuthLdap {
            directory: Directory::new(keys),
            attributes,
            cache,
        })
    }

    async fn start(&self) -> Result<(), PluginError> {
        self.directory
            .check()
            .await
            .map_err(|message| PluginError::named(<Self as FromConfig>::NAME, message))
    }

    async fn topic_filtering(&self, session: &SessionInfo, topic: &str, action: Action) -> Verdict {
        let Some(username) = session.username.as_deref() else {
            return Verdict::Deny;
        };
        let Some(rights) = self.rights(username, session).await else {
            return Verdict::Deny;
        };
        let (filters, allows): (&[String], TopicRule) = match action {
            Action::Publish => (&rights.publish, filter_matches),
            Action::Subscribe => (&rights.subscribe, filter_covers),
            Action::Receive => (&rights.receive, filter_matches),
        };
        Verdict::from(filters.iter().any(|allowed| allows(allowed, topic)))
    }
}

impl TopicAuthLdap {
    /// The user's topic filters, from the cache or the directory; `None` when the user has no
    /// single readable entry or the server cannot be asked.
    async fn rights(&self, username: &str, session: &SessionInfo) -> Option<Arc<TopicRights>> {
        let password = session.password.as_deref().unwrap_or_default();
        // Direct mode reads the entry as the user: its password is part of the answer's key.
        let key_password = if self.directory.search_mode() {
            &[][..]
        } else {
            password
        };
        let key = self
            .cache
            .as_ref()
            .map(|_| LoginKey::new(username, key_password));
        if let (Some(cache), Some(key)) = (&self.cache, &key)
            && let Some(rights) = cache.get(key)
        {
            return Some(rights);
        }
        let attributes: Vec<&str> = self.attributes.iter().map(String::as_str).collect();
        // Boxed: a directory exchange is a large future, which would otherwise enlarge the
        // future of every topic check (a cache hit too), and with it the per-message path of
        // every broker built with this plugin, configured or not.
        let lookup = if self.directory.search_mode() {
            Box::pin(self.directory.lookup(username, &attributes)).await
        } else {
            let password = std::str::from_utf8(password).ok()?;
            Box::pin(self.directory.login(username, password, &attributes)).await
        };
        let entry = match lookup {
            Ok(Lookup::Found(entry)) => entry,
            Ok(Lookup::Refused(why)) => {
                tracing::debug!(user = username, why, "LDAP topic check: no entry");
                return None;
            }
            Err(e) => {
                tracing::warn!(user = username, error = %e, "LDAP server not asked; topic denied");
                return None;
            }
        };
        let rights = Arc::new(self.rights_of(&entry));
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            cache.insert(key, rights.clone());
        }
        Some(rights)
    }

    /// The topic filters of an entry, per action (attribute names compared case-insensitively).
    fn rights_of(&self, entry: &UserEntry) -> TopicRights {
        let values = |name: &String| {
            entry
                .attributes
                .get(&name.to_ascii_lowercase())
                .cloned()
                .unwrap_or_default()
        };
        let [publish, subscribe, receive] = &self.attributes;
        TopicRights {
            publish: values(publish),
            subscribe: values(subscribe),
            receive: values(receive),
        }
    }
}
