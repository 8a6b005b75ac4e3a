//! Runs the per-message plugin path of the `dispatch` bench a given number of times for one
//! plugin set, so that valgrind can count its instructions:
//!
//! ```text
//! cargo build --release -p amqtt-benches --bin dispatch_count
//! valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
//!     target/release/dispatch_count b 1000000
//! ```
//!
//! Variants: `a` (`()`), `b` (three plugins without hooks), `c` (three plugins with real hooks,
//! static dispatch), `d` (the same behind `Box<dyn DynPlugin>`). Subtracting the count of a run
//! with 0 iterations from one with N and dividing by N gives instructions per message.

use std::hint::black_box;
use std::process::ExitCode;

use amqtt_core::plugin::Plugin;

#[path = "../../benches/support/dispatch_path.rs"]
mod dispatch_path;

use dispatch_path::{Inputs, dyn_plugins, noop_plugins, per_message, poll_once, real_plugins};

/// Runs the per-message path `iterations` times; returns the total number of deliveries.
#[inline(never)]
fn run<P: Plugin>(plugins: &P, inputs: &Inputs, iterations: u64) -> u64 {
    let mut delivered = 0;
    for _ in 0..iterations {
        delivered += poll_once(per_message(black_box(plugins), black_box(inputs))) as u64;
    }
    delivered
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_default();
    let iterations = match args.next().map(|n| n.parse::<u64>()) {
        None => 1_000_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("dispatch_count: bad iteration count: {e}");
            return ExitCode::from(2);
        }
    };
    let inputs = Inputs::new();
    let delivered = match variant.as_str() {
        "a" => run(&(), &inputs, iterations),
        "b" => run(&noop_plugins(), &inputs, iterations),
        "c" => run(&real_plugins(), &inputs, iterations),
        "d" => run(&dyn_plugins(), &inputs, iterations),
        _ => {
            eprintln!("usage: dispatch_count a|b|c|d [ITERATIONS]");
            return ExitCode::from(2);
        }
    };
    println!("variant {variant}: {iterations} iterations, {delivered} deliveries");
    ExitCode::SUCCESS
}
