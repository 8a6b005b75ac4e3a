//! The broker's `main` as a library, so a custom broker is the stock one with other types:
//! arguments, logging, the configuration file or an embedded default, `--check-config`,
//! `--workers`, signals and exit codes.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use amqtt_core::broker::Broker;
use amqtt_core::cluster::Cluster;

use crate::hangup::Hangups;
use amqtt_core::config::{BrokerConfig, ConfigError, ListenerConfig, ListenerType};
use amqtt_core::plugin::BuildPlugins;
use amqtt_core::store::Store;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use tracing_subscriber::EnvFilter;

/// A broker binary over the plugin set `P`, the store `S` and the cluster `C` (`()`: none), as
/// `Broker<P, S, C>`.
///
/// # Examples
///
/// ```no_run
/// use std::process::ExitCode;
/// use amqtt_plugins::PackagedPlugins;
///
/// fn main() -> ExitCode {
///     amqtt_bin::BrokerMain::<PackagedPlugins>::new("my-broker")
///         .version(env!("CARGO_PKG_VERSION"))
///         .default_config("listeners:\n  default:\n    bind: 127.0.0.1:1883\n")
///         .run()
/// }
/// ```
pub struct BrokerMain<P, S = (), C = ()> {
    name: &'static str,
    version: &'static str,
    default_config: Option<&'static str>,
    types: PhantomData<Parts<P, S, C>>,
}

/// The types a [`BrokerMain`] builds its broker from (owned by none of its values).
type Parts<P, S, C> = fn() -> (P, S, C);

/// Command-line options of the broker, as aMQTT's `amqtt` script has them, and more.
#[derive(Debug, Parser)]
#[command(about = "MQTT broker")]
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
    /// Check the configuration (plugins and their own addresses, TLS files, listener
    /// addresses), print what would run (listeners, each plugin's configuration with defaults
    /// filled in) with secrets masked, and exit: 0 when it would start, 1 otherwise. Binds
    /// nothing.
    #[arg(long)]
    check_config: bool,
    /// How log lines are written (to standard error).
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for journald, Loki and the like).
    Json,
}

impl<P: BuildPlugins, S: Store, C: Cluster> BrokerMain<P, S, C> {
    /// A broker binary called `name` (in `--help`, `--version` and error messages), running
    /// aMQTT's default configuration when started without `-c`.
    pub fn new(name: &'static str) -> Self {
        BrokerMain {
            name,
            version: env!("CARGO_PKG_VERSION"),
            default_config: None,
            types: PhantomData,
        }
    }

    /// The version `--version` prints (default: amqtt-bin's).
    pub fn version(mut self, version: &'static str) -> Self {
        self.version = version;
        self
    }

    /// The YAML configuration run when no `-c FILE` is given, e.g. `include_str!("my.yaml")`.
    pub fn default_config(mut self, yaml: &'static str) -> Self {
        self.default_config = Some(yaml);
        self
    }

    /// Parses the process's arguments and runs: serves until SIGINT or SIGTERM (exit 0), or
    /// checks the configuration (`--check-config`); a configuration the broker cannot start
    /// with is exit 1, bad arguments exit 2.
    pub fn run(self) -> ExitCode {
        let command = Args::command().name(self.name).version(self.version);
        let args = match Args::from_arg_matches(&command.get_matches()) {
            Ok(args) => args,
            Err(e) => e.exit(),
        };
        init_logging(args.debug, args.log_format);
        let config = match load(args.config.as_deref(), self.default_config) {
            Ok(config) => config,
            Err(e) => return self.fail(e),
        };
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if let Some(workers) = args.workers {
            builder.worker_threads(usize::from(workers));
        }
        let runtime = match builder.enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => return self.fail(format!("cannot start the runtime: {e}")),
        };
        runtime.block_on(async {
            if args.check_config {
                self.check(config, args.config.as_deref()).await
            } else {
                self.serve(config, args.config).await
            }
        })
    }

    /// Prints `error` as the broker's one-line failure and returns exit code 1.
    fn fail(&self, error: impl std::fmt::Display) -> ExitCode {
        eprintln!("{}: {error}", self.name);
        ExitCode::FAILURE
    }

    /// Serves `config` (read from `file`, or the default) until SIGINT or SIGTERM; on SIGHUP
    /// the configuration is read again and the broker reloads (see [`Hangups`]).
    async fn serve(&self, config: BrokerConfig, file: Option<PathBuf>) -> ExitCode {
        let hangups = Hangups::listen();
        let broker = match Broker::<P, S, C>::bind(config).await {
            Ok(broker) => broker,
            Err(e) => return self.fail(e),
        };
        let default_config = self.default_config;
        let reread = move || load(file.as_deref(), default_config);
        tokio::spawn(hangups.reload(broker.handle(), reread));
        broker.run(shutdown_signal()).await;
        ExitCode::SUCCESS
    }

    async fn check(&self, config: BrokerConfig, file: Option<&std::path::Path>) -> ExitCode {
        let listeners = describe_listeners(&config);
        let plugins = match Broker::<P, S, C>::check(config).await {
            Ok(plugins) => plugins,
            Err(e) => return self.fail(e),
        };
        let source = match file {
            Some(file) => file.display().to_string(),
            None => "the embedded default configuration".to_owned(),
        };
        let mut report = listeners;
        report.push_str("plugins:\n");
        for line in plugins.to_masked_yaml().lines() {
            report.push_str(&format!("  {line}\n"));
        }
        println!("{report}configuration OK: {source}");
        ExitCode::SUCCESS
    }
}

/// The listeners `config` would run.
fn describe_listeners(config: &BrokerConfig) -> String {
    let mut text = String::from("listeners:\n");
    for listener in config.listeners.values() {
        text.push_str(&format!(
            "  {}: {}\n",
            listener.name,
            describe_listener(listener)
        ));
    }
    text
}

fn describe_listener(listener: &ListenerConfig) -> String {
    if listener.kind == ListenerType::External {
        return "external, binds nothing (served through BrokerHandle::serve_stream)".into();
    }
    let transport = listener.kind.transport_name(listener.ssl);
    let mut text = format!("{transport}, bind {}", listener.bind);
    if let (Some(cert), Some(key)) = (&listener.certfile, &listener.keyfile) {
        text.push_str(&format!(
            ", certfile {}, keyfile {}",
            cert.display(),
            key.display()
        ));
    }
    if listener.max_connections > 0 {
        text.push_str(&format!(", max_connections {}", listener.max_connections));
    }
    text
}

/// Installs the log subscriber: level from `RUST_LOG`, else `debug` with `-d`, else `info`;
/// lines to standard error, as text or JSON.
fn init_logging(debug: bool, format: LogFormat) {
    let default_level = if debug { "debug" } else { "info" };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => subscriber.init(),
        LogFormat::Json => subscriber.json().init(),
    }
}

/// The configuration in `file`, else the `default` YAML, else aMQTT's default.
fn load(file: Option<&Path>, default: Option<&'static str>) -> Result<BrokerConfig, ConfigError> {
    match (file, default) {
        (Some(file), _) => BrokerConfig::from_file(file),
        (None, Some(yaml)) => BrokerConfig::from_yaml(yaml),
        (None, None) => Ok(BrokerConfig::embedded_default()),
    }
}

/// Completes on SIGINT or SIGTERM (SIGHUP is [`Hangups`]', listened for in `serve`).
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
