//! aMQTT's access-control-list plugin: per user, the topic filters allowed for subscribing,
//! publishing and receiving.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use amqtt_core::config::PluginsSection;
use amqtt_core::plugin::{
    Action, BrokerContext, FromConfig, Plugin, PluginError, Reload, SessionInfo, Swappable,
    Verdict, plugin,
};
use amqtt_core::topic::{filter_matches, valid_topic_filter};
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ADMIN_USER, ANONYMOUS_USER, filter_covers};

/// User name -> the topic filters that user may use, as written in the configuration.
type AclMap = HashMap<String, Vec<String>>;

/// Configuration of [`TopicAcl`]: one optional list per action.
///
/// Each list maps a user name to the topic filters (with `+` and `#`) that user may use. A list
/// that is absent (or `null`) places no restriction on its action; a list that is present denies
/// its action to every user without a non-empty entry. A list may be written as a mapping
/// (`alice: ["a/#"]`) or, as in aMQTT's documentation, as a sequence of one-entry mappings
/// (`- alice: ["a/#"]`); entries for the same user are merged.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicAclConfig {
    /// Deprecated name of `subscribe_acl`, kept for aMQTT configurations; setting both is an
    /// error.
    #[serde(deserialize_with = "deserialize_acl", serialize_with = "serialize_acl")]
    pub acl: Option<HashMap<String, Vec<String>>>,
    /// Which topic filters each user may subscribe to (also `subscribe-acl`).
    #[serde(
        alias = "subscribe-acl",
        deserialize_with = "deserialize_acl",
        serialize_with = "serialize_acl"
    )]
    pub subscribe_acl: Option<HashMap<String, Vec<String>>>,
    /// Which topics each user may publish to (also `publish-acl`).
    #[serde(
        alias = "publish-acl",
        deserialize_with = "deserialize_acl",
        serialize_with = "serialize_acl"
    )]
    pub publish_acl: Option<HashMap<String, Vec<String>>>,
    /// Which topics each user may receive messages from (also `receive-acl`); checked for each
    /// subscriber when a message is delivered.
    #[serde(
        alias = "receive-acl",
        deserialize_with = "deserialize_acl",
        serialize_with = "serialize_acl"
    )]
    pub receive_acl: Option<HashMap<String, Vec<String>>>,
}

/// Allows each user only the topics its access-control lists name (aMQTT's
/// `TopicAccessControlListPlugin`).
///
/// For each action whose list is configured:
///
/// - the client's user name picks the entry; a client without one is the user `anonymous`;
/// - publish and receive are allowed when one of the entry's filters matches the topic name
///   (MQTT matching, so `#` and `+` at the start never reach a `$` topic: list `$SYS/#`);
/// - subscribe is allowed when one of the entry's filters covers the whole requested filter
///   (see [`filter_covers`]): `a/#` grants `a/+/c`, `a/+` does not grant `a/#`, and only `#`
///   grants `#`;
/// - a user without an entry, or with an empty one, is denied;
/// - the user `admin` is allowed everything (aMQTT documents `admin` as having access to all
///   topics) **unless** the list has an entry for `admin`, which then applies like any other:
///   an explicit entry is the more specific statement, and lets a deployment take the
///   privilege away.
///
/// An action whose list is not configured gets no opinion (Abstain), so it is allowed unless
/// another plugin denies it. Allowed actions answer Allow, denied ones Deny.
///
/// ```yaml
/// plugins:
///   amqtt.plugins.topic_checking.TopicAccessControlListPlugin:
///     subscribe_acl:
///       alice: ["sensors/#", "$SYS/#"]
///       anonymous: ["public/#"]
///     publish_acl:
///       alice: ["sensors/+/temperature"]
///     receive_acl:
///       anonymous: ["public/news"]
/// ```
#[derive(Debug)]
pub struct TopicAcl {
    /// The lists in force; a hot reload replaces them with the new configuration's.
    lists: Swappable<AccessLists>,
}

/// The compiled list of each action; `None` where the action is not checked.
#[derive(Debug)]
struct AccessLists {
    subscribe: Option<AccessList>,
    publish: Option<AccessList>,
    receive: Option<AccessList>,
}

#[plugin(
    name = "topic_acl",
    alias = "amqtt.plugins.topic_checking.TopicAccessControlListPlugin",
    config = TopicAclConfig
)]
impl Plugin for TopicAcl {
    fn build(config: TopicAclConfig, ctx: &BrokerContext) -> Result<Self, PluginError> {
        let _span = ctx.span().entered();
        TopicAcl::from_config(config)
    }

    async fn topic_filtering(&self, session: &SessionInfo, topic: &str, action: Action) -> Verdict {
        self.verdict(session.username.as_deref(), topic, action)
    }

    async fn reload(&self, plugins: &PluginsSection) -> Result<Reload<'_>, PluginError> {
        let config = plugins.config_of::<Self>()?.unwrap_or_default();
        let lists = AccessLists::from_config(config)
            .map_err(|e| e.for_plugin(<Self as FromConfig>::NAME))?;
        Ok(self.lists.stage(lists))
    }
}

impl TopicAcl {
    /// Checks and compiles a configuration: `acl` together with `subscribe_acl`, or a filter
    /// that is not a valid MQTT topic filter, is an error. `acl` alone is read as
    /// `subscribe_acl`, with a deprecation warning.
    pub fn from_config(config: TopicAclConfig) -> Result<TopicAcl, PluginError> {
        let lists = AccessLists::from_config(config)?;
        Ok(TopicAcl {
            lists: Swappable::new(lists),
        })
    }

    /// The answer for a client with `username` (none: `anonymous`) doing `action` on `topic`.
    fn verdict(&self, username: Option<&str>, topic: &str, action: Action) -> Verdict {
        self.lists
            .with(|lists| lists.verdict(username, topic, action))
    }
}

impl AccessLists {
    /// See [`TopicAcl::from_config`].
    fn from_config(config: TopicAclConfig) -> Result<AccessLists, PluginError> {
        let TopicAclConfig {
            acl,
            subscribe_acl,
            publish_acl,
            receive_acl,
        } = config;
        let subscribe = match (acl, subscribe_acl) {
            (Some(_), Some(_)) => {
                return Err(PluginError::new(
                    "`acl` and `subscribe_acl` are both set; `acl` is the deprecated name of \
                     `subscribe_acl`: keep only `subscribe_acl`",
                ));
            }
            (Some(legacy), None) => {
                tracing::warn!(
                    "`acl` is deprecated and will be removed: rename it to `subscribe_acl`"
                );
                AccessList::new("acl", legacy).map(Some)?
            }
            (None, subscribe) => AccessList::compile("subscribe_acl", subscribe)?,
        };
        Ok(AccessLists {
            subscribe,
            publish: AccessList::compile("publish_acl", publish_acl)?,
            receive: AccessList::compile("receive_acl", receive_acl)?,
        })
    }

    /// The answer for a client with `username` (none: `anonymous`) doing `action` on `topic`.
    fn verdict(&self, username: Option<&str>, topic: &str, action: Action) -> Verdict {
        let (list, allows): (_, fn(&str, &str) -> bool) = match action {
            Action::Subscribe => (&self.subscribe, filter_covers),
            Action::Publish => (&self.publish, filter_matches),
            Action::Receive => (&self.receive, filter_matches),
        };
        let Some(list) = list else {
            return Verdict::Abstain;
        };
        let user = username.unwrap_or(ANONYMOUS_USER);
        match list.entries.get(user) {
            Some(filters) => Verdict::from(filters.iter().any(|allowed| allows(allowed, topic))),
            None if user == ADMIN_USER => Verdict::Allow,
            None => Verdict::Deny,
        }
    }
}

/// One action's compiled list: user name -> allowed filters, every one of them valid.
#[derive(Debug, Clone)]
struct AccessList {
    entries: HashMap<String, Box<[String]>>,
}

impl AccessList {
    /// Compiles the list configured as `field`, if it is configured.
    fn compile(field: &str, entries: Option<AclMap>) -> Result<Option<AccessList>, PluginError> {
        entries.map(|e| AccessList::new(field, e)).transpose()
    }

    /// Checks every filter of the list configured as `field` (users in name order, so the
    /// error is the same on every start).
    fn new(field: &str, entries: AclMap) -> Result<AccessList, PluginError> {
        let mut users: Vec<(&String, &Vec<String>)> = entries.iter().collect();
        users.sort_unstable_by_key(|(user, _)| *user);
        for (user, filters) in users {
            if let Some(bad) = filters.iter().find(|f| !valid_topic_filter(f)) {
                return Err(PluginError::new(format!(
                    "`{field}`: user `{user}` lists `{bad}`, which is not a valid topic filter"
                )));
            }
        }
        Ok(AccessList {
            entries: entries
                .into_iter()
                .map(|(user, filters)| (user, filters.into_boxed_slice()))
                .collect(),
        })
    }
}

/// Reads one ACL field: `null` is "not configured", otherwise a mapping or a sequence of
/// mappings (see [`TopicAclConfig`]).
fn deserialize_acl<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<AclMap>, D::Error> {
    Ok(Option::<AclEntries>::deserialize(deserializer)?.map(|entries| entries.0))
}

/// An ACL field as `--check-config` shows it: its users in name order.
fn serialize_acl<S: Serializer>(acl: &Option<AclMap>, serializer: S) -> Result<S::Ok, S::Error> {
    let sorted: Option<BTreeMap<&String, &Vec<String>>> =
        acl.as_ref().map(|acl| acl.iter().collect());
    sorted.serialize(serializer)
}

/// A present ACL field, in either of its two spellings.
struct AclEntries(AclMap);

impl<'de> Deserialize<'de> for AclEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AclEntriesVisitor)
    }
}

/// Merges the entries of a mapping, or of every mapping in a sequence.
struct AclEntriesVisitor;

impl<'de> Visitor<'de> for AclEntriesVisitor {
    type Value = AclEntries;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of user name to a list of topic filters, or a list of such mappings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AclEntries, A::Error> {
        let mut entries = AclMap::new();
        while let Some((user, filters)) = map.next_entry::<String, Vec<String>>()? {
            entries.entry(user).or_default().extend(filters);
        }
        Ok(AclEntries(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AclEntries, A::Error> {
        let mut entries = AclMap::new();
        while let Some(part) = seq.next_element::<AclMap>()? {
            for (user, filters) in part {
                entries.entry(user).or_default().extend(filters);
            }
        }
        Ok(AclEntries(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &[&str])]) -> Option<AclMap> {
        Some(
            entries
                .iter()
                .map(|(user, filters)| {
                    (
                        (*user).to_owned(),
                        filters.iter().map(|f| (*f).to_owned()).collect(),
                    )
                })
                .collect(),
        )
    }

    fn acl(config: TopicAclConfig) -> TopicAcl {
        TopicAcl::from_config(config).expect("valid ACL configuration")
    }

    fn build_error(config: TopicAclConfig) -> String {
        match TopicAcl::from_config(config) {
            Ok(_) => panic!("the configuration must be refused"),
            Err(e) => e.to_string(),
        }
    }

    use Action::{Publish, Receive, Subscribe};
    use Verdict::{Abstain, Allow, Deny};

    #[test]
    fn unconfigured_actions_get_no_opinion() {
        let plugin = acl(TopicAclConfig {
            publish_acl: map(&[("alice", &["a/#"])]),
            ..TopicAclConfig::default()
        });
        assert_eq!(plugin.verdict(Some("bob"), "x/#", Subscribe), Abstain);
        assert_eq!(plugin.verdict(None, "x", Receive), Abstain);
        assert_eq!(plugin.verdict(Some("bob"), "a/b", Publish), Deny);
        assert_eq!(plugin.verdict(Some("alice"), "a/b", Publish), Allow);
        let empty = acl(TopicAclConfig::default());
        for action in [Subscribe, Publish, Receive] {
            assert_eq!(empty.verdict(Some("bob"), "a", action), Abstain);
        }
    }

    #[test]
    fn publish_and_receive_match_topic_names() {
        let list = map(&[("alice", &["a/+/c", "b/#"]), ("bob", &["x"])]);
        let plugin = acl(TopicAclConfig {
            publish_acl: list.clone(),
            receive_acl: list,
            ..TopicAclConfig::default()
        });
        for action in [Publish, Receive] {
            for allowed in ["a/b/c", "a//c", "b", "b/c/d"] {
                assert_eq!(plugin.verdict(Some("alice"), allowed, action), Allow);
            }
            for denied in ["a/b", "a/b/c/d", "x", "c"] {
                assert_eq!(plugin.verdict(Some("alice"), denied, action), Deny);
            }
            assert_eq!(plugin.verdict(Some("bob"), "x", action), Allow);
            assert_eq!(plugin.verdict(Some("bob"), "x/y", action), Deny);
        }
    }

    #[test]
    fn subscribe_needs_the_whole_filter_covered() {
        let plugin = acl(TopicAclConfig {
            subscribe_acl: map(&[("alice", &["a/#", "b/+"]), ("root", &["#"])]),
            ..TopicAclConfig::default()
        });
        for granted in ["a/#", "a/+/c", "a", "b/x", "b/+"] {
            assert_eq!(plugin.verdict(Some("alice"), granted, Subscribe), Allow);
        }
        for refused in ["#", "+/x", "b/#", "b/x/y", "c"] {
            assert_eq!(plugin.verdict(Some("alice"), refused, Subscribe), Deny);
        }
        assert_eq!(plugin.verdict(Some("root"), "#", Subscribe), Allow);
    }

    /// Subscribe checks see a shared subscription whole, `$share/<group>/<filter>`: it needs an
    /// entry of its own, so an ACL says who may join which group.
    #[test]
    fn shared_subscriptions_need_an_explicit_entry() {
        let plugin = acl(TopicAclConfig {
            subscribe_acl: map(&[
                ("alice", &["jobs/#", "#"]),
                ("bob", &["$share/workers/jobs/#"]),
                ("carol", &["$share/+/jobs/#"]),
            ]),
            ..TopicAclConfig::default()
        });
        assert_eq!(plugin.verdict(Some("alice"), "jobs/x", Subscribe), Allow);
        assert_eq!(
            plugin.verdict(Some("alice"), "$share/workers/jobs/x", Subscribe),
            Deny
        );
        assert_eq!(
            plugin.verdict(Some("bob"), "$share/workers/jobs/+", Subscribe),
            Allow
        );
        assert_eq!(
            plugin.verdict(Some("bob"), "$share/other/jobs/x", Subscribe),
            Deny
        );
        assert_eq!(plugin.verdict(Some("bob"), "jobs/x", Subscribe), Deny);
        assert_eq!(
            plugin.verdict(Some("carol"), "$share/any/jobs/x", Subscribe),
            Allow
        );
    }

    #[test]
    fn dollar_topics_need_an_explicit_entry() {
        let list = map(&[("alice", &["#"]), ("root", &["#", "$SYS/#"])]);
        let plugin = acl(TopicAclConfig {
            subscribe_acl: list.clone(),
            receive_acl: list,
            ..TopicAclConfig::default()
        });
        assert_eq!(plugin.verdict(Some("alice"), "$SYS/#", Subscribe), Deny);
        assert_eq!(
            plugin.verdict(Some("alice"), "$SYS/broker/uptime", Receive),
            Deny
        );
        assert_eq!(plugin.verdict(Some("alice"), "a/$SYS", Receive), Allow);
        assert_eq!(plugin.verdict(Some("root"), "$SYS/#", Subscribe), Allow);
        assert_eq!(
            plugin.verdict(Some("root"), "$SYS/broker/uptime", Receive),
            Allow
        );
    }

    #[test]
    fn users_without_entries_are_denied_and_anonymous_has_a_name() {
        let plugin = acl(TopicAclConfig {
            subscribe_acl: map(&[("anonymous", &["public/#"]), ("empty", &[])]),
            ..TopicAclConfig::default()
        });
        assert_eq!(plugin.verdict(None, "public/x", Subscribe), Allow);
        assert_eq!(plugin.verdict(None, "private", Subscribe), Deny);
        assert_eq!(
            plugin.verdict(Some("anonymous"), "public/x", Subscribe),
            Allow
        );
        assert_eq!(plugin.verdict(Some("empty"), "public/x", Subscribe), Deny);
        assert_eq!(
            plugin.verdict(Some("stranger"), "public/x", Subscribe),
            Deny
        );
        assert_eq!(plugin.verdict(Some(""), "public/x", Subscribe), Deny);
    }

    #[test]
    fn admin_is_allowed_everything_unless_listed() {
        let unlisted = acl(TopicAclConfig {
            subscribe_acl: map(&[("alice", &["a"])]),
            publish_acl: map(&[]),
            ..TopicAclConfig::default()
        });
        assert_eq!(unlisted.verdict(Some("admin"), "#", Subscribe), Allow);
        assert_eq!(unlisted.verdict(Some("admin"), "$SYS/#", Subscribe), Allow);
        assert_eq!(unlisted.verdict(Some("admin"), "x", Publish), Allow);
        assert_eq!(unlisted.verdict(Some("Admin"), "x", Publish), Deny);
        let listed = acl(TopicAclConfig {
            subscribe_acl: map(&[("admin", &["ops/#"])]),
            publish_acl: map(&[("admin", &[])]),
            ..TopicAclConfig::default()
        });
        assert_eq!(listed.verdict(Some("admin"), "ops/x", Subscribe), Allow);
        assert_eq!(listed.verdict(Some("admin"), "#", Subscribe), Deny);
        assert_eq!(listed.verdict(Some("admin"), "ops/x", Publish), Deny);
    }

    #[test]
    fn legacy_acl_is_the_subscribe_list() {
        let plugin = acl(TopicAclConfig {
            acl: map(&[("alice", &["a/#"])]),
            ..TopicAclConfig::default()
        });
        assert_eq!(plugin.verdict(Some("alice"), "a/b", Subscribe), Allow);
        assert_eq!(plugin.verdict(Some("alice"), "b", Subscribe), Deny);
        assert_eq!(plugin.verdict(Some("alice"), "b", Publish), Abstain);
    }

    #[test]
    fn acl_and_subscribe_acl_together_are_refused() {
        let message = build_error(TopicAclConfig {
            acl: map(&[("alice", &["a/#"])]),
            subscribe_acl: map(&[("alice", &["a/#"])]),
            ..TopicAclConfig::default()
        });
        assert!(message.contains("`acl` and `subscribe_acl`"), "{message}");
    }

    #[test]
    fn invalid_filters_are_refused_naming_user_and_filter() {
        for (config, field) in [
            (
                TopicAclConfig {
                    publish_acl: map(&[("alice", &["ok/#"]), ("bob", &["a/b", "a/#/b"])]),
                    ..TopicAclConfig::default()
                },
                "publish_acl",
            ),
            (
                TopicAclConfig {
                    acl: map(&[("bob", &["a/#/b"])]),
                    ..TopicAclConfig::default()
                },
                "acl",
            ),
            (
                TopicAclConfig {
                    receive_acl: map(&[("bob", &["a/#/b"])]),
                    ..TopicAclConfig::default()
                },
                "receive_acl",
            ),
        ] {
            let message = build_error(config);
            assert!(message.contains(&format!("`{field}`")), "{message}");
            assert!(message.contains("user `bob`"), "{message}");
            assert!(message.contains("`a/#/b`"), "{message}");
        }
        let message = build_error(TopicAclConfig {
            subscribe_acl: map(&[("carol", &[""])]),
            ..TopicAclConfig::default()
        });
        assert!(message.contains("user `carol` lists ``"), "{message}");
    }
}
