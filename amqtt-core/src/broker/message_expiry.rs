//! MQTT 5.0 message expiry (3.3.2.3.3): a message that carries a Message Expiry Interval is
//! stamped with its arrival time once, in the properties every copy of it shares
//! ([`Properties::received_at`]); a copy that has waited longer than the interval for a
//! subscriber is dropped instead of sent, and a copy sent carries the time it has left.
//!
//! Only messages with properties are looked at: a 3.1.1 message (no properties) costs one
//! `Option` check wherever expiry is checked.

use std::sync::Arc;
use std::time::Instant;

use crate::codec::{Packet, Properties, Publish, QoS};

/// Records now as the arrival time of `message` if it carries an expiry interval and has none
/// yet. A message just decoded owns its properties, so this changes them in place.
pub(crate) fn stamp(message: &mut Publish) {
    if let Some(properties) = &mut message.properties
        && properties.message_expiry_interval.is_some()
        && properties.received_at.is_none()
    {
        Arc::make_mut(properties).received_at = Some(Instant::now());
    }
}

/// Where a message stands against its expiry interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// It carries no interval.
    Never,
    /// It may still be sent, with this many seconds left (rounded up).
    Left(u32),
    /// It has waited longer than its interval: it must not be sent any more.
    Expired,
}

/// Where `properties`' message stands at `now`. A message without an arrival time counts from
/// now (one restored from the store).
pub(crate) fn expiry(properties: &Properties, now: Instant) -> Expiry {
    let Some(interval) = properties.message_expiry_interval else {
        return Expiry::Never;
    };
    let Some(received) = properties.received_at else {
        return Expiry::Left(interval);
    };
    let waited =
        u64::try_from(now.saturating_duration_since(received).as_millis()).unwrap_or(u64::MAX);
    match (u64::from(interval) * 1000).checked_sub(waited) {
        Some(left) => Expiry::Left(u32::try_from(left.div_ceil(1000)).unwrap_or(u32::MAX)),
        None => Expiry::Expired,
    }
}

/// Whether `message` has expired at `now`.
pub(crate) fn expired(message: &Publish, now: Instant) -> bool {
    message
        .properties
        .as_deref()
        .is_some_and(|p| expiry(p, now) == Expiry::Expired)
}

/// Whether `packet` is a QoS 0 message that expired in a connection's outbound queue, for a
/// writer without a [`V5Writer`](super::v5_writer::V5Writer) (a 3.1.1 subscriber of a 5.0
/// message: one `Option` check for anything else). `now` is read once per drain.
pub(crate) fn expired_qos0(packet: &Packet, now: &mut Option<Instant>) -> bool {
    match packet {
        Packet::Publish(message) if message.properties.is_some() => {
            message.qos == QoS::AtMostOnce
                && expired(message, *now.get_or_insert_with(Instant::now))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn expiring(interval: u32) -> Publish {
        Publish {
            properties: Some(Arc::new(Properties {
                message_expiry_interval: Some(interval),
                ..Properties::default()
            })),
            ..Publish::new("t", "x", QoS::AtMostOnce, false)
        }
    }

    #[test]
    fn remaining_time_counts_down_from_arrival_and_rounds_up() {
        let mut message = expiring(10);
        stamp(&mut message);
        let props = message.properties.as_deref().expect("as built above");
        let at = props.received_at.expect("as built above");
        assert_eq!(expiry(props, at), Expiry::Left(10));
        assert_eq!(
            expiry(props, at + Duration::from_millis(2500)),
            Expiry::Left(8)
        );
        assert_eq!(expiry(props, at + Duration::from_secs(10)), Expiry::Left(0));
        assert!(expired(&message, at + Duration::from_millis(10_001)));
        assert!(!expired(&message, at + Duration::from_secs(9)));
    }

    #[test]
    fn messages_without_an_interval_are_not_stamped_and_never_expire() {
        let mut plain = Publish::new("t", "x", QoS::AtMostOnce, false);
        stamp(&mut plain);
        assert!(plain.properties.is_none());
        assert!(!expired(
            &plain,
            Instant::now() + Duration::from_secs(1 << 30)
        ));
        let mut zero = expiring(0);
        stamp(&mut zero);
        assert!(expired(&zero, Instant::now() + Duration::from_millis(5)));
    }
}
