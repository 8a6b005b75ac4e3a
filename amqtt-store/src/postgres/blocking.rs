//! Running the synchronous PostgreSQL client where the broker calls it.
//!
//! The `postgres` crate drives its connection with a tokio runtime of its own, and tokio
//! panics when a runtime is entered from a thread that already runs one. The broker opens and
//! loads its store from `async fn bind`, so there every call is run on a helper thread; the
//! store's own thread, which commits, is a plain thread and calls straight through.

use std::sync::mpsc::{self, SyncSender};

use amqtt_core::codec::{PacketId, Publish};
use amqtt_core::store::{Grant, Restore, StoredMessage, StoredSession};

/// How many records a load forwarded from its helper thread may have in flight.
const FORWARD_BOUND: usize = 1024;

/// Whether this thread runs (or is inside) a tokio runtime.
fn in_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// Runs `f` here, or on a helper thread when this thread is in a tokio runtime.
pub(super) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if !in_runtime() {
        return f();
    }
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Runs `load` with a [`Restore`] that feeds `restore`: directly, or, in a tokio runtime, on a
/// helper thread whose records are forwarded here (the broker's `Restore` need not be `Send`).
pub(super) fn load_off_runtime<R: Restore, E: Send>(
    restore: &mut R,
    load: impl FnOnce(&mut dyn Restore) -> Result<(), E> + Send,
) -> Result<(), E> {
    if !in_runtime() {
        return load(restore);
    }
    let (sender, receiver) = mpsc::sync_channel(FORWARD_BOUND);
    std::thread::scope(|scope| {
        let loader = scope.spawn(move || load(&mut Forward(sender)));
        for record in receiver {
            record.replay(restore);
        }
        match loader.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// One call of [`Restore`], carried between threads.
enum Record {
    Session(StoredSession),
    Subscription(String, String, Grant),
    Message(String, StoredMessage),
    Qos2Received(String, PacketId),
    Retained(Publish),
    Skipped(String),
}

impl Record {
    fn replay(self, restore: &mut impl Restore) {
        match self {
            Record::Session(session) => restore.session(session),
            Record::Subscription(client_id, filter, grant) => {
                restore.subscription(&client_id, &filter, grant);
            }
            Record::Message(client_id, message) => restore.message(&client_id, message),
            Record::Qos2Received(client_id, id) => restore.qos2_received(&client_id, id),
            Record::Retained(message) => restore.retained(message),
            Record::Skipped(what) => restore.skipped(&what),
        }
    }
}

/// A [`Restore`] that sends each record to the thread that replays it. A send fails only when
/// that thread has gone (it panicked), and then there is no one to tell.
struct Forward(SyncSender<Record>);

impl Restore for Forward {
    fn session(&mut self, session: StoredSession) {
        let _ = self.0.send(Record::Session(session));
    }
    fn subscription(&mut self, client_id: &str, filter: &str, grant: Grant) {
        let record = Record::Subscription(client_id.to_owned(), filter.to_owned(), grant);
        let _ = self.0.send(record);
    }
    fn message(&mut self, client_id: &str, message: StoredMessage) {
        let _ = self.0.send(Record::Message(client_id.to_owned(), message));
    }
    fn qos2_received(&mut self, client_id: &str, packet_id: PacketId) {
        let _ = self
            .0
            .send(Record::Qos2Received(client_id.to_owned(), packet_id));
    }
    fn retained(&mut self, message: Publish) {
        let _ = self.0.send(Record::Retained(message));
    }
    fn skipped(&mut self, what: &str) {
        let _ = self.0.send(Record::Skipped(what.to_owned()));
    }
}
