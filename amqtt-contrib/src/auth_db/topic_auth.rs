//! [`TopicAuthDb`]: aMQTT's `amqtt.contrib.auth_db.TopicAuthDBPlugin`.

use amqtt_core::plugin::{
    Action, BrokerContext, Plugin, PluginError, SessionInfo, Verdict, plugin,
};
use amqtt_core::topic::filter_matches;
use amqtt_plugins::topic_checking::filter_covers;
use serde::{Deserialize, Serialize};

use super::{Database, parse_connection};
use crate::answer_cache::{AnswerCache, DEFAULT_CACHE_SIZE};

/// Configuration of [`TopicAuthDb`] (aMQTT's keys, plus the answer cache).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicAuthDbConfig {
    /// The database, as an aMQTT (SQLAlchemy) URL (see [`super::UserAuthDbConfig`]). Required.
    pub connection: Option<String>,
    /// Create the tables `user_auth` and `topic_auth` when they are missing, at start.
    pub sync_schema: bool,
    /// Seconds an answer is reused; 0 (the default) turns the cache off.
    pub cache_ttl: f64,
    /// Answers held at most.
    pub cache_size: usize,
}

impl Default for TopicAuthDbConfig {
    fn default() -> TopicAuthDbConfig {
        TopicAuthDbConfig {
            connection: None,
            sync_schema: false,
            cache_ttl: 0.0,
            cache_size: DEFAULT_CACHE_SIZE,
        }
    }
}

/// The key of a cached answer: user name, action, topic.
type AclKey = (Box<str>, u8, Box<str>);

/// Allows each user the topics its row of the `topic_auth` table lists for the action.
///
/// - no user name (or an empty topic): no opinion (Abstain), as aMQTT;
/// - no `topic_auth` row for the user: Deny (aMQTT fails with an exception there);
/// - publish and receive: Allow when one listed filter matches the topic name (MQTT matching:
///   `#` and `+` at the start never reach a `$` topic);
/// - subscribe: Allow when one listed filter covers the whole requested filter (`a/#` grants
///   `a/+/c`; `a/+` does not grant `a/#`, which aMQTT lets through);
/// - otherwise Deny; a database error denies too (and is logged).
pub struct TopicAuthDb {
    database: super::Database,
    cache: Option<AnswerCache<AclKey, Verdict>>,
}

impl std::fmt::Debug for TopicAuthDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicAuthDb")
            .field("connection", &self.database.url)
            .finish_non_exhaustive()
    }
}

#[plugin(
    name = "topic_auth_db",
    alias = "amqtt.contrib.auth_db.TopicAuthDBPlugin",
    config = TopicAuthDbConfig
)]
impl Plugin for TopicAuthDb {
    fn build(config: TopicAuthDbConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        let url = parse_connection(config.connection.as_deref())?;
        let cache = AnswerCache::configured(config.cache_ttl, config.cache_size)
            .map_err(PluginError::new)?;
        Ok(TopicAuthDb {
            database: Database::new(url, config.sync_schema),
            cache,
        })
    }

    async fn start(&self) -> Result<(), PluginError> {
        self.database
            .start(<Self as amqtt_core::plugin::FromConfig>::NAME, "topic_auth")
            .await
    }

    async fn close(&self) {
        self.database.close().await;
    }

    async fn topic_filtering(&self, session: &SessionInfo, topic: &str, action: Action) -> Verdict {
        let Some(username) = session.username.as_deref().filter(|u| !u.is_empty()) else {
            return Verdict::Abstain;
        };
        if topic.is_empty() {
            return Verdict::Abstain;
        }
        let key = self
            .cache
            .as_ref()
            .map(|_| -> AclKey { (username.into(), action as u8, topic.into()) });
        if let (Some(cache), Some(key)) = (&self.cache, &key)
            && let Some(verdict) = cache.get(key)
        {
            return verdict;
        }
        let Some(verdict) = self.lookup(username, topic, action).await else {
            return Verdict::Deny;
        };
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            cache.insert(key, verdict);
        }
        verdict
    }
}

impl TopicAuthDb {
    /// The answer of the database; `None` when it failed (Deny, not cached).
    async fn lookup(&self, username: &str, topic: &str, action: Action) -> Option<Verdict> {
        let Some(store) = self.database.store() else {
            tracing::error!("topic check failure: the database is not open");
            return None;
        };
        let row = match store.topic_auth(username).await {
            Ok(row) => row,
            Err(e) => {
                tracing::error!(user = ?username, error = %e, "topic check failure: database error");
                return None;
            }
        };
        let Some(row) = row else {
            tracing::debug!(user = ?username, ?action, topic, "denied: no topic_auth row for the user");
            return Some(Verdict::Deny);
        };
        Some(Verdict::from(allowed(row.list(action), topic, action)))
    }
}

/// Whether one of `list` allows `action` on `topic`.
pub(crate) fn allowed(list: &[String], topic: &str, action: Action) -> bool {
    match action {
        Action::Subscribe => list.iter().any(|allowed| filter_covers(allowed, topic)),
        Action::Publish | Action::Receive => {
            list.iter().any(|allowed| filter_matches(allowed, topic))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_allow_as_mqtt_matches() {
        let list = vec!["a/+".to_owned(), "b/#".to_owned()];
        assert!(allowed(&list, "a/1", Action::Publish));
        assert!(!allowed(&list, "a/1/2", Action::Receive));
        assert!(allowed(&list, "b", Action::Receive));
        assert!(allowed(&list, "a/+", Action::Subscribe));
        assert!(
            !allowed(&list, "a/#", Action::Subscribe),
            "aMQTT grants this"
        );
        assert!(allowed(&list, "b/+/c", Action::Subscribe));
        assert!(!allowed(&["#".to_owned()], "$SYS/x", Action::Receive));
    }
}
