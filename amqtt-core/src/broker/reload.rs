//! Hot reload ([`BrokerHandle::reload`]): the TLS listeners' certificate, key and CA files and
//! the plugins' files re-read and checked, then put in place all at once, or not at all.

use thiserror::Error;

use super::BrokerHandle;
use crate::cluster::Cluster;
use crate::config::{BrokerConfig, PluginsSection};
use crate::plugin::{BuildPlugins, Hooks, PluginError, PluginKeys, Reload, plugin_members};
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
    /// A plugin's new files or configuration section were refused, or the new `plugins:`
    /// section has a key no plugin of this broker answers to (the error a start gives).
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The new configuration switches a plugin (or the store) on or off, by adding or removing
    /// its section: that takes a restart.
    #[error(
        "plugin `{plugin}`: its section was {} `plugins`; switching a plugin on or off takes \
         a restart",
        if *.added { "added to" } else { "removed from" }
    )]
    PluginSwitched {
        /// The plugin's name.
        plugin: &'static str,
        /// Whether the section was added (otherwise removed).
        added: bool,
    },
}

/// What a reload put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The TLS listeners whose files were read again.
    pub tls_listeners: Vec<String>,
    /// How many changes the plugins staged and committed.
    pub plugin_changes: usize,
    /// What differs in the new configuration and takes a restart: listeners added, removed,
    /// or with another address, type or TLS switch; the `cluster:` section changed.
    pub needs_restart: Vec<String>,
}

impl<P: BuildPlugins, C: Cluster> BrokerHandle<P, C> {
    /// Reloads from `config`, the configuration file read again: every TLS listener reads its
    /// certificate, key and CA files (from the paths `config` gives it) and every plugin with a
    /// [`Plugin::reload`] hook re-reads its files and section; when all of them succeed, the
    /// new TLS setups and the plugins' staged changes are put in place together, and an
    /// error in any of them leaves everything as it was. Connections that are up keep their
    /// TLS session; new handshakes use the new files. Listener addresses, types and the broker's
    /// own keys change only with a restart ([`Reloaded::needs_restart`] names the listeners).
    /// A plugin section added or removed (a plugin switched on or off) or a key that names no
    /// plugin refuses the whole reload: it takes a restart.
    pub async fn reload(&self, config: &BrokerConfig) -> Result<Reloaded, ReloadError> {
        let shared = &self.shared;
        check_plugin_set::<P>(
            &shared.core.config.plugins,
            &config.plugins,
            shared.store_keys,
        )?;
        let mut staged_tls = Vec::new();
        for (name, acceptor) in &shared.listeners {
            let Some(listener) = config.listeners.get(name) else {
                continue;
            };
            // The files are read on a blocking thread: a slow disk stalls no connection.
            let (reading, listener) = (acceptor.clone(), listener.clone());
            let staged = tokio::task::spawn_blocking(move || reading.stage_tls(&listener))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
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
            needs_restart: restart_changes(&shared.core.config, config),
        })
    }
}

/// What differs between `running` and `new` in a way only a restart applies: listeners, and
/// the `cluster:` section.
fn restart_changes(running: &BrokerConfig, new: &BrokerConfig) -> Vec<String> {
    let mut changed = Vec::new();
    if running.cluster != new.cluster {
        changed.push("the `cluster:` section changed".to_owned());
    }
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

/// Refuses a new `plugins:` section (`new`) with a key that neither a plugin of `P` nor the
/// store (`store_keys`) answers to, or that adds or removes the section of an optional plugin
/// or of the store compared with the running one.
fn check_plugin_set<P: BuildPlugins>(
    running: &PluginsSection,
    new: &PluginsSection,
    store_keys: &'static [&'static str],
) -> Result<(), ReloadError> {
    crate::plugin::check_known_keys::<P>(new, store_keys)?;
    let store = store_keys.split_first().map(|(name, aliases)| PluginKeys {
        name,
        aliases,
        optional: true,
    });
    let switched = plugin_members::<P>()
        .into_iter()
        .chain(store)
        .filter(|member| member.optional)
        .find(|member| member.configured_in(running) != member.configured_in(new));
    match switched {
        Some(member) => Err(ReloadError::PluginSwitched {
            plugin: member.name,
            added: member.configured_in(new),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{BrokerContext, FromConfig, Plugin};

    /// A plugin that answers to `acl` and to an aMQTT-style alias.
    struct Acl;
    impl Plugin for Acl {}
    impl FromConfig for Acl {
        const NAME: &'static str = "acl";
        const ALIASES: &'static [&'static str] = &["x.AclPlugin"];
        type Config = ();
        fn build((): (), _ctx: &BrokerContext) -> Result<Acl, PluginError> {
            Ok(Acl)
        }
    }

    /// A plugin that is always on.
    struct Sys;
    impl Plugin for Sys {}
    impl FromConfig for Sys {
        const NAME: &'static str = "sys";
        type Config = ();
        fn build((): (), _ctx: &BrokerContext) -> Result<Sys, PluginError> {
            Ok(Sys)
        }
    }

    type Set = (Option<Acl>, Sys);
    const STORE: &[&str] = &["store", "x.Store"];

    fn plugins(keys: &[&str]) -> PluginsSection {
        let entries: Vec<String> = keys.iter().map(|key| format!("{key}: {{}}")).collect();
        BrokerConfig::from_yaml(&format!("plugins: {{{}}}\n", entries.join(", ")))
            .expect("valid")
            .plugins
    }

    fn check(running: &[&str], new: &[&str]) -> Result<(), ReloadError> {
        check_plugin_set::<Set>(&plugins(running), &plugins(new), STORE)
    }

    #[test]
    fn the_same_plugins_under_other_names_reload() {
        assert!(check(&["acl", "store"], &["x.AclPlugin", "x.Store"]).is_ok());
        // An always-on plugin's section may come and go: it runs either way.
        assert!(check(&["acl"], &["acl", "sys"]).is_ok());
        assert!(check(&["acl", "sys"], &["acl"]).is_ok());
    }

    #[test]
    fn an_optional_plugin_or_the_store_switched_on_or_off_is_refused() {
        let switched = |running, new| match check(running, new) {
            Err(ReloadError::PluginSwitched { plugin, added }) => (plugin, added),
            other => panic!("{running:?} -> {new:?}: {other:?}"),
        };
        assert_eq!(switched(&["acl"], &[]), ("acl", false));
        assert_eq!(switched(&[], &["x.AclPlugin"]), ("acl", true));
        assert_eq!(switched(&[], &["x.Store"]), ("store", true));
        let message = check(&["acl"], &["sys"]).expect_err("refused").to_string();
        assert_eq!(
            message,
            "plugin `acl`: its section was removed from `plugins`; switching a plugin on or \
             off takes a restart"
        );
    }

    #[test]
    fn an_unknown_key_is_the_error_a_start_gives() {
        match check(&["acl"], &["acl", "acl_typo"]) {
            Err(ReloadError::Plugin(PluginError::Unknown { name, known, .. })) => {
                assert_eq!(name, "acl_typo");
                assert_eq!(known, "acl, x.AclPlugin, sys, store, x.Store");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_changed_cluster_section_takes_a_restart() {
        let config = |cluster: &str| {
            BrokerConfig::from_yaml(&format!("plugins: {{}}\n{cluster}")).expect("valid config")
        };
        let running = config("cluster:\n  node: a\n");
        assert!(restart_changes(&running, &config("cluster:\n  node: a\n")).is_empty());
        for new in ["cluster:\n  node: b\n", ""] {
            let changes = restart_changes(&running, &config(new));
            assert_eq!(changes, ["the `cluster:` section changed"], "{new:?}");
        }
    }
}
