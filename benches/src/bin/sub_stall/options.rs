//! Command-line options of `sub_stall`.

use std::net::SocketAddr;

use crate::Result;

/// Command-line options.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// `subscribe`, `disconnect` or `memory`.
    pub(crate) scenario: String,
    /// Broker port on 127.0.0.1.
    pub(crate) port: u16,
    /// Broker process id.
    pub(crate) pid: u32,
    /// Name of the broker in the output.
    pub(crate) label: String,
    /// Filters (per SUBSCRIBE for `subscribe`, in total otherwise).
    pub(crate) n: usize,
    /// Repetitions of the `subscribe` scenario.
    pub(crate) reps: usize,
    /// Filters per SUBSCRIBE when loading many.
    pub(crate) chunk: usize,
    /// `close`, `disconnect` or `both` (the `disconnect` scenario).
    pub(crate) variant: String,
}

/// Usage text.
const USAGE: &str = "usage: sub_stall <subscribe|disconnect|memory> --port PORT --pid PID \
[--label NAME] [--n FILTERS] [--reps 5] [--chunk 1000] [--variant both|close|disconnect]";

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
        let mut chunk = 1000;
        let mut variant = String::from("both");
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
                "--chunk" => chunk = value.parse()?,
                "--variant" => variant = value,
                _ => return Err(format!("unknown option {flag}; {USAGE}").into()),
            }
        }
        let default_n = match scenario.as_str() {
            "subscribe" => 10_000,
            "disconnect" => 300_000,
            "memory" => 100_000,
            _ => return Err(format!("unknown scenario {scenario}; {USAGE}").into()),
        };
        if !matches!(variant.as_str(), "close" | "disconnect" | "both") {
            return Err(format!("unknown variant {variant}; {USAGE}").into());
        }
        Ok(Options {
            scenario,
            port: port.ok_or(USAGE)?,
            pid: pid.ok_or(USAGE)?,
            label,
            n: n.unwrap_or(default_n),
            reps,
            chunk: chunk.max(1),
            variant,
        })
    }

    /// The broker's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}
