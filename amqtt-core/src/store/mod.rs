//! The persistent store's interface: what the broker writes ([`StoreOp`]), what it reads back at
//! startup ([`Restore`]), and the trait a backend implements ([`Store`]).
//!
//! A broker is generic over its store, `Broker<P, S>`, as it is over its plugins. `()` stores
//! nothing: a broker built with it has no journal and no backend. A real backend (the
//! `amqtt-store` crate: SQLite, PostgreSQL) runs on a thread of its own: the broker appends
//! [`StoreOp`]s to an in-memory journal under the locks that order them, and the backend's thread
//! commits them in batches ([`Store::commit`]); in [`Durability::Always`] acknowledgements that
//! depend on a batch are held until it has committed.

mod record;

use std::time::Duration;

use thiserror::Error;

pub use crate::broker::RestoreCounts;
use crate::codec::{PacketId, Publish};
use crate::plugin::PluginConfig;
pub use record::{Grant, MessageState, StoreOp, StoredMessage, StoredSession};

/// When a write is on disk, and so what an acknowledgement promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every batch is synced before the acknowledgements (PUBACK, PUBREC, PUBCOMP, SUBACK,
    /// UNSUBACK) and the QoS 2 deliveries that depend on it go out: `kill -9` or a power cut
    /// loses nothing acknowledged. Batches form while the previous one syncs (group commit).
    #[default]
    Always,
    /// Acknowledgements go out at once; batches are committed and synced every `sync_interval`:
    /// a crash loses at most that much acknowledged work.
    Batch,
    /// Acknowledgements go out at once; batches are committed as they come without waiting for
    /// the disk: a crash of the broker process loses nothing committed, a power cut may lose
    /// what the operating system had not written yet.
    None,
}

/// Why a store cannot be opened or written.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The configuration names something unusable (an unknown URL scheme, say).
    #[error("{0}")]
    Config(String),
    /// The store's contents cannot be read (damaged file, newer schema): the broker moves it
    /// aside and starts with an empty one.
    #[error("{0}")]
    Damaged(String),
    /// The database failed (I/O, connection lost, ...).
    #[error("{0}")]
    Backend(String),
}

/// A persistent store backend: sessions, subscriptions, queued and in-flight messages, QoS 2
/// ids awaiting PUBREL, and retained messages.
///
/// Every method runs on the store's own thread (or at startup), never on a connection's task.
pub trait Store: Sized + Send + 'static {
    /// The keys of its section under `plugins:` (its name first); empty for `()`, which is
    /// never configured.
    const NAMES: &'static [&'static str];
    /// Its configuration section.
    type Config: PluginConfig;
    /// Opens (creating, migrating) the store `config` describes. A store that exists but
    /// cannot be read is moved aside by the backend, which logs it and opens an empty one;
    /// `Err` is for what no empty store fixes (a server that refuses the connection, a bad URL).
    fn open(config: Self::Config) -> Result<Self, StoreError>;
    /// How durable a commit is.
    fn durability(&self) -> Durability;
    /// How long the store's thread gathers a batch in [`Durability::Batch`].
    fn sync_interval(&self) -> Duration;
    /// Streams everything stored into `restore`: sessions first, then their subscriptions,
    /// messages and QoS 2 ids, then retained messages. A record that does not decode is skipped
    /// and counted ([`Restore::skipped`]).
    fn load<R: Restore>(&mut self, restore: &mut R) -> Result<(), StoreError>;
    /// Moves what the store holds aside (or, where it cannot, deletes it) and starts empty:
    /// called when [`Store::load`] failed part-way through damaged contents.
    fn reset(&mut self) -> Result<(), StoreError>;
    /// Applies `batch` in order, in one transaction, durable as [`Store::durability`] says.
    fn commit(&mut self, batch: &[StoreOp]) -> Result<(), StoreError>;
    /// The broker has stopped cleanly: with `clear` (aMQTT's `clear_on_shutdown`) everything
    /// stored is deleted.
    fn close(self, clear: bool);
    /// Whether a clean shutdown clears the store.
    fn clear_on_shutdown(&self) -> bool;
}

/// No store: the broker keeps everything in memory.
impl Store for () {
    const NAMES: &'static [&'static str] = &[];
    type Config = ();
    fn open((): ()) -> Result<(), StoreError> {
        Ok(())
    }
    fn durability(&self) -> Durability {
        Durability::None
    }
    fn sync_interval(&self) -> Duration {
        Duration::ZERO
    }
    fn load<R: Restore>(&mut self, _: &mut R) -> Result<(), StoreError> {
        Ok(())
    }
    fn reset(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    fn commit(&mut self, _: &[StoreOp]) -> Result<(), StoreError> {
        Ok(())
    }
    fn close(self, _: bool) {}
    fn clear_on_shutdown(&self) -> bool {
        false
    }
}

/// The receiving end of [`Store::load`]: each method takes one stored record. The broker's
/// implementation puts them back into its sessions, index and retained messages.
pub trait Restore {
    /// A persistent session; its subscriptions, messages and QoS 2 ids follow it.
    fn session(&mut self, session: StoredSession);
    /// A subscription of a session already given.
    fn subscription(&mut self, client_id: &str, filter: &str, grant: Grant);
    /// A queued or in-flight message of a session already given; a session's messages come in
    /// entry order.
    fn message(&mut self, client_id: &str, message: StoredMessage);
    /// A QoS 2 packet id the session's client sent and that awaits PUBREL.
    fn qos2_received(&mut self, client_id: &str, packet_id: PacketId);
    /// A retained message.
    fn retained(&mut self, message: Publish);
    /// A record that could not be decoded (`what` says which kind): skipped and counted.
    fn skipped(&mut self, what: &str);
}
