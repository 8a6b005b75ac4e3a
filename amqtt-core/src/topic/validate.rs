//! Validation of topic names (what a PUBLISH names) and topic filters (what a SUBSCRIBE asks for).

use super::{LEVEL_SEPARATOR, MULTI_LEVEL_WILDCARD, SINGLE_LEVEL_WILDCARD};

/// The most levels a valid topic filter has.
///
/// MQTT sets no limit below the 65,535 bytes of a string, but [`TopicTrie`](super::TopicTrie) goes one
/// call deeper per level of a filter, and 65,535 slashes would overflow a task's stack and abort the
/// broker: one SUBSCRIBE must not be able to do that. 128 is EMQX's default `max_topic_levels`, far beyond
/// any real topic hierarchy. Topic names are not limited: a walk never goes deeper than the filters.
pub const MAX_FILTER_LEVELS: usize = 128;

/// Whether `name` is a valid topic name for a PUBLISH: non-empty, free of the wildcards `+` and `#`
/// [MQTT-3.3.2-2] and of U+0000 [MQTT-4.7.3-2].
///
/// Empty levels are allowed: `"/"`, `"a//b"` and `"/a"` are valid names.
///
/// # Examples
///
/// ```
/// use amqtt_core::topic::valid_topic_name;
///
/// assert!(valid_topic_name("sport/tennis/player1"));
/// assert!(valid_topic_name("$SYS/broker/uptime"));
/// assert!(!valid_topic_name("sport/+"));
/// assert!(!valid_topic_name(""));
/// ```
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['+', '#', '\0'])
}

/// Whether `filter` is a valid topic filter for a SUBSCRIBE or UNSUBSCRIBE: non-empty [MQTT-4.7.3-1], free
/// of U+0000 [MQTT-4.7.3-2], with `+` only as a whole level [MQTT-4.7.1-3] and `#` only as the whole last
/// level [MQTT-4.7.1-2], and at most [`MAX_FILTER_LEVELS`] levels deep (a server may refuse any
/// subscription, with a SUBACK failure code).
///
/// # Examples
///
/// ```
/// use amqtt_core::topic::valid_topic_filter;
///
/// for valid in ["a/+/b", "+", "#", "a/#", "/+", "+/+", "$SYS/#"] {
///     assert!(valid_topic_filter(valid), "{valid}");
/// }
/// for invalid in ["", "a/#/b", "a#", "a/b+", "+a"] {
///     assert!(!valid_topic_filter(invalid), "{invalid}");
/// }
/// ```
pub fn valid_topic_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let mut levels = filter.split(LEVEL_SEPARATOR).peekable();
    let mut level_count = 0;
    while let Some(level) = levels.next() {
        level_count += 1;
        let is_last = levels.peek().is_none();
        let valid_level = if level.contains('#') {
            level == MULTI_LEVEL_WILDCARD && is_last
        } else if level.contains('+') {
            level == SINGLE_LEVEL_WILDCARD
        } else {
            true
        };
        if !valid_level || level_count > MAX_FILTER_LEVELS {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        for valid in [
            "a",
            "/",
            "//",
            "a//b",
            "/a",
            "a/",
            "$SYS/x",
            "sport/tennis/player1",
            "é/ü",
            " ",
        ] {
            assert!(
                valid_topic_name(valid),
                "{valid:?} should be a valid topic name"
            );
        }
        for invalid in ["", "+", "#", "a/+", "a/#", "a+", "#a", "a\0b", "\0"] {
            assert!(
                !valid_topic_name(invalid),
                "{invalid:?} should not be a valid topic name"
            );
        }
    }

    #[test]
    fn topic_filters() {
        let valid = [
            "a",
            "/",
            "a//b",
            "a/+/b",
            "+",
            "#",
            "a/#",
            "/+",
            "/#",
            "+/+",
            "+/#",
            "//#",
            "$SYS/#",
            "sport/tennis/player1/#",
            "sport/+/player1",
            "+/tennis/#",
        ];
        for filter in valid {
            assert!(
                valid_topic_filter(filter),
                "{filter:?} should be a valid filter"
            );
        }
        let invalid = [
            "", "a/#/b", "#/a", "#/", "a#", "a/b#", "##", "a/b+", "+a", "++", "a/+b/c", "sport+",
            "a\0", "+/\0",
        ];
        for filter in invalid {
            assert!(
                !valid_topic_filter(filter),
                "{filter:?} should not be a valid filter"
            );
        }
    }

    #[test]
    fn topic_filters_are_limited_in_depth_not_names() {
        let deepest = vec!["+"; MAX_FILTER_LEVELS].join("/");
        assert!(valid_topic_filter(&deepest));
        assert!(valid_topic_filter(&"/".repeat(MAX_FILTER_LEVELS - 1)));
        assert!(!valid_topic_filter(&format!("{deepest}/#")));
        assert!(!valid_topic_filter(&"/".repeat(MAX_FILTER_LEVELS)));
        assert!(!valid_topic_filter(&"/".repeat(u16::MAX.into())));
        assert!(valid_topic_name(&"/".repeat(u16::MAX.into())));
    }
}
