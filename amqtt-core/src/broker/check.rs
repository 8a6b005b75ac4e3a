//! Checking a configuration without serving it (`amqtt --check-config`).

use std::io;
use std::sync::Arc;

use super::{
    Broker, BrokerError, Core, acceptor, bind_error, build_plugins, cluster_config, store_thread,
};
use crate::cluster::Cluster;
use crate::config::{BrokerConfig, ListenerType, PluginsSection};
use crate::plugin::{BrokerContext, BuildPlugins, Hooks, insert_effective};
use crate::store::Store;

impl<P: BuildPlugins, S: Store, C: Cluster> Broker<P, S, C> {
    /// Checks `config` as [`Broker::bind`] would start it, serving and binding nothing: reads
    /// the store's section (the store is not opened: a running broker holds it), builds the
    /// plugin set and runs its [`check`](crate::plugin::Plugin::check) hook instead of `start`, reads every
    /// TLS listener's certificate, key and CA files, and resolves every listener's address. An
    /// error is the one `bind` gives.
    ///
    /// Returns what would run: the configuration of the store and of every plugin (its
    /// section deserialized, defaults filled in), under their names, as a `plugins:` section
    /// to show with [`PluginsSection::to_masked_yaml`].
    pub async fn check(config: BrokerConfig) -> Result<PluginsSection, BrokerError> {
        // The `cluster:` section is read (the cluster is not joined).
        cluster_config::<C>(&config)?;
        let mut section = config.plugins.clone();
        let mut effective = PluginsSection::default();
        if let Some((_, store_config)) = store_thread::take_store_config::<S>(&mut section)? {
            let name = S::NAMES.first().copied().unwrap_or("store");
            insert_effective(name, &store_config, &mut effective)?;
        }
        let (core, _to_route) = Core::new(config, None, None);
        let core = Arc::new(core);
        let plugins = build_plugins::<P, S>(section.clone(), &BrokerContext::new(core.clone()))?;
        if P::HOOKS.contains(Hooks::CHECK) {
            plugins.check().await?;
        }
        drop(plugins);
        P::effective_configs(&mut section, &mut effective)?;
        let listeners = core.config.listeners.values();
        for listener in listeners.filter(|l| l.kind != ListenerType::External) {
            acceptor(listener, core.config.max_packet_size)?;
            resolve_address((listener.bind.host.as_str(), listener.bind.port))
                .await
                .map_err(|source| bind_error(listener, source))?;
        }
        Ok(effective)
    }
}

/// Resolves `addr` as `TcpListener::bind` does before it binds, binding nothing: the error
/// `bind` gives for an address it cannot even try (a port out of range, a name without
/// addresses). For a plugin's [`check`](crate::plugin::Plugin::check) of an address of its own.
pub async fn resolve_address(addr: impl tokio::net::ToSocketAddrs) -> io::Result<()> {
    if tokio::net::lookup_host(addr).await?.next().is_none() {
        // What `TcpListener::bind` says of a name without addresses.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        ));
    }
    Ok(())
}
