//! aMQTT's `$SYS` plugin: the broker version, retained at start, and the broker's counters,
//! published every `sys_interval` seconds under `$SYS/broker/`.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use amqtt_core::codec::QoS;
use amqtt_core::plugin::{BrokerContext, Plugin, PluginError, plugin};
use serde::{Deserialize, Serialize};
use tokio::task::AbortHandle;

const ROOT: &str = "$SYS/broker/";

/// Configuration of [`BrokerSys`].
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerSysConfig {
    /// Seconds between two publications of the counters; 0 publishes only the version.
    #[serde(alias = "sys-interval")]
    pub sys_interval: u64,
}

impl Default for BrokerSysConfig {
    fn default() -> Self {
        BrokerSysConfig { sys_interval: 20 }
    }
}

/// Publishes `$SYS/broker/...` topics: `version` (retained) at start, then every interval the
/// load, message, client, in-flight, retained, subscription, memory and CPU figures.
/// `clients/maximum` is the most clients connected at once (aMQTT reports the current count).
#[derive(Debug)]
pub struct BrokerSys {
    ctx: BrokerContext,
    interval: Duration,
    task: Mutex<Option<AbortHandle>>,
}

#[plugin(
    name = "broker_sys",
    alias = "amqtt.plugins.sys.broker.BrokerSysPlugin",
    config = BrokerSysConfig
)]
impl Plugin for BrokerSys {
    fn build(config: BrokerSysConfig, ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(BrokerSys {
            ctx: ctx.clone(),
            interval: Duration::from_secs(config.sys_interval),
            task: Mutex::new(None),
        })
    }

    async fn on_broker_post_start(&self) {
        let version = format!("amqtt-rs {}", env!("CARGO_PKG_VERSION"));
        if let Err(e) = self
            .ctx
            .retain(&format!("{ROOT}version"), version, QoS::AtMostOnce)
        {
            tracing::warn!(error = %e, "cannot retain the $SYS version");
        }
        if self.interval.is_zero() {
            tracing::debug!("$SYS counters disabled (sys_interval: 0)");
            return;
        }
        let publisher = Publisher::new(self.ctx.clone());
        let interval = self.interval;
        let task = tokio::spawn(async move {
            let mut publisher = publisher;
            let mut ticks =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                ticks.tick().await;
                if publisher.publish_all().await.is_err() {
                    return; // the broker stopped
                }
            }
        });
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
    }

    async fn on_broker_pre_shutdown(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

/// The state the periodic publication keeps between runs.
struct Publisher {
    ctx: BrokerContext,
    started: Instant,
    started_at: SystemTime,
    cpu: CpuSampler,
    cpu_maximum: f64,
    heap_maximum: f64,
}

impl Publisher {
    fn new(ctx: BrokerContext) -> Publisher {
        Publisher {
            ctx,
            started: Instant::now(),
            started_at: SystemTime::now(),
            cpu: CpuSampler::new(),
            cpu_maximum: 0.0,
            heap_maximum: 0.0,
        }
    }

    /// Publishes every counter once.
    async fn publish_all(&mut self) -> Result<(), amqtt_core::plugin::ContextError> {
        for (topic, value) in self.figures() {
            self.ctx
                .publish(&format!("{ROOT}{topic}"), value, QoS::AtMostOnce, false)
                .await?;
        }
        for (reason, dropped) in self.ctx.stats().drops() {
            let topic = format!("{ROOT}messages/publish/dropped/{reason}");
            let count = dropped.get().to_string();
            self.ctx
                .publish(&topic, count, QoS::AtMostOnce, false)
                .await?;
        }
        Ok(())
    }

    fn figures(&mut self) -> Vec<(&'static str, String)> {
        let stats = self.ctx.stats();
        let sessions = self.ctx.session_totals();
        let inflight_in = sessions.incoming_pending;
        let inflight_out = sessions.inflight;
        let queued = sessions.queued;
        let retained = self.ctx.retained_count();
        let connected = stats.clients_connected.get();
        let total = stats.clients_total.get();
        let heap = resident_megabytes();
        self.heap_maximum = self.heap_maximum.max(heap);
        let cpu = self.cpu.percent();
        self.cpu_maximum = self.cpu_maximum.max(cpu);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        vec![
            (
                "load/bytes/received",
                stats.bytes_received.get().to_string(),
            ),
            ("load/bytes/sent", stats.bytes_sent.get().to_string()),
            (
                "messages/received",
                stats.packets_received.get().to_string(),
            ),
            ("messages/sent", stats.packets_sent.get().to_string()),
            ("time", now.to_string()),
            ("uptime", self.started.elapsed().as_secs().to_string()),
            ("uptime/formatted", format_utc(self.started_at)),
            ("clients/connected", connected.to_string()),
            (
                "clients/disconnected",
                total.saturating_sub(connected).to_string(),
            ),
            ("clients/maximum", stats.clients_maximum.get().to_string()),
            ("clients/total", total.to_string()),
            (
                "clients/refused/full",
                stats.connections_refused.get().to_string(),
            ),
            (
                "clients/refused/rate",
                stats.connections_rate_limited.get().to_string(),
            ),
            (
                "messages/inflight",
                (inflight_in + inflight_out).to_string(),
            ),
            ("messages/inflight/in", inflight_in.to_string()),
            ("messages/inflight/out", inflight_out.to_string()),
            ("messages/inflight/stored", (queued + retained).to_string()),
            (
                "messages/publish/received",
                stats.messages_received.get().to_string(),
            ),
            (
                "messages/publish/sent",
                stats.messages_sent.get().to_string(),
            ),
            (
                "messages/publish/dropped",
                (stats.drops().iter().map(|(_, dropped)| dropped.get()))
                    .sum::<u64>()
                    .to_string(),
            ),
            (
                "messages/publish/throttled",
                stats.publishes_throttled.get().to_string(),
            ),
            (
                "subscriptions/refused/quota",
                stats.subscriptions_refused.get().to_string(),
            ),
            (
                "cluster/messages/sent",
                stats.cluster_sent.get().to_string(),
            ),
            (
                "cluster/messages/received",
                stats.cluster_received.get().to_string(),
            ),
            ("messages/retained/count", retained.to_string()),
            (
                "messages/subscriptions/count",
                self.ctx.subscription_count().to_string(),
            ),
            ("heap/size", format_float(heap)),
            ("heap/maximum", format_float(self.heap_maximum)),
            ("cpu/percent", format_float(cpu)),
            ("cpu/maximum", format_float(self.cpu_maximum)),
        ]
    }
}

fn format_float(value: f64) -> String {
    format!("{:.2}", value)
}

/// A UTC time as aMQTT shows its start time: `2026-11-25 14:30:00+00:00`.
fn format_utc(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}+00:00",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The process's resident memory in MiB, from `/proc/self/statm` (0 where unavailable).
fn resident_megabytes() -> f64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .unwrap_or(0);
    (pages * 4096) as f64 / (1024.0 * 1024.0)
}

/// CPU use of this process between two samples, in percent of one core.
struct CpuSampler {
    last_ticks: u64,
    last_time: Instant,
}

/// Clock ticks per second of `/proc/self/stat` times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuSampler {
    fn new() -> CpuSampler {
        CpuSampler {
            last_ticks: process_ticks(),
            last_time: Instant::now(),
        }
    }

    fn percent(&mut self) -> f64 {
        let (ticks, now) = (process_ticks(), Instant::now());
        let elapsed = now.duration_since(self.last_time).as_secs_f64();
        let used = ticks.saturating_sub(self.last_ticks) as f64 / TICKS_PER_SECOND;
        (self.last_ticks, self.last_time) = (ticks, now);
        if elapsed > 0.0 {
            100.0 * used / elapsed
        } else {
            0.0
        }
    }
}

/// User plus system clock ticks of this process (0 where `/proc` is unavailable).
fn process_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_616_397);
        assert_eq!(format_utc(t), "2026-11-25 14:19:57+00:00");
        assert_eq!(format_utc(UNIX_EPOCH), "1970-01-01 00:00:00+00:00");
        assert_eq!(
            format_utc(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00+00:00"
        );
    }

    #[test]
    fn process_figures_are_read() {
        assert!(resident_megabytes() > 0.0);
        let mut cpu = CpuSampler::new();
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(50) {}
        assert!(cpu.percent() >= 0.0);
    }
}
