//! One measured load run: fresh servers (a broker, or a cluster: `deployment.rs`), the
//! scenario's subscribers and publishers (3.1.1 or 5.0 clients) for `--secs`, the servers' CPU
//! and memory, then a drain and a loss check.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use amqtt_core::codec::ProtocolVersion;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::Result;
use crate::broker::{Variant, log_problems};
use crate::clients::{PublishPlan, Shared, publisher, subscriber, wait_received};
use crate::deployment::{Deployment, NATS_STORE};
use crate::options::Options;
use crate::probe::{Probed, interest_reached};
use crate::procfs;
use crate::report::{Json, Run, percentile_ms};
use crate::scenario::Scenario;
use crate::wire::Conn;

/// Queue limit per session (as in the shared load tool's Mosquitto configuration).
const MAX_QUEUED: usize = 100_000;
/// Longest the subscribers may go without a message while catching up after the run.
const QUIET: Duration = Duration::from_secs(10);

/// One run's place in the sitting: scenario, broker variant, clients' protocol, repetition.
#[derive(Clone, Copy)]
pub(crate) struct Case<'a> {
    /// Scenario name.
    pub(crate) scenario: &'a str,
    /// Broker variant.
    pub(crate) variant: Variant,
    /// The clients' protocol.
    pub(crate) protocol: ProtocolVersion,
    /// Repetition, from 0.
    pub(crate) rep: usize,
}

impl Case<'_> {
    /// `scenario variant protocol rep N`, for messages.
    pub(crate) fn label(&self) -> String {
        let (scenario, variant) = (self.scenario, self.variant.name());
        format!("{scenario} {variant} {} rep {}", self.protocol, self.rep)
    }
}

/// Runs `case` once against fresh servers; writes its JSON line to the results file and
/// returns its figures (`None` when the run failed: the error is in the line).
pub(crate) async fn run(o: &Options, case: Case<'_>) -> Result<Option<Run>> {
    let proto = if case.protocol.is_v5() { "v5" } else { "v311" };
    let variant = case.variant.name();
    let dir = o
        .work
        .join(format!("{}-{variant}-{proto}-{}", case.scenario, case.rep));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let mut json = Json::default();
    json.s("scenario", case.scenario).s("variant", variant);
    json.s("protocol", &case.protocol.to_string());
    json.n("rep", case.rep as f64, 0)
        .n("payload", o.payload as f64, 0);
    json.n("window", o.window as f64, 0);
    let measured = match Deployment::start(o, case.variant, &dir, MAX_QUEUED).await {
        Ok(deployment) => {
            let measured = measure(o, case, &deployment, &mut json).await;
            let logs = deployment.logs();
            let (exits, took) = deployment.stop().await;
            json.s("broker_exit", &by_server(&exits))
                .n("stop_ms", took.as_secs_f64() * 1e3, 0);
            let problems = log_problems_of(&logs, &mut json);
            measured.map(|mut run| {
                run.log_problems = problems;
                run
            })
        }
        Err(e) => Err(e),
    };
    // The stores' files (the logs and configurations stay).
    for name in ["amqtt.db", "amqtt.db-wal", "amqtt.db-shm", "mosquitto.db"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let _ = std::fs::remove_dir_all(dir.join(NATS_STORE));
    let run = match measured {
        Ok(run) => Some(run),
        Err(e) => {
            json.s("error", &e.to_string());
            eprintln!("persist_load: {}: {e}", case.label());
            None
        }
    };
    json.append_to(&o.out)?;
    Ok(run)
}

/// Each server's `values` as text: the value alone for one server, else `name: value`, ...
fn by_server(values: &[(&str, String)]) -> String {
    match values {
        [(_, value)] => value.clone(),
        _ => values
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Counts the WARN/ERROR lines of the servers' logs into `json` (in all and, for several
/// servers, per server); returns the count.
fn log_problems_of(logs: &[(&'static str, PathBuf)], json: &mut Json) -> usize {
    let mut count = 0;
    let mut first = Vec::new();
    for (name, log) in logs {
        let (problems, lines) = log_problems(log, 5);
        if logs.len() > 1 {
            json.n(&format!("log_problems_{name}"), problems as f64, 0);
            first.extend(lines.into_iter().map(|line| format!("{name}: {line}")));
        } else {
            first.extend(lines);
        }
        count += problems;
    }
    json.n("log_problems", count as f64, 0)
        .s("log_first", &first.join(" | "));
    count
}

/// The measurement proper, on servers that accept clients.
async fn measure(
    o: &Options,
    case: Case<'_>,
    servers: &Deployment,
    json: &mut Json,
) -> Result<Run> {
    let scenario = Scenario::named(case.scenario, o.rate)
        .ok_or_else(|| format!("unknown scenario {}", case.scenario))?;
    let (qos, timed) = (scenario.qos, scenario.rate.is_some());
    if let Some(rate) = scenario.rate {
        json.n("rate", rate, 0);
    }
    let mut probed = Vec::new();
    for s in &scenario.subscribers {
        let clean = !scenario.persistent;
        let (mut conn, _) = Conn::open(servers.subscribe_to, &s.id, clean, case.protocol).await?;
        conn.subscribe(&s.filter, qos).await?;
        probed.push(Probed {
            id: s.id.clone(),
            conn,
            topic: s.probe.clone(),
        });
    }
    let conns = if servers.subscribe_to == servers.publish_to {
        probed.into_iter().map(|p| p.conn).collect()
    } else {
        let started = Instant::now();
        let conns = interest_reached(servers.publish_to, case.protocol, qos, probed).await?;
        json.n("probe_ms", started.elapsed().as_secs_f64() * 1e3, 1);
        conns
    };
    let shared = Arc::new(Shared::default());
    let (stop, stopped) = watch::channel(false);
    let mut sub_tasks = Vec::new();
    for (conn, s) in conns.into_iter().zip(&scenario.subscribers) {
        let (shared, stopped) = (shared.clone(), stopped.clone());
        let task = subscriber(conn, s.id.clone(), qos, timed, shared, stopped);
        sub_tasks.push(tokio::spawn(task));
    }
    let mut pubs = Vec::new();
    for i in 0..scenario.topics.len() {
        let id = format!("pl-pub-{i}");
        pubs.push(
            Conn::open(servers.publish_to, &id, true, case.protocol)
                .await?
                .0,
        );
    }
    let (cpu0, tool0) = (servers.cpu_seconds()?, procfs::cpu_seconds("self")?);
    let t0 = Instant::now();
    let deadline = t0 + o.secs;
    let pub_tasks: Vec<_> = pubs
        .into_iter()
        .zip(scenario.topics.iter())
        .map(|(conn, topic)| {
            let plan = PublishPlan {
                topic: topic.clone(),
                qos,
                window: o.window,
                payload: o.payload,
                rate: scenario.rate,
                deadline,
                count: u64::MAX,
            };
            tokio::spawn(publisher(conn, plan, shared.clone()))
        })
        .collect();
    tokio::time::sleep_until(deadline).await;
    let delivered = shared.received.load(Relaxed);
    let (cpu1, tool1) = (servers.cpu_seconds()?, procfs::cpu_seconds("self")?);
    let secs = t0.elapsed().as_secs_f64();
    let sent_in_run = shared.sent.load(Relaxed);
    let mut latencies = Vec::new();
    for task in pub_tasks {
        latencies.extend(task.await?);
    }
    let sent = shared.sent.load(Relaxed);
    let expected = sent * scenario.copies;
    let received = wait_received(&shared, expected, QUIET).await;
    let _ = stop.send(true);
    let mut e2e = Vec::new();
    for task in sub_tasks {
        e2e.extend(task.await?);
    }
    let names = servers.names();
    let max_rss = servers.max_rss_mib()?;
    let max_rss_mib = max_rss.iter().sum();
    latencies.sort_unstable();
    e2e.sort_unstable();
    let errors = shared.errors();
    let cpu_split: Vec<(&'static str, f64)> = names
        .iter()
        .zip(cpu1.iter().zip(&cpu0))
        .map(|(name, (after, before))| (*name, after - before))
        .collect();
    let cpu_s = cpu_split.iter().map(|(_, cpu)| cpu).sum();
    let run = Run {
        scenario: case.scenario.to_string(),
        variant: case.variant.name(),
        protocol: case.protocol,
        msgs_per_s: delivered as f64 / secs,
        ack_p50_ms: percentile_ms(&latencies, 0.50),
        ack_p99_ms: percentile_ms(&latencies, 0.99),
        e2e_p50_ms: percentile_ms(&e2e, 0.50),
        e2e_p99_ms: percentile_ms(&e2e, 0.99),
        cpu_s,
        cpu_split,
        msgs_per_cpu_s: delivered as f64 / cpu_s,
        max_rss_mib,
        lost: expected.saturating_sub(received),
        unacked: shared.unacked.load(Relaxed),
        log_problems: 0,
        errors: errors.len(),
    };
    json.n("publishers", scenario.topics.len() as f64, 0);
    json.n("subscribers", scenario.subscribers.len() as f64, 0);
    json.n("secs", secs, 3).n("delivered", delivered as f64, 0);
    json.n("msgs_per_s", run.msgs_per_s, 1)
        .n("sent_in_run", sent_in_run as f64, 0);
    json.n("sent", sent as f64, 0)
        .n("acked", shared.acked.load(Relaxed) as f64, 0);
    json.n("received", received as f64, 0)
        .n("lost", run.lost as f64, 0);
    json.n("dup", received.saturating_sub(expected) as f64, 0);
    json.n("unacked", run.unacked as f64, 0);
    json.n("ack_p50_ms", run.ack_p50_ms, 3)
        .n("ack_p99_ms", run.ack_p99_ms, 3);
    json.n("ack_max_ms", percentile_ms(&latencies, 1.0), 3);
    json.n("e2e_p50_ms", run.e2e_p50_ms, 3)
        .n("e2e_p99_ms", run.e2e_p99_ms, 3);
    json.n("broker_cpu_s", cpu_s, 2)
        .n("msgs_per_cpu_s", run.msgs_per_cpu_s, 0);
    json.n("broker_max_rss_mib", max_rss_mib, 1)
        .n("tool_cpu_s", tool1 - tool0, 2);
    if names.len() > 1 {
        // A cluster: the figures above are the sums over its processes; here each one's.
        for ((name, cpu), rss) in run.cpu_split.iter().zip(&max_rss) {
            json.n(&format!("cpu_s_{name}"), *cpu, 2)
                .n(&format!("max_rss_mib_{name}"), *rss, 1);
        }
    }
    // Other work on the machine skews everything: its load average over the last minute.
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json.s(
        "loadavg_1m",
        loadavg.split_whitespace().next().unwrap_or(""),
    );
    json.n("errors", errors.len() as f64, 0)
        .s("client_errors", &errors.join(" | "));
    Ok(run)
}
