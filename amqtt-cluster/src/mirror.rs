//! This node's journal committed to the sessions bucket ([`NatsMirror`]): each batch as the
//! last write of each key it touches (keys in `sessions.rs`), a whole session purged first when
//! it ended. A deletion leaves a marker (a purge by subject costs the server ten times a write,
//! one with a wildcard milliseconds). Since each message has keys of its own, a session's
//! message markers would pile up: once they are many, everything under its message keys
//! older than its oldest message still in the bucket is purged in one go (JetStream sequence
//! numbers: the mirror keeps each live message's).

use std::collections::{BTreeMap, HashMap};

use amqtt_core::cluster::{
    ClusterError, SessionMirror, encode_stored_message, encode_subscription,
};
use amqtt_core::store::StoreOp;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use crate::names;
use crate::sessions::{SessionKeeper, session_value};

/// Writes to NATS in flight at once during a commit.
const WRITES_IN_FLIGHT: usize = 256;

/// Message markers a session may leave before those older than its oldest message are purged.
const COMPACT_AFTER: u64 = 3 * 1024;

/// The parts of a message's keys (`.m.<entry>.<part>`): the message, the packet id it was sent
/// with, that it was received (QoS 2).
const MESSAGE_PARTS: [&str; 3] = ["v", "p", "r"];

/// This node's journal, committed to the sessions bucket.
pub struct NatsMirror {
    keeper: SessionKeeper,
    node: String,
    runtime: tokio::runtime::Handle,
    ledger: Ledger,
}

/// Per session (`<node>.<client key>`): its message keys in the bucket and its markers.
#[derive(Debug, Default)]
struct Ledger {
    messages: HashMap<String, MessageKeys>,
}

/// A session's message keys in the bucket.
#[derive(Debug, Default, Clone, PartialEq)]
struct MessageKeys {
    /// Entry -> the stream sequence its message was written at (0: unknown, written before
    /// this node started).
    live: BTreeMap<u64, u64>,
    /// Deletion markers left since the session's message keys were last compacted.
    markers: u64,
}

impl MessageKeys {
    /// The sequence below which its message keys hold only markers and deleted messages'
    /// parts; `None` for no bound (no message left).
    fn compactable_below(&self) -> Option<u64> {
        self.live.values().copied().min()
    }
}

impl NatsMirror {
    /// A mirror writing `node`'s sessions through `keeper`, from a thread outside the runtime;
    /// `restored` gives the sessions the node took back at start and their messages' entries.
    pub(crate) fn new(
        keeper: SessionKeeper,
        node: &str,
        restored: impl IntoIterator<Item = (String, Vec<u64>)>,
    ) -> NatsMirror {
        NatsMirror {
            keeper,
            node: node.to_owned(),
            runtime: tokio::runtime::Handle::current(),
            ledger: Ledger::new(node, restored),
        }
    }
}

impl Ledger {
    /// The ledger of `node`'s sessions `restored` at start (client id, messages' entries).
    fn new(node: &str, restored: impl IntoIterator<Item = (String, Vec<u64>)>) -> Ledger {
        let messages = restored
            .into_iter()
            .map(|(client_id, entries)| {
                let live = entries.into_iter().map(|entry| (entry, 0)).collect();
                let keys = MessageKeys { live, markers: 0 };
                (prefix(node, &client_id), keys)
            })
            .collect();
        Ledger { messages }
    }

    /// Takes in what a committed batch changed, written at `sequences` (message key ->
    /// stream sequence); returns the sessions due for compaction, each with the sequence
    /// below which its message keys go.
    fn committed(
        &mut self,
        changes: HashMap<String, Changes>,
        sequences: &HashMap<String, u64>,
    ) -> Vec<(String, Option<u64>)> {
        let mut due = Vec::new();
        for (session, change) in changes {
            let keys = self.messages.entry(session.clone()).or_default();
            if change.reset {
                *keys = MessageKeys::default();
            }
            for (entry, key) in change.added {
                keys.live
                    .insert(entry, sequences.get(&key).copied().unwrap_or(0));
            }
            for entry in change.removed {
                keys.live.remove(&entry);
            }
            keys.markers += change.markers;
            if keys.markers >= COMPACT_AFTER && keys.compactable_below() != Some(0) {
                due.push((session.clone(), keys.compactable_below()));
                keys.markers = 0;
            }
            if *keys == MessageKeys::default() {
                self.messages.remove(&session);
            }
        }
        due
    }
}

impl SessionMirror for NatsMirror {
    fn commit(&mut self, batch: &[StoreOp]) -> Result<(), ClusterError> {
        let mut writes = Writes::fold(&self.node, batch);
        if writes.is_empty() {
            return Ok(());
        }
        let changes = std::mem::take(&mut writes.changes);
        let keeper = &self.keeper;
        let sequences = self
            .runtime
            .block_on(writes.apply(keeper))
            .map_err(ClusterError::Unavailable)?;
        for (session, below) in self.ledger.committed(changes, &sequences) {
            let compacted = self
                .runtime
                .block_on(keeper.purge_below(&format!("{session}.m.>"), below));
            if let Err(e) = compacted {
                // The markers stay until the next compaction.
                tracing::debug!(session, error = %e, "cluster: message markers not compacted");
            }
        }
        Ok(())
    }
}

/// The client an op is about; `None` for a retained message (a bucket of its own).
fn client_of(op: &StoreOp) -> Option<&str> {
    match op {
        StoreOp::Retained { .. } => None,
        StoreOp::Session(session) => Some(&session.client_id),
        StoreOp::SessionGone { client_id }
        | StoreOp::Subscribe { client_id, .. }
        | StoreOp::Unsubscribe { client_id, .. }
        | StoreOp::Message { client_id, .. }
        | StoreOp::MessageSent { client_id, .. }
        | StoreOp::MessageReleased { client_id, .. }
        | StoreOp::MessageDone { client_id, .. }
        | StoreOp::Qos2Received { client_id, .. }
        | StoreOp::Qos2Released { client_id, .. } => Some(client_id),
    }
}

/// A session's keys: `<node>.<client key>`.
fn prefix(node: &str, client_id: &str) -> String {
    format!("{node}.{}", names::key(client_id))
}

/// What a batch changes in a session's message keys.
#[derive(Debug, Default)]
struct Changes {
    /// The session ended: every key it had is gone first.
    reset: bool,
    /// Messages written (entry, key).
    added: Vec<(u64, String)>,
    /// Messages deleted (entries).
    removed: Vec<u64>,
    /// Deletion markers left.
    markers: u64,
}

/// A batch as writes to the bucket.
#[derive(Default)]
struct Writes {
    /// Sessions (`<node>.<client key>`) purged whole before the other writes.
    gone: Vec<String>,
    /// Key -> value to put, or `None` to delete.
    keys: HashMap<String, Option<Bytes>>,
    /// What it changes in each session's message keys.
    changes: HashMap<String, Changes>,
}

impl Writes {
    fn fold(node: &str, batch: &[StoreOp]) -> Writes {
        let mut writes = Writes::default();
        // Each client's key prefix, made once per batch (a batch holds many ops per client).
        let mut prefixes: HashMap<&str, String> = HashMap::new();
        for op in batch {
            let Some(client_id) = client_of(op) else {
                continue;
            };
            let session = prefixes
                .entry(client_id)
                .or_insert_with(|| prefix(node, client_id));
            writes.add(session, op);
        }
        writes
    }

    /// What `session` changes in its message keys, so far in this batch.
    fn change(&mut self, session: &str) -> &mut Changes {
        // The key is copied once per session and batch, not once per op.
        if !self.changes.contains_key(session) {
            self.changes.insert(session.to_owned(), Changes::default());
        }
        self.changes.get_mut(session).expect("inserted above")
    }

    fn add(&mut self, session: &str, op: &StoreOp) {
        match op {
            StoreOp::Retained { .. } => {}
            StoreOp::Session(stored) => {
                self.keys
                    .insert(format!("{session}.s"), Some(session_value(stored)));
            }
            StoreOp::SessionGone { .. } => {
                *self.change(session) = Changes {
                    reset: true,
                    ..Changes::default()
                };
                let within = format!("{session}.");
                self.keys.retain(|key, _| !key.starts_with(&within));
                self.gone.push(session.to_owned());
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
                let key = format!("{session}.m.{}.v", message.entry);
                self.change(session)
                    .added
                    .push((message.entry, key.clone()));
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
                let change = self.change(session);
                change.added.retain(|(added, _)| added != entry);
                change.removed.push(*entry);
                change.markers += MESSAGE_PARTS.len() as u64;
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

    /// Writes it all, the whole-session purges first; returns once NATS has every write, with
    /// the stream sequence each message (`.v` key) was written at.
    async fn apply(self, keeper: &SessionKeeper) -> Result<HashMap<String, u64>, String> {
        futures_util::stream::iter(self.gone.into_iter().map(Ok))
            .try_for_each_concurrent(WRITES_IN_FLIGHT, |session| async move {
                keeper.purge_below(&format!("{session}.>"), None).await
            })
            .await?;
        futures_util::stream::iter(self.keys)
            .map(|(key, value)| async move {
                match value {
                    Some(value) => {
                        let sequence = keeper.put(&key, value).await?;
                        Ok(key.ends_with(".v").then_some((key, sequence)))
                    }
                    None => keeper.delete(&key).await.map(|()| None),
                }
            })
            .buffer_unordered(WRITES_IN_FLIGHT)
            .try_filter_map(|written| std::future::ready(Ok(written)))
            .try_collect()
            .await
    }
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
        let writes = Writes::fold("n", &batch);
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

    /// The ledger's bookkeeping of `batch`, committed with each message written at the
    /// sequence of its entry plus 100.
    fn commit(ledger: &mut Ledger, batch: &[StoreOp]) -> Vec<(String, Option<u64>)> {
        let writes = Writes::fold("n", batch);
        let sequences = writes
            .changes
            .values()
            .flat_map(|c| {
                c.added
                    .iter()
                    .map(|(entry, key)| (key.clone(), entry + 100))
            })
            .collect();
        ledger.committed(writes.changes, &sequences)
    }

    #[test]
    fn markers_older_than_the_oldest_message_left_are_compacted() {
        let many = COMPACT_AFTER / MESSAGE_PARTS.len() as u64;
        let mut ledger = Ledger::new("n", [("b".to_owned(), vec![7])]);
        let queued: Vec<StoreOp> = (1..=many + 1).map(message).collect();
        assert!(commit(&mut ledger, &queued).is_empty());
        let acked: Vec<StoreOp> = (2..=many + 1).map(done).collect();
        // Entry 1 is left, written at 101: everything older than that goes.
        assert_eq!(
            commit(&mut ledger, &acked),
            [("n.x61".to_owned(), Some(101))]
        );
        assert_eq!(ledger.messages["n.x61"].markers, 0);
        assert_eq!(commit(&mut ledger, &[done(1)]), []);
        let left = MessageKeys {
            live: BTreeMap::new(),
            markers: 3,
        };
        assert_eq!(ledger.messages["n.x61"], left);
        // Once compacted with no message left, the session is forgotten.
        let batch: Vec<StoreOp> = (1000..1000 + many)
            .flat_map(|e| [message(e), done(e)])
            .collect();
        let writes = Writes::fold("n", &batch);
        assert_eq!(
            ledger.committed(writes.changes, &HashMap::new()),
            [("n.x61".to_owned(), None)]
        );
        assert!(!ledger.messages.contains_key("n.x61"));
        // A session restored at start with a message of unknown sequence is not compacted.
        let acked: Vec<StoreOp> = (1..=many)
            .map(|entry| StoreOp::MessageDone {
                client_id: "b".into(),
                entry: entry + 10,
            })
            .collect();
        assert_eq!(commit(&mut ledger, &acked), []);
    }
}
