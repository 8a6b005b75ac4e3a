//! MQTT 5.0 topic aliases (3.3.2.3.4), both directions, as the broker uses them (the client
//! resolves the broker's with the same [`InboundAliases`]). Aliases belong to one network
//! connection, never to the session: a resumed session starts with none either way.
//!
//! - Inbound: the broker announces `topic_alias_maximum` (config, default 10; 0 turns them off)
//!   in CONNACK; a PUBLISH with a topic and an alias sets the alias, one with an alias and an
//!   empty topic uses it. An alias above the maximum, or one not set yet, is a protocol error
//!   (DISCONNECT 0x94). The alias is taken off the message before it is routed: subscribers
//!   never see the publisher's aliases.
//! - Outbound: when the client's CONNECT gave a Topic Alias Maximum, the writer gives the first
//!   distinct topics it sends an alias each, up to that maximum (and at most
//!   [`OUTBOUND_ALIAS_CAP`]), and keeps them for the connection: the first PUBLISH of such a
//!   topic carries the topic and its alias, later ones an empty topic and the alias. Topics
//!   beyond those go out in full. This is the simplest policy the spec allows: no alias is ever
//!   re-pointed, so a client never has to track a change, and the table's size is fixed.

use std::collections::HashMap;
use std::num::NonZeroU16;
use std::sync::Arc;

use crate::codec::{ByteString, Publish};

/// Most aliases the broker assigns on one connection, whatever the client allows: each holds
/// a copy of its topic for the connection's life.
pub(crate) const OUTBOUND_ALIAS_CAP: u16 = 1024;

/// The topic aliases a client has set on this connection. Empty (no allocation) until it sets
/// the first.
#[derive(Debug, Default)]
#[allow(
    clippy::box_collection,
    reason = "every connection's task holds this: 8 bytes boxed, 48 for a bare HashMap"
)]
pub(crate) struct InboundAliases(Option<Box<HashMap<u16, ByteString>>>);

/// A PUBLISH used a topic alias it may not: above the maximum, or never set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidAlias;

impl InboundAliases {
    /// Resolves the topic alias of `publish`, if it has one (`maximum` is what CONNACK
    /// announced): sets or looks up the mapping, puts the topic in the message, and takes the
    /// alias off its properties (in place: a message just decoded owns them).
    pub(crate) fn resolve(
        &mut self,
        publish: &mut Publish,
        maximum: u16,
    ) -> Result<(), InvalidAlias> {
        let Some(properties) = &mut publish.properties else {
            return Ok(());
        };
        let Some(alias) = properties.topic_alias else {
            return Ok(());
        };
        if alias.get() > maximum {
            return Err(InvalidAlias);
        }
        let aliases = self.0.get_or_insert_default();
        if publish.topic.is_empty() {
            publish.topic = aliases.get(&alias.get()).cloned().ok_or(InvalidAlias)?;
        } else {
            // A copy: a view would keep the whole read buffer of this frame alive.
            aliases.insert(alias.get(), ByteString::from(&*publish.topic));
        }
        let unshared = Arc::make_mut(properties);
        unshared.topic_alias = None;
        if unshared.is_empty() {
            publish.properties = None;
        }
        Ok(())
    }
}

/// The topic aliases the broker has assigned on one connection (see the module's policy).
#[derive(Debug)]
pub(crate) struct OutboundAliases {
    maximum: u16,
    topics: HashMap<ByteString, NonZeroU16>,
}

impl OutboundAliases {
    /// Aliases for a client that accepts up to `client_maximum`; `None` when it accepts none.
    pub(crate) fn new(client_maximum: u16) -> Option<OutboundAliases> {
        (client_maximum > 0).then(|| OutboundAliases {
            maximum: client_maximum.min(OUTBOUND_ALIAS_CAP),
            topics: HashMap::new(),
        })
    }

    /// The alias to send `topic` with, and whether the client already knows it (send an empty
    /// topic then). A topic without one gets the next free alias if any is left and `may_assign`
    /// (the packet has room for the property).
    pub(crate) fn alias(&mut self, topic: &str, may_assign: bool) -> Option<(NonZeroU16, bool)> {
        if let Some(&alias) = self.topics.get(topic) {
            return Some((alias, true));
        }
        let next = u16::try_from(self.topics.len()).ok()?.checked_add(1)?;
        if !may_assign || next > self.maximum {
            return None;
        }
        let alias = NonZeroU16::new(next)?;
        self.topics.insert(ByteString::from(topic), alias);
        Some((alias, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Properties, QoS};

    fn aliased(topic: &str, alias: u16) -> Publish {
        Publish {
            properties: Some(Arc::new(Properties {
                topic_alias: NonZeroU16::new(alias),
                ..Properties::default()
            })),
            ..Publish::new(topic, "x", QoS::AtMostOnce, false)
        }
    }

    #[test]
    fn inbound_alias_is_set_then_used_and_taken_off() {
        let mut aliases = InboundAliases::default();
        let mut first = aliased("a/b", 3);
        aliases.resolve(&mut first, 10).expect("as built above");
        assert_eq!(&*first.topic, "a/b");
        assert!(first.properties.is_none());
        let mut second = aliased("", 3);
        aliases.resolve(&mut second, 10).expect("as built above");
        assert_eq!(&*second.topic, "a/b");
        assert_eq!(aliases.resolve(&mut aliased("", 4), 10), Err(InvalidAlias));
        assert_eq!(
            aliases.resolve(&mut aliased("c", 11), 10),
            Err(InvalidAlias)
        );
    }

    #[test]
    fn outbound_aliases_go_to_the_first_topics_only() {
        assert!(OutboundAliases::new(0).is_none());
        let mut aliases = OutboundAliases::new(2).expect("as built above");
        let one = NonZeroU16::new(1).expect("as built above");
        assert_eq!(aliases.alias("a", true), Some((one, false)));
        assert_eq!(aliases.alias("a", true), Some((one, true)));
        assert_eq!(aliases.alias("b", false), None);
        assert!(aliases.alias("b", true).is_some());
        assert_eq!(aliases.alias("c", true), None);
        assert_eq!(aliases.alias("a", false), Some((one, true)));
    }
}
