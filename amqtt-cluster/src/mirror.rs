//! This node's journal committed to the sessions bucket ([`NatsMirror`]): each batch as the
//! last write of each key it touches (keys in `sessions.rs`), a whole session purged first when
//! it ended. A deletion leaves a marker (a purge by subject costs the server ten times a write,
//! one with a wildcard milliseconds); a session's message markers, which would pile up since
//! each message has a key of its own, are purged in one go once they are many and the session
//! has no message left in the bucket.

use std::collections::HashMap;

use amqtt_core::cluster::{
    ClusterError, SessionMirror, encode_stored_message, encode_subscription,
};
use amqtt_core::store::StoreOp;
use bytes::Bytes;
use futures_util::TryStreamExt;

use crate::names;
use crate::sessions::{SessionKeeper, session_value};

/// Writes to NATS in flight at once during a commit.
const WRITES_IN_FLIGHT: usize = 256;

/// Message markers a session may leave before they are purged (once it has no message left).
const COMPACT_AFTER: u64 = 3 * 1024;

/// The parts of a message's keys (`.m.<entry>.<part>`): the message, the packet id it was sent
/// with, that it was received (QoS 2).
const MESSAGE_PARTS: [&str; 3] = ["v", "p", "r"];

/// This node's journal, committed to the sessions bucket.
pub struct NatsMirror {
    keeper: SessionKeeper,
    node: String,
    runtime: tokio::runtime::Handle,
    /// Per session (`<node>.<client key>`): its message keys in the bucket and its markers.
    messages: HashMap<String, MessageKeys>,
}

/// A session's message keys in the bucket.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct MessageKeys {
    /// Messages written and not deleted.
    live: u64,
    /// Deletion markers left since the session's keys were last purged.
    markers: u64,
}

impl NatsMirror {
    /// A mirror writing `node`'s sessions through `keeper`, from a thread outside the runtime;
    /// `restored` gives the sessions the node took back at start and their messages.
    pub(crate) fn new(
        keeper: SessionKeeper,
        node: &str,
        restored: impl IntoIterator<Item = (String, u64)>,
    ) -> NatsMirror {
        let messages = restored
            .into_iter()
            .map(|(client_id, live)| {
                let keys = MessageKeys { live, markers: 0 };
                (prefix(node, &client_id), keys)
            })
            .collect();
        NatsMirror {
            keeper,
            node: node.to_owned(),
            runtime: tokio::runtime::Handle::current(),
            messages,
        }
    }
}

impl SessionMirror for NatsMirror {
    fn commit(&mut self, batch: &[StoreOp]) -> Result<(), ClusterError> {
        let writes = Writes::fold(&self.node, batch, &self.messages);
        if writes.is_empty() {
            return Ok(());
        }
        let counts = writes.counts.clone();
        self.runtime
            .block_on(writes.apply(&self.keeper))
            .map_err(ClusterError::Unavailable)?;
        for (session, keys) in counts {
            if keys == MessageKeys::default() {
                self.messages.remove(&session);
            } else {
                self.messages.insert(session, keys);
            }
        }
        Ok(())
    }
}

/// A session's keys: `<node>.<client key>`.
fn prefix(node: &str, client_id: &str) -> String {
    format!("{node}.{}", names::key(client_id))
}

/// A batch as writes to the bucket.
#[derive(Default)]
struct Writes {
    /// Sessions (`<node>.<client key>`) purged whole before the other writes.
    gone: Vec<String>,
    /// Key -> value to put, or `None` to delete.
    keys: HashMap<String, Option<Bytes>>,
    /// Sessions whose message markers are purged after the other writes.
    compact: Vec<String>,
    /// The message keys of each session the batch changed, as they stand after it.
    counts: HashMap<String, MessageKeys>,
}

impl Writes {
    /// The writes of `batch`, given the message keys of each session before it.
    fn fold(node: &str, batch: &[StoreOp], before: &HashMap<String, MessageKeys>) -> Writes {
        let mut writes = Writes::default();
        for op in batch {
            writes.add(node, op, before);
        }
        for (session, keys) in &mut writes.counts {
            if keys.live == 0 && keys.markers >= COMPACT_AFTER {
                writes.compact.push(session.clone());
                keys.markers = 0;
            }
        }
        writes
    }

    fn add(&mut self, node: &str, op: &StoreOp, before: &HashMap<String, MessageKeys>) {
        let client_id = match op {
            // Retained messages have a bucket of their own.
            StoreOp::Retained { .. } => return,
            StoreOp::Session(session) => &session.client_id,
            StoreOp::SessionGone { client_id }
            | StoreOp::Subscribe { client_id, .. }
            | StoreOp::Unsubscribe { client_id, .. }
            | StoreOp::Message { client_id, .. }
            | StoreOp::MessageSent { client_id, .. }
            | StoreOp::MessageReleased { client_id, .. }
            | StoreOp::MessageDone { client_id, .. }
            | StoreOp::Qos2Received { client_id, .. }
            | StoreOp::Qos2Released { client_id, .. } => client_id,
        };
        let session = prefix(node, client_id);
        let keys = self
            .counts
            .entry(session.clone())
            .or_insert_with(|| before.get(&session).copied().unwrap_or_default());
        match op {
            StoreOp::Retained { .. } => {}
            StoreOp::Session(stored) => {
                self.keys
                    .insert(format!("{session}.s"), Some(session_value(stored)));
            }
            StoreOp::SessionGone { .. } => {
                *keys = MessageKeys::default();
                let within = format!("{session}.");
                self.keys.retain(|key, _| !key.starts_with(&within));
                self.gone.push(session);
            }
            StoreOp::Subscribe { filter, grant, .. } => {
                let key = format!("{session}.f.{}", names::key(filter));
                self.keys
                    .insert(key, Some(encode_subscription(filter, *grant)));
            }
            StoreOp::Unsubscribe { filter, .. } => {
                self.keys
                    .insert(format!("{session}.f.{}", names::key(filter)), None);
            }
            StoreOp::Message { message, .. } => {
                keys.live += 1;
                let key = format!("{session}.m.{}.v", message.entry);
                self.keys.insert(key, Some(encode_stored_message(message)));
            }
            StoreOp::MessageSent {
                entry, packet_id, ..
            } => {
                let id = Bytes::copy_from_slice(&packet_id.get().to_be_bytes());
                self.keys.insert(format!("{session}.m.{entry}.p"), Some(id));
            }
            StoreOp::MessageReleased { entry, .. } => {
                self.keys
                    .insert(format!("{session}.m.{entry}.r"), Some(Bytes::new()));
            }
            StoreOp::MessageDone { entry, .. } => {
                keys.live = keys.live.saturating_sub(1);
                keys.markers += MESSAGE_PARTS.len() as u64;
                for part in MESSAGE_PARTS {
                    self.keys
                        .insert(format!("{session}.m.{entry}.{part}"), None);
                }
            }
            StoreOp::Qos2Received { packet_id, .. } => {
                let key = format!("{session}.q.{}", packet_id.get());
                self.keys.insert(key, Some(Bytes::new()));
            }
            StoreOp::Qos2Released { packet_id, .. } => {
                self.keys
                    .insert(format!("{session}.q.{}", packet_id.get()), None);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.gone.is_empty() && self.keys.is_empty()
    }

    /// Writes it all: the whole-session purges, then every key, then the compactions; returns
    /// once NATS has every write.
    async fn apply(self, keeper: &SessionKeeper) -> Result<(), String> {
        purge_each(keeper, self.gone).await?;
        futures_util::stream::iter(self.keys.into_iter().map(Ok))
            .try_for_each_concurrent(WRITES_IN_FLIGHT, |(key, value)| async move {
                match value {
                    Some(value) => keeper.put(&key, value).await,
                    None => keeper.delete(&key).await,
                }
            })
            .await?;
        let messages = self.compact.into_iter().map(|s| format!("{s}.m"));
        purge_each(keeper, messages.collect()).await
    }
}

/// Purges every key under each of `prefixes`.
async fn purge_each(keeper: &SessionKeeper, prefixes: Vec<String>) -> Result<(), String> {
    futures_util::stream::iter(prefixes.into_iter().map(Ok))
        .try_for_each_concurrent(WRITES_IN_FLIGHT, |prefix| async move {
            keeper.purge(&format!("{prefix}.>")).await
        })
        .await
}

#[cfg(test)]
mod tests {
    use amqtt_core::codec::{PacketId, Publish, QoS};
    use amqtt_core::store::{MessageState, StoredMessage};

    use super::*;

    fn message(entry: u64) -> StoreOp {
        StoreOp::Message {
            client_id: "a".into(),
            message: StoredMessage {
                entry,
                state: MessageState::Queued,
                packet_id: None,
                message: Publish::new("t", Bytes::new(), QoS::AtLeastOnce, false),
            },
        }
    }

    fn done(entry: u64) -> StoreOp {
        StoreOp::MessageDone {
            client_id: "a".into(),
            entry,
        }
    }

    #[test]
    fn a_batch_folds_to_the_last_write_of_each_key() {
        let id = PacketId::new(3).expect("non-zero");
        let batch = [
            StoreOp::Qos2Received {
                client_id: "a".into(),
                packet_id: id,
            },
            StoreOp::MessageSent {
                client_id: "a".into(),
                entry: 4,
                packet_id: id,
            },
            done(4),
            StoreOp::SessionGone {
                client_id: "b".into(),
            },
            StoreOp::Qos2Released {
                client_id: "a".into(),
                packet_id: id,
            },
        ];
        let writes = Writes::fold("n", &batch, &HashMap::new());
        assert_eq!(writes.gone, ["n.x62"]);
        let mut keys: Vec<_> = writes
            .keys
            .iter()
            .map(|(k, v)| (k.as_str(), v.is_some()))
            .collect();
        keys.sort();
        let deleted = ["n.x61.m.4.p", "n.x61.m.4.r", "n.x61.m.4.v", "n.x61.q.3"];
        assert_eq!(keys, deleted.map(|k| (k, false)));
    }

    #[test]
    fn message_markers_are_purged_once_many_and_no_message_is_left() {
        let many = COMPACT_AFTER / MESSAGE_PARTS.len() as u64;
        let mut counts = HashMap::new();
        // Written in one batch, done in the next: markers, one message still there.
        let queued: Vec<StoreOp> = (1..=many + 1).map(message).collect();
        let writes = Writes::fold("n", &queued, &counts);
        counts.extend(writes.counts);
        assert_eq!(counts["n.x61"].live, many + 1);
        let acked: Vec<StoreOp> = (1..=many).map(done).collect();
        let writes = Writes::fold("n", &acked, &counts);
        assert!(writes.compact.is_empty(), "a message is left");
        counts.extend(writes.counts);
        assert_eq!(
            counts["n.x61"],
            MessageKeys {
                live: 1,
                markers: COMPACT_AFTER
            }
        );
        let writes = Writes::fold("n", &[done(many + 1)], &counts);
        assert_eq!(writes.compact, ["n.x61"]);
        assert_eq!(writes.counts["n.x61"], MessageKeys::default());
        // A session restored with messages does not count as empty.
        let keys = MessageKeys {
            live: 5,
            markers: COMPACT_AFTER,
        };
        let restored = HashMap::from([("n.x61".to_owned(), keys)]);
        let writes = Writes::fold("n", &[done(1)], &restored);
        assert!(writes.compact.is_empty());
    }
}
