//! Routing a message: to every matching session the plugins let receive it (and one member of
//! every matching shared-subscription group), with backpressure for producers that wait
//! ([`HeldBack`]), and the task that routes the messages plugins publish and those a member of
//! a shared subscription left behind.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::forwarded::{forwarded, identified};
use super::index::{Groups, Share};
use super::message_expiry;
use super::session::{Delivery, Producer, Session, SessionLimits};
use super::shared::Shared;
use crate::cluster::{Cluster, Delivered, HeldAck};
use crate::codec::{ByteString, Publish, QoS};
use crate::plugin::{Action, Hooks, Plugin};

/// The congested sessions a producer's messages went to (and the cluster, when its messages for
/// other nodes queue up): it waits for them to drain before it
/// reads its next message (backpressure).
#[derive(Default)]
pub(crate) struct HeldBack {
    sessions: Vec<Arc<Session>>,
    /// Set when the cluster's messages for other nodes queue faster than they leave: the
    /// producer waits for them too ([`Cluster::relieved`]).
    cluster: bool,
}

impl HeldBack {
    /// Whether nothing holds the producer back.
    pub(crate) fn is_empty(&self) -> bool {
        self.sessions.is_empty() && !self.cluster
    }

    /// Whether the cluster holds the producer back; forgets it.
    pub(crate) fn take_cluster(&mut self) -> bool {
        std::mem::take(&mut self.cluster)
    }

    /// Waits until every session held here has drained, giving each up to `timeout` from when
    /// the wait for it begins (one still congested then is marked stalled), and forgets them.
    /// Each its own time: a healthy subscriber is not marked stalled because a stalled one
    /// used up the time before it.
    pub(crate) async fn wait(&mut self, limits: SessionLimits, timeout: Duration) {
        for session in self.sessions.drain(..) {
            let deadline = tokio::time::Instant::now() + timeout;
            session.relieved(limits, deadline).await;
        }
    }
}

/// What became of a message offered to a session ([`Shared::deliver`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// The session took it (or dropped it for a full queue, or as QoS 0 while offline);
    /// `congested` when a producer that waits must wait for the session.
    Taken { congested: bool },
    /// A plugin denied the client receiving it, or the session had just ended: a message of a
    /// shared subscription goes to another member instead.
    Refused,
}

/// What the broker's routing task routes ([`route_queued`]).
#[derive(Debug)]
pub(crate) enum Routed {
    /// A message a plugin published: routed like a client's (receive checks included).
    Published(Publish),
    /// A QoS 1/2 message of the shared subscription `share` whose member ended before completing
    /// it (see `Core::retire`), with the RETAIN flag it was published with: offered to another
    /// member of that group, if it has one.
    Orphan { share: Arc<Share>, message: Publish },
    /// A message another node of the cluster forwarded, published there by `sender`: delivered
    /// to this node's subscribers only (of shared subscriptions, to the `groups` given to this
    /// node); `routed` is told once they have it.
    Remote {
        sender: ByteString,
        groups: Vec<Box<str>>,
        message: Publish,
        routed: Option<oneshot::Sender<Delivered>>,
    },
    /// A message that was on its way to a node that is gone, published there by `sender`:
    /// delivered to the sessions of `clients` only (continued here from that node), through
    /// their subscriptions but shared ones.
    Stranded {
        clients: Arc<HashSet<Box<str>>>,
        sender: ByteString,
        message: Publish,
    },
}

/// Keeps every session ([`Shared::route_here`]).
fn all(_: &Session) -> bool {
    true
}

impl<P: Plugin, C: Cluster> Shared<P, C> {
    /// Routes a message to every matching session that may receive it. `sender` is the client id
    /// of the publisher (empty for a message a plugin published). A producer that passes `held`
    /// gets the congested sessions there and must wait for them ([`HeldBack::wait`]); without
    /// it full queues drop the message.
    pub(crate) async fn route(&self, sender: &str, message: &Publish, held: Option<&mut HeldBack>) {
        self.route_then(sender, message, held, |_, _| None).await;
    }

    /// [`Shared::route`], calling `targeted` with the number of sessions the message goes to on
    /// this node and whether other nodes of the cluster take it, once that is known and before
    /// any session is given the message: a publisher's acknowledgement queued there, with a
    /// reason code that depends on it, leaves ahead of the copies routed back to the publisher.
    /// When other nodes take it, what `targeted` returns is the acknowledgement the cluster
    /// releases once they have it. `$` topics stay on this node.
    pub(crate) async fn route_then(
        &self,
        sender: &str,
        message: &Publish,
        held: Option<&mut HeldBack>,
        targeted: impl FnOnce(usize, bool) -> Option<HeldAck>,
    ) {
        let core = &*self.core;
        let clustered = C::ENABLED && !message.topic.starts_with('$');
        if message.retain {
            core.router.retain(message, core.journal.as_deref());
            if clustered {
                self.cluster.retain(message);
            }
            if self.hooked(Hooks::RETAINED_MESSAGE) {
                self.plugins
                    .on_broker_retained_message(sender, message)
                    .await;
            }
        }
        if clustered && let Some(plan) = self.cluster.plan(&message.topic) {
            // Boxed: a message with no other node to go to (most, and all of a broker whose
            // cluster is off) carries none of this in its future.
            return Box::pin(self.route_clustered(sender, message, held, plan, targeted)).await;
        }
        self.route_here(sender, message, Groups::All, held, all, |targets| {
            targeted(targets, false);
        })
        .await;
    }

    /// [`Shared::route_then`] for a message other nodes take, as `plan` says.
    async fn route_clustered(
        &self,
        sender: &str,
        message: &Publish,
        mut held: Option<&mut HeldBack>,
        plan: C::Plan,
        targeted: impl FnOnce(usize, bool) -> Option<HeldAck>,
    ) {
        // Groups whose message another node delivers (rare: copied, empty costs nothing).
        let elsewhere: Vec<Box<str>> = C::elsewhere(&plan).to_vec();
        let groups = if elsewhere.is_empty() {
            Groups::All
        } else {
            Groups::Except(&elsewhere)
        };
        let mut congested = false;
        self.route_here(
            sender,
            message,
            groups,
            held.as_deref_mut(),
            all,
            |targets| {
                let ack = targeted(targets, true);
                congested = self.cluster.forward(sender, message, plan, ack);
            },
        )
        .await;
        if let Some(held) = held {
            held.cluster |= congested;
        }
    }

    /// Delivers a message to this node's matching sessions that `keep` keeps (no retained
    /// message is set, nothing leaves the node), calling `targeted` as [`Shared::route_then`]
    /// does.
    async fn route_here(
        &self,
        sender: &str,
        message: &Publish,
        groups: Groups<'_>,
        mut held: Option<&mut HeldBack>,
        keep: impl Fn(&Session) -> bool,
        targeted: impl FnOnce(usize),
    ) {
        let core = &*self.core;
        // Live forwarding carries retain=0 but through a subscription with Retain As Published;
        // messages sent for a new subscription carry 1.
        let published = message;
        let live;
        let message = if message.retain {
            live = Publish {
                retain: false,
                ..message.clone()
            };
            &live
        } else {
            message
        };
        let producer = match held {
            Some(_) => Producer::Waits,
            None => Producer::Capped,
        };
        // Without plugins that see deliveries, each subscriber is offered the message without
        // a future of its own: in a fan-out that is most of the work per message.
        let watched = self.hooked(Hooks::TOPIC_FILTERING) || self.hooked(Hooks::RETAINED_MESSAGE);
        let targets = core
            .router
            .targets(&message.topic, sender, published.retain, groups);
        targeted(targets.len());
        // By reference: moving each target out of the collection costs more than the clone
        // of a congested session's handle below.
        for target in &targets {
            if !keep(&target.session) {
                continue;
            }
            let share = target.share.as_ref();
            let kept = if target.grant.retain_as_published {
                published
            } else {
                message
            };
            let copy = identified(kept, target.ids());
            let offered = if watched {
                self.deliver(&target.session, &copy, target.grant.qos, share, producer)
                    .await
            } else {
                let (delivery, congested) =
                    self.hand_over(&target.session, &copy, target.grant.qos, share, producer);
                offered(delivery, congested)
            };
            match offered {
                Offered::Taken { congested: true } => {
                    if let Some(held) = held.as_deref_mut() {
                        held.sessions.push(target.session.clone());
                    }
                }
                Offered::Taken { congested: false } => {}
                Offered::Refused => {
                    if let Some(share) = share {
                        let tried = vec![target.session.key];
                        self.reroute(share, published, tried, held.as_deref_mut(), producer)
                            .await;
                    }
                }
            }
        }
    }

    /// Offers a message of the shared subscription `share` (with the RETAIN flag it was
    /// published with) to a member of its group other than those `tried` (refused by the
    /// plugins, or ended), picked as for a new message, until one takes it, as that member's
    /// options make it ([`forwarded`]); with none left it is lost and counted. For a member that refused it, and for
    /// what a member that ended left behind.
    async fn reroute(
        &self,
        share: &Arc<Share>,
        message: &Publish,
        mut tried: Vec<u64>,
        held: Option<&mut HeldBack>,
        producer: Producer,
    ) {
        while let Some((session, grant)) = self.core.router.pick(share.filter(), &tried) {
            let copy = forwarded(message, grant);
            match self
                .deliver(&session, &copy, grant.qos, Some(share), producer)
                .await
            {
                Offered::Taken { congested } => {
                    if let (true, Some(held)) = (congested, held) {
                        held.sessions.push(session);
                    }
                    return;
                }
                Offered::Refused => tried.push(session.key),
            }
        }
        self.core.stats.dropped_shared.increment();
    }

    /// Delivers one message to one session at `min(message QoS, granted)`, if the plugins let
    /// that client receive it; `share` is the shared subscription it was picked for, if any.
    pub(crate) async fn deliver(
        &self,
        session: &Session,
        message: &Publish,
        granted: QoS,
        share: Option<&Arc<Share>>,
        producer: Producer,
    ) -> Offered {
        if self.hooked(Hooks::TOPIC_FILTERING) {
            let info = session.info();
            let verdict = self
                .plugins
                .topic_filtering(&info, &message.topic, Action::Receive)
                .await;
            if !verdict.permits() {
                return Offered::Refused;
            }
        }
        let (delivery, congested) = self.hand_over(session, message, granted, share, producer);
        if self.hooked(Hooks::RETAINED_MESSAGE) && delivery == Delivery::QueuedOffline {
            // The event shows the message as it will be delivered, at the granted QoS.
            let queued = Publish {
                qos: message.qos.min(granted),
                ..message.clone()
            };
            self.plugins
                .on_broker_retained_message(session.client_id(), &queued)
                .await;
        }
        offered(delivery, congested)
    }

    /// Gives one message to one session at `min(message QoS, granted)`, with no hook: all of
    /// [`Shared::deliver`] for a broker whose plugins neither filter deliveries nor watch
    /// messages queued offline, without a future per subscriber.
    fn hand_over(
        &self,
        session: &Session,
        message: &Publish,
        granted: QoS,
        share: Option<&Arc<Share>>,
        producer: Producer,
    ) -> (Delivery, bool) {
        session.deliver(
            message,
            message.qos.min(granted),
            share,
            self.core.limits,
            &self.core.stats,
            producer,
        )
    }
}

/// What a delivery's outcome means to routing: a session that had just ended refuses it.
fn offered(delivery: Delivery, congested: bool) -> Offered {
    if delivery == Delivery::Ended {
        return Offered::Refused;
    }
    Offered::Taken { congested }
}

/// Routes the messages plugins publish through `BrokerContext::publish`, and those members of
/// shared subscriptions left behind (`Core::retire`).
pub(crate) async fn route_queued<P: Plugin, C: Cluster>(
    shared: Arc<Shared<P, C>>,
    mut queue: mpsc::Receiver<Routed>,
) {
    let core = &*shared.core;
    let mut held = HeldBack::default();
    loop {
        tokio::select! {
            routed = queue.recv() => {
                match routed {
                    Some(Routed::Published(mut message)) => {
                        message_expiry::stamp(&mut message);
                        shared.route("", &message, Some(&mut held)).await;
                    }
                    Some(Routed::Orphan { share, message }) => {
                        shared
                            .reroute(&share, &message, Vec::new(), Some(&mut held), Producer::Waits)
                            .await;
                    }
                    Some(Routed::Remote { sender, groups, mut message, routed }) => {
                        // Its expiry interval counts from its arrival here.
                        message_expiry::stamp(&mut message);
                        let groups = Groups::Only(&groups);
                        shared.route_here(&sender, &message, groups, Some(&mut held), all, |_| ()).await;
                        held.wait(core.limits, core.config.backpressure_timeout).await;
                        if let Some(routed) = routed {
                            let _ = routed.send(Delivered::now(core));
                        }
                    }
                    Some(Routed::Stranded { clients, sender, mut message }) => {
                        message_expiry::stamp(&mut message);
                        let only = |session: &Session| clients.contains(session.client_id());
                        shared.route_here(&sender, &message, Groups::Only(&[]), Some(&mut held), only, |_| ()).await;
                    }
                    None => return,
                }
                held.wait(core.limits, core.config.backpressure_timeout).await;
                if C::ENABLED && held.take_cluster() {
                    shared.cluster.relieved(core.config.backpressure_timeout).await;
                }
            },
            () = shared.core.shutdown.fired() => return,
        }
    }
}
