//! Persistent sessions kept in NATS, so that another node continues them when theirs is gone.
//!
//! Every node commits its journal's batches to the sessions bucket (`mirror.rs`), under
//! keys that begin with the node's id and the client's key: `<node>.<client>.s` the session
//! (its client's CONNECT), `.f.<filter>` a subscription, `.m.<entry>.v` a queued or in-flight
//! message, `.m.<entry>.p` the packet id it was sent with, `.m.<entry>.r` that it was received
//! (QoS 2, PUBREC), `.q.<id>` a QoS 2 id awaiting PUBREL. A node that takes a client over from a node that
//! does not answer reads the client's keys ([`SessionKeeper::load`]); a node that starts reads
//! its own ([`SessionKeeper::load_node`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, UNIX_EPOCH};

use amqtt_core::cluster::{
    Handoff, decode_session, decode_stored_message, decode_subscription, encode_session,
};
use amqtt_core::codec::PacketId;
use amqtt_core::store::{MessageState, StoredMessage, StoredSession};
use async_nats::jetstream::{self, consumer, kv, stream};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;

use crate::names;

/// The header that marks a deleted key.
const KV_OPERATION: &str = "KV-Operation";

/// How long a read of the bucket waits for its next key before it counts as complete.
const READ_IDLE: Duration = Duration::from_secs(2);

/// The sessions bucket.
#[derive(Clone)]
pub(crate) struct SessionKeeper {
    bucket: kv::Store,
    /// The bucket's stream, for purges by subject.
    stream: stream::Stream,
    /// The prefix of the bucket's subjects (`$KV.<bucket>.`).
    subjects: String,
    client: async_nats::Client,
}

impl SessionKeeper {
    /// The bucket `name` (created as [`crate::bucket`] creates buckets).
    pub(crate) async fn open(js: &jetstream::Context, name: &str) -> Result<SessionKeeper, String> {
        let bucket = crate::bucket(js, name).await?;
        let stream = js
            .get_stream(format!("KV_{name}"))
            .await
            .map_err(|e| e.to_string())?;
        Ok(SessionKeeper {
            bucket,
            stream,
            subjects: format!("$KV.{name}."),
            client: js.client(),
        })
    }

    /// The session of `client_id` that `node` kept, if any.
    pub(crate) async fn load(
        &self,
        node: &str,
        client_id: &str,
    ) -> Result<Option<Handoff>, String> {
        let mut sessions = self
            .read(&format!("{node}.{}", names::key(client_id)))
            .await?;
        Ok(sessions.pop())
    }

    /// Every session `node` kept.
    pub(crate) async fn load_node(&self, node: &str) -> Result<Vec<Handoff>, String> {
        self.read(node).await
    }

    /// Deletes what `node` kept of the session of `client_id`.
    pub(crate) async fn forget(&self, node: &str, client_id: &str) -> Result<(), String> {
        self.purge_below(&format!("{node}.{}.>", names::key(client_id)), None)
            .await
    }

    /// Writes `value` under `key`; returns the stream sequence it was written at.
    pub(crate) async fn put(&self, key: &str, value: Bytes) -> Result<u64, String> {
        self.bucket
            .put(key, value)
            .await
            .map_err(|e| format!("write of {key}: {e}"))
    }

    /// Deletes `key`, leaving a marker in its place (as fast as a write; a purge by subject
    /// costs the server ten times as much).
    pub(crate) async fn delete(&self, key: &str) -> Result<(), String> {
        self.bucket
            .delete(key)
            .await
            .map_err(|e| format!("delete of {key}: {e}"))
    }

    /// Purges the keys `pattern` (which may end in `>`) matches, markers included, written
    /// below the stream sequence `below` if given (with a wildcard, milliseconds of the
    /// server's time).
    pub(crate) async fn purge_below(
        &self,
        pattern: &str,
        below: Option<u64>,
    ) -> Result<(), String> {
        let purge = self
            .stream
            .purge()
            .filter(format!("{}{pattern}", self.subjects));
        let purged = match below {
            Some(sequence) => purge.sequence(sequence).await,
            None => purge.await,
        };
        purged
            .map(drop)
            .map_err(|e| format!("purge of {pattern}: {e}"))
    }

    /// Every session under the keys `<prefix>.>`, one per client.
    async fn read(&self, prefix: &str) -> Result<Vec<Handoff>, String> {
        let consumer = self
            .stream
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                filter_subject: format!("{}{prefix}.>", self.subjects),
                deliver_policy: consumer::DeliverPolicy::LastPerSubject,
                replay_policy: consumer::ReplayPolicy::Instant,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("cannot read the sessions bucket: {e}"))?;
        let mut sessions: BTreeMap<String, Parts> = BTreeMap::new();
        if consumer.cached_info().num_pending == 0 {
            return Ok(Vec::new());
        }
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| format!("cannot read the sessions bucket: {e}"))?;
        // Keys purged meanwhile are never delivered: a quiet consumer has delivered all.
        while let Ok(Some(message)) = tokio::time::timeout(READ_IDLE, messages.next()).await {
            let message = message.map_err(|e| format!("reading the sessions bucket: {e}"))?;
            let last = message
                .info()
                .map(|info| info.pending == 0)
                .unwrap_or(false);
            let key = message.subject.strip_prefix(self.subjects.as_str());
            let deleted = message
                .headers
                .as_ref()
                .is_some_and(|headers| headers.get(KV_OPERATION).is_some());
            if let Some((client, record)) = key.and_then(split_key).filter(|_| !deleted) {
                let parts = sessions.entry(client.to_owned()).or_default();
                if let Err(e) = parts.add(record, message.payload.clone()) {
                    tracing::warn!(key = ?key, error = %e, "cluster: kept session record skipped");
                }
            }
            if last {
                break;
            }
        }
        Ok(sessions.into_values().filter_map(Parts::finish).collect())
    }
}

/// A key's client part (`<node>.<client>`) and its record part (`s`, `f.<filter>`, ...).
fn split_key(key: &str) -> Option<(&str, &str)> {
    let node_end = key.find('.')?;
    let client_end = node_end + 1 + key[node_end + 1..].find('.')?;
    Some((&key[..client_end], &key[client_end + 1..]))
}

/// One client's records as read.
#[derive(Default)]
struct Parts {
    session: Option<StoredSession>,
    subscriptions: Vec<(Box<str>, amqtt_core::store::Grant)>,
    messages: BTreeMap<u64, StoredMessage>,
    sent: HashMap<u64, PacketId>,
    released: HashSet<u64>,
    qos2_received: Vec<PacketId>,
}

impl Parts {
    fn add(&mut self, record: &str, value: Bytes) -> Result<(), String> {
        let bad = || format!("a bad key {record}");
        let mut fields = record.split('.');
        match (fields.next(), fields.next(), fields.next()) {
            (Some("s"), None, _) => self.session = Some(session_from(value)?),
            (Some("f"), Some(_), None) => self
                .subscriptions
                .push(decode_subscription(value).map_err(text)?),
            (Some("m"), Some(entry), Some(what)) => {
                let entry: u64 = entry.parse().map_err(|_| bad())?;
                match what {
                    "v" => {
                        let message = decode_stored_message(value).map_err(text)?;
                        self.messages.insert(entry, message);
                    }
                    "p" => {
                        let id = <[u8; 2]>::try_from(&value[..])
                            .ok()
                            .and_then(|b| PacketId::new(u16::from_be_bytes(b)))
                            .ok_or_else(bad)?;
                        self.sent.insert(entry, id);
                    }
                    "r" => {
                        self.released.insert(entry);
                    }
                    _ => return Err(bad()),
                }
            }
            (Some("q"), Some(id), None) => {
                let id = id.parse().ok().and_then(PacketId::new).ok_or_else(bad)?;
                self.qos2_received.push(id);
            }
            _ => return Err(bad()),
        }
        Ok(())
    }

    /// The session, with each message in the state its later records say.
    fn finish(self) -> Option<Handoff> {
        let mut handoff = Handoff::new(self.session?);
        for (filter, grant) in self.subscriptions {
            handoff.add_subscription(filter, grant);
        }
        for (entry, mut message) in self.messages {
            if let Some(&id) = self.sent.get(&entry) {
                message.state = MessageState::Sent;
                message.packet_id = Some(id);
            }
            if self.released.contains(&entry) {
                message.state = MessageState::Released;
            }
            handoff.add_message(message);
        }
        for id in self.qos2_received {
            handoff.add_qos2_received(id);
        }
        Some(handoff)
    }
}

/// A session's value: when it went offline (seconds since the Unix epoch; 0 while connected),
/// then [`encode_session`].
pub(crate) fn session_value(session: &StoredSession) -> Bytes {
    let offline_since = session
        .disconnected_at
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_secs().max(1));
    let mut value = BytesMut::from(&offline_since.to_be_bytes()[..]);
    value.extend_from_slice(&encode_session(session));
    value.freeze()
}

/// Reads what [`session_value`] wrote. A session that was connected counts as offline from now.
fn session_from(mut value: Bytes) -> Result<StoredSession, String> {
    if value.len() < 8 {
        return Err("a session cut short".into());
    }
    let offline_since = value.split_to(8).get_u64();
    let mut session = decode_session(value).map_err(text)?;
    if offline_since > 0 {
        session.disconnected_at = Some(UNIX_EPOCH + Duration::from_secs(offline_since));
    }
    Ok(session)
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_client_and_record() {
        assert_eq!(split_key("n1.x61.s"), Some(("n1.x61", "s")));
        assert_eq!(split_key("n1.x61.m.7.v"), Some(("n1.x61", "m.7.v")));
        assert_eq!(split_key("n1.x61"), None);
    }

    #[test]
    fn a_session_keeps_when_it_went_offline() {
        let mut session = StoredSession {
            client_id: "a".into(),
            username: None,
            keep_alive: 10,
            will: None,
            disconnected_at: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            protocol: amqtt_core::codec::ProtocolVersion::V311,
            properties: None,
        };
        let back = session_from(session_value(&session)).expect("decodes");
        assert_eq!(back.disconnected_at, session.disconnected_at);
        assert_eq!(back.keep_alive, 10);
        session.disconnected_at = None;
        let back = session_from(session_value(&session)).expect("decodes");
        let now = std::time::SystemTime::now();
        let offline = now.duration_since(back.disconnected_at.expect("offline from now"));
        assert!(offline.unwrap_or_default() < Duration::from_secs(60));
        assert!(session_from(Bytes::from_static(b"\0\0")).is_err());
    }
}
