//! `my-broker`: the MQTT broker over [`MyPlugins`], your plugins and amqtt's packaged ones.
//! Runs the embedded `my-broker.yaml`, or the YAML file given with `-c`, until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use amqtt_core::broker::Broker;
use amqtt_core::config::BrokerConfig;
use clap::Parser;
use my_broker::{DEFAULT_CONFIG, MyPlugins};
use tracing_subscriber::EnvFilter;

/// Command-line options, as the stock `amqtt` broker has them.
#[derive(Debug, Parser)]
#[command(version, about = "MQTT 3.1.1 broker with my plugins")]
struct Args {
    /// The broker's YAML configuration; without it the embedded my-broker.yaml runs.
    #[arg(short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Turn on debug logging (RUST_LOG, if set, takes precedence).
    #[arg(short = 'd')]
    debug: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let default_level = if args.debug { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .init();

    let config = match &args.config {
        Some(file) => BrokerConfig::from_file(file),
        None => BrokerConfig::from_yaml(DEFAULT_CONFIG),
    };
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("my-broker: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Builds every plugin from its section under `plugins:` and binds the listeners.
    let broker = match Broker::<MyPlugins>::bind(config).await {
        Ok(broker) => broker,
        Err(e) => {
            eprintln!("my-broker: {e}");
            return ExitCode::FAILURE;
        }
    };
    broker.run(shutdown_signal()).await;
    ExitCode::SUCCESS
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
