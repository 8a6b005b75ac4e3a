//! aMQTT's topic-checking plugins: a taboo list ([`TopicTaboo`]) and per-user access-control
//! lists ([`TopicAcl`]), both answering the broker's `topic_filtering` question.
//!
//! The broker asks every topic plugin before a subscription is granted (with the topic *filter*
//! the client asked for), before a published message is routed (with its topic name), and before
//! a message is delivered to each matching subscriber (with the topic name). Any Deny denies;
//! Abstain is no opinion; a topic nobody denies is allowed.

mod acl;
mod taboo;

pub use acl::{TopicAcl, TopicAclConfig};
pub use taboo::TopicTaboo;

/// The user name that [`TopicTaboo`] exempts and that [`TopicAcl`] lets through unless the ACL
/// has an entry for it.
pub const ADMIN_USER: &str = "admin";

/// The user name [`TopicAcl`] looks up for a client that connected without one.
pub const ANONYMOUS_USER: &str = "anonymous";

/// Whether every topic name the filter `requested` matches is also matched by the filter
/// `allowed`: the test for granting a SUBSCRIBE to `requested` when `allowed` is what the client
/// may see.
///
/// Level by level: `#` in `allowed` covers whatever remains of `requested` (including nothing,
/// as `a/#` matches `a`); `+` in `allowed` covers one level that is a literal or `+`, but not `#`
/// (which spans any number of levels); a literal covers only the same literal. The `$` rule
/// [MQTT-4.7.2-1] holds: an `allowed` filter starting with `+` or `#` covers no `requested`
/// filter whose first level starts with `$`, so `$SYS/#` must be allowed explicitly.
///
/// Both arguments are assumed to be valid filters; for invalid ones the answer is unspecified
/// but the function does not panic.
///
/// # Examples
///
/// ```
/// use amqtt_plugins::topic_checking::filter_covers;
///
/// assert!(filter_covers("a/#", "a/+/c"));
/// assert!(filter_covers("a/#", "a/#"));
/// assert!(filter_covers("a/+", "a/b"));
/// assert!(filter_covers("a/+", "a/+"));
/// assert!(!filter_covers("a/+", "a/#"));
/// assert!(!filter_covers("a/b", "#"));
/// assert!(filter_covers("#", "#"));
/// assert!(!filter_covers("#", "$SYS/#"));
/// assert!(filter_covers("$SYS/#", "$SYS/broker/+"));
/// ```
pub fn filter_covers(allowed: &str, requested: &str) -> bool {
    if allowed.starts_with(['+', '#']) && requested.starts_with('$') {
        return false;
    }
    let mut allowed_levels = allowed.split('/');
    let mut requested_levels = requested.split('/');
    loop {
        match (allowed_levels.next(), requested_levels.next()) {
            (Some("#"), _) => return true,
            (None, None) => return true,
            (Some("+"), Some(level)) if level != "#" => {}
            (Some(allowed_level), Some(requested_level))
                if allowed_level == requested_level && !matches!(allowed_level, "+" | "#") => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::filter_covers;

    fn covers(allowed: &str, requested: &[&str]) {
        for r in requested {
            assert!(filter_covers(allowed, r), "{allowed:?} should cover {r:?}");
        }
    }

    fn does_not_cover(allowed: &str, requested: &[&str]) {
        for r in requested {
            assert!(
                !filter_covers(allowed, r),
                "{allowed:?} should not cover {r:?}"
            );
        }
    }

    #[test]
    fn multi_level_wildcard_covers_everything_below() {
        covers("a/#", &["a", "a/b", "a/+", "a/#", "a/+/c", "a/b/c/#", "a/"]);
        does_not_cover("a/#", &["b", "#", "+", "+/b", "ab", "b/a"]);
        covers("#", &["#", "+", "a", "a/b/#", "+/+", "/"]);
        covers("a/b/#", &["a/b", "a/b/#"]);
        does_not_cover("a/b/#", &["a", "a/#", "a/+"]);
    }

    #[test]
    fn single_level_wildcard_covers_one_level_but_not_hash() {
        covers("a/+", &["a/b", "a/+", "a/"]);
        does_not_cover("a/+", &["a/#", "a", "a/b/c", "a/+/c", "#", "+/b"]);
        covers("+/b", &["a/b", "+/b", "/b"]);
        does_not_cover("+/b", &["a/#", "#", "+/#", "a/c"]);
        covers("+", &["a", "+"]);
        does_not_cover("+", &["#", "a/b", "/"]);
        covers("a/+/#", &["a/b", "a/+/c", "a/b/#", "a/+/#"]);
        does_not_cover("a/+/#", &["a", "a/#"]);
    }

    #[test]
    fn literals_cover_only_themselves() {
        covers("a/b", &["a/b"]);
        does_not_cover("a/b", &["a/+", "a/#", "a", "a/b/c", "+/b", "#", "a/bc"]);
        covers("a//b", &["a//b"]);
        does_not_cover("a//b", &["a/b"]);
        does_not_cover("a", &["a/#"]);
    }

    #[test]
    fn leading_wildcards_never_cover_dollar_topics() {
        does_not_cover("#", &["$SYS/#", "$SYS", "$SYS/broker/+", "$x"]);
        does_not_cover("+/#", &["$SYS/#", "$SYS/x"]);
        does_not_cover("+/broker", &["$SYS/broker"]);
        covers("$SYS/#", &["$SYS/#", "$SYS/broker/+", "$SYS"]);
        does_not_cover("$SYS/#", &["#", "+/broker"]);
        covers("$SYS/+", &["$SYS/uptime", "$SYS/+"]);
        // `#` covers `#` and `+`: those never match `$` topics either.
        covers("#", &["#", "+/broker"]);
        // Only the first level counts.
        covers("a/#", &["a/$SYS"]);
    }

    #[test]
    fn coverage_agrees_with_matching_on_topic_names() {
        use amqtt_core::topic::filter_matches;
        let filters = [
            "#", "+", "a", "a/#", "a/+", "a/b", "+/b", "a/+/#", "+/+", "$SYS/#", "$SYS/+", "/",
        ];
        let names = [
            "a", "a/b", "a/c", "b", "a/b/c", "x/b", "$SYS/x", "$SYS", "/", "a/",
        ];
        // If `allowed` covers `requested`, every name `requested` matches, `allowed` matches too.
        for allowed in filters {
            for requested in filters {
                if filter_covers(allowed, requested) {
                    for name in names {
                        assert!(
                            !filter_matches(requested, name) || filter_matches(allowed, name),
                            "{allowed:?} covers {requested:?} but misses {name:?}"
                        );
                    }
                }
            }
            // And a topic name (a filter without wildcards) is covered exactly when it matches.
            for name in names {
                assert_eq!(
                    filter_covers(allowed, name),
                    filter_matches(allowed, name),
                    "{allowed:?} vs {name:?}"
                );
            }
        }
    }
}
