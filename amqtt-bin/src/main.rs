//! `amqtt`: the MQTT broker. Runs aMQTT's default configuration, or the YAML file given with `-c`.
//! Built from every packaged and contributed plugin and the SQLite/PostgreSQL session store, each on only when the
//! configuration lists it.

use std::path::PathBuf;
use std::process::ExitCode;

use amqtt_bin::hangup::Hangups;
use amqtt_contrib::ContribPlugins;
use amqtt_core::broker::Broker;
use amqtt_core::config::BrokerConfig;
use amqtt_plugins::PackagedPlugins;
use amqtt_store::SqlStore;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Command-line options of the broker, as aMQTT's `amqtt` script has them.
#[derive(Debug, Parser)]
#[command(name = "amqtt", version, about = "MQTT 3.1.1 broker")]
struct Args {
    /// The broker's YAML configuration file (aMQTT format); without it the embedded default runs.
    #[arg(short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Turn on debug logging (RUST_LOG, if set, takes precedence).
    #[arg(short = 'd')]
    debug: bool,
    /// Worker threads of the runtime (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let default_level = if args.debug { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .init();

    let load = move || match &args.config {
        Some(file) => BrokerConfig::from_file(file),
        None => Ok(BrokerConfig::embedded_default()),
    };
    let config = match load() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("amqtt: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = args.workers {
        builder.worker_threads(usize::from(workers));
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("amqtt: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let hangups = Hangups::listen();
        let broker = match Broker::<(PackagedPlugins, ContribPlugins), SqlStore>::bind(config).await
        {
            Ok(broker) => broker,
            Err(e) => {
                eprintln!("amqtt: {e}");
                return ExitCode::FAILURE;
            }
        };
        tokio::spawn(hangups.reload(broker.handle(), load));
        broker.run(shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
