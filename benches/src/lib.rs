//! Criterion benchmarks of amqtt; see `benches/` for the bench targets.

pub mod procfs;
