//! `my_plugin`: an example plugin with configuration, an event, an authentication check and a
//! topic check. Copy it, rename it, make it yours.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use amqtt_core::codec::QoS;
use amqtt_core::plugin::{
    Action, BrokerContext, Plugin, PluginError, SessionInfo, Verdict, plugin,
};
use amqtt_core::topic::valid_topic_name;
use serde::{Deserialize, Serialize};

/// The plugin's section under `plugins:` in the YAML. Every key is optional.
///
/// The broker reads it as aMQTT reads YAML (1.1): a `bool` field you add takes `on`, `yes` or `y`
/// as well as `true`, with no attribute. A type you deserialize yourself (a file of your own, a
/// `serde_yaml::Value`) gets the same with
/// `#[serde(deserialize_with = "amqtt_core::config::yaml11")]` on a field, or
/// `amqtt_core::config::yaml11(deserializer)` for a whole value.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MyPluginConfig {
    /// Client ids refused at CONNECT (CONNACK 0x05, not authorized).
    pub banned_clients: Vec<String>,
    /// Clients may not publish to topics that start with this; empty: no restriction.
    pub readonly_prefix: String,
    /// Where the broker announces every client that connects.
    pub greeting_topic: String,
}

impl Default for MyPluginConfig {
    fn default() -> Self {
        MyPluginConfig {
            banned_clients: Vec::new(),
            readonly_prefix: "announcements/".to_owned(),
            greeting_topic: "announcements/welcome".to_owned(),
        }
    }
}

/// Refuses banned clients, keeps clients from publishing under `readonly_prefix`, and announces
/// every client that connects on `greeting_topic`.
pub struct MyPlugin {
    banned: HashSet<String>,
    readonly_prefix: String,
    greeting_topic: String,
    /// Kept from `build`: how the plugin acts on the broker (here, publishes).
    ctx: BrokerContext,
    connections: AtomicU64,
}

impl MyPlugin {
    /// How many clients have connected since the broker started.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

#[plugin(name = "my_plugin", alias = "my_company.plugins.MyPlugin", config = MyPluginConfig)]
impl Plugin for MyPlugin {
    // Runs once, before the broker binds its listeners; an error stops the broker with a
    // message naming the plugin.
    fn build(config: MyPluginConfig, ctx: &BrokerContext) -> Result<Self, PluginError> {
        if !valid_topic_name(&config.greeting_topic) {
            return Err(PluginError::new(format!(
                "`greeting_topic` is not a valid topic name: `{}`",
                config.greeting_topic
            )));
        }
        Ok(MyPlugin {
            banned: config.banned_clients.into_iter().collect(),
            readonly_prefix: config.readonly_prefix,
            greeting_topic: config.greeting_topic,
            ctx: ctx.clone(),
            connections: AtomicU64::new(0),
        })
    }

    // An event: a client was accepted.
    async fn on_broker_client_connected(&self, client_id: &str, _session: &SessionInfo) {
        let n = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let greeting = format!("welcome {client_id} (connection #{n})");
        let published = self
            .ctx
            .publish(&self.greeting_topic, greeting, QoS::AtMostOnce, false)
            .await;
        if let Err(e) = published {
            tracing::warn!(parent: &self.ctx.span(), "greeting not published: {e}");
        }
    }

    // Authentication: deny banned client ids, and otherwise let the other plugins decide.
    async fn authenticate(&self, session: &SessionInfo) -> Verdict {
        if self.banned.contains(&*session.client_id) {
            Verdict::Deny
        } else {
            Verdict::Abstain
        }
    }

    // Topic check: nobody publishes under the read-only prefix (the broker itself still does).
    async fn topic_filtering(
        &self,
        _session: &SessionInfo,
        topic: &str,
        action: Action,
    ) -> Verdict {
        let readonly = !self.readonly_prefix.is_empty() && topic.starts_with(&self.readonly_prefix);
        if action == Action::Publish && readonly {
            Verdict::Deny
        } else {
            Verdict::Abstain
        }
    }
}
