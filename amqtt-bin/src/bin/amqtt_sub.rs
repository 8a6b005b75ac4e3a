//! `amqtt_sub`: subscribes to one or more topic filters and prints each message's payload on its
//! own line (with `-v`, after its topic and a space, as `mosquitto_sub -v`). Stops after `-n`
//! messages or on SIGINT, disconnecting cleanly. Flags follow aMQTT's `amqtt_sub`.

use std::io::Write;
use std::process::ExitCode;

use amqtt_bin::client_cli::{ConnectArgs, connect_error, init_logging, parse_qos};
use amqtt_core::client::MqttClient;
use amqtt_core::codec::{QoS, SubAckCode, SubscriptionOptions};
use clap::Parser;

/// Command-line options of `amqtt_sub`.
#[derive(Debug, Parser)]
#[command(
    name = "amqtt_sub",
    version,
    // `-V` is the protocol version, as in mosquitto's clients; `--version` stays.
    disable_version_flag = true,
    about = "Subscribe to MQTT topics and print the messages"
)]
struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Stop after this many messages (default: run until interrupted).
    #[arg(short = 'n', value_name = "COUNT")]
    count: Option<u64>,
    /// QoS of the subscriptions (0, 1 or 2).
    #[arg(short = 'q', long = "qos", value_name = "QOS", default_value = "0", value_parser = parse_qos)]
    qos: QoS,
    /// Topic filter to subscribe to; repeat for several.
    #[arg(short = 't', value_name = "TOPIC", required = true)]
    topics: Vec<String>,
    /// Print each message's topic, then a space, before its payload.
    #[arg(short = 'v')]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.connect.debug);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("amqtt_sub: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("amqtt_sub: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Connects, subscribes, prints messages until done, and disconnects.
async fn run(args: Args) -> Result<(), String> {
    let (url, options, properties) = args.connect.resolve("amqtt_sub")?;
    let properties = (!properties.subscribe.is_empty()).then_some(properties.subscribe);
    // Registered before subscribing, so a SIGINT right after the subscription is seen.
    let mut interrupted = std::pin::pin!(interrupt()?);
    let mut client = MqttClient::connect(&url, options)
        .await
        .map_err(|e| connect_error(&url, &e))?;
    let filters: Vec<(&str, SubscriptionOptions)> = args
        .topics
        .iter()
        .map(|t| (t.as_str(), args.qos.into()))
        .collect();
    let codes = client
        .subscribe_with(&filters, properties)
        .await
        .map_err(|e| format!("subscribing failed: {e}"))?;
    let refused: Vec<&str> = filters
        .iter()
        .zip(&codes)
        .filter_map(|((filter, _), code)| match code {
            SubAckCode::Failure(_) => Some(*filter),
            SubAckCode::Success(_) => None,
        })
        .collect();
    if !refused.is_empty() {
        let _ = client.disconnect().await;
        return Err(format!(
            "the broker refused the subscription to {} (SUBACK 0x80)",
            refused.join(", ")
        ));
    }
    tracing::debug!("subscribed to {}", args.topics.join(", "));

    let mut received = 0u64;
    let mut stdout = std::io::stdout().lock();
    while args.count.is_none_or(|n| received < n) {
        let message = tokio::select! {
            message = client.messages().recv() => message,
            _ = &mut interrupted => break,
        };
        let Some(message) = message else {
            return Err("the connection to the broker was lost".to_owned());
        };
        let mut line = Vec::with_capacity(message.topic.len() + message.payload.len() + 2);
        if args.verbose {
            line.extend_from_slice(message.topic.as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(String::from_utf8_lossy(&message.payload).as_bytes());
        line.push(b'\n');
        stdout
            .write_all(&line)
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))?;
        received += 1;
    }
    client
        .disconnect()
        .await
        .map_err(|e| format!("disconnecting failed: {e}"))
}

/// A future that completes on SIGINT (Ctrl-C); the handler is installed by this call.
#[cfg(unix)]
fn interrupt() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigint =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
    Ok(async move {
        sigint.recv().await;
    })
}

/// A future that completes on Ctrl-C.
#[cfg(not(unix))]
fn interrupt() -> Result<impl std::future::Future<Output = ()>, String> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
