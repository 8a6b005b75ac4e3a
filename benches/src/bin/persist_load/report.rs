//! Results: the figures of one run, JSON lines (hand-written), latency percentiles and the
//! median table per scenario and variant.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use amqtt_core::codec::ProtocolVersion;

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
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// Scenario name.
    pub(crate) scenario: String,
    /// Broker variant name.
    pub(crate) variant: &'static str,
    /// The clients' protocol.
    pub(crate) protocol: ProtocolVersion,
    /// Messages delivered to the subscribers per second of the run.
    pub(crate) msgs_per_s: f64,
    /// Publisher send-to-PUBACK latency, median, ms.
    pub(crate) ack_p50_ms: f64,
    /// Publisher send-to-PUBACK latency, 99th percentile, ms.
    pub(crate) ack_p99_ms: f64,
    /// Send-to-receipt latency, median, ms (timed scenarios only; 0 otherwise).
    pub(crate) e2e_p50_ms: f64,
    /// Send-to-receipt latency, 99th percentile, ms (timed scenarios only; 0 otherwise).
    pub(crate) e2e_p99_ms: f64,
    /// CPU seconds of the servers over the run (a cluster's: all its processes).
    pub(crate) cpu_s: f64,
    /// Each server's share of `cpu_s`, by its name (`broker`, or `nats`, `node_a`, `node_b`).
    pub(crate) cpu_split: Vec<(&'static str, f64)>,
    /// Messages delivered per CPU-second of the servers.
    pub(crate) msgs_per_cpu_s: f64,
    /// Peak resident memory (VmHWM) of the broker, MiB (a cluster: its processes' summed).
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

/// The runs of one scenario × variant × protocol, summarised.
struct Group {
    /// Runs in the group.
    runs: usize,
    /// Median of each [`Run`] figure (lost, unacked, log lines and errors: totals).
    median: Run,
}

impl Group {
    /// The runs of `scenario` × `variant` × `protocol` in `runs`, or `None` if there are none.
    fn of(runs: &[Run], scenario: &str, variant: &str, protocol: ProtocolVersion) -> Option<Group> {
        let group: Vec<&Run> = runs
            .iter()
            .filter(|r| r.scenario == scenario && r.variant == variant && r.protocol == protocol)
            .collect();
        let first = *group.first()?;
        let med = |f: fn(&Run) -> f64| median(group.iter().map(|r| f(r)).collect());
        let median = Run {
            msgs_per_s: med(|r| r.msgs_per_s),
            ack_p50_ms: med(|r| r.ack_p50_ms),
            ack_p99_ms: med(|r| r.ack_p99_ms),
            e2e_p50_ms: med(|r| r.e2e_p50_ms),
            e2e_p99_ms: med(|r| r.e2e_p99_ms),
            cpu_s: med(|r| r.cpu_s),
            cpu_split: first
                .cpu_split
                .iter()
                .map(|(name, _)| {
                    let of = |r: &&Run| r.cpu_split.iter().find(|(n, _)| n == name).map(|c| c.1);
                    (*name, median(group.iter().filter_map(of).collect()))
                })
                .collect(),
            msgs_per_cpu_s: med(|r| r.msgs_per_cpu_s),
            max_rss_mib: med(|r| r.max_rss_mib),
            lost: group.iter().map(|r| r.lost).sum(),
            unacked: group.iter().map(|r| r.unacked).sum(),
            log_problems: group.iter().map(|r| r.log_problems).sum(),
            errors: group.iter().map(|r| r.errors).sum(),
            ..first.clone()
        };
        Some(Group {
            runs: group.len(),
            median,
        })
    }

    /// The latency the scenario is about: send to receipt if timed, else send to PUBACK;
    /// `p50/p99` in ms (`-` for an untimed QoS 0 flood).
    fn latency(&self) -> String {
        let m = &self.median;
        if m.ack_p50_ms == 0.0 && m.e2e_p50_ms == 0.0 {
            "-".into()
        } else if m.e2e_p50_ms > 0.0 {
            format!("{:.3}/{:.3}", m.e2e_p50_ms, m.e2e_p99_ms)
        } else {
            format!("{:.2}/{:.2}", m.ack_p50_ms, m.ack_p99_ms)
        }
    }
}

/// Prints the median over each scenario × variant × protocol's runs in the order given and,
/// with both protocols, each scenario × variant's 5.0 figures beside its 3.1.1 ones.
pub(crate) fn print_table(
    runs: &[Run],
    scenarios: &[String],
    variants: &[&str],
    protocols: &[ProtocolVersion],
) {
    println!(
        "{:<16} {:<13} {:<5} {:>4} {:>9} {:>13} {:>7} {:>10} {:>8} {:>6} {:>8} {:>5} {:>5}",
        "scenario",
        "variant",
        "proto",
        "runs",
        "msgs/s",
        "lat p50/p99",
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
            for &protocol in protocols {
                let Some(g) = Group::of(runs, scenario, variant, protocol) else {
                    continue;
                };
                let m = &g.median;
                println!(
                    "{:<16} {:<13} {:<5} {:>4} {:>9.0} {:>13} {:>7.2} {:>10.0} {:>8.1} {:>6} {:>8} {:>5} {:>5}",
                    scenario,
                    variant,
                    protocol.to_string(),
                    g.runs,
                    m.msgs_per_s,
                    g.latency(),
                    m.cpu_s,
                    m.msgs_per_cpu_s,
                    m.max_rss_mib,
                    m.lost,
                    m.unacked,
                    m.log_problems,
                    m.errors,
                );
            }
        }
    }
    println!(
        "(medians; lat: send to receipt in the latency scenarios, else send to PUBACK, ms; lost, \
         unacked, warn (broker log WARN/ERROR lines) and errs (client) are totals)"
    );
    if protocols.len() == 2 {
        print_protocols(runs, scenarios, variants);
    }
    if variants.iter().any(|v| v.starts_with("cluster_")) {
        print_cluster(runs, scenarios, variants, protocols);
    }
}

/// Prints each scenario × variant × protocol's throughput and msgs per CPU-second as a share
/// of the `memory` variant's (one broker, no cluster), and the CPU seconds of each process.
fn print_cluster(
    runs: &[Run],
    scenarios: &[String],
    variants: &[&str],
    protocols: &[ProtocolVersion],
) {
    println!(
        "\n{:<16} {:<13} {:<5} {:>9} {:>6} {:>10} {:>6} {:>13}  CPU s per process",
        "scenario", "variant", "proto", "msgs/s", "x mem", "msgs/CPU-s", "x mem", "lat p50/p99"
    );
    for scenario in scenarios {
        for &protocol in protocols {
            let memory = Group::of(runs, scenario, "memory", protocol);
            for &variant in variants {
                let Some(g) = Group::of(runs, scenario, variant, protocol) else {
                    continue;
                };
                let m = &g.median;
                let share = |f: fn(&Run) -> f64| {
                    memory
                        .as_ref()
                        .map_or("-".into(), |mem| format!("{:.2}", f(m) / f(&mem.median)))
                };
                let split: Vec<String> = m
                    .cpu_split
                    .iter()
                    .map(|(name, cpu)| format!("{name} {cpu:.2}"))
                    .collect();
                println!(
                    "{:<16} {:<13} {:<5} {:>9.0} {:>6} {:>10.0} {:>6} {:>13}  {}",
                    scenario,
                    variant,
                    protocol.to_string(),
                    m.msgs_per_s,
                    share(|r| r.msgs_per_s),
                    m.msgs_per_cpu_s,
                    share(|r| r.msgs_per_cpu_s),
                    g.latency(),
                    split.join(", "),
                );
            }
        }
    }
    println!(
        "(medians; x mem: share of the memory variant's figure; msgs/CPU-s counts the CPU of \
         every process of the variant: a cluster's two nodes and nats-server)"
    );
}

/// Prints each scenario × variant's 3.1.1 and 5.0 medians side by side, with 5.0's msgs per
/// CPU-second as a share of 3.1.1's.
fn print_protocols(runs: &[Run], scenarios: &[String], variants: &[&str]) {
    println!(
        "\n{:<10} {:<10} {:>12} {:>12} {:>6} {:>10} {:>10} {:>13} {:>13}",
        "scenario",
        "variant",
        "3.1.1 /CPU-s",
        "5.0 /CPU-s",
        "ratio",
        "3.1.1 /s",
        "5.0 /s",
        "3.1.1 lat",
        "5.0 lat"
    );
    for scenario in scenarios {
        for &variant in variants {
            let (Some(old), Some(new)) = (
                Group::of(runs, scenario, variant, ProtocolVersion::V311),
                Group::of(runs, scenario, variant, ProtocolVersion::V5),
            ) else {
                continue;
            };
            let (o, n) = (&old.median, &new.median);
            println!(
                "{:<10} {:<10} {:>12.0} {:>12.0} {:>6.3} {:>10.0} {:>10.0} {:>13} {:>13}",
                scenario,
                variant,
                o.msgs_per_cpu_s,
                n.msgs_per_cpu_s,
                n.msgs_per_cpu_s / o.msgs_per_cpu_s,
                o.msgs_per_s,
                n.msgs_per_s,
                old.latency(),
                new.latency(),
            );
        }
    }
    println!("(medians; ratio = 5.0 msgs per broker CPU-s / 3.1.1's; lat p50/p99 ms as above)");
}
