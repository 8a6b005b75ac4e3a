//! `--startup N`: how long the broker (`sync: always`) takes to come back with N queued
//! messages. An offline persistent subscriber gets N QoS 1 messages queued, the broker is
//! killed (SIGKILL) and restarted; reported are the time from spawn to the listener accepting,
//! the broker's own `persistent store restored ... elapsed_ms=` figure, its RSS, and whether
//! the subscriber then receives all N.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use amqtt_core::codec::ProtocolVersion::V311;
use amqtt_core::codec::QoS;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::Result;
use crate::broker::{Server, Variant, log_lines, log_problems};
use crate::clients::{PublishPlan, Shared, publisher, subscriber, wait_received};
use crate::options::Options;
use crate::procfs;
use crate::report::Json;
use crate::wire::Conn;

/// The persistent subscriber's client id.
const SUB_ID: &str = "pl-startup-sub";
/// Its filter, and the publisher's topic.
const TOPIC: &str = "pl/startup";

/// Runs the startup measurement with `n` queued messages.
pub(crate) async fn run(o: &Options, n: usize) -> Result<()> {
    let dir = o.work.join("startup");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let mut json = Json::default();
    json.s("scenario", "startup")
        .s("variant", "always")
        .n("queued", n as f64, 0);
    let max_queued = n.max(100_000);
    let mut broker = Server::start(o, Variant::Always, &dir, max_queued, "broker-1.log").await?;
    let empty = broker.wait_accepting(Duration::from_secs(60)).await?;
    json.n("empty_accept_ms", empty.as_secs_f64() * 1e3, 1);
    json.n("empty_rss_mib", procfs::mem_mib(broker.pid, "VmRSS")?, 1);

    let (mut sub, _) = Conn::open(broker.addr, SUB_ID, false, V311).await?;
    sub.subscribe(TOPIC, QoS::AtLeastOnce).await?;
    sub.close().await;
    let shared = Arc::new(Shared::default());
    let (conn, _) = Conn::open(broker.addr, "pl-startup-pub", true, V311).await?;
    let started = Instant::now();
    let plan = PublishPlan {
        topic: TOPIC.into(),
        qos: QoS::AtLeastOnce,
        window: o.window,
        payload: o.payload,
        rate: None,
        deadline: started + Duration::from_secs(86_400),
        count: n as u64,
    };
    let latencies = publisher(conn, plan, shared.clone()).await;
    let publish_s = started.elapsed().as_secs_f64();
    let acked = shared.acked.load(Relaxed);
    json.n("publish_s", publish_s, 2)
        .n("acked", acked as f64, 0);
    json.n("loaded_rss_mib", procfs::mem_mib(broker.pid, "VmRSS")?, 1);
    let errors = shared.errors();
    if acked != n as u64 || !errors.is_empty() {
        broker.stop().await?;
        return Err(format!("only {acked} of {n} acknowledged: {errors:?}").into());
    }
    let killed = broker.kill().await?;
    json.s("kill_exit", &killed.status)
        .n("db_mib", db_bytes(&dir) as f64 / 1048576.0, 1);

    let mut broker = Server::start(o, Variant::Always, &dir, max_queued, "broker-2.log").await?;
    let accept = broker.wait_accepting(Duration::from_secs(600)).await?;
    json.n("restart_accept_ms", accept.as_secs_f64() * 1e3, 1);
    let restart_rss = procfs::mem_mib(broker.pid, "VmRSS")?;
    json.n("restart_rss_mib", restart_rss, 1);
    let restored = restored_line(&broker.log).await;
    json.s("restored_line", &restored);
    for key in ["elapsed_ms", "messages", "sessions", "over_limit"] {
        json.n(key, field(&restored, key).unwrap_or(f64::NAN), 0);
    }

    let shared = Arc::new(Shared::default());
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let (conn, present) = Conn::open(broker.addr, SUB_ID, false, V311).await?;
    let qos = QoS::AtLeastOnce;
    let task = subscriber(conn, SUB_ID.into(), qos, false, shared.clone(), stopped);
    let task = tokio::spawn(task);
    let received = wait_received(&shared, n as u64, Duration::from_secs(10)).await;
    let drain_s = started.elapsed().as_secs_f64();
    // Anything beyond N (redeliveries) arrives right after.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received_total = shared.received.load(Relaxed);
    let _ = stop.send(true);
    task.await?;
    json.n("session_present", f64::from(u8::from(present)), 0);
    json.n("received", received as f64, 0)
        .n("received_total", received_total as f64, 0);
    json.n("drain_s", drain_s, 2).n(
        "after_drain_rss_mib",
        procfs::mem_mib(broker.pid, "VmRSS")?,
        1,
    );
    json.n(
        "restart_max_rss_mib",
        procfs::mem_mib(broker.pid, "VmHWM")?,
        1,
    );
    let exit = broker.stop().await?;
    json.s("broker_exit", &exit.status)
        .n("stop_ms", exit.took.as_secs_f64() * 1e3, 0);
    let mut problems = Vec::new();
    for name in ["broker-1.log", "broker-2.log"] {
        let (count, first) = log_problems(&dir.join(name), 5);
        problems.push(format!("{name}: {count} {}", first.join(" | ")));
    }
    json.s("log_problems", &problems.join(" || "));
    json.s("client_errors", &shared.errors().join(" | "));
    json.n(
        "ack_p50_ms",
        crate::report::percentile_ms(&sorted(latencies), 0.5),
        3,
    );
    json.append_to(&o.out)?;
    println!("{}", json.line());
    println!(
        "startup with {n} queued: spawn->accepting {:.0} ms (empty store {:.0} ms), store restore \
         elapsed_ms={}, RSS after startup {:.1} MiB; subscriber received {received_total} of {n} \
         in {drain_s:.2} s (session_present={present})",
        accept.as_secs_f64() * 1e3,
        empty.as_secs_f64() * 1e3,
        field(&restored, "elapsed_ms").map_or("?".into(), |v| v.to_string()),
        restart_rss,
    );
    Ok(())
}

/// `latencies` sorted.
fn sorted(mut latencies: Vec<u32>) -> Vec<u32> {
    latencies.sort_unstable();
    latencies
}

/// Bytes of the SQLite store (database and WAL) in `dir`.
fn db_bytes(dir: &Path) -> u64 {
    ["amqtt.db", "amqtt.db-wal"]
        .iter()
        .filter_map(|name| std::fs::metadata(dir.join(name)).ok())
        .map(|m| m.len())
        .sum()
}

/// The broker's `persistent store restored` log line (waiting up to 2 s for it to be written).
async fn restored_line(log: &Path) -> String {
    for _ in 0..200 {
        if let Some(line) = log_lines(log)
            .into_iter()
            .find(|l| l.contains("persistent store restored"))
        {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    String::new()
}

/// The number after ` key=` in a log line.
fn field(line: &str, key: &str) -> Option<f64> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    let digits: String = line[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits.parse().ok()
}
