//! The store's journal: changes appended by the broker, committed in batches by the store's thread.
//!
//! Sessions append [`StoreOp`]s under their own lock, so a session's changes are journaled in the
//! order they happened; each append gets a sequence number. The store's thread takes everything
//! appended so far as one batch, folds changes that cancel out (a message queued and
//! acknowledged in the same batch is never written), commits it and publishes the highest
//! sequence number it covered. In [`Durability::Always`] a packet that promises durability is
//! queued on its outbox with that number ([`Outbox::push_held`](super::outbox::Outbox)), and
//! the writer sends it only once the batch has committed; batches form while the previous one
//! syncs, so many acknowledgements share one sync (group commit).
//!
//! Lock order: a session, then the journal's queue (the journal takes no other lock).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tokio::sync::Notify;

use crate::cluster::SessionMirror;
use crate::codec::ByteString;
use crate::store::{Durability, MessageState, Store, StoreOp};

/// Ops the store's thread may fall behind by in [`Durability::Batch`] and [`Durability::None`]
/// before acknowledgements wait for it as in [`Durability::Always`].
const MAX_BACKLOG: u64 = 65_536;

/// How long the store's thread waits before retrying a batch that failed to commit.
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// How often a failing commit to the cluster is tried once the broker is shutting down.
const CLOSING_ATTEMPTS: u32 = 3;

/// Changes waiting for the store's thread.
#[derive(Debug, Default)]
struct Queue {
    ops: Vec<StoreOp>,
    /// Sequence number of the last op appended.
    appended: u64,
    /// Sequence number of the last op taken by the store's thread (`ops[0]` is the next one).
    taken: u64,
    /// Where each open [`Group`] began (the last sequence number before its ops): a batch ends
    /// before the earliest of them.
    open_groups: Vec<u64>,
    /// Set at shutdown: the thread commits what is left and stops.
    closing: bool,
}

impl Queue {
    /// The last sequence number the next batch may include: everything appended, except what
    /// an open group may still add to.
    fn cut(&self) -> u64 {
        self.open_groups
            .iter()
            .copied()
            .min()
            .map_or(self.appended, |start| start.min(self.appended))
    }
}

/// Ops that must reach the store in one batch: while a group is open, the store's thread does
/// not commit past its start. Closed when dropped (also when its task is cancelled).
pub(crate) struct Group<'a> {
    journal: &'a Journal,
    start: u64,
}

impl Drop for Group<'_> {
    fn drop(&mut self) {
        let mut queue = self.journal.queue.lock();
        if let Some(at) = queue.open_groups.iter().position(|&s| s == self.start) {
            queue.open_groups.swap_remove(at);
        }
        drop(queue);
        self.journal.appended.notify_one();
    }
}

/// The journal between the broker and its store's thread.
#[derive(Debug)]
pub(crate) struct Journal {
    queue: Mutex<Queue>,
    /// The queue's `appended`, readable without its lock.
    appended_seq: AtomicU64,
    /// Wakes the store's thread when ops are appended or the journal closes.
    appended: Condvar,
    /// Sequence number of the last op committed.
    committed: AtomicU64,
    /// Wakes the outbox writers holding packets for a commit.
    on_commit: Notify,
    durability: Durability,
}

impl Journal {
    /// An empty journal for a store of `durability`.
    pub(crate) fn new(durability: Durability) -> Journal {
        Journal {
            queue: Mutex::new(Queue::default()),
            appended_seq: AtomicU64::new(0),
            appended: Condvar::new(),
            committed: AtomicU64::new(0),
            on_commit: Notify::new(),
            durability,
        }
    }

    /// Appends `op`; returns its sequence number.
    pub(crate) fn append(&self, op: StoreOp) -> u64 {
        let mut queue = self.queue.lock();
        queue.ops.push(op);
        queue.appended += 1;
        let seq = queue.appended;
        self.appended_seq.store(seq, Ordering::Release);
        drop(queue);
        self.appended.notify_one();
        seq
    }

    /// Whether packets promising durability wait for the commit: always in
    /// [`Durability::Always`].
    /// In the weaker modes too while the store's thread is more than [`MAX_BACKLOG`] ops behind:
    /// publishers then wait for it (their acknowledgements are their flow control), so the
    /// journal's memory stays bounded when the disk is slower than the clients.
    pub(crate) fn holds_acks(&self) -> bool {
        self.durability == Durability::Always
            || self.appended().saturating_sub(self.committed()) > MAX_BACKLOG
    }

    /// The sequence number of the last op appended.
    pub(crate) fn appended(&self) -> u64 {
        self.appended_seq.load(Ordering::Acquire)
    }

    /// The mark a packet sent now must wait for, when packets wait for commits: everything
    /// appended so far. `None` in the weaker modes.
    pub(crate) fn hold_mark(&self) -> Option<u64> {
        self.holds_acks().then(|| self.appended())
    }

    /// The sequence number of the last op committed.
    pub(crate) fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// A future completing at the next commit; enable it before checking [`Journal::committed`].
    pub(crate) fn next_commit(&self) -> tokio::sync::futures::Notified<'_> {
        self.on_commit.notified()
    }

    /// Waits until everything appended up to `seq` is committed (or the journal is closing).
    pub(crate) async fn committed_to(&self, seq: u64) {
        loop {
            let commit = self.next_commit();
            tokio::pin!(commit);
            commit.as_mut().enable();
            if self.committed() >= seq || self.queue.lock().closing {
                return;
            }
            commit.await;
        }
    }

    /// Asks the store's thread to commit what is left and stop.
    pub(crate) fn close(&self) {
        self.queue.lock().closing = true;
        self.appended.notify_one();
    }

    /// Waits for the next batch (everything appended so far, and its last sequence number);
    /// `None` once the journal is closed and empty. In [`Durability::Batch`] a batch is taken
    /// at most once per `interval`.
    fn take(&self, interval: Duration) -> Option<(Vec<StoreOp>, u64)> {
        let mut queue = self.queue.lock();
        if self.durability == Durability::Batch && !queue.closing {
            let _ = self.appended.wait_for(&mut queue, interval);
        }
        loop {
            // At shutdown no group waits any more: its task has ended or will not be served.
            let cut = if queue.closing {
                queue.appended
            } else {
                queue.cut()
            };
            if cut > queue.taken {
                let count = usize::try_from(cut - queue.taken).unwrap_or(usize::MAX);
                let batch = if count >= queue.ops.len() {
                    std::mem::take(&mut queue.ops)
                } else {
                    queue.ops.drain(..count).collect()
                };
                queue.taken = cut;
                return Some((batch, cut));
            }
            if queue.closing {
                return None;
            }
            self.appended.wait(&mut queue);
        }
    }

    /// Opens a group: the ops appended until it is dropped reach the store in one batch.
    pub(crate) fn group(&self) -> Group<'_> {
        let mut queue = self.queue.lock();
        let start = queue.appended;
        queue.open_groups.push(start);
        Group {
            journal: self,
            start,
        }
    }

    /// Publishes that everything up to `seq` is committed and wakes the held writers.
    fn mark_committed(&self, seq: u64) {
        self.committed.store(seq, Ordering::Release);
        self.on_commit.notify_waiters();
    }
}

/// The journal's thread: commits the journal's batches to the store, then to the cluster's
/// session mirror (either may be absent), until it is closed; then returns the store.
pub(crate) fn run_journal<S: Store, M: SessionMirror>(
    mut store: Option<S>,
    mut mirror: Option<M>,
    journal: Arc<Journal>,
) -> Option<S> {
    let interval = store.as_ref().map_or(Duration::ZERO, Store::sync_interval);
    while let Some((mut batch, upto)) = journal.take(interval) {
        coalesce(&mut batch);
        if let Some(store) = &mut store {
            commit_retrying("persistent store", &journal, || store.commit(&batch), false);
        }
        if let Some(mirror) = &mut mirror {
            commit_retrying("cluster", &journal, || mirror.commit(&batch), true);
        }
        journal.mark_committed(upto);
    }
    store
}

/// Runs `commit` until it succeeds: held acknowledgements wait meanwhile and nothing is
/// dropped. Failures are logged once, then every minute. With `give_up_at_close` it stops
/// retrying once the journal is closing (the cluster's engine may be gone for good then).
fn commit_retrying<E: std::fmt::Display>(
    what: &str,
    journal: &Journal,
    mut commit: impl FnMut() -> Result<(), E>,
    give_up_at_close: bool,
) {
    let mut failures = 0u32;
    while let Err(e) = commit() {
        failures += 1;
        if failures == 1 || failures.is_multiple_of(60) {
            tracing::error!(error = %e, failures, "{what}: commit failed; retrying");
        }
        if give_up_at_close && failures >= CLOSING_ATTEMPTS && journal.queue.lock().closing {
            tracing::error!(
                "{what}: commit abandoned at shutdown; its sessions are as last committed"
            );
            return;
        }
        std::thread::sleep(RETRY_DELAY);
    }
    if failures > 0 {
        tracing::warn!(failures, "{what}: commit succeeded after retrying");
    }
}

/// Folds a batch: a message queued and done within it is dropped with every op about it, and
/// the state changes of a message queued within it are folded into its `Message` op; a QoS 2
/// id received and released within it is dropped. The store sees the same end state.
fn coalesce(batch: &mut Vec<StoreOp>) {
    // (client id, entry) -> index of the message's `Message` op in this batch.
    let mut queued: HashMap<(ByteString, u64), usize> = HashMap::new();
    // (client id, packet id) -> index of its `Qos2Received` op.
    let mut received: HashMap<(ByteString, u16), usize> = HashMap::new();
    let mut dead = vec![false; batch.len()];
    for i in 0..batch.len() {
        match &batch[i] {
            StoreOp::Message { client_id, message } => {
                queued.insert((client_id.clone(), message.entry), i);
            }
            StoreOp::MessageSent {
                client_id,
                entry,
                packet_id,
            } => {
                if let Some(&at) = queued.get(&(client_id.clone(), *entry)) {
                    let packet_id = *packet_id;
                    if let StoreOp::Message { message, .. } = &mut batch[at] {
                        message.state = MessageState::Sent;
                        message.packet_id = Some(packet_id);
                    }
                    dead[i] = true;
                }
            }
            StoreOp::MessageReleased { client_id, entry } => {
                if let Some(&at) = queued.get(&(client_id.clone(), *entry)) {
                    if let StoreOp::Message { message, .. } = &mut batch[at] {
                        message.state = MessageState::Released;
                    }
                    dead[i] = true;
                }
            }
            StoreOp::MessageDone { client_id, entry } => {
                if let Some(at) = queued.remove(&(client_id.clone(), *entry)) {
                    dead[at] = true;
                    dead[i] = true;
                }
            }
            StoreOp::Qos2Received {
                client_id,
                packet_id,
            } => {
                received.insert((client_id.clone(), packet_id.get()), i);
            }
            StoreOp::Qos2Released {
                client_id,
                packet_id,
            } => {
                if let Some(at) = received.remove(&(client_id.clone(), packet_id.get())) {
                    dead[at] = true;
                    dead[i] = true;
                }
            }
            StoreOp::SessionGone { client_id } => {
                // Whatever the session had is deleted with it; a later op for the same client
                // id belongs to a new session.
                queued.retain(|(c, _), _| c != client_id);
                received.retain(|(c, _), _| c != client_id);
            }
            _ => {}
        }
    }
    let mut index = 0;
    batch.retain(|_| {
        let keep = !dead[index];
        index += 1;
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{PacketId, Publish, QoS};
    use crate::store::StoredMessage;
    use bytes::Bytes;

    fn message(client: &str, entry: u64) -> StoreOp {
        StoreOp::Message {
            client_id: client.into(),
            message: StoredMessage {
                entry,
                state: MessageState::Queued,
                packet_id: None,
                message: Publish {
                    dup: false,
                    qos: QoS::ExactlyOnce,
                    retain: false,
                    topic: "t".into(),
                    packet_id: None,
                    payload: Bytes::from_static(b"x"),
                    properties: None,
                },
            },
        }
    }

    fn id(n: u16) -> PacketId {
        PacketId::new(n).expect("non-zero")
    }

    #[test]
    fn a_batch_never_ends_inside_an_open_group() {
        let journal = Journal::new(Durability::Always);
        journal.append(message("a", 1));
        let group = journal.group();
        journal.append(message("a", 2));
        let (batch, upto) = journal.take(Duration::ZERO).expect("a batch");
        assert_eq!((batch.len(), upto), (1, 1));
        journal.append(message("b", 1));
        drop(group);
        let (batch, upto) = journal.take(Duration::ZERO).expect("a batch");
        assert_eq!((batch.len(), upto), (2, 3));
        journal.close();
        assert!(journal.take(Duration::ZERO).is_none());
    }

    #[test]
    fn queued_and_done_in_one_batch_vanish() {
        let mut batch = vec![
            message("a", 1),
            StoreOp::MessageSent {
                client_id: "a".into(),
                entry: 1,
                packet_id: id(7),
            },
            message("a", 2),
            StoreOp::MessageDone {
                client_id: "a".into(),
                entry: 1,
            },
        ];
        coalesce(&mut batch);
        assert_eq!(batch.len(), 1);
        assert!(matches!(&batch[0], StoreOp::Message { message, .. } if message.entry == 2));
    }

    #[test]
    fn state_changes_fold_into_the_queued_message() {
        let mut batch = vec![
            message("a", 1),
            StoreOp::MessageSent {
                client_id: "a".into(),
                entry: 1,
                packet_id: id(7),
            },
            StoreOp::MessageReleased {
                client_id: "a".into(),
                entry: 1,
            },
        ];
        coalesce(&mut batch);
        assert_eq!(batch.len(), 1);
        match &batch[0] {
            StoreOp::Message { message, .. } => {
                assert_eq!(message.state, MessageState::Released);
                assert_eq!(message.packet_id, Some(id(7)));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn changes_to_messages_of_earlier_batches_stay() {
        let mut batch = vec![
            StoreOp::MessageDone {
                client_id: "a".into(),
                entry: 1,
            },
            StoreOp::Qos2Released {
                client_id: "a".into(),
                packet_id: id(3),
            },
        ];
        coalesce(&mut batch);
        assert_eq!(batch.len(), 2);
    }

    #[test]
    fn a_qos2_id_received_and_released_in_one_batch_vanishes() {
        let mut batch = vec![
            StoreOp::Qos2Received {
                client_id: "a".into(),
                packet_id: id(3),
            },
            StoreOp::Qos2Released {
                client_id: "a".into(),
                packet_id: id(3),
            },
        ];
        coalesce(&mut batch);
        assert!(batch.is_empty());
    }

    #[test]
    fn ops_after_a_session_ends_are_not_folded_into_its_messages() {
        let mut batch = vec![
            message("a", 1),
            StoreOp::SessionGone {
                client_id: "a".into(),
            },
            StoreOp::MessageDone {
                client_id: "a".into(),
                entry: 1,
            },
        ];
        coalesce(&mut batch);
        assert_eq!(batch.len(), 3);
    }
}
