//! `amqtt_pub`: publishes one message, the lines of a file, all of stdin, each line of stdin,
//! or an empty message to a topic, then disconnects. Flags follow aMQTT's `amqtt_pub`.

use std::path::PathBuf;
use std::process::ExitCode;

use amqtt_bin::client_cli::{ConnectArgs, connect_error, init_logging, parse_qos};
use amqtt_core::client::MqttClient;
use amqtt_core::codec::QoS;
use clap::{ArgGroup, Parser};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

/// Command-line options of `amqtt_pub`.
#[derive(Debug, Parser)]
#[command(
    name = "amqtt_pub",
    version,
    // `-V` is the protocol version, as in mosquitto's clients; `--version` stays.
    disable_version_flag = true,
    about = "Publish MQTT messages",
    group(ArgGroup::new("source").required(true).args(["message", "file", "stdin", "lines", "no_message"]))
)]
struct Args {
    #[command(flatten)]
    connect: ConnectArgs,
    /// QoS of the messages (0, 1 or 2).
    #[arg(short = 'q', long = "qos", value_name = "QOS", default_value = "0", value_parser = parse_qos)]
    qos: QoS,
    /// Retain the messages.
    #[arg(short = 'r')]
    retain: bool,
    /// Topic to publish to.
    #[arg(short = 't', value_name = "TOPIC")]
    topic: String,
    /// Publish this message.
    #[arg(short = 'm', value_name = "MSG")]
    message: Option<String>,
    /// Publish each line of this file as a message.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Publish all of stdin as one message.
    #[arg(short = 's', long = "stdin")]
    stdin: bool,
    /// Publish each line of stdin as a message.
    #[arg(short = 'l', long = "lines")]
    lines: bool,
    /// Publish an empty message.
    #[arg(short = 'n', long = "no-message")]
    no_message: bool,
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
            eprintln!("amqtt_pub: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("amqtt_pub: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Connects, publishes what the flags say, and disconnects.
async fn run(args: Args) -> Result<(), String> {
    let (url, options, properties) = args.connect.resolve("amqtt_pub")?;
    let properties = (!properties.publish.is_empty()).then_some(properties.publish);
    // Read a file up front, so a missing file fails before connecting.
    let file_lines = match &args.file {
        Some(path) => Some(
            tokio::fs::read(path)
                .await
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let client = MqttClient::connect(&url, options)
        .await
        .map_err(|e| connect_error(&url, &e))?;
    let publish = |payload: Vec<u8>| {
        let client = &client;
        let topic = args.topic.as_str();
        let properties = properties.clone();
        async move {
            client
                .publish_with(topic, payload, args.qos, args.retain, properties)
                .await
                .map_err(|e| format!("publishing to `{topic}` failed: {e}"))
        }
    };
    if let Some(message) = &args.message {
        publish(message.clone().into_bytes()).await?;
    } else if let Some(contents) = file_lines {
        for line in contents.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                publish(line.to_vec()).await?;
            }
        }
    } else if args.stdin {
        let mut all = Vec::new();
        tokio::io::stdin()
            .read_to_end(&mut all)
            .await
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        publish(all).await?;
    } else if args.lines {
        let mut lines = BufReader::new(tokio::io::stdin()).split(b'\n');
        while let Some(line) = lines
            .next_segment()
            .await
            .map_err(|e| format!("cannot read stdin: {e}"))?
        {
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            if !line.is_empty() {
                publish(line.to_vec()).await?;
            }
        }
    } else {
        publish(Vec::new()).await?;
    }
    client
        .disconnect()
        .await
        .map_err(|e| format!("disconnecting failed: {e}"))
}
