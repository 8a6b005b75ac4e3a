//! What the persistent store costs under QoS 1 load: publishers with a window of pipelined
//! QoS 1 PUBLISHes and persistent (clean_session=0) subscribers, against a broker process
//! started afresh for every run, in several variants (amqtt without a store, with the SQLite
//! store at `sync: always|batch|none`, and Mosquitto with persistence). See
//! benches/PERSIST_LOAD.md. With `--protocol 311|5|both` the clients speak MQTT 3.1.1, 5.0 or
//! each in turn, also in the QoS 0 floods and the latency runs (benches/V5_LOAD.md). The
//! variants `cluster_local` and `cluster_cross` run two clustered amqtt nodes over nats-server,
//! with the subscribers on the publishers' node or on the other one (benches/CLUSTER_LOAD.md).
//!
//! ```text
//! cargo build --release -p amqtt-bin
//! cargo build --release -p amqtt-benches --bin persist_load
//! target/release/persist_load --secs 10 --reps 3
//! target/release/persist_load --startup 100000
//! target/release/persist_load --variants memory --protocol both --scenarios \
//!     pairs_q1,fanin_q1,pairs_q0,fanin_q0,fanout_q0,latency_q0,latency_q1
//! target/release/persist_load --variants memory,cluster_local,cluster_cross --scenarios \
//!     pairs_q0,pairs_q1,fanin_q1,latency_q0,latency_q1,latency_q1@20000
//! ```
//!
//! Scenarios: `pairs_q1` (16 publisher/subscriber pairs) and `fanin_q1` (4 publishers, one
//! wildcard subscriber) by default; `pairs_q0`, `fanin_q0`, `fanout_q0` (1 publisher, 50
//! subscribers) and `latency_q0|q1` (1 pair at `--rate` msg/s, or at `R` msg/s as
//! `latency_q1@R`) on request. Each run appends a JSON line to the results file; the median
//! table per scenario and variant goes to stdout at the end.

mod broker;
mod clients;
mod deployment;
mod load;
mod options;
mod probe;
mod procfs;
mod report;
mod scenario;
mod startup;
mod wire;

use std::error::Error;
use std::process::ExitCode;

use options::Options;

/// Errors of this tool: all are fatal to the step that hit them.
type BoxError = Box<dyn Error + Send + Sync>;
/// Result of this tool's fallible steps.
type Result<T> = std::result::Result<T, BoxError>;

/// Runs the startup measurement, or every scenario × variant `--reps` times (repetitions
/// outermost, so that drift of the shared machine spreads over all variants).
async fn run() -> Result<()> {
    let o = Options::parse()?;
    std::fs::create_dir_all(&o.work)?;
    if let Some(n) = o.startup {
        return startup::run(&o, n).await;
    }
    eprintln!("persist_load: results appended to {}", o.out.display());
    let mut runs = Vec::new();
    for rep in 0..o.reps {
        for scenario in &o.scenarios {
            for &variant in &o.variants {
                for &protocol in &o.protocols {
                    let case = load::Case {
                        scenario,
                        variant,
                        protocol,
                        rep,
                    };
                    if let Some(run) = load::run(&o, case).await? {
                        eprintln!(
                            "{}: {:.0} msgs/s, ack p50 {:.2} ms p99 {:.2} ms, e2e p50 {:.3} ms \
                             p99 {:.3} ms, {:.2} CPU s, {:.0} msgs/CPU-s, max RSS {:.1} MiB, \
                             lost {}, unacked {}, {} log warnings, {} client errors",
                            case.label(),
                            run.msgs_per_s,
                            run.ack_p50_ms,
                            run.ack_p99_ms,
                            run.e2e_p50_ms,
                            run.e2e_p99_ms,
                            run.cpu_s,
                            run.msgs_per_cpu_s,
                            run.max_rss_mib,
                            run.lost,
                            run.unacked,
                            run.log_problems,
                            run.errors
                        );
                        runs.push(run);
                    }
                }
            }
        }
    }
    let variants: Vec<&str> = o.variants.iter().map(|v| v.name()).collect();
    report::print_table(&runs, &o.scenarios, &variants, &o.protocols);
    Ok(())
}

/// Builds a current-thread tokio runtime (the load uses at most one core of the machine) and
/// runs [`run`] on it; failures go to stderr.
fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("persist_load: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("persist_load: {e}");
            ExitCode::FAILURE
        }
    }
}
