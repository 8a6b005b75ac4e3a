//! What a subscription's MQTT 5.0 options change in the copy of a message forwarded through it:
//! the RETAIN flag (kept only with Retain As Published, section 3.8.3.1) and the Subscription
//! Identifiers (section 3.3.4: those of the subscriptions it was delivered through, and no
//! others).
//!
//! A message's properties are one `Arc` shared by every copy, so a copy that carries
//! identifiers gets properties of its own, made here; every other copy shares the message as
//! it is. A 3.1.1 session's subscriptions have no identifiers and its messages no properties,
//! so for it this is a test of two empty options.

use std::borrow::Cow;
use std::iter::Peekable;
use std::num::NonZeroU32;
use std::sync::Arc;

use crate::codec::Publish;
use crate::store::Grant;

/// `message` as delivered through subscriptions with the identifiers `ids`: `message` itself
/// when there are none and it carries none, otherwise a copy whose properties list exactly
/// `ids` (any identifiers it came with are not this subscriber's). Inline: for a 3.1.1
/// subscriber, per delivered message, this is two checks.
#[inline(always)]
pub(crate) fn identified(
    message: &Publish,
    ids: impl Iterator<Item = NonZeroU32>,
) -> Cow<'_, Publish> {
    let mut ids = ids.peekable();
    if ids.peek().is_none() && message.properties.is_none() {
        return Cow::Borrowed(message);
    }
    relabeled(message, ids)
}

/// [`identified`] for a message with properties or a subscription with identifiers.
fn relabeled<I: Iterator<Item = NonZeroU32>>(
    message: &Publish,
    mut ids: Peekable<I>,
) -> Cow<'_, Publish> {
    let carried = message
        .properties
        .as_ref()
        .is_some_and(|p| !p.subscription_identifiers.is_empty());
    if ids.peek().is_none() && !carried {
        return Cow::Borrowed(message);
    }
    let mut properties = message.properties.as_deref().cloned().unwrap_or_default();
    properties.subscription_identifiers = ids.collect();
    Cow::Owned(Publish {
        properties: (!properties.is_empty()).then(|| Arc::new(properties)),
        ..message.clone()
    })
}

/// `message` forwarded through one subscription with `grant`: RETAIN kept only with Retain As
/// Published, the grant's identifier and no other. For a message that is not routed fresh but
/// moved from one member of a shared subscription to another; fresh routing shares one
/// RETAIN 0 copy among the subscribers without the option.
pub(crate) fn forwarded(message: &Publish, grant: Grant) -> Cow<'_, Publish> {
    if message.retain && !grant.retain_as_published {
        let live = Publish {
            retain: false,
            ..message.clone()
        };
        return Cow::Owned(identified(&live, grant.id.into_iter()).into_owned());
    }
    identified(message, grant.id.into_iter())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::num::NonZeroU32;
    use std::sync::Arc;

    use bytes::Bytes;

    use super::{forwarded, identified};
    use crate::codec::{ByteString, Properties, Publish, QoS};
    use crate::store::Grant;

    fn message(properties: Option<Properties>) -> Publish {
        Publish {
            properties: properties.map(Arc::new),
            ..Publish::new(ByteString::from("t"), Bytes::new(), QoS::AtMostOnce, false)
        }
    }

    fn id(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).expect("non-zero")
    }

    /// The identifiers a copy carries.
    fn ids(copy: &Publish) -> &[NonZeroU32] {
        let properties = copy.properties.as_deref().expect("properties");
        &properties.subscription_identifiers
    }

    #[test]
    fn a_copy_without_identifiers_is_the_message_itself() {
        let plain = message(None);
        assert!(matches!(
            identified(&plain, None.into_iter()),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn identifiers_are_added_to_a_copy_and_the_original_keeps_none() {
        let expiring = message(Some(Properties {
            message_expiry_interval: Some(5),
            ..Properties::default()
        }));
        let copy = identified(&expiring, [id(1), id(2)].into_iter());
        assert_eq!(ids(&copy), [id(1), id(2)]);
        let properties = copy.properties.as_deref().expect("properties");
        assert_eq!(properties.message_expiry_interval, Some(5));
        let original = expiring.properties.as_deref().expect("properties");
        assert!(original.subscription_identifiers.is_empty());
    }

    #[test]
    fn identifiers_the_message_came_with_are_replaced() {
        let carrying = message(Some(Properties {
            subscription_identifiers: vec![id(3)],
            ..Properties::default()
        }));
        assert_eq!(identified(&carrying, None.into_iter()).properties, None);
        let copy = identified(&carrying, [id(4)].into_iter());
        assert_eq!(ids(&copy), [id(4)]);
    }

    #[test]
    fn retain_is_kept_only_as_published() {
        let retained = Publish {
            retain: true,
            ..message(None)
        };
        let plain = Grant::from(QoS::AtMostOnce);
        assert!(!forwarded(&retained, plain).retain);
        let kept = Grant {
            retain_as_published: true,
            id: Some(id(6)),
            ..plain
        };
        let copy = forwarded(&retained, kept);
        assert!(copy.retain);
        assert_eq!(ids(&copy), [id(6)]);
    }
}
