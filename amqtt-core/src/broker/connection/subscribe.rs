//! SUBSCRIBE and UNSUBSCRIBE on a connection: the checks, the plugins' verdicts, the change to
//! the session and the index, the acknowledgement, and the retained messages a new
//! subscription is sent.
//!
//! MQTT 5.0 options (section 3.8.3.1): No Local and Retain As Published, and the SUBSCRIBE's
//! Subscription Identifier (section 3.8.2.1.2), are kept with each subscription in its
//! [`Grant`] and applied to every message routed through it; Retain Handling applies here
//! only, to the retained messages sent at the SUBSCRIBE.

use super::{Connection, End};
use crate::broker::forwarded::identified;
use crate::broker::session::{Producer, Session};
use crate::broker::subscriptions::SliceYield;
use crate::cluster::Cluster;
use crate::codec::{
    ByteString, Packet, PacketKind, Properties, ReasonCode, RetainHandling, SubAck, SubAckCode,
    Subscribe, UnsubAck, Unsubscribe,
};
use crate::plugin::{Action, Hooks, Plugin};
use crate::store::Grant;
use crate::topic::{shared_filter, valid_subscription_filter};

impl<P: Plugin, C: Cluster> Connection<'_, P, C> {
    /// Handles a SUBSCRIBE; `Some` ends the connection (No Local on a shared subscription, a
    /// Protocol Error in MQTT 5.0).
    pub(super) async fn handle_subscribe(&mut self, subscribe: Subscribe) -> Option<End> {
        // Always false before 5.0: a 3.1.1 SUBSCRIBE pays one test per filter.
        let no_local_shared = subscribe
            .filters
            .iter()
            .any(|(filter, options)| options.no_local && shared_filter(filter).is_some());
        if no_local_shared {
            let what = "no local on a shared subscription";
            return Some(self.violation(what, ReasonCode::ProtocolError));
        }
        let id = subscribe
            .properties
            .as_ref()
            .and_then(|p| p.subscription_identifiers.first().copied());
        let shared = self.shared;
        let mut codes = Vec::with_capacity(subscribe.filters.len());
        let mut granted = Vec::with_capacity(subscribe.filters.len());
        let mut retain_handling = Vec::with_capacity(subscribe.filters.len());
        let mut slices = SliceYield::default();
        let mark = self.durable_mark();
        // The first plugin refusal's reason string, for the SUBACK of a 5.0 client.
        let mut reason_string = None;
        let mut quota = shared
            .core
            .config
            .max_subscriptions_per_client
            .map(|max| SubscriptionQuota::new(self.session, max));
        for (filter, options) in subscribe.filters {
            let refusal = if !valid_subscription_filter(&filter) {
                Some(ReasonCode::TopicFilterInvalid)
            } else if quota.as_mut().is_some_and(|q| !q.admits(&filter)) {
                shared.core.stats.subscriptions_refused.increment();
                Some(ReasonCode::QuotaExceeded)
            } else if P::HOOKS.contains(Hooks::TOPIC_FILTERING) {
                let verdict = shared
                    .plugins
                    .topic_filtering(&self.info, &filter, Action::Subscribe)
                    .await;
                match verdict.refusal() {
                    Some(refusal) => {
                        reason_string = reason_string.or(refusal.reason_string);
                        Some(refusal.reason_in(PacketKind::SubAck))
                    }
                    None if !verdict.permits() => Some(ReasonCode::NotAuthorized),
                    None => None,
                }
            } else {
                None
            };
            match refusal {
                None => {
                    codes.push(SubAckCode::Success(options.qos));
                    granted.push((filter, Grant::new(options, id)));
                    retain_handling.push(options.retain_handling);
                }
                Some(reason) => codes.push(SubAckCode::Failure(reason)),
            }
            slices.tick().await;
        }
        let Some(existed) = shared
            .core
            .subscribe(self.session, self.outbox, &granted)
            .await
        else {
            // Taken over (or the session ended) meanwhile: this connection is closing and its
            // subscriptions would belong to a session it no longer has.
            return None;
        };
        self.push_durable(
            Packet::SubAck(SubAck {
                packet_id: subscribe.packet_id,
                codes,
                properties: reason_string.map(|text| {
                    Box::new(Properties {
                        reason_string: Some(ByteString::from(text)),
                        ..Properties::default()
                    })
                }),
            }),
            mark,
        );
        if P::HOOKS.contains(Hooks::CLIENT_SUBSCRIBED) {
            for (filter, grant) in &granted {
                shared
                    .plugins
                    .on_broker_client_subscribed(self.client_id(), filter, grant.qos)
                    .await;
                slices.tick().await;
            }
        }
        // Retained messages go to this subscriber only, for each filter just subscribed as its
        // Retain Handling says, with RETAIN 1 and the subscription's identifier; none for a
        // shared subscription (MQTT 5.0 section 4.8.2).
        let subscribed = granted.iter().zip(retain_handling).zip(existed);
        for (((filter, grant), handling), existed) in subscribed {
            let send = match handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendIfNew => !existed,
                RetainHandling::DoNotSend => false,
            };
            if !send || shared_filter(filter).is_some() {
                continue;
            }
            let journal = shared.core.journal.as_deref();
            for message in shared.core.router.retained_matching(filter, journal) {
                let message = identified(&message, grant.id.into_iter());
                shared
                    .deliver(self.session, &message, grant.qos, None, Producer::Capped)
                    .await;
            }
            slices.tick().await;
        }
        None
    }

    /// Handles an UNSUBSCRIBE.
    pub(super) async fn handle_unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        let mark = self.durable_mark();
        let Some(codes) = self
            .shared
            .core
            .unsubscribe(self.session, self.outbox, &unsubscribe.filters)
            .await
        else {
            return; // taken over meanwhile: this connection is closing
        };
        let mut unsuback = UnsubAck::new(unsubscribe.packet_id);
        if self.info.protocol.is_v5() {
            unsuback.codes = codes;
        }
        self.push_durable(Packet::UnsubAck(unsuback), mark);
        if P::HOOKS.contains(Hooks::CLIENT_UNSUBSCRIBED) {
            let mut slices = SliceYield::default();
            for filter in &unsubscribe.filters {
                self.shared
                    .plugins
                    .on_broker_client_unsubscribed(self.client_id(), filter)
                    .await;
                slices.tick().await;
            }
        }
    }
}

/// `max_subscriptions_per_client` over one SUBSCRIBE: how many subscriptions the session held
/// at its start and the new filters it has taken so far. A filter the session already holds
/// (or that the SUBSCRIBE repeats) replaces a subscription and always passes.
struct SubscriptionQuota<'a> {
    session: &'a Session,
    max: usize,
    held: usize,
    new: Vec<ByteString>,
}

impl SubscriptionQuota<'_> {
    fn new(session: &Session, max: usize) -> SubscriptionQuota<'_> {
        let held = session.lock().subscriptions.len();
        SubscriptionQuota {
            session,
            max,
            held,
            new: Vec::new(),
        }
    }

    /// Whether `filter` may be subscribed to; counts it if it is new.
    fn admits(&mut self, filter: &ByteString) -> bool {
        if self.new.contains(filter) || self.session.lock().subscriptions.contains_key(&**filter) {
            return true;
        }
        if self.held + self.new.len() >= self.max {
            return false;
        }
        self.new.push(filter.clone());
        true
    }
}
