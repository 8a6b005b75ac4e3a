//! The shadow topics: `$shadow/<device>/<name>/<operation>`, as aMQTT lays them out.
//!
//! Clients publish requests to `.../get` and `.../update`; the broker answers on
//! `.../get/accepted`, `.../get/rejected`, `.../update/accepted`, `.../update/rejected`,
//! `.../update/delta`, `.../update/iota` and `.../update/documents`.

/// The first level of every shadow topic, with its separator.
pub const SHADOW_PREFIX: &str = "$shadow/";

/// A request a client publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// `get`: the shadow's current document.
    Get,
    /// `update`: merge a state document into the shadow.
    Update,
}

/// A reply the broker publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `get/accepted`: the current document.
    GetAccepted,
    /// `get/rejected`: why there is none.
    GetRejected,
    /// `update/accepted`: the document after the update.
    UpdateAccepted,
    /// `update/rejected`: why the update was refused.
    UpdateRejected,
    /// `update/delta`: the desired keys that differ from the reported ones.
    UpdateDelta,
    /// `update/iota`: aMQTT's shallow variant of the delta.
    UpdateIota,
    /// `update/documents`: the documents before and after the update.
    UpdateDocuments,
}

impl Reply {
    /// The last levels of the reply's topic.
    pub const fn suffix(self) -> &'static str {
        match self {
            Reply::GetAccepted => "get/accepted",
            Reply::GetRejected => "get/rejected",
            Reply::UpdateAccepted => "update/accepted",
            Reply::UpdateRejected => "update/rejected",
            Reply::UpdateDelta => "update/delta",
            Reply::UpdateIota => "update/iota",
            Reply::UpdateDocuments => "update/documents",
        }
    }
}

/// Whether `s` is a valid device id or shadow name: aMQTT's `[a-zA-Z0-9_-]+`.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// One shadow: a device and the shadow's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShadowId {
    /// The device id (second level).
    pub device: String,
    /// The shadow name (third level).
    pub name: String,
}

impl ShadowId {
    /// The topic of `reply` for this shadow.
    pub fn reply_topic(&self, reply: Reply) -> String {
        format!(
            "{SHADOW_PREFIX}{}/{}/{}",
            self.device,
            self.name,
            reply.suffix()
        )
    }
}

/// The shadow and request a topic names, if it is exactly `$shadow/<device>/<name>/get` or
/// `.../update` with a valid device id and name.
pub fn parse_request(topic: &str) -> Option<(ShadowId, Request)> {
    let rest = topic.strip_prefix(SHADOW_PREFIX)?;
    let mut levels = rest.split('/');
    let (device, name, op) = (levels.next()?, levels.next()?, levels.next()?);
    if levels.next().is_some() || !valid_id(device) || !valid_id(name) {
        return None;
    }
    let request = match op {
        "get" => Request::Get,
        "update" => Request::Update,
        _ => return None,
    };
    let id = ShadowId {
        device: device.to_owned(),
        name: name.to_owned(),
    };
    Some((id, request))
}

/// The device whose shadow topics `topic` (a topic name or filter) is under: its second level,
/// when the first is `$shadow`, the second a literal valid device id, and a third level follows.
pub fn topic_device(topic: &str) -> Option<&str> {
    let (device, _rest) = topic.strip_prefix(SHADOW_PREFIX)?.split_once('/')?;
    valid_id(device).then_some(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_exact_topics() {
        let (id, request) = parse_request("$shadow/dev-1/main_2/update").expect("update");
        assert_eq!((id.device.as_str(), id.name.as_str()), ("dev-1", "main_2"));
        assert_eq!(request, Request::Update);
        assert_eq!(
            parse_request("$shadow/d/n/get").map(|r| r.1),
            Some(Request::Get)
        );
        for not_a_request in [
            "$shadow/d/n/update/accepted",
            "$shadow/d/n/getx",
            "$shadow/d/n",
            "$shadow/d.x/n/get",
            "$shadow//n/get",
            "shadow/d/n/get",
            "$shadow/d/n/delete",
        ] {
            assert_eq!(parse_request(not_a_request), None, "{not_a_request}");
        }
        assert_eq!(
            id.reply_topic(Reply::UpdateDelta),
            "$shadow/dev-1/main_2/update/delta"
        );
    }

    #[test]
    fn the_device_of_a_topic_or_filter() {
        assert_eq!(topic_device("$shadow/d1/n/get/accepted"), Some("d1"));
        assert_eq!(topic_device("$shadow/d1/#"), Some("d1"));
        assert_eq!(topic_device("$shadow/+/n/get"), None);
        assert_eq!(topic_device("$shadow/#"), None);
        assert_eq!(topic_device("$shadow/d1"), None);
        assert_eq!(topic_device("a/d1/n"), None);
    }
}
