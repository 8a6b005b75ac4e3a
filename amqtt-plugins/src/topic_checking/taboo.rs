//! aMQTT's taboo plugin: three fixed topics nobody but `admin` may use.

use amqtt_core::plugin::{Action, Plugin, SessionInfo, Verdict, plugin};

use super::ADMIN_USER;

/// The topics [`TopicTaboo`] denies, compared as whole strings.
const TABOO_TOPICS: [&str; 3] = ["prohibited", "top-secret", "data/classified"];

/// Denies the topics `prohibited`, `top-secret` and `data/classified` to every client except
/// the user `admin`, for subscribing, publishing and receiving alike.
///
/// The topic (or, for a subscription, the filter as the client wrote it) must equal one of the
/// three exactly: a wildcard subscription such as `#` is granted, but the receive check still
/// keeps a taboo message from a non-admin subscriber. Every other question gets Abstain, so
/// other topic plugins decide.
///
/// ```yaml
/// plugins:
///   amqtt.plugins.topic_checking.TopicTabooPlugin:
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TopicTaboo;

#[plugin(
    name = "topic_taboo",
    alias = "amqtt.plugins.topic_checking.TopicTabooPlugin"
)]
impl Plugin for TopicTaboo {
    async fn topic_filtering(
        &self,
        session: &SessionInfo,
        topic: &str,
        _action: Action,
    ) -> Verdict {
        taboo_verdict(session.username.as_deref(), topic)
    }
}

/// The taboo rule for a client with `username` using `topic`.
fn taboo_verdict(username: Option<&str>, topic: &str) -> Verdict {
    if TABOO_TOPICS.contains(&topic) && username != Some(ADMIN_USER) {
        Verdict::Deny
    } else {
        Verdict::Abstain
    }
}

#[cfg(test)]
mod tests {
    use super::taboo_verdict;
    use amqtt_core::plugin::Verdict;

    #[test]
    fn taboo_topics_are_denied_to_everyone_but_admin() {
        for topic in ["prohibited", "top-secret", "data/classified"] {
            assert_eq!(taboo_verdict(None, topic), Verdict::Deny, "{topic}");
            assert_eq!(taboo_verdict(Some("bob"), topic), Verdict::Deny, "{topic}");
            assert_eq!(
                taboo_verdict(Some("Admin"), topic),
                Verdict::Deny,
                "{topic}"
            );
            assert_eq!(taboo_verdict(Some("admin"), topic), Verdict::Abstain);
        }
    }

    #[test]
    fn other_topics_get_no_opinion() {
        for topic in [
            "#",
            "data/+",
            "data/#",
            "prohibited/x",
            "x/prohibited",
            "top-secret/#",
            "data/classified/x",
            "Prohibited",
        ] {
            assert_eq!(
                taboo_verdict(Some("bob"), topic),
                Verdict::Abstain,
                "{topic}"
            );
        }
    }
}
