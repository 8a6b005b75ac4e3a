//! Matching one topic filter against one topic name, level by level as the specification describes it.

use super::{LEVEL_SEPARATOR, MULTI_LEVEL_WILDCARD, SINGLE_LEVEL_WILDCARD};

/// Whether `filter` matches the topic name `topic` (MQTT 3.1.1 section 4.7).
///
/// `+` matches exactly one level, which may be empty; `#` matches zero or more trailing levels, so `a/#`
/// matches `a`, `a/` and `a/b/c`. A filter whose first level is a wildcard does not match a topic name
/// starting with `$` [MQTT-4.7.2-1]: `#` does not match `$SYS/x`, `$SYS/#` does.
///
/// Both arguments are assumed valid (see [`valid_topic_filter`](super::valid_topic_filter) and
/// [`valid_topic_name`](super::valid_topic_name)); for invalid input the answer is unspecified but the
/// function does not panic.
///
/// # Examples
///
/// ```
/// use amqtt_core::topic::filter_matches;
///
/// assert!(filter_matches("sport/tennis/player1/#", "sport/tennis/player1"));
/// assert!(filter_matches("sport/+", "sport/"));
/// assert!(!filter_matches("sport/+", "sport"));
/// assert!(!filter_matches("#", "$SYS/uptime"));
/// assert!(filter_matches("$SYS/#", "$SYS/uptime"));
/// ```
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    let filter_starts_with_wildcard = filter.starts_with(['+', '#']);
    if filter_starts_with_wildcard && topic.starts_with('$') {
        return false;
    }
    let mut filter_levels = filter.split(LEVEL_SEPARATOR);
    let mut topic_levels = topic.split(LEVEL_SEPARATOR);
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some(MULTI_LEVEL_WILDCARD), _) => return true,
            (Some(SINGLE_LEVEL_WILDCARD), Some(_)) => {}
            (Some(filter_level), Some(topic_level)) if filter_level == topic_level => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::filter_matches;

    fn assert_matches(filter: &str, topics: &[&str]) {
        for topic in topics {
            assert!(
                filter_matches(filter, topic),
                "{filter:?} should match {topic:?}"
            );
        }
    }

    fn assert_no_match(filter: &str, topics: &[&str]) {
        for topic in topics {
            assert!(
                !filter_matches(filter, topic),
                "{filter:?} should not match {topic:?}"
            );
        }
    }

    /// The non-normative examples of section 4.7.1.2.
    #[test]
    fn multi_level_wildcard_spec_examples() {
        let filter = "sport/tennis/player1/#";
        assert_matches(
            filter,
            &["sport/tennis/player1", "sport/tennis/player1/ranking"],
        );
        assert_matches(
            filter,
            &[
                "sport/tennis/player1/score/wimbledon",
                "sport/tennis/player1/",
            ],
        );
        assert_no_match(
            filter,
            &[
                "sport/tennis/player2",
                "sport/tennis",
                "sport/tennis/player10",
            ],
        );
        assert_matches("sport/#", &["sport", "sport/", "sport/tennis/player1"]);
        assert_matches("#", &["sport", "/", "a/b/c", "/finance"]);
        assert_matches("a/#", &["a", "a/b/c", "a/", "a//"]);
        assert_no_match("a/#", &["b", "ab", "b/a"]);
    }

    /// The non-normative examples of section 4.7.1.3.
    #[test]
    fn single_level_wildcard_spec_examples() {
        assert_matches(
            "sport/tennis/+",
            &[
                "sport/tennis/player1",
                "sport/tennis/player2",
                "sport/tennis/",
            ],
        );
        assert_no_match(
            "sport/tennis/+",
            &["sport/tennis/player1/ranking", "sport/tennis"],
        );
        assert_matches("sport/+", &["sport/"]);
        assert_no_match("sport/+", &["sport", "sport/tennis/x"]);
        assert_matches("+/+", &["/finance", "a/b", "/"]);
        assert_no_match("+/+", &["a", "a/b/c"]);
        assert_matches("/+", &["/finance", "/"]);
        assert_no_match("/+", &["finance", "a/finance"]);
        assert_matches("+", &["finance", "a"]);
        assert_no_match("+", &["/finance", "a/", "/"]);
        assert_matches(
            "sport/+/player1",
            &["sport/tennis/player1", "sport//player1"],
        );
        assert_matches(
            "+/tennis/#",
            &["sport/tennis", "sport/tennis/player1/ranking"],
        );
    }

    /// [MQTT-4.7.2-1] and the non-normative examples of section 4.7.2.
    #[test]
    fn dollar_topics_are_hidden_from_leading_wildcards() {
        assert_no_match("#", &["$SYS", "$SYS/monitor/Clients", "$x"]);
        assert_no_match("+/monitor/Clients", &["$SYS/monitor/Clients"]);
        assert_no_match("+", &["$SYS"]);
        assert_no_match("+/#", &["$SYS/x"]);
        assert_matches("$SYS/#", &["$SYS", "$SYS/x", "$SYS/monitor/Clients"]);
        assert_matches("$SYS/monitor/+", &["$SYS/monitor/Clients"]);
        assert_matches("$SYS/+/Clients", &["$SYS/monitor/Clients"]);
        // Only the first level counts: a `$` further down is an ordinary character.
        assert_matches("#", &["a/$SYS"]);
        assert_matches("a/+", &["a/$x"]);
    }

    #[test]
    fn exact_filters_compare_every_level() {
        assert_matches("a/b", &["a/b"]);
        assert_no_match("a/b", &["a", "a/b/c", "a/", "a/bc", "A/b"]);
        assert_matches("a//b", &["a//b"]);
        assert_no_match("a//b", &["a/b", "a///b"]);
        assert_matches("/", &["/"]);
        assert_no_match("/", &["//", "a"]);
    }
}
