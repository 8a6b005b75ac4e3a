//! Topic names, topic filters and the subscription trie.
//!
//! MQTT 3.1.1 section 4.7 in three parts:
//!
//! - [`valid_topic_name`] and [`valid_topic_filter`]: what a PUBLISH may name and what a SUBSCRIBE may ask
//!   for. The codec and the broker call these before anything reaches the trie.
//! - [`filter_matches`]: one filter against one topic name, written to read like the specification. It is
//!   the reference the trie is tested against, and what a client uses to dispatch its own messages.
//! - [`shared_filter`] and [`valid_subscription_filter`]: the `$share/<group>/<filter>` form of a
//!   shared subscription (MQTT 5.0 section 4.8.2), and what a SUBSCRIBE may ask for with it.
//! - [`TopicTrie`]: the broker's subscription index, which finds every subscriber of a topic name in one
//!   walk whose length depends on the number of levels, not on the number of subscriptions.
//!
//! The `$` rule [MQTT-4.7.2-1] holds everywhere: a filter whose first level is `+` or `#` never matches a
//! topic name that starts with `$`, so `#` does not see `$SYS/...`, while `$SYS/#` does.
//!
//! # Examples
//!
//! ```
//! use amqtt_core::topic::{TopicTrie, filter_matches, valid_topic_filter};
//!
//! assert!(valid_topic_filter("sport/tennis/+/#"));
//! assert!(filter_matches("sport/tennis/+/#", "sport/tennis/player1"));
//!
//! let mut subscriptions = TopicTrie::new();
//! subscriptions.insert("sport/tennis/+/#", "client-1", 1u8);
//! let mut matched = Vec::new();
//! subscriptions.for_each_match("sport/tennis/player1/ranking", |client, qos| matched.push((*client, *qos)));
//! assert_eq!(matched, [("client-1", 1)]);
//! ```

pub(crate) mod alias;
mod matching;
mod share;
mod trie;
mod validate;

pub use matching::filter_matches;
pub use share::{SHARED_PREFIX, SharedFilter, shared_filter, valid_subscription_filter};
pub(crate) use trie::Subscribers;
pub use trie::{Released, TopicTrie};
pub use validate::{MAX_FILTER_LEVELS, valid_topic_filter, valid_topic_name};

/// The level separator of topic names and filters.
const LEVEL_SEPARATOR: char = '/';
/// The single-level wildcard: matches exactly one level, which may be empty.
const SINGLE_LEVEL_WILDCARD: &str = "+";
/// The multi-level wildcard: the last level of a filter, matches zero or more trailing levels.
const MULTI_LEVEL_WILDCARD: &str = "#";

/// Splits off the first level of a topic name or filter: `"a/b/c"` gives `("a", Some("b/c"))`, `"a"` gives
/// `("a", None)` and `"a/"` gives `("a", Some(""))`, so empty levels are kept.
///
/// A byte scan rather than `str::split_once`: levels are short, and for them the plain loop is about twice
/// as fast as the general pattern searcher. `/` is ASCII, so both slices stay on character boundaries.
fn split_first_level(levels: &str) -> (&str, Option<&str>) {
    match levels
        .bytes()
        .position(|byte| byte == LEVEL_SEPARATOR as u8)
    {
        Some(separator) => (&levels[..separator], Some(&levels[separator + 1..])),
        None => (levels, None),
    }
}
