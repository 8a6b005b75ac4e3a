//! What a cluster holds of the broker it is part of: [`ClusterLink`] to deliver what other nodes
//! send, [`Interest`] (the filters this node subscribes to, as they change), and [`HeldAck`], a
//! publisher's acknowledgement the cluster releases once the other nodes have the message.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, oneshot};

use super::Handoff;
use crate::broker::{Core, Routed, Stats};
use crate::broker::{HeldOutbox, Journal};
use crate::codec::{ByteString, Publish};

/// The broker as its cluster reaches it.
#[derive(Clone)]
pub struct ClusterLink {
    core: Arc<Core>,
    interest: Arc<Interest>,
}

/// Where a message another node forwarded came from.
#[derive(Debug, Clone, Default)]
pub struct RemoteOrigin {
    /// The client id of its publisher (empty for a plugin's message): a subscription of that
    /// client with MQTT 5.0 No Local does not get it.
    pub sender: ByteString,
    /// The shared-subscription groups (`$share/<group>/<filter>`) the sending node gave this
    /// node the message for: one member of each gets it; this node's members of other groups
    /// do not (another node delivers to those).
    pub groups: Vec<Box<str>>,
}

impl ClusterLink {
    pub(crate) fn new(core: Arc<Core>, interest: Arc<Interest>) -> ClusterLink {
        ClusterLink { core, interest }
    }

    /// Routes a message another node forwarded to this node's matching subscribers: never
    /// forwarded again and never retained here (retained messages arrive through
    /// [`ClusterLink::retain`]). Waits while the broker's routing queue is full; `routed` is
    /// told once every subscriber's session has the message (queued or sent), with what to
    /// wait for until the store has it too ([`Delivered::durable`]).
    pub async fn deliver(
        &self,
        origin: RemoteOrigin,
        message: Publish,
        routed: Option<oneshot::Sender<Delivered>>,
    ) {
        let _ = self
            .core
            .to_route
            .send(Routed::Remote {
                sender: origin.sender,
                groups: origin.groups,
                message,
                routed,
            })
            .await;
    }

    /// Routes a message that was on its way to a node that is gone (published there by
    /// `sender`) to the sessions of `clients` only, which were that node's and are continued
    /// here: through their subscriptions, shared ones excepted. Waits while the broker's
    /// routing queue is full.
    pub async fn deliver_stranded(
        &self,
        clients: Arc<HashSet<Box<str>>>,
        sender: ByteString,
        message: Publish,
    ) {
        let stranded = Routed::Stranded {
            clients,
            sender,
            message,
        };
        let _ = self.core.to_route.send(stranded).await;
    }

    /// Sets (or, with an empty payload, clears) a retained message another node set: stored
    /// here for new subscribers, not delivered to the current ones (the message itself comes
    /// through [`ClusterLink::deliver`]).
    pub fn retain(&self, message: &Publish) {
        self.core
            .router
            .retain(message, self.core.journal.as_deref());
    }

    /// The broker's counters (the cluster counts what it sends, receives and drops there).
    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    /// The filters this node's sessions subscribe to.
    pub fn interest(&self) -> &Arc<Interest> {
        &self.interest
    }

    /// Closes the connection of `client_id` on this node, if it has one, because the client
    /// connected to another node (MQTT 5.0: DISCONNECT 0x8E Session taken over). The session
    /// ends here; a persistent one is returned for that node to continue ([`Handoff`]).
    pub async fn release_client(&self, client_id: &str) -> Option<Handoff> {
        self.core.release_to_cluster(client_id).await
    }

    /// Continues here a persistent session of a node that is gone, without a connection of
    /// its client: as when the client connects here, but offline. Returns once it is committed
    /// to the store and the cluster's mirror.
    pub async fn adopt(&self, handoff: Handoff) {
        self.core.adopt(handoff).await;
    }

    /// Ends every session here, each connection closed as taken over (MQTT 5.0: DISCONNECT
    /// 0x8E), nothing journaled: this node was taken for gone (cut off from the cluster for
    /// longer than its lease) and other nodes continue its sessions. Returns how many.
    pub async fn release_all(&self) -> usize {
        self.core.release_all().await
    }

    /// Puts back a persistent session of this node that the cluster kept (its mirror),
    /// after a restart: as it was, offline, not journaled again.
    pub fn restore(&self, handoff: Handoff) {
        self.core.restore_handoff(handoff);
    }

    /// Completes once the broker begins to shut down.
    pub async fn stopping(&self) {
        self.core.stop_requested.fired().await;
    }
}

/// A message another node forwarded, in its subscribers' sessions here (`default()`: nothing
/// to wait for).
#[derive(Debug, Default)]
pub struct Delivered {
    /// The store's journal and what it must commit for the message to be on disk, when the
    /// broker has a store that holds acknowledgements.
    pending_commit: Option<(Arc<Journal>, u64)>,
}

impl Delivered {
    /// What [`Delivered::durable`] waits for, as the journal of `core` stands now.
    pub(crate) fn now(core: &Core) -> Delivered {
        let pending_commit = core
            .journal
            .as_ref()
            .and_then(|journal| Some((journal.clone(), journal.hold_mark()?)));
        Delivered { pending_commit }
    }

    /// Completes once the store has committed what routing the message wrote (at once without
    /// a store, or in its weaker durability modes): the sending node may then forget it.
    pub async fn durable(self) {
        if let Some((journal, seq)) = self.pending_commit {
            journal.committed_to(seq).await;
        }
    }
}

/// A change of this node's interest: the first subscription to a filter on this node, or the
/// last one gone. A shared subscription counts under its whole filter (`$share/<group>/<filter>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterestChange {
    /// Some session on this node now subscribes to the filter.
    Added(Box<str>),
    /// No session on this node subscribes to the filter any more.
    Removed(Box<str>),
}

/// The filters this node's sessions subscribe to, with the changes not yet taken: kept by the
/// subscription index (under its write lock) when the broker is part of a cluster.
#[derive(Debug, Default)]
pub struct Interest {
    state: Mutex<InterestState>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct InterestState {
    /// Subscriptions per filter on this node.
    counts: HashMap<Box<str>, usize>,
    /// Changes since the last [`Interest::take_changes`].
    changes: Vec<InterestChange>,
}

impl Interest {
    fn state(&self) -> std::sync::MutexGuard<'_, InterestState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A subscription to `filter` entered the index.
    pub(crate) fn added(&self, filter: &str) {
        let mut state = self.state();
        // Counted in place when the filter is there: a key is made only for a new filter.
        if let Some(count) = state.counts.get_mut(filter) {
            *count += 1;
            return;
        }
        state.counts.insert(filter.into(), 1);
        state.changes.push(InterestChange::Added(filter.into()));
        drop(state);
        self.changed.notify_one();
    }

    /// A subscription to `filter` left the index.
    pub(crate) fn removed(&self, filter: &str) {
        let mut state = self.state();
        let Some(count) = state.counts.get_mut(filter) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            state.counts.remove(filter);
            state.changes.push(InterestChange::Removed(filter.into()));
            drop(state);
            self.changed.notify_one();
        }
    }

    /// Whether some session on this node subscribes to `filter` (for a shared subscription,
    /// `$share/<group>/<filter>`: whether this node has members of that group).
    pub fn contains(&self, filter: &str) -> bool {
        self.state().counts.contains_key(filter)
    }

    /// Every filter subscribed to now; the changes so far are dropped (this includes them).
    pub fn snapshot(&self) -> Vec<Box<str>> {
        let mut state = self.state();
        state.changes.clear();
        state.counts.keys().cloned().collect()
    }

    /// The changes since the last call (or [`Interest::snapshot`]), in order.
    pub fn take_changes(&self) -> Vec<InterestChange> {
        std::mem::take(&mut self.state().changes)
    }

    /// Completes when a change may be waiting (at once if one came since the last wait).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// A publisher's PUBACK or PUBREC, queued and held until the cluster has the message on every
/// node it went to. Dropped without [`HeldAck::release`], it is never sent: the publisher
/// retransmits the message when it reconnects.
#[derive(Debug)]
pub struct HeldAck {
    held: HeldOutbox,
    journal: Option<Arc<Journal>>,
}

impl HeldAck {
    pub(crate) fn new(held: HeldOutbox, journal: Option<Arc<Journal>>) -> HeldAck {
        HeldAck { held, journal }
    }

    /// The other nodes have the message: the acknowledgement goes out (after whatever the
    /// store journaled until now has committed, when the store holds acknowledgements).
    pub fn release(self) {
        self.held
            .settle(self.journal.as_deref().and_then(Journal::hold_mark));
    }
}
