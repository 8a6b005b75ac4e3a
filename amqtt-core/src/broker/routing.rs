//! Routing a message: to every matching session the plugins let receive it, with backpressure
//! for producers that wait ([`HeldBack`]), and the task that routes the messages plugins publish.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::expiry;
use super::session::{Delivery, Producer, Session, SessionLimits};
use super::shared::Shared;
use crate::codec::{Publish, QoS};
use crate::plugin::{Action, Hooks, Plugin};

/// The congested sessions a producer's messages went to: it waits for them to drain before it
/// reads its next message (backpressure).
#[derive(Default)]
pub(crate) struct HeldBack(Vec<Arc<Session>>);

impl HeldBack {
    /// Whether no session is held here.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits until every session held here has drained, giving each up to `timeout` from when
    /// the wait for it begins (one still congested then is marked stalled), and forgets them.
    /// Each its own time: a healthy subscriber is not marked stalled because a stalled one
    /// used up the time before it.
    pub(crate) async fn wait(&mut self, limits: SessionLimits, timeout: Duration) {
        for session in self.0.drain(..) {
            let deadline = tokio::time::Instant::now() + timeout;
            session.relieved(limits, deadline).await;
        }
    }
}

impl<P: Plugin> Shared<P> {
    /// Routes a message to every matching session that may receive it. `sender` is the client id
    /// of the publisher (empty for a message a plugin published). A producer that passes `held`
    /// gets the congested sessions there and must wait for them ([`HeldBack::wait`]); without
    /// it full queues drop the message.
    pub(crate) async fn route(&self, sender: &str, message: &Publish, held: Option<&mut HeldBack>) {
        self.route_then(sender, message, held, |_| ()).await;
    }

    /// [`Shared::route`], calling `targeted` with the number of sessions the message goes to
    /// once they are known and before any is given the message: a publisher's acknowledgement
    /// queued there, with a reason code that depends on it, leaves ahead of the copies routed
    /// back to the publisher.
    pub(crate) async fn route_then(
        &self,
        sender: &str,
        message: &Publish,
        mut held: Option<&mut HeldBack>,
        targeted: impl FnOnce(usize),
    ) {
        let core = &*self.core;
        if message.retain {
            core.router.retain(message, core.journal.as_deref());
            if self.hooked(Hooks::RETAINED_MESSAGE) {
                self.plugins
                    .on_broker_retained_message(sender, message)
                    .await;
            }
        }
        // Live forwarding carries retain=0; only messages sent for a new subscription carry 1.
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
        let targets = core.router.targets(&message.topic);
        targeted(targets.len());
        for (session, granted) in targets {
            let congested = self.deliver(&session, message, granted, producer).await;
            if let (true, Some(held)) = (congested, held.as_deref_mut()) {
                held.0.push(session);
            }
        }
    }

    /// Delivers one message to one session at `min(message QoS, granted)`, if the plugins let
    /// that client receive it. Returns whether the session is congested (see [`Session::deliver`]).
    pub(crate) async fn deliver(
        &self,
        session: &Session,
        message: &Publish,
        granted: QoS,
        producer: Producer,
    ) -> bool {
        if self.hooked(Hooks::TOPIC_FILTERING) {
            let info = session.info();
            let verdict = self
                .plugins
                .topic_filtering(&info, &message.topic, Action::Receive)
                .await;
            if !verdict.permits() {
                return false;
            }
        }
        let qos = message.qos.min(granted);
        let (delivery, congested) =
            session.deliver(message, qos, self.core.limits, &self.core.stats, producer);
        if self.hooked(Hooks::RETAINED_MESSAGE) && delivery == Delivery::QueuedOffline {
            // The event shows the message as it will be delivered, at the granted QoS.
            let queued = Publish {
                qos,
                ..message.clone()
            };
            self.plugins
                .on_broker_retained_message(session.client_id(), &queued)
                .await;
        }
        congested
    }
}

/// Routes the messages plugins publish through `BrokerContext::publish`.
pub(crate) async fn route_plugin_messages<P: Plugin>(
    shared: Arc<Shared<P>>,
    mut messages: mpsc::Receiver<Publish>,
) {
    let core = &*shared.core;
    let mut held = HeldBack::default();
    loop {
        tokio::select! {
            message = messages.recv() => match message {
                Some(mut message) => {
                    expiry::stamp(&mut message);
                    shared.route("", &message, Some(&mut held)).await;
                    held.wait(core.limits, core.config.backpressure_timeout).await;
                }
                None => return,
            },
            () = shared.core.shutdown.fired() => return,
        }
    }
}
