//! Checking a configuration without serving it (`amqtt --check-config`).

use std::io;
use std::sync::Arc;

use super::{Broker, BrokerError, Core, acceptor, bind_error, build_plugins};
use crate::config::{BrokerConfig, ListenerType};
use crate::plugin::{BrokerContext, BuildPlugins};
use crate::store::Store;

impl<P: BuildPlugins, S: Store> Broker<P, S> {
    /// Checks `config` as [`Broker::bind`] would start it, serving and binding nothing: builds
    /// the plugin set (without running its `start` hook) and drops it, reads every TLS
    /// listener's certificate, key and CA files, and resolves every listener's address. The
    /// store is not opened (a running broker holds it). An error is the one `bind` gives.
    pub async fn check(config: BrokerConfig) -> Result<(), BrokerError> {
        let section = config.plugins.clone();
        let (core, _to_route) = Core::new(config, None);
        let core = Arc::new(core);
        drop(build_plugins::<P, S>(
            section,
            &BrokerContext::new(core.clone()),
        )?);
        let listeners = core.config.listeners.values();
        for listener in listeners.filter(|l| l.kind != ListenerType::External) {
            acceptor(listener, core.config.max_packet_size)?;
            let mut addrs =
                tokio::net::lookup_host((listener.bind.host.as_str(), listener.bind.port))
                    .await
                    .map_err(|source| bind_error(listener, source))?;
            if addrs.next().is_none() {
                // What `TcpListener::bind` says of a name without addresses.
                let source = io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "could not resolve to any address",
                );
                return Err(bind_error(listener, source));
            }
        }
        Ok(())
    }
}
