//! Shared subscriptions (MQTT 5.0 section 4.8.2): a filter `$share/<ShareName>/<filter>` joins the
//! group `ShareName` of `filter`, and each message matching `filter` goes to one member of the group.
//! The broker accepts the form from MQTT 3.1.1 clients too, as Mosquitto and EMQX do.

use super::{LEVEL_SEPARATOR, valid_topic_filter};

/// What a filter starts with when it asks for a shared subscription.
pub const SHARED_PREFIX: &str = "$share/";

/// A shared subscription's filter taken apart: `$share/workers/jobs/+` is the group `workers` of the
/// filter `jobs/+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    /// The share name: the group of subscribers a message goes to one of.
    pub group: &'a str,
    /// The topic filter the group subscribes to.
    pub filter: &'a str,
}

/// Takes apart a filter that starts with [`SHARED_PREFIX`]; `None` for any other filter. The parts
/// are not checked: [`valid_subscription_filter`] does that.
///
/// # Examples
///
/// ```
/// use amqtt_core::topic::{SharedFilter, shared_filter};
///
/// assert_eq!(
///     shared_filter("$share/workers/jobs/+"),
///     Some(SharedFilter { group: "workers", filter: "jobs/+" })
/// );
/// assert_eq!(shared_filter("jobs/+"), None);
/// assert_eq!(shared_filter("$share"), None);
/// assert_eq!(shared_filter("$share/g"), Some(SharedFilter { group: "g", filter: "" }));
/// ```
pub fn shared_filter(filter: &str) -> Option<SharedFilter<'_>> {
    let rest = filter.strip_prefix(SHARED_PREFIX)?;
    let (group, filter) = rest.split_once(LEVEL_SEPARATOR).unwrap_or((rest, ""));
    Some(SharedFilter { group, filter })
}

/// Whether a SUBSCRIBE may ask for `filter`: a valid topic filter
/// ([`valid_topic_filter`]) that, when it starts with [`SHARED_PREFIX`], is a valid shared
/// subscription: a share name that is non-empty and free of `/`, `+` and `#` [MQTT-4.8.2-1,
/// MQTT-4.8.2-2], then a valid topic filter. So `$share/g` (no filter), `$share//a` (no share
/// name) and `$share/g+/a` (a wildcard in the name) are refused, while [`valid_topic_filter`],
/// which knows nothing of sharing, accepts them (an ACL may list `$share/+/a` as a pattern).
///
/// # Examples
///
/// ```
/// use amqtt_core::topic::valid_subscription_filter;
///
/// assert!(valid_subscription_filter("jobs/+"));
/// assert!(valid_subscription_filter("$share/workers/jobs/#"));
/// for invalid in ["$share/g", "$share/g/", "$share//a", "$share/g+/a", "$share/g/a#", "a#"] {
///     assert!(!valid_subscription_filter(invalid), "{invalid}");
/// }
/// ```
pub fn valid_subscription_filter(filter: &str) -> bool {
    match shared_filter(filter) {
        Some(shared) => {
            !shared.group.is_empty()
                && !shared.group.contains(['+', '#'])
                && valid_topic_filter(shared.filter)
        }
        None => valid_topic_filter(filter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::MAX_FILTER_LEVELS;

    #[test]
    fn shared_subscription_filters() {
        for valid in [
            "$share/g/a",
            "$share/g/#",
            "$share/g/+/b",
            "$share/group-1/$SYS/#",
            "$share/g//",
            "$share/é/a",
            // Not a shared subscription: `$share` without a slash is an ordinary filter.
            "$share",
        ] {
            assert!(
                valid_subscription_filter(valid),
                "{valid:?} should be valid"
            );
        }
        for invalid in [
            "$share/",
            "$share/g",
            "$share/g/",
            "$share//a",
            "$share/g+/a",
            "$share/+/a",
            "$share/#/a",
            "$share/g#/a",
            "$share/g/a/#/b",
            "$share/g/a+",
            "$share/g/\0",
        ] {
            assert!(
                !valid_subscription_filter(invalid),
                "{invalid:?} should be invalid"
            );
        }
        let deepest = vec!["+"; MAX_FILTER_LEVELS].join("/");
        assert!(valid_subscription_filter(&format!("$share/g/{deepest}")));
        assert!(!valid_subscription_filter(&format!("$share/g/{deepest}/#")));
    }
}
