//! [`ShadowTopicAuthPlugin`]: each device may use only its own shadow topics.

use std::collections::HashSet;

use amqtt_core::plugin::{
    Action, BrokerContext, Plugin, PluginError, SessionInfo, Verdict, plugin,
};
use serde::{Deserialize, Serialize};

use super::topics::{SHADOW_PREFIX, topic_device};

/// Configuration of [`ShadowTopicAuthPlugin`].
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShadowTopicAuthConfig {
    /// User names that may use every device's shadow topics (the application that sends
    /// updates to the devices). Default: none.
    pub superusers: Vec<String>,
}

/// Lets each device use only its own shadow topics (aMQTT's
/// `amqtt.contrib.shadows.ShadowTopicAuthPlugin`). A device is identified by its user name.
///
/// For subscribing, publishing and receiving alike:
///
/// - a topic (or filter) outside `$shadow/` is denied, to everyone, as in aMQTT: combined with
///   this plugin, clients use shadows only;
/// - a user named in `superusers` is allowed every `$shadow/...` topic and filter;
/// - otherwise `$shadow/<device>/...` is allowed when `<device>` is the client's user name,
///   written out (not a wildcard); everything else is denied, and so is every shadow topic to
///   a client without a user name.
#[derive(Debug, Clone)]
pub struct ShadowTopicAuthPlugin {
    superusers: HashSet<String>,
}

#[plugin(
    name = "shadow_topic_auth",
    alias = "amqtt.contrib.shadows.ShadowTopicAuthPlugin",
    config = ShadowTopicAuthConfig
)]
impl Plugin for ShadowTopicAuthPlugin {
    fn build(config: ShadowTopicAuthConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(ShadowTopicAuthPlugin {
            superusers: config.superusers.into_iter().collect(),
        })
    }

    async fn topic_filtering(
        &self,
        session: &SessionInfo,
        topic: &str,
        _action: Action,
    ) -> Verdict {
        self.verdict(session.username.as_deref(), topic)
    }
}

impl ShadowTopicAuthPlugin {
    /// The answer for a client with `username` using `topic`, whatever the action.
    fn verdict(&self, username: Option<&str>, topic: &str) -> Verdict {
        if !topic.starts_with(SHADOW_PREFIX) {
            return Verdict::Deny;
        }
        let Some(user) = username else {
            return Verdict::Deny;
        };
        Verdict::from(self.superusers.contains(user) || topic_device(topic) == Some(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_get_their_own_topics_and_superusers_all_shadow_topics() {
        let plugin = ShadowTopicAuthPlugin {
            superusers: HashSet::from(["app".to_owned()]),
        };
        let v = |user, topic| plugin.verdict(user, topic);
        assert_eq!(v(Some("d1"), "$shadow/d1/main/update"), Verdict::Allow);
        assert_eq!(v(Some("d1"), "$shadow/d1/#"), Verdict::Allow);
        assert_eq!(v(Some("d1"), "$shadow/d2/main/update"), Verdict::Deny);
        assert_eq!(v(Some("d1"), "$shadow/+/main/update"), Verdict::Deny);
        assert_eq!(v(None, "$shadow/d1/main/get"), Verdict::Deny);
        assert_eq!(v(Some("d1"), "a/b"), Verdict::Deny);
        assert_eq!(v(Some("app"), "$shadow/#"), Verdict::Allow);
        assert_eq!(v(Some("app"), "$SYS/#"), Verdict::Deny);
        // A user name that is not a device id matches no device.
        assert_eq!(v(Some("d1/main"), "$shadow/d1/main/get"), Verdict::Deny);
    }
}
