//! Reporting helpers: latency percentiles, their human-readable and JSON forms, and timing math.

use std::time::Instant;

use crate::probe::Sample;

/// Latency percentiles of a set of round trips.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Stats {
    /// Round trips counted.
    count: usize,
    /// Median, ms.
    p50: f64,
    /// 99th percentile, ms.
    p99: f64,
    /// Maximum, ms.
    max: f64,
}

impl Stats {
    /// Percentiles (nearest rank) of `samples`.
    pub(crate) fn of<'a>(samples: impl Iterator<Item = &'a Sample>) -> Stats {
        let mut ms: Vec<f64> = samples.map(|s| s.rtt.as_secs_f64() * 1e3).collect();
        if ms.is_empty() {
            return Stats::default();
        }
        ms.sort_by(f64::total_cmp);
        let rank = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Stats {
            count: ms.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            max: ms[ms.len() - 1],
        }
    }

    /// Human-readable form.
    pub(crate) fn human(&self) -> String {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} round trips)",
            self.p50, self.p99, self.max, self.count
        )
    }

    /// JSON object fields with `prefix`.
    pub(crate) fn json(&self, prefix: &str) -> String {
        format!(
            "\"{prefix}_p50_ms\":{:.3},\"{prefix}_p99_ms\":{:.3},\"{prefix}_max_ms\":{:.3},\"{prefix}_n\":{}",
            self.p50, self.p99, self.max, self.count
        )
    }
}

/// Milliseconds between two instants.
pub(crate) fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1e3
}

/// Median of `values` (0 when empty).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
