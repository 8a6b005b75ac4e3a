//! Command-line options of `sub_stall`.

use std::net::SocketAddr;

use crate::Result;

/// Command-line options.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// `subscribe`, `disconnect`, `memory` or `many`.
    pub(crate) scenario: String,
    /// Broker port on 127.0.0.1.
    pub(crate) port: u16,
    /// Broker process id.
    pub(crate) pid: u32,
    /// Name of the broker in the output.
    pub(crate) label: String,
    /// Filters (per SUBSCRIBE for `subscribe`, in total for `disconnect` and `memory`).
    pub(crate) n: usize,
    /// Repetitions of the `subscribe` scenario.
    pub(crate) reps: usize,
    /// Filters per SUBSCRIBE when loading many (1000; 50 for `many`).
    pub(crate) chunk: usize,
    /// `close`, `disconnect` or `both` (the `disconnect` scenario).
    pub(crate) variant: String,
    /// Subscribing clients of the `many` scenario.
    pub(crate) clients: usize,
    /// Filters per client of the `many` scenario.
    pub(crate) per_client: usize,
    /// Messages published in the `many` scenario's matching phase.
    pub(crate) publishes: usize,
    /// Clients of the `many` scenario connecting and subscribing at the same time.
    pub(crate) parallel: usize,
}

/// Usage text.
const USAGE: &str = "usage: sub_stall <subscribe|disconnect|memory|many> --port PORT --pid PID \
[--label NAME] [--n FILTERS] [--reps 5] [--chunk 1000] [--variant both|close|disconnect] \
[--clients 10000] [--per-client 100] [--publishes 200000] [--parallel 64]";

impl Options {
    /// Parses the command line.
    pub(crate) fn parse() -> Result<Options> {
        let mut args = std::env::args().skip(1);
        let scenario = args.next().ok_or(USAGE)?;
        let mut port = None;
        let mut pid = None;
        let mut label = String::from("broker");
        let mut n = None;
        let mut reps = 5;
        let mut chunk = None;
        let mut variant = String::from("both");
        let mut clients = 10_000;
        let mut per_client = 100;
        let mut publishes = 200_000;
        let mut parallel = 64;
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
            match flag.as_str() {
                "--port" => port = Some(value.parse()?),
                "--pid" => pid = Some(value.parse()?),
                "--label" => label = value,
                "--n" => n = Some(value.parse()?),
                "--reps" => reps = value.parse()?,
                "--chunk" => chunk = Some(value.parse()?),
                "--variant" => variant = value,
                "--clients" => clients = value.parse()?,
                "--per-client" => per_client = value.parse()?,
                "--publishes" => publishes = value.parse()?,
                "--parallel" => parallel = value.parse()?,
                _ => return Err(format!("unknown option {flag}; {USAGE}").into()),
            }
        }
        let default_n = match scenario.as_str() {
            "subscribe" => 10_000,
            "disconnect" => 300_000,
            "memory" => 100_000,
            "many" => 0,
            _ => return Err(format!("unknown scenario {scenario}; {USAGE}").into()),
        };
        if !matches!(variant.as_str(), "close" | "disconnect" | "both") {
            return Err(format!("unknown variant {variant}; {USAGE}").into());
        }
        let chunk = chunk.unwrap_or(if scenario == "many" { 50 } else { 1000 });
        Ok(Options {
            scenario,
            port: port.ok_or(USAGE)?,
            pid: pid.ok_or(USAGE)?,
            label,
            n: n.unwrap_or(default_n),
            reps,
            chunk: chunk.max(1),
            variant,
            clients: clients.max(1),
            per_client: per_client.max(1),
            publishes,
            parallel: parallel.max(1),
        })
    }

    /// The broker's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}
