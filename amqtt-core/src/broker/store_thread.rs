//! The persistent store's life in the broker: its section taken from the configuration, the
//! store opened and restored from at startup, the thread committing the journal (to the store
//! and to a cluster's session mirror), and its close.

use std::sync::Arc;
use std::time::Instant;

use super::BrokerError;
use super::journal::{Journal, run_journal};
use super::restore::Restorer;
use super::shared::Core;
use crate::cluster::SessionMirror;
use crate::config::PluginsSection;
use crate::plugin::PluginError;
use crate::store::{Store, StoreError};

/// A store opened from its configuration section, not yet running.
pub(crate) struct OpenedStore<S> {
    store: S,
    /// The key its section was found under.
    name: String,
}

/// Takes the store's section from `section` and opens the store it configures; `None` when
/// the section is absent (the broker then keeps everything in memory).
pub(crate) fn open_store<S: Store>(
    section: &mut PluginsSection,
) -> Result<Option<OpenedStore<S>>, BrokerError> {
    let Some((name, config)) = take_store_config::<S>(section)? else {
        return Ok(None);
    };
    let store = S::open(config).map_err(|source| BrokerError::Store {
        name: name.clone(),
        source,
    })?;
    Ok(Some(OpenedStore { store, name }))
}

/// Takes the store's section from `section`: the key it was under and the configuration it
/// gives; `None` when it is absent.
pub(crate) fn take_store_config<S: Store>(
    section: &mut PluginsSection,
) -> Result<Option<(String, S::Config)>, BrokerError> {
    let plugin = S::NAMES.first().copied().unwrap_or("store");
    let found: Vec<String> = section
        .names()
        .filter(|n| S::NAMES.contains(n))
        .map(str::to_owned)
        .collect();
    let name = match found.as_slice() {
        [] => return Ok(None),
        [name] => name.clone(),
        [first, second, ..] => {
            return Err(BrokerError::Plugin(PluginError::Duplicate {
                plugin,
                first: first.clone(),
                second: second.clone(),
            }));
        }
    };
    let config = section
        .take::<S::Config>(&name)
        .map_err(|source| PluginError::Config { plugin, source })?
        .unwrap_or_default();
    Ok(Some((name, config)))
}

impl<S: Store> OpenedStore<S> {
    /// A journal for this store's durability.
    pub(crate) fn journal(&self) -> Journal {
        Journal::new(self.store.durability())
    }

    /// Restores everything the store holds into `core`; with `sessions_in_cluster` (a node of a
    /// cluster, which keeps persistent sessions in the cluster) the stored sessions are deleted
    /// from the store instead, and only retained messages come back.
    pub(crate) fn restore(
        &mut self,
        core: &Core,
        sessions_in_cluster: bool,
    ) -> Result<(), BrokerError> {
        let started = Instant::now();
        let mut restorer = Restorer::new(core);
        if sessions_in_cluster {
            restorer.leave_sessions();
        }
        let store_error = |name: &str, source| BrokerError::Store {
            name: name.to_owned(),
            source,
        };
        match self.store.load(&mut restorer) {
            Ok(()) => {}
            Err(e @ StoreError::Damaged(_)) => {
                tracing::error!(store = %self.name, error = %e, "persistent store: damaged contents found part-way through reading it; what was read stays in memory for this run, the store is moved aside and starts empty");
                self.store.reset().map_err(|e| store_error(&self.name, e))?;
            }
            // A lost connection or an I/O error is not the contents' fault: keep them.
            Err(source) => return Err(store_error(&self.name, source)),
        }
        let (counts, cleanup) = restorer.finish();
        if !cleanup.is_empty() {
            self.store
                .commit(&cleanup)
                .map_err(|e| store_error(&self.name, e))?;
        }
        tracing::info!(
            store = %self.name,
            sessions = counts.sessions,
            expired = counts.expired,
            subscriptions = counts.subscriptions,
            messages = counts.messages,
            over_limit = counts.over_limit,
            qos2_ids = counts.qos2_ids,
            retained = counts.retained,
            skipped = counts.skipped,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "persistent store restored"
        );
        Ok(())
    }
}

/// The running journal: its thread commits `core`'s journal to the store and to the cluster's
/// session mirror, whichever the broker has.
pub(crate) struct JournalThread<S> {
    journal: Arc<Journal>,
    thread: Option<std::thread::JoinHandle<Option<S>>>,
}

impl<S: Store> JournalThread<S> {
    /// Starts the thread that commits `journal` (the core's) to `store` (restored already)
    /// and `mirror`.
    pub(crate) fn start<M: SessionMirror>(
        journal: Arc<Journal>,
        store: Option<OpenedStore<S>>,
        mirror: Option<M>,
    ) -> Result<JournalThread<S>, BrokerError> {
        let name = store
            .as_ref()
            .map_or_else(|| "cluster".to_owned(), |s| s.name.clone());
        let thread_journal = journal.clone();
        let store = store.map(|s| s.store);
        let thread = std::thread::Builder::new()
            .name("amqtt-store".into())
            .spawn(move || run_journal(store, mirror, thread_journal))
            .map_err(|e| BrokerError::Store {
                name,
                source: StoreError::Backend(format!("cannot start the store's thread: {e}")),
            })?;
        Ok(JournalThread {
            journal,
            thread: Some(thread),
        })
    }

    /// Commits what is left of the journal, then closes the store (clearing it when
    /// configured to, as after a clean shutdown).
    pub(crate) async fn stop(mut self) {
        self.journal.close();
        let Some(thread) = self.thread.take() else {
            return;
        };
        let closed = tokio::task::spawn_blocking(move || match thread.join() {
            Ok(Some(store)) => {
                let clear = store.clear_on_shutdown();
                store.close(clear);
                if clear {
                    tracing::info!("persistent store cleared (clear_on_shutdown)");
                }
            }
            Ok(None) => {}
            Err(_) => tracing::error!("persistent store: its thread panicked"),
        });
        let _ = closed.await;
    }
}

impl<S> Drop for JournalThread<S> {
    /// A broker dropped without running still stops its journal's thread.
    fn drop(&mut self) {
        self.journal.close();
    }
}
