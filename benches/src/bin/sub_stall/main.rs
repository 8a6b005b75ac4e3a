//! Side-by-side measurement of what large subscription sets cost a broker: the latency stall
//! other clients see while one client subscribes or drops many filters, and the memory each
//! subscription takes. Runs against any MQTT 3.1.1 broker on `127.0.0.1:<port>`; `--pid` is the
//! broker's process id, for its RSS (`/proc/<pid>/status`) and CPU time (`/proc/<pid>/stat`).
//!
//! ```text
//! cargo build --release -p amqtt-benches --bin sub_stall
//! target/release/sub_stall subscribe  --port 21886 --pid <pid> --label amqtt
//! target/release/sub_stall disconnect --port 21886 --pid <pid> --label amqtt --n 300000
//! target/release/sub_stall memory     --port 21886 --pid <pid> --label amqtt --n 1000000
//! target/release/sub_stall many       --port 21886 --pid <pid> --label amqtt --clients 10000
//! ```
//!
//! Scenarios (see benches/SUB_STALL.md):
//!
//! - `subscribe`: a probe client publishes QoS 1 to its own topic every 5 ms (open loop, each
//!   message timed from its PUBLISH to its delivery back); `--reps` times a fresh client sends
//!   one SUBSCRIBE with `--n` (10 000) filters `stall/<rep>/<i>/+` and waits for the SUBACK.
//!   Reported: probe round trips overlapping the stall windows (SUBSCRIBE sent to 100 ms after
//!   the SUBACK) against a 2 s quiet baseline.
//! - `disconnect`: a client subscribes `--n` (300 000) filters `disc/<i>` in SUBSCRIBEs of
//!   `--chunk` (1000), waiting for each SUBACK, then closes its socket: plain TCP close and, in a
//!   second round, DISCONNECT first (`--variant close|disconnect|both`). Reported: probe round
//!   trips overlapping the window from the close until the probe has caught up (at least 2 s).
//! - `memory`: broker RSS before and after one client subscribes `--n` filters `load/sub/<i>`
//!   (clean session, 1 s settle before each reading), bytes per subscription, and RSS after it
//!   disconnects (how much was returned).
//! - `many`: `--clients` (10 000) clients connect, `--parallel` (64) at a time, and subscribe
//!   `--per-client` (100) filters each, wildcards mixed in, in SUBSCRIBEs of `--chunk` (50).
//!   Reported: connect and subscribe times and rates, subscriptions per broker CPU-second, RSS per
//!   connection and per subscription, probe round trips before and after loading, then one
//!   client's `--publishes` (200 000) QoS 0 publishes to topics each matching 0 or 1 of the
//!   subscriptions: publishes/s, broker CPU per publish, deliveries counted against expected.
//!
//! Each scenario prints one human-readable summary line per result and one JSON line.

mod broker_proc;
mod options;
mod probe;
mod raw;
mod report;
mod scenarios;

use std::error::Error;
use std::process::ExitCode;

use options::Options;

/// Errors of this tool: all are fatal to the run.
type BoxError = Box<dyn Error + Send + Sync>;
/// Result of this tool's fallible steps.
type Result<T> = std::result::Result<T, BoxError>;

/// Runs the scenario named on the command line.
async fn run() -> Result<()> {
    let o = Options::parse()?;
    // Fail early if the pid is wrong.
    broker_proc::rss(o.pid)?;
    match o.scenario.as_str() {
        "subscribe" => scenarios::scenario_subscribe(&o).await,
        "disconnect" => scenarios::scenario_disconnect(&o).await,
        "many" => scenarios::scenario_many(&o).await,
        _ => scenarios::scenario_memory(&o).await,
    }
}

/// Builds a current-thread tokio runtime and runs [`run`] on it; failures go to stderr.
fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("sub_stall: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sub_stall: {e}");
            ExitCode::FAILURE
        }
    }
}
