//! Command-line options of `persist_load`.

use std::path::PathBuf;
use std::time::Duration;

use amqtt_core::codec::ProtocolVersion;

use crate::Result;
use crate::broker::Variant;
use crate::scenario::Scenario;
use crate::wire::STAMP_LEN;

/// Usage text.
const USAGE: &str = "usage: persist_load [--scenarios pairs_q1,fanin_q1] \
[--variants memory,always,batch,none,mosquitto,cluster_local,cluster_cross] [--protocol 311|5|both] \
[--secs 10] [--reps 3] [--payload 64] [--window 64] [--rate 5000] [--amqtt target/release/amqtt] \
[--mosquitto /usr/sbin/mosquitto] [--nats /usr/sbin/nats-server] [--amqtt-port 21887] \
[--mosquitto-port 21884] [--nats-port 21422] [--work /tmp/persist_load] [--out FILE] [--startup N]";

/// The scenarios run by default: the store measurement's.
const DEFAULT_SCENARIOS: [&str; 2] = ["pairs_q1", "fanin_q1"];

/// Command-line options.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Scenarios to run, in order.
    pub(crate) scenarios: Vec<String>,
    /// Broker variants to run each scenario against.
    pub(crate) variants: Vec<Variant>,
    /// Protocols of the clients; each scenario × variant runs once per protocol.
    pub(crate) protocols: Vec<ProtocolVersion>,
    /// Length of one measured run.
    pub(crate) secs: Duration,
    /// Runs per scenario and variant (each on a fresh broker).
    pub(crate) reps: usize,
    /// Payload bytes per message.
    pub(crate) payload: usize,
    /// Unacknowledged QoS 1 PUBLISHes each publisher keeps in flight.
    pub(crate) window: usize,
    /// Messages per second of the latency scenarios' publisher.
    pub(crate) rate: f64,
    /// The amqtt binary.
    pub(crate) amqtt: PathBuf,
    /// The mosquitto binary.
    pub(crate) mosquitto: PathBuf,
    /// The nats-server binary (the cluster variants).
    pub(crate) nats: PathBuf,
    /// amqtt's port on 127.0.0.1 (a cluster's node A; node B listens on the port above).
    pub(crate) amqtt_port: u16,
    /// Mosquitto's port on 127.0.0.1.
    pub(crate) mosquitto_port: u16,
    /// nats-server's port on 127.0.0.1.
    pub(crate) nats_port: u16,
    /// Folder of the per-run folders (configuration, store, broker log).
    pub(crate) work: PathBuf,
    /// The JSON-lines results file (appended to).
    pub(crate) out: PathBuf,
    /// `--startup N`: the restart measurement with N queued messages instead of the load runs.
    pub(crate) startup: Option<usize>,
}

impl Options {
    /// Parses the command line.
    pub(crate) fn parse() -> Result<Options> {
        let mut o = Options {
            scenarios: DEFAULT_SCENARIOS.iter().map(|s| s.to_string()).collect(),
            variants: Variant::STORE.to_vec(),
            protocols: vec![ProtocolVersion::V311],
            secs: Duration::from_secs(10),
            reps: 3,
            payload: 64,
            window: 64,
            rate: 5000.0,
            amqtt: PathBuf::from("target/release/amqtt"),
            mosquitto: PathBuf::from("/usr/sbin/mosquitto"),
            nats: PathBuf::from("/usr/sbin/nats-server"),
            amqtt_port: 21887,
            mosquitto_port: 21884,
            nats_port: 21422,
            work: PathBuf::from("/tmp/persist_load"),
            out: PathBuf::new(),
            startup: None,
        };
        let mut out = None;
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                return Err(USAGE.into());
            }
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
            match flag.as_str() {
                "--scenarios" => o.scenarios = list(&value),
                "--variants" => {
                    o.variants = list(&value)
                        .iter()
                        .map(|v| Variant::parse(v))
                        .collect::<Result<_>>()?;
                }
                "--protocol" => {
                    o.protocols = match value.as_str() {
                        "311" => vec![ProtocolVersion::V311],
                        "5" => vec![ProtocolVersion::V5],
                        "both" => vec![ProtocolVersion::V311, ProtocolVersion::V5],
                        _ => return Err(format!("--protocol is 311, 5 or both; {USAGE}").into()),
                    }
                }
                "--secs" => o.secs = Duration::try_from_secs_f64(value.parse()?)?,
                "--reps" => o.reps = value.parse()?,
                "--payload" => o.payload = value.parse()?,
                "--window" => o.window = value.parse()?,
                "--rate" => o.rate = value.parse()?,
                "--amqtt" => o.amqtt = PathBuf::from(value),
                "--mosquitto" => o.mosquitto = PathBuf::from(value),
                "--nats" => o.nats = PathBuf::from(value),
                "--amqtt-port" => o.amqtt_port = value.parse()?,
                "--mosquitto-port" => o.mosquitto_port = value.parse()?,
                "--nats-port" => o.nats_port = value.parse()?,
                "--work" => o.work = PathBuf::from(value),
                "--out" => out = Some(PathBuf::from(value)),
                "--startup" => o.startup = Some(value.parse()?),
                _ => return Err(format!("unknown option {flag}; {USAGE}").into()),
            }
        }
        if let Some(bad) = o
            .scenarios
            .iter()
            .find(|s| Scenario::named(s, o.rate).is_none())
        {
            return Err(format!(
                "unknown scenario {bad} (a latency scenario may end in @<rate>, a positive \
                 number of messages per second); {USAGE}"
            )
            .into());
        }
        if !(1..=1000).contains(&o.window)
            || o.payload < STAMP_LEN
            || o.rate.is_nan()
            || o.rate <= 0.0
        {
            return Err(format!(
                "--window must be 1 to 1000, --payload at least {STAMP_LEN}, --rate above 0; \
                 {USAGE}"
            )
            .into());
        }
        // Relative paths would change meaning in the per-run folders.
        o.amqtt = std::path::absolute(&o.amqtt)?;
        o.work = std::path::absolute(&o.work)?;
        o.out = out.unwrap_or_else(|| o.work.join("results.jsonl"));
        Ok(o)
    }
}

/// A comma-separated list.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}
