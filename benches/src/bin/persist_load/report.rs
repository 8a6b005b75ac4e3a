//! Results: the figures of one run, JSON lines (hand-written), latency percentiles and the
//! median table per scenario and variant.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use crate::Result;

/// A JSON object built field by field.
#[derive(Default)]
pub(crate) struct Json(String);

impl Json {
    /// Adds a string field.
    pub(crate) fn s(&mut self, key: &str, value: &str) -> &mut Json {
        self.key(key);
        self.0.push('"');
        for c in value.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(self.0, "\\u{:04x}", u32::from(c));
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
        self
    }

    /// Adds a number field (`precision` decimals; non-finite numbers become `null`).
    pub(crate) fn n(&mut self, key: &str, value: f64, precision: usize) -> &mut Json {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.0, "{value:.precision$}");
        } else {
            self.0.push_str("null");
        }
        self
    }

    /// Starts a field.
    fn key(&mut self, key: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        let _ = write!(self.0, "\"{key}\":");
    }

    /// The finished object.
    pub(crate) fn line(&self) -> String {
        format!("{}}}", self.0)
    }

    /// Appends the object as one line to `path`.
    pub(crate) fn append_to(&self, path: &Path) -> Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        writeln!(file, "{}", self.line())?;
        Ok(())
    }
}

/// Nearest-rank percentile `q` (0..=1) of sorted microseconds, in milliseconds (0 when empty).
pub(crate) fn percentile_ms(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1e3
}

/// The figures of one load run.
#[derive(Debug, Default, Clone)]
pub(crate) struct Run {
    /// Scenario name.
    pub(crate) scenario: String,
    /// Broker variant name.
    pub(crate) variant: &'static str,
    /// Messages delivered to the subscribers per second of the run.
    pub(crate) msgs_per_s: f64,
    /// Publisher send-to-PUBACK latency, median, ms.
    pub(crate) ack_p50_ms: f64,
    /// Publisher send-to-PUBACK latency, 99th percentile, ms.
    pub(crate) ack_p99_ms: f64,
    /// Broker CPU seconds over the run.
    pub(crate) cpu_s: f64,
    /// Messages delivered per broker CPU-second.
    pub(crate) msgs_per_cpu_s: f64,
    /// Broker peak resident memory (VmHWM), MiB.
    pub(crate) max_rss_mib: f64,
    /// Messages sent but never delivered (after the drain).
    pub(crate) lost: u64,
    /// PUBLISHes never acknowledged.
    pub(crate) unacked: u64,
    /// WARN/ERROR lines in the broker log.
    pub(crate) log_problems: usize,
    /// Client failures.
    pub(crate) errors: usize,
}

/// Median of `values` (0 when empty).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Prints the median over each scenario × variant's runs (lost, unacked, log lines and errors
/// are totals), in the order given.
pub(crate) fn print_table(runs: &[Run], scenarios: &[String], variants: &[&str]) {
    println!(
        "{:<9} {:<10} {:>4} {:>9} {:>8} {:>8} {:>7} {:>10} {:>8} {:>6} {:>8} {:>5} {:>5}",
        "scenario",
        "variant",
        "runs",
        "msgs/s",
        "ack p50",
        "ack p99",
        "CPU s",
        "msgs/CPU-s",
        "RSS MiB",
        "lost",
        "unacked",
        "warn",
        "errs"
    );
    for scenario in scenarios {
        for &variant in variants {
            let group: Vec<&Run> = runs
                .iter()
                .filter(|r| &r.scenario == scenario && r.variant == variant)
                .collect();
            if group.is_empty() {
                continue;
            }
            let med = |f: fn(&Run) -> f64| median(group.iter().map(|r| f(r)).collect());
            println!(
                "{:<9} {:<10} {:>4} {:>9.0} {:>8.2} {:>8.2} {:>7.2} {:>10.0} {:>8.1} {:>6} {:>8} {:>5} {:>5}",
                scenario,
                variant,
                group.len(),
                med(|r| r.msgs_per_s),
                med(|r| r.ack_p50_ms),
                med(|r| r.ack_p99_ms),
                med(|r| r.cpu_s),
                med(|r| r.msgs_per_cpu_s),
                med(|r| r.max_rss_mib),
                group.iter().map(|r| r.lost).sum::<u64>(),
                group.iter().map(|r| r.unacked).sum::<u64>(),
                group.iter().map(|r| r.log_problems).sum::<usize>(),
                group.iter().map(|r| r.errors).sum::<usize>(),
            );
        }
    }
    println!(
        "(medians; lost, unacked, warn (broker log WARN/ERROR lines) and errs (client) are totals)"
    );
}
