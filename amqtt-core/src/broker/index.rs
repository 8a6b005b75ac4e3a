//! The subscription index the router's lock protects: the trie of ordinary subscriptions and the
//! trie of shared-subscription groups (`$share/<group>/<filter>`, MQTT 5.0 section 4.8.2).
//!
//! A group sits in its own trie at the node of its filter, keyed by its share name, and holds its
//! members. Routing walks the groups' trie after the ordinary one, under the same read lock, and
//! picks one member of every matching group there ([`Group::pick`]): round-robin from a cursor
//! (one relaxed atomic add per message), preferring a member that is online and keeping up, then
//! one that is online, then any (an offline persistent session, whose queue holds the message).
//! The pick reads each member's presence flags ([`Session::presence`]), which the session keeps
//! up to date under its own lock; it locks no session, so routing still never holds the index
//! while it locks one. It allocates nothing: the pick goes into the targets routing collects
//! anyway.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use smallvec::SmallVec;

use super::session::{Presence, Session};
use crate::cluster::Interest;
use crate::store::Grant;
use crate::topic::{Released, Subscribers, TopicTrie, shared_filter};

/// Which shared-subscription groups a message goes to on this node: in a cluster, each
/// message of a group goes to one node, which picks one of its members.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Groups<'a> {
    /// Every matching group (a broker alone, or no other node has members).
    All,
    /// Only these (`$share/<group>/<filter>`): the ones another node assigned to this one.
    Only(&'a [Box<str>]),
    /// All but these: the ones this node assigned to other nodes.
    Except(&'a [Box<str>]),
}

impl Groups<'_> {
    /// Whether the group of `share` (`$share/<group>/<filter>`) is included.
    fn includes(self, share: &str) -> bool {
        match self {
            Groups::All => true,
            Groups::Only(only) => only.iter().any(|g| **g == *share),
            Groups::Except(except) => !except.iter().any(|g| **g == *share),
        }
    }
}

/// One subscription in the index: an ordinary one, or a member of a group.
#[derive(Debug, Clone)]
pub(crate) struct Subscriber {
    pub(crate) session: Arc<Session>,
    pub(crate) grant: Grant,
}

/// The shared subscription a message was routed through, as its members subscribed to it
/// (`$share/<group>/<filter>`), and the RETAIN flag the message was published with: kept with
/// the message in the member's session, so that a member that ends before acknowledging it hands
/// it back to the group as published. A group has one `Share` for each flag, so the flag costs
/// the queued and in-flight messages nothing: their own RETAIN is the member's (Retain As
/// Published), and another member's may differ.
#[derive(Debug)]
pub(crate) struct Share {
    filter: Box<str>,
    published_retain: bool,
}

impl Share {
    /// The subscription's whole filter, `$share/<group>/<filter>`.
    pub(crate) fn filter(&self) -> &str {
        &self.filter
    }

    /// The RETAIN flag the messages routed through this `Share` were published with.
    pub(crate) fn published_retain(&self) -> bool {
        self.published_retain
    }
}

/// The members of one shared subscription.
#[derive(Debug)]
pub(crate) struct Group {
    /// The group's [`Share`] for messages published with RETAIN 0 (`[0]`) and 1 (`[1]`).
    shares: [Arc<Share>; 2],
    /// Keyed by session key; a long list is indexed, so a member joins and leaves in constant
    /// time however large the group.
    members: Subscribers<u64, Subscriber>,
    /// Counts the messages routed to the group: the next pick starts at this position.
    cursor: AtomicUsize,
}

impl Group {
    /// The member that takes the next message, leaving out the sessions `skip` (by key; empty
    /// but for a message a member refused): round-robin from the cursor, the first member that
    /// is online and not congested; failing that the first online one; failing that (every
    /// member is an offline persistent session) the first. `None` for no member.
    pub(crate) fn pick(&self, skip: &[u64]) -> Option<&Subscriber> {
        let members = self.members.as_slice();
        if members.is_empty() {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % members.len();
        let (mut online, mut offline) = (None, None);
        for (key, member) in members[start..].iter().chain(&members[..start]) {
            if skip.contains(key) {
                continue;
            }
            match member.session.presence() {
                Presence::Ready => return Some(member),
                Presence::Congested => online = online.or(Some(member)),
                Presence::Offline => offline = offline.or(Some(member)),
            }
        }
        online.or(offline)
    }
}

/// The sessions a message goes to, as routing collects them: one held inline, so a message with
/// one subscriber (the common case) is routed without an allocation.
pub(crate) type Targets = SmallVec<[Target; 1]>;

/// A session that should receive a message, as routing collects them.
#[derive(Debug)]
pub(crate) struct Target {
    /// The session (its key merges the ordinary subscriptions of one session).
    pub(crate) session: Arc<Session>,
    /// The subscription's grant; for several of one session merged, their [`Grant::merged`].
    pub(crate) grant: Grant,
    /// The Subscription Identifiers of the session's other matching subscriptions merged into
    /// this target, after the grant's own: empty (no allocation) unless two or more of them
    /// carry one. A boxed slice, not a `Vec`: 8 bytes less per target, rebuilt on the rare
    /// merge that adds one.
    pub(crate) more_ids: Box<[NonZeroU32]>,
    /// The group it was picked from; `None` for an ordinary subscription.
    pub(crate) share: Option<Arc<Share>>,
}

impl Target {
    /// Every Subscription Identifier the copy for this target carries (MQTT 5.0 section 3.3.4).
    pub(crate) fn ids(&self) -> impl Iterator<Item = NonZeroU32> + '_ {
        self.grant
            .id
            .into_iter()
            .chain(self.more_ids.iter().copied())
    }
}

/// Memory removals released, freed when this is dropped, after the index's lock is released (see
/// [`TopicTrie::remove_deferred`]).
#[derive(Default)]
pub(crate) struct Freed {
    plain: Vec<Released<u64, Subscriber>>,
    groups: Vec<Released<Box<str>, Group>>,
}

/// A live session and its own list of subscriptions (filter, grant), for [`Index::check`].
pub(crate) type Listed = (Arc<Session>, HashMap<Box<str>, Grant>);

/// The subscription index.
#[derive(Debug, Default)]
pub(crate) struct Index {
    plain: TopicTrie<u64, Subscriber>,
    /// Groups at the node of their filter, keyed by share name.
    groups: TopicTrie<Box<str>, Group>,
    /// Members of all groups together.
    members: usize,
    /// This node's interest by filter, kept for the cluster when the broker is part of one.
    pub(super) interest: Option<Arc<Interest>>,
}

impl Index {
    /// Subscribes `session` to `filter` (valid) with `grant`: an ordinary subscription, or, for
    /// `$share/<group>/<filter>`, membership of that group (created if it is new).
    pub(crate) fn insert(&mut self, filter: &str, session: &Arc<Session>, grant: Grant) {
        let subscriber = Subscriber {
            session: session.clone(),
            grant,
        };
        let Some(shared) = shared_filter(filter) else {
            if self.plain.insert(filter, session.key, subscriber).is_none()
                && let Some(interest) = &self.interest
            {
                interest.added(filter);
            }
            return;
        };
        let name = Box::from(shared.group);
        if let Some(group) = self.groups.get_mut(shared.filter, &name) {
            if group.members.upsert(session.key, subscriber).is_none() {
                self.members += 1;
                if let Some(interest) = &self.interest {
                    interest.added(filter);
                }
            }
            return;
        }
        let mut members = Subscribers::default();
        members.upsert(session.key, subscriber);
        let share = |published_retain| {
            Arc::new(Share {
                filter: filter.into(),
                published_retain,
            })
        };
        let group = Group {
            shares: [share(false), share(true)],
            members,
            cursor: AtomicUsize::new(0),
        };
        self.groups.insert(shared.filter, name, group);
        self.members += 1;
        if let Some(interest) = &self.interest {
            interest.added(filter);
        }
    }

    /// Removes the subscription of the session with `key` to exactly `filter`, if it has one; a
    /// group left without members goes. What the tries release goes to `freed`.
    pub(crate) fn remove(&mut self, filter: &str, key: u64, freed: &mut Freed) {
        let Some(shared) = shared_filter(filter) else {
            let (removed, released) = self.plain.remove_deferred(filter, &key);
            if !released.is_empty() {
                freed.plain.push(released);
            }
            if removed.is_some()
                && let Some(interest) = &self.interest
            {
                interest.removed(filter);
            }
            return;
        };
        let name = Box::from(shared.group);
        let Some(group) = self.groups.get_mut(shared.filter, &name) else {
            return;
        };
        if group.members.remove(&key).is_none() {
            return;
        }
        self.members -= 1;
        if let Some(interest) = &self.interest {
            interest.removed(filter);
        }
        if group.members.is_empty() {
            let released = self.groups.remove_deferred(shared.filter, &name).1;
            if !released.is_empty() {
                freed.groups.push(released);
            }
        }
    }

    /// The subscription of the session with `key` to exactly `filter` (ordinary or shared).
    pub(crate) fn get(&self, filter: &str, key: u64) -> Option<&Subscriber> {
        match shared_filter(filter) {
            None => self.plain.get(filter, &key),
            Some(shared) => self
                .groups
                .get(shared.filter, &Box::from(shared.group))?
                .members
                .get(&key),
        }
    }

    /// The group of the shared subscription `share`, if it still has members.
    pub(crate) fn group(&self, share: &str) -> Option<&Group> {
        let shared = shared_filter(share)?;
        self.groups.get(shared.filter, &Box::from(shared.group))
    }

    /// Number of subscriptions: ordinary ones, and one per member of each group.
    pub(crate) fn len(&self) -> usize {
        self.plain.len() + self.members
    }

    /// Appends to `targets` the sessions that should receive a message on `topic` published by
    /// the client `sender` with the RETAIN flag `retain`: one entry per matching ordinary
    /// subscription but those of `sender` with No Local, then one member picked from every
    /// matching group. Returns whether the ordinary ones came from more than one filter, so that
    /// a session may be in them twice and they must be merged ([`merge`]); from one filter each
    /// session is there once.
    pub(crate) fn collect(
        &self,
        topic: &str,
        sender: &str,
        retain: bool,
        groups: Groups<'_>,
        targets: &mut Targets,
    ) -> bool {
        let mut filters = 0;
        self.plain.for_each_matching_filter(topic, |entries| {
            filters += 1;
            targets.reserve(entries.len());
            for (_, sub) in entries {
                if sub.grant.no_local && sub.session.client_id() == sender {
                    continue;
                }
                targets.push(Target {
                    session: sub.session.clone(),
                    grant: sub.grant,
                    more_ids: Box::default(),
                    share: None,
                });
            }
        });
        if self.groups.is_empty() {
            return filters > 1;
        }
        self.groups.for_each_match(topic, |_, group| {
            if !groups.includes(group.shares[0].filter()) {
                return;
            }
            if let Some(member) = group.pick(&[]) {
                targets.push(Target {
                    session: member.session.clone(),
                    grant: member.grant,
                    more_ids: Box::default(),
                    share: Some(group.shares[usize::from(retain)].clone()),
                });
            }
        });
        filters > 1
    }

    /// Checks the index against the live sessions' own lists (`listed`): each subscription is in
    /// the index under the session's key with the same grant, and the index holds nothing else: as
    /// many ordinary subscriptions and group members, and as many groups (none left empty).
    pub(crate) fn check(&self, listed: &[Listed]) -> Result<(), String> {
        let (mut plain, mut members) = (0, 0);
        let mut groups = HashSet::new();
        for (session, filters) in listed {
            for (filter, grant) in filters {
                match shared_filter(filter) {
                    Some(shared) => {
                        members += 1;
                        groups.insert((shared.filter, shared.group));
                    }
                    None => plain += 1,
                }
                match self.get(filter, session.key) {
                    Some(entry)
                        if Arc::ptr_eq(&entry.session, session) && entry.grant == *grant => {}
                    Some(entry) => {
                        return Err(format!(
                            "index entry for `{filter}` of `{}` is {:?} of another session object, expected {grant:?}",
                            session.client_id(),
                            entry.grant
                        ));
                    }
                    None => {
                        return Err(format!(
                            "subscription `{filter}` of `{}` is missing from the index",
                            session.client_id()
                        ));
                    }
                }
            }
        }
        let counted: usize = groups
            .iter()
            .filter_map(|(filter, name)| self.groups.get(filter, &Box::from(*name)))
            .map(|group| group.members.len())
            .sum();
        if self.plain.len() != plain || self.members != members || counted != members {
            return Err(format!(
                "the index holds {} subscriptions and {} group members (counted {counted}), the {} live sessions {plain} and {members}: some belong to no live session",
                self.plain.len(),
                self.members,
                listed.len()
            ));
        }
        if self.groups.len() != groups.len() {
            return Err(format!(
                "the index holds {} groups, the live sessions are members of {}: a group was left without members",
                self.groups.len(),
                groups.len()
            ));
        }
        Ok(())
    }
}

/// Merges the ordinary subscriptions of one session in `targets` into one entry: the highest
/// QoS, and every Subscription Identifier among them, each once (MQTT 5.0 section 3.3.4, see
/// [`Grant::merged`]). Picks from groups stay as they are: a session that has an ordinary
/// subscription and is picked from a group gets a copy for each (MQTT 5.0 section 4.8.2), as it
/// does when two of its groups pick it.
pub(crate) fn merge(targets: &mut Targets) {
    if targets.len() > 1 {
        targets.sort_unstable_by_key(|target| (target.share.is_some(), target.session.key));
        targets.dedup_by(|later, kept| {
            if later.share.is_some()
                || kept.share.is_some()
                || later.session.key != kept.session.key
            {
                return false;
            }
            // An identifier two of them share is sent once: twice says nothing more, and
            // libmosquitto 2.0 drops a PUBLISH with more than one, so a `mosquitto_sub` of
            // several overlapping filters under one identifier keeps working.
            if let (Some(first), Some(id)) = (kept.grant.id, later.grant.id)
                && id != first
                && !kept.more_ids.contains(&id)
            {
                let mut more = std::mem::take(&mut kept.more_ids).into_vec();
                more.push(id);
                kept.more_ids = more.into_boxed_slice();
            }
            kept.grant = kept.grant.merged(later.grant);
            true
        });
    }
}
