//! Benchmarks of plugin dispatch on the per-message path: the plugin calls the broker makes for
//! one QoS 0 PUBLISH fanned out to 10 subscribers (see `support/dispatch_path.rs`), through
//! (a) `()`, (b) three plugins that implement no hook, (c) three plugins with real hooks as a
//! tuple, and (d) the same three behind `Vec<Box<dyn DynPlugin>>` with boxed futures.
//!
//! (b) against (a) is what plugins without hooks cost: no hook is called and no `HOOKS` test
//! is left, only the code generated around the awaits the guards compile out. (d) against (c)
//! is what dynamic dispatch would cost. `dispatch_count` runs the same path for valgrind.

use std::hint::black_box;

use amqtt_core::plugin::Plugin;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_main};

#[path = "support/dispatch_path.rs"]
mod dispatch_path;

use dispatch_path::{Inputs, SUBSCRIBERS, dyn_plugins, noop_plugins, real_plugins, run_message};

/// Benchmarks one plugin set on the per-message path, after checking it delivers to everyone.
fn bench_set<P: Plugin>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    plugins: &P,
    inputs: &Inputs,
) {
    assert_eq!(run_message(plugins, inputs), SUBSCRIBERS);
    group.bench_function(name, |b| {
        b.iter(|| run_message(black_box(plugins), black_box(inputs)));
    });
}

fn dispatch(c: &mut Criterion) {
    let inputs = Inputs::new();
    let mut group = c.benchmark_group("dispatch/per_message");
    group.throughput(Throughput::Elements(1));
    bench_set(&mut group, "a_unit", &(), &inputs);
    bench_set(&mut group, "b_three_noop", &noop_plugins(), &inputs);
    bench_set(&mut group, "c_three_static", &real_plugins(), &inputs);
    bench_set(&mut group, "d_three_dyn", &dyn_plugins(), &inputs);
    group.finish();
}

// `criterion_group!` generates a public function it cannot document.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::dispatch);
}
criterion_main!(group::benches);
