//! The subscription index: a trie of topic filters keyed by level, each node holding the subscribers of the
//! filter that ends there.
//!
//! A PUBLISH walks the trie along the levels of its topic name, following at each node both the child
//! named by the level and the `+` child, and collecting the `#` subscribers of every node it passes. The
//! walk's length depends on the number of levels and of matching wildcard branches, not on the number of
//! subscriptions, and it allocates nothing: the topic name is split at each `/` as the walk goes down.
//!
//! A wildcard level is a child named `+` or `#`, kept in front of the literal children so that a walk
//! finds it by looking at one or two names; the subscribers of `a/#` are those of the node `a/#`. A node is its subscribers and its children, 40
//! bytes for the router's subscribers: a filter with one subscriber costs no allocation beyond its
//! node's, and a level name of up to 14 bytes none beyond its child's.

mod children;
mod hash;
mod name;
mod subscribers;
#[cfg(test)]
mod tests;

use std::hash::Hash;

use self::children::{Children, Many};
use self::hash::Lookup;
pub(crate) use self::subscribers::Subscribers;
use super::split_first_level;

/// The subscription index of a broker: topic filters to the subscribers of each, looked up by topic name.
///
/// `K` identifies a subscriber (a session id, say; it is hashed and cloned into an index when a filter has
/// many subscribers, so a small `Copy` key is best) and `V` is what the subscription carries (the granted
/// QoS and a handle to the session's queue, say). A subscriber has at most one value per filter:
/// subscribing again to the same filter replaces it, as [MQTT-3.8.4-3] requires.
///
/// Filters are assumed valid (see [`valid_topic_filter`](super::valid_topic_filter)). In particular every
/// operation recurses once per level of the filters it meets, so a filter deeper than
/// [`MAX_FILTER_LEVELS`](super::MAX_FILTER_LEVELS) must not reach the trie: thousands of levels would
/// overflow the stack. Otherwise an invalid filter is stored without panicking, and a `#` that is not the
/// last level is then an ordinary level that no valid topic name matches.
///
/// # Examples
///
/// ```
/// use amqtt_core::topic::TopicTrie;
///
/// let mut subscriptions = TopicTrie::new();
/// subscriptions.insert("sport/tennis/+", 1u32, 0u8);
/// subscriptions.insert("sport/#", 2, 1);
/// subscriptions.insert("#", 3, 2);
///
/// let mut matched = Vec::new();
/// subscriptions.for_each_match("sport/tennis/player1", |session, qos| matched.push((*session, *qos)));
/// matched.sort();
/// assert_eq!(matched, [(1, 0), (2, 1), (3, 2)]);
///
/// assert_eq!(subscriptions.remove("sport/#", &2), Some(1));
/// assert_eq!(subscriptions.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct TopicTrie<K, V> {
    /// The node of the empty path.
    root: Node<K, V>,
    /// The number of (filter, subscriber) entries.
    len: usize,
}

/// One level of the trie: the node reached by following a filter's levels from the root.
#[derive(Debug, Clone)]
struct Node<K, V> {
    /// Subscribers of the filter that ends at this node; for a node named `#`, subscribers of its
    /// parent's filter followed by `/#` (of `#` at the root).
    subscribers: Subscribers<K, V>,
    /// The levels below this node, wildcards included.
    children: Children<Node<K, V>>,
}

impl<K, V> Default for TopicTrie<K, V> {
    fn default() -> Self {
        Self {
            root: Node::default(),
            len: 0,
        }
    }
}

impl<K, V> Default for Node<K, V> {
    fn default() -> Self {
        Self {
            subscribers: Subscribers::default(),
            children: Children::default(),
        }
    }
}

impl<K, V> TopicTrie<K, V> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of (filter, subscriber) entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index holds no subscription.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `f` with every (subscriber, value) whose filter matches the topic name `topic`, once per
    /// matching filter: a subscriber with two overlapping filters is visited twice, and the caller picks
    /// the maximum QoS ([MQTT-3.3.5-1]). The order of visits is unspecified.
    ///
    /// Filters whose first level is `+` or `#` are skipped for a topic name starting with `$`
    /// [MQTT-4.7.2-1]. `topic` is assumed to be a valid topic name.
    pub fn for_each_match(&self, topic: &str, mut f: impl FnMut(&K, &V)) {
        self.for_each_matching_filter(topic, |entries| {
            for (key, value) in entries {
                f(key, value);
            }
        });
    }

    /// [`TopicTrie::for_each_match`], one matching filter at a time: calls `f` with the
    /// (subscriber, value) entries of each filter that matches `topic`, which hold each
    /// subscriber once. A caller that sees one call knows no subscriber came twice, and one
    /// that collects the entries can reserve room for them first.
    pub fn for_each_matching_filter(&self, topic: &str, mut f: impl FnMut(&[(K, V)])) {
        let hide_leading_wildcards = topic.starts_with('$');
        let (level, rest) = split_first_level(topic);
        let level = Lookup::new(level.as_bytes());
        self.root
            .visit_matches(Some(&level), rest, hide_leading_wildcards, &mut f);
    }
}

impl<K: Eq + Hash + Clone, V> TopicTrie<K, V> {
    /// Subscribes `key` to `filter` with `value`, and returns the value it replaces when `key` was already
    /// subscribed to exactly this filter.
    pub fn insert(&mut self, filter: &str, key: K, value: V) -> Option<V> {
        let replaced = self.root.insert(filter, key, value);
        if replaced.is_none() {
            self.len += 1;
        }
        replaced
    }

    /// The value of `key`'s subscription to exactly `filter`, if it has one.
    pub fn get(&self, filter: &str, key: &K) -> Option<&V> {
        let mut node = &self.root;
        let mut rest = Some(filter);
        while let Some(levels) = rest {
            let (level, below) = split_first_level(levels);
            node = node.children.get(level)?;
            rest = below;
        }
        node.subscribers.get(key)
    }

    /// The value of `key`'s subscription to exactly `filter`, to change in place.
    pub fn get_mut(&mut self, filter: &str, key: &K) -> Option<&mut V> {
        let mut node = &mut self.root;
        let mut rest = Some(filter);
        while let Some(levels) = rest {
            let (level, below) = split_first_level(levels);
            node = node.children.get_mut(level)?;
            rest = below;
        }
        node.subscribers.get_mut(key)
    }

    /// Unsubscribes `key` from exactly `filter` (not from other filters that overlap it) and returns the
    /// value it had. Nodes left without subscribers or children are freed, so the trie's memory follows the
    /// current subscriptions rather than every filter ever seen.
    pub fn remove(&mut self, filter: &str, key: &K) -> Option<V> {
        self.remove_deferred(filter, key).0
    }

    /// [`TopicTrie::remove`], handing back the large allocations the removal released instead of freeing
    /// them: a caller that holds a lock over the trie drops them after releasing it. Freeing the table of a
    /// level that had hundreds of thousands of children can take milliseconds inside the allocator (glibc
    /// consolidates its free lists then).
    pub fn remove_deferred(&mut self, filter: &str, key: &K) -> (Option<V>, Released<K, V>) {
        let mut retired = Vec::new();
        let removed = self.root.remove(filter, key, &mut retired);
        if removed.is_some() {
            self.len -= 1;
        }
        (removed, Released(retired))
    }
}

impl<K, V> Node<K, V> {
    /// Whether nothing is subscribed at or below this node, so that it can be freed.
    fn is_empty(&self) -> bool {
        self.subscribers.is_empty() && self.children.is_empty()
    }

    /// Visits the subscribers at and below this node that match the rest of the topic name: `level` is
    /// its next level and `rest` the levels after it; `level` is `None` once the whole name has been
    /// followed.
    ///
    /// The next level is split off and made a [`Lookup`] once for both the `+` and the literal child, so
    /// that a level looked up in two tables is hashed once.
    ///
    /// `hide_wildcards` is set only at the root for a topic starting with `$`, and hides this node's `#`
    /// and `+` children.
    fn visit_matches<F: FnMut(&[(K, V)])>(
        &self,
        level: Option<&Lookup<'_>>,
        rest: Option<&str>,
        hide_wildcards: bool,
        f: &mut F,
    ) {
        let Some(level) = level else {
            visit_all(&self.subscribers, f);
            // `#` matches zero levels too: `a/#` matches `a`.
            if let Some(child) = self.children.multi_level() {
                visit_all(&child.subscribers, f);
            }
            return;
        };
        let matching = self.children.matching(level);
        let single_level = matching.single_level.filter(|_| !hide_wildcards);
        if !hide_wildcards && let Some(child) = matching.multi_level {
            visit_all(&child.subscribers, f);
        }
        if single_level.is_none() && matching.literal.is_none() {
            return;
        }
        let (next, below) = match rest.map(split_first_level) {
            Some((next, below)) => (Some(Lookup::new(next.as_bytes())), below),
            None => (None, None),
        };
        if let Some(child) = single_level {
            child.visit_matches(next.as_ref(), below, false, f);
        }
        if let Some(child) = matching.literal {
            child.visit_matches(next.as_ref(), below, false, f);
        }
    }
}

impl<K: Eq + Hash + Clone, V> Node<K, V> {
    /// Inserts below this node; `filter` holds the levels still to follow.
    fn insert(&mut self, filter: &str, key: K, value: V) -> Option<V> {
        let (level, rest) = split_first_level(filter);
        if let Some(child) = self.children.get_mut(level) {
            return child.insert_at_or_below(rest, key, value);
        }
        let mut child = Node::default();
        let replaced = child.insert_at_or_below(rest, key, value);
        self.children.insert_new(level, child);
        replaced
    }

    /// Inserts at this node when the filter ends here (`rest` is `None`), below it otherwise.
    fn insert_at_or_below(&mut self, rest: Option<&str>, key: K, value: V) -> Option<V> {
        match rest {
            None => self.subscribers.upsert(key, value),
            Some(rest) => self.insert(rest, key, value),
        }
    }

    /// Removes below this node, freeing the child it went through if that child is left empty; large
    /// tables of children that are no longer needed go to `retired`.
    fn remove(&mut self, filter: &str, key: &K, retired: &mut Vec<Many<Self>>) -> Option<V> {
        let (level, rest) = split_first_level(filter);
        let child = self.children.get_mut(level)?;
        let removed = match rest {
            None => child.subscribers.remove(key),
            Some(rest) => child.remove(rest, key, retired),
        };
        if child.is_empty() {
            self.children.remove(level, retired);
        }
        removed
    }
}

/// Memory a removal released, freed when this is dropped ([`TopicTrie::remove_deferred`]).
#[must_use = "dropping it frees the memory; keep it only to drop it later"]
pub struct Released<K, V>(Vec<Many<Node<K, V>>>);

impl<K, V> Released<K, V> {
    /// Whether the removal released nothing worth deferring.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Calls `f` with the entries of one matching filter, if it has any.
#[inline]
fn visit_all<K, V, F: FnMut(&[(K, V)])>(subscribers: &Subscribers<K, V>, f: &mut F) {
    let entries = subscribers.as_slice();
    if !entries.is_empty() {
        f(entries);
    }
}
