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

use dispatch_path::{Inputs, dyn_plugins, noop_plugins, per_message, real_plugins, run_message};

/// Runs the per-message path `iterations` times; returns the total number of deliveries.
#[inline(never)]
fn run<P: Plugin>(plugins: &P, inputs: &Inputs, iterations: u64) -> u64 {
    let mut delivered = 0;
    for _ in 0..iterations {
        delivered += run_message(black_box(plugins), black_box(inputs)) as u64;
    }
    delivered
}

/// Runs one variant and reports its deliveries and the size of its per-message future.
fn report<P: Plugin>(variant: &str, plugins: &P, inputs: &Inputs, iterations: u64) {
    let future_size = std::mem::size_of_val(&per_message(plugins, inputs));
    let delivered = run(plugins, inputs, iterations);
    println!(
        "variant {variant}: {iterations} iterations, {delivered} deliveries, \
         per-message future {future_size} bytes"
    );
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
    match variant.as_str() {
        "a" => report("a", &(), &inputs, iterations),
        "b" => report("b", &noop_plugins(), &inputs, iterations),
        "c" => report("c", &real_plugins(), &inputs, iterations),
        "d" => report("d", &dyn_plugins(), &inputs, iterations),
        _ => {
            eprintln!("usage: dispatch_count a|b|c|d [ITERATIONS]");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
