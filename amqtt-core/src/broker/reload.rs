//! Hot reload ([`BrokerHandle::reload`]): the TLS listeners' certificate, key and CA files and
//! the plugins' files re-read and checked, then put in place all at once, or not at all.

use thiserror::Error;

use super::BrokerHandle;
use crate::config::BrokerConfig;
use crate::plugin::{Hooks, Plugin, PluginError, Reload};
use crate::transport::TlsSetupError;

/// Why a reload changed nothing.
#[derive(Debug, Error)]
pub enum ReloadError {
    /// A TLS listener's new certificate, key or CA files are missing or do not parse.
    #[error("listener `{listener}`: {source}")]
    Tls {
        /// The listener's name.
        listener: String,
        /// What is wrong, naming the file.
        source: TlsSetupError,
    },
    /// A plugin's new files or configuration section were refused.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// What a reload put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The TLS listeners whose files were read again.
    pub tls_listeners: Vec<String>,
    /// How many changes the plugins staged and committed.
    pub plugin_changes: usize,
    /// What differs in the new configuration and takes a restart: listeners added, removed,
    /// or with another address, type or TLS switch.
    pub needs_restart: Vec<String>,
}

impl<P: Plugin> BrokerHandle<P> {
    /// Reloads from `config`, the configuration file read again: every TLS listener reads its
    /// certificate, key and CA files (from the paths `config` gives it) and every plugin with a
    /// [`Plugin::reload`] hook re-reads its files and section; when all of them succeed, the
    /// new TLS setups and the plugins' staged changes are put in place together, and an
    /// error in any of them leaves everything as it was. Connections that are up keep their
    /// TLS session; new handshakes use the new files. Listener addresses, types and the broker's
    /// own keys change only with a restart ([`Reloaded::needs_restart`] names the listeners).
    pub async fn reload(&self, config: &BrokerConfig) -> Result<Reloaded, ReloadError> {
        let shared = &self.shared;
        let mut staged_tls = Vec::new();
        for (name, acceptor) in &shared.listeners {
            let Some(listener) = config.listeners.get(name) else {
                continue;
            };
            let staged = acceptor
                .stage_tls(listener)
                .map_err(|source| ReloadError::Tls {
                    listener: name.clone(),
                    source,
                })?;
            if let Some(staged) = staged {
                staged_tls.push((name, acceptor, staged));
            }
        }
        let staged_plugins = if P::HOOKS.contains(Hooks::RELOAD) {
            shared.plugins.reload(&config.plugins).await?
        } else {
            Reload::none()
        };
        let mut tls_listeners = Vec::new();
        for (name, acceptor, staged) in staged_tls {
            acceptor.set_tls(staged);
            tls_listeners.push(name.clone());
        }
        let plugin_changes = staged_plugins.len();
        staged_plugins.commit();
        Ok(Reloaded {
            tls_listeners,
            plugin_changes,
            needs_restart: listener_changes(&shared.core.config, config),
        })
    }
}

/// The listeners that differ between `running` and `new` in a way only a restart applies.
fn listener_changes(running: &BrokerConfig, new: &BrokerConfig) -> Vec<String> {
    let mut changed = Vec::new();
    for (name, listener) in &new.listeners {
        match running.listeners.get(name) {
            None => changed.push(format!("listener `{name}` added")),
            Some(old)
                if (&old.bind, old.kind, old.ssl)
                    != (&listener.bind, listener.kind, listener.ssl) =>
            {
                changed.push(format!("listener `{name}`: address, type or ssl changed"));
            }
            Some(_) => {}
        }
    }
    for name in running.listeners.keys() {
        if !new.listeners.contains_key(name) {
            changed.push(format!("listener `{name}` removed"));
        }
    }
    changed
}
