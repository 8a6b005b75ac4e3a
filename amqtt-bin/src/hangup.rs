//! Hot reload on SIGHUP: the configuration read again and handed to
//! [`BrokerHandle::reload`], which puts the new TLS files and plugin files in place all at once
//! or, when any of them is bad, keeps the running configuration and says why.

use amqtt_core::broker::BrokerHandle;
use amqtt_core::cluster::Cluster;
use amqtt_core::config::{BrokerConfig, ConfigError};
use amqtt_core::plugin::BuildPlugins;

/// SIGHUP, listened for from the moment [`Hangups::listen`] is called (so a SIGHUP that
/// arrives while the broker binds does not end the process, SIGHUP's default).
pub struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    /// Starts listening for SIGHUP (on unix; elsewhere there is none). Call it inside the
    /// runtime, before the broker binds.
    pub fn listen() -> Hangups {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = signal(SignalKind::hangup())
                .inspect_err(|e| {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP: no hot reload");
                })
                .ok();
            Hangups { signal }
        }
        #[cfg(not(unix))]
        Hangups {}
    }

    /// On every SIGHUP, reads the configuration with `load` (the `-c` file again, or the
    /// embedded default) and reloads the broker from it; logs what was reloaded, what needs a
    /// restart, or why nothing changed. Runs until the process ends.
    pub async fn reload<P: BuildPlugins, C: Cluster>(
        self,
        handle: BrokerHandle<P, C>,
        load: impl Fn() -> Result<BrokerConfig, ConfigError>,
    ) {
        #[cfg(unix)]
        {
            let Some(mut signal) = self.signal else {
                return;
            };
            while signal.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading TLS and plugin files");
                let outcome = match load() {
                    Ok(config) => handle.reload(&config).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match outcome {
                    Ok(reloaded) => {
                        tracing::info!(
                            tls_listeners = ?reloaded.tls_listeners,
                            plugin_changes = reloaded.plugin_changes,
                            "reloaded"
                        );
                        for change in reloaded.needs_restart {
                            tracing::warn!("{change}: takes effect at the next restart");
                        }
                    }
                    Err(e) => {
                        tracing::error!("reload refused, the running configuration stays: {e}");
                    }
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (handle, load);
        }
    }
}
