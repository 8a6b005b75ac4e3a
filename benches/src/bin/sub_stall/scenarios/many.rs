//! Scenario 4 (`many`): many clients holding many subscriptions each, wildcards mixed in:
//! connect and subscribe rates, broker memory per subscription, probe latency before and after
//! loading, and what matching publishes against the loaded set costs the broker.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use amqtt_core::codec::{self, ByteString, Packet, Publish, QoS};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::BASELINE;
use crate::Result;
use crate::broker_proc::{cpu_seconds, rss, settled_rss};
use crate::options::Options;
use crate::probe::Probe;
use crate::raw::Client;
use crate::report::{Stats, ms};

/// Bytes a subscriber reads at a time (deliveries are small; keeps 10 000 readers light).
const READ_CHUNK: usize = 1024;
/// Bytes of encoded PUBLISH frames the publisher writes at a time.
const WRITE_CHUNK: usize = 64 * 1024;
/// The publish phase ends once every expected delivery has arrived, or none for this long.
const DELIVERY_IDLE: Duration = Duration::from_secs(3);

/// Filter `i` of client `c`, the mix of the scenario:
///
/// - `i % 10 == 0`: `many/<c>/<i>/#` (multi-level wildcard),
/// - `i % 10 == 1`: `many/<c>/+/<i>` (single-level wildcard in the middle),
/// - `i % 50 == 2`: `+/<c>/<i>` (single-level wildcard first),
/// - otherwise `many/<c>/<i>` (exact).
///
/// So 10 % `#`, 10 % middle `+`, 2 % leading `+` and 78 % exact filters.
fn filter(c: usize, i: usize) -> String {
    match i % 10 {
        0 => format!("many/{c}/{i}/#"),
        1 => format!("many/{c}/+/{i}"),
        _ if i % 50 == 2 => format!("+/{c}/{i}"),
        _ => format!("many/{c}/{i}"),
    }
}

/// The topic of publish number `k` aimed at filter `i` of client `c`, and how many
/// subscriptions of the [`filter`] mix match it (0 or 1: no client ever gets a message twice).
///
/// - even `k`: `many/<c>/<i>`, matched by filter `i` of client `c` unless that is
///   `many/<c>/+/<i>` (four levels);
/// - odd `k`: `many/<c>/<i>/<i>`, matched only by `many/<c>/<i>/#` or `many/<c>/+/<i>`.
///
/// Every filter names its client in the second level and its index in the third or fourth,
/// so no other filter matches either topic.
fn publish_topic(k: usize, c: usize, i: usize) -> (String, u64) {
    if k.is_multiple_of(2) {
        (format!("many/{c}/{i}"), u64::from(i % 10 != 1))
    } else {
        (format!("many/{c}/{i}/{i}"), u64::from(i % 10 <= 1))
    }
}

/// SplitMix64: a small deterministic generator picking the published topics.
struct SplitMix64(u64);

impl SplitMix64 {
    /// A number below `n` (`n` > 0; the modulo bias is negligible here).
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// Runs `step` on every item: one task per group, all groups at once, each group in order.
/// Returns the groups' results in the groups' order.
async fn per_group<T, U, F, Fut>(groups: Vec<Vec<T>>, step: F) -> Result<Vec<Vec<U>>>
where
    T: Send + 'static,
    U: Send + 'static,
    F: Fn(T) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<U>> + Send,
{
    let tasks: Vec<JoinHandle<Result<Vec<U>>>> = groups
        .into_iter()
        .map(|group| {
            let step = step.clone();
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(group.len());
                for item in group {
                    out.push(step(item).await?);
                }
                Ok(out)
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await??);
    }
    Ok(results)
}

/// The connection of a client once its handshake is done and nothing is left unread.
fn bare_stream(client: Client) -> Result<TcpStream> {
    if !client.buf.is_empty() {
        return Err("unexpected bytes after the CONNACK or SUBACK".into());
    }
    Ok(client.stream)
}

/// Reads a subscriber's socket until the broker closes it (or the task is aborted), counting
/// every PUBLISH in `delivered`; a close is counted in `closed`.
async fn count_deliveries(
    mut stream: TcpStream,
    delivered: Arc<AtomicU64>,
    closed: Arc<AtomicU64>,
) -> Result<()> {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        while let Some(packet) = codec::decode(&mut buf, codec::MAX_REMAINING_LENGTH + 5)? {
            if matches!(packet, Packet::Publish(_)) {
                delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
        buf.reserve(READ_CHUNK);
        if stream.read_buf(&mut buf).await? == 0 {
            closed.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
    }
}

/// Publishes `o.publishes` QoS 0 messages to random topics of the mix from one client, as fast
/// as the socket takes them; returns the deliveries they should make and the publisher (kept
/// open until they are in).
async fn publish_all(o: &Options) -> Result<(u64, Client)> {
    let mut publisher =
        Client::connect(o.addr(), &format!("many-pub-{}", std::process::id())).await?;
    let mut rng = SplitMix64(0x5EED);
    let mut expected = 0;
    let mut out = BytesMut::with_capacity(WRITE_CHUNK + 256);
    for k in 0..o.publishes {
        let (topic, matches) = publish_topic(k, rng.below(o.clients), rng.below(o.per_client));
        expected += matches;
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: ByteString::from(topic),
            packet_id: None,
            payload: Bytes::from_static(b"sub_stall many"),
            properties: None,
        })
        .encode(&mut out);
        if out.len() >= WRITE_CHUNK {
            publisher.stream.write_all(&out).await?;
            out.clear();
        }
    }
    publisher.stream.write_all(&out).await?;
    Ok((expected, publisher))
}

/// Waits until `delivered` reaches `expected` or stops growing for [`DELIVERY_IDLE`]; returns
/// when the last counted delivery arrived (to 10 ms).
async fn wait_deliveries(delivered: &AtomicU64, expected: u64) -> Instant {
    let mut last_count = delivered.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    while last_count < expected && last_change.elapsed() < DELIVERY_IDLE {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = delivered.load(Ordering::Relaxed);
        if now != last_count {
            last_count = now;
            last_change = Instant::now();
        }
    }
    last_change
}

/// Connects `o.clients` clients, `o.parallel` at a time; returns them in `o.parallel` groups.
async fn connect_all(o: &Options) -> Result<Vec<Vec<(usize, TcpStream)>>> {
    let addr: SocketAddr = o.addr();
    let pid = std::process::id();
    let groups = (0..o.parallel.min(o.clients))
        .map(|w| (w..o.clients).step_by(o.parallel).collect())
        .collect();
    per_group(groups, move |c: usize| async move {
        let client = Client::connect(addr, &format!("many-{pid}-{c}")).await?;
        Ok((c, bare_stream(client)?))
    })
    .await
}

/// Subscribes every client to its `o.per_client` filters in SUBSCRIBEs of `o.chunk`, waiting
/// for each SUBACK, `o.parallel` clients at a time.
async fn subscribe_all(
    o: &Options,
    groups: Vec<Vec<(usize, TcpStream)>>,
) -> Result<Vec<Vec<(usize, TcpStream)>>> {
    let (per_client, chunk) = (o.per_client, o.chunk);
    per_group(groups, move |(c, stream): (usize, TcpStream)| async move {
        let mut client = Client {
            stream,
            buf: BytesMut::new(),
        };
        client
            .subscribe_many((0..per_client).map(|i| filter(c, i)), chunk)
            .await?;
        Ok((c, bare_stream(client)?))
    })
    .await
}

/// Probe round trips over a quiet [`BASELINE`] from now.
async fn quiet_window(probe: &Probe) -> (Instant, Instant) {
    probe.wait_caught_up(Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    tokio::time::sleep(BASELINE).await;
    (start, Instant::now())
}

/// Scenario 4: many clients with many subscriptions each, then publishes matched against them.
pub(crate) async fn scenario_many(o: &Options) -> Result<()> {
    let subscriptions = o.clients * o.per_client;
    let probe = Probe::start(o.addr()).await?;
    let before_window = quiet_window(&probe).await;
    let rss_before = settled_rss(o.pid).await?;

    let cpu_start = cpu_seconds(o.pid)?;
    let start = Instant::now();
    let groups = connect_all(o).await?;
    let connect_s = start.elapsed().as_secs_f64();
    let connect_cpu = cpu_seconds(o.pid)? - cpu_start;
    let rss_connected = settled_rss(o.pid).await?;

    let cpu_start = cpu_seconds(o.pid)?;
    let start = Instant::now();
    let groups = subscribe_all(o, groups).await?;
    let subscribe_s = start.elapsed().as_secs_f64();
    let subscribe_cpu = cpu_seconds(o.pid)? - cpu_start;
    let rss_loaded = settled_rss(o.pid).await?;

    let after_window = quiet_window(&probe).await;
    let (samples, lost) = probe.stop().await?;
    let in_window = |(a, b): (Instant, Instant)| {
        Stats::of(
            samples
                .iter()
                .filter(move |s| s.sent >= a && s.sent + s.rtt <= b),
        )
    };
    let (probe_before, probe_after) = (in_window(before_window), in_window(after_window));

    let delivered = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicU64::new(0));
    let readers: Vec<JoinHandle<Result<()>>> = groups
        .into_iter()
        .flatten()
        .map(|(_, stream)| {
            tokio::spawn(count_deliveries(
                stream,
                Arc::clone(&delivered),
                Arc::clone(&closed),
            ))
        })
        .collect();
    let cpu_start = cpu_seconds(o.pid)?;
    let tool_cpu_start = cpu_seconds("self")?;
    let start = Instant::now();
    let (expected, publisher) = publish_all(o).await?;
    let written = Instant::now();
    let done = wait_deliveries(&delivered, expected).await;
    let publish_cpu = cpu_seconds(o.pid)? - cpu_start;
    let tool_cpu = cpu_seconds("self")? - tool_cpu_start;
    let publish_s = ms(start, done.max(written)) / 1e3;
    let received = delivered.load(Ordering::Relaxed);
    let tool_rss = rss(std::process::id())?;
    publisher.close(true).await?;
    for reader in &readers {
        reader.abort();
    }
    for reader in readers {
        if let Ok(Err(e)) = reader.await {
            return Err(format!("a subscriber failed: {e}").into());
        }
    }

    let per_conn = (rss_connected as f64 - rss_before as f64) / o.clients as f64;
    let per_sub = (rss_loaded as f64 - rss_connected as f64) / subscriptions as f64;
    let subs_per_s = subscriptions as f64 / subscribe_s;
    let subs_per_cpu_s = subscriptions as f64 / subscribe_cpu.max(0.01);
    let publishes_per_s = o.publishes as f64 / publish_s;
    let cpu_us_per_publish = publish_cpu * 1e6 / o.publishes.max(1) as f64;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let closed = closed.load(Ordering::Relaxed);
    println!(
        "many [{}] {} clients x {} filters = {} subscriptions (SUBSCRIBEs of {}, {} at a time): connected in {:.2} s (broker CPU {:.2} s), subscribed in {:.2} s (broker CPU {:.2} s) = {:.0} subscriptions/s, {:.0} per broker CPU-second; RSS {:.1} -> {:.1} (connected) -> {:.1} MiB (subscribed) = {:.0} bytes/connection, {:.0} bytes/subscription; probe before {}; probe after {}; probe lost {}; {} QoS 0 publishes in {:.2} s = {:.0}/s, broker CPU {:.2} s = {:.1} us/publish, deliveries {} of {} expected; connections closed by the broker {}; tool CPU {:.2} s, RSS {:.1} MiB",
        o.label,
        o.clients,
        o.per_client,
        subscriptions,
        o.chunk,
        o.parallel,
        connect_s,
        connect_cpu,
        subscribe_s,
        subscribe_cpu,
        subs_per_s,
        subs_per_cpu_s,
        mib(rss_before),
        mib(rss_connected),
        mib(rss_loaded),
        per_conn,
        per_sub,
        probe_before.human(),
        probe_after.human(),
        lost,
        o.publishes,
        publish_s,
        publishes_per_s,
        publish_cpu,
        cpu_us_per_publish,
        received,
        expected,
        closed,
        tool_cpu,
        mib(tool_rss)
    );
    let figures = [
        ("clients", o.clients.to_string()),
        ("per_client", o.per_client.to_string()),
        ("subscriptions", subscriptions.to_string()),
        ("chunk", o.chunk.to_string()),
        ("parallel", o.parallel.to_string()),
        ("connect_s", format!("{connect_s:.3}")),
        ("connect_cpu_s", format!("{connect_cpu:.2}")),
        ("subscribe_s", format!("{subscribe_s:.3}")),
        ("subscribe_cpu_s", format!("{subscribe_cpu:.2}")),
        ("subs_per_s", format!("{subs_per_s:.0}")),
        ("subs_per_cpu_s", format!("{subs_per_cpu_s:.0}")),
        ("rss_before", rss_before.to_string()),
        ("rss_connected", rss_connected.to_string()),
        ("rss_loaded", rss_loaded.to_string()),
        ("bytes_per_conn", format!("{per_conn:.1}")),
        ("bytes_per_sub", format!("{per_sub:.1}")),
        ("probe_lost", lost.to_string()),
        ("publishes", o.publishes.to_string()),
        ("publish_s", format!("{publish_s:.3}")),
        ("publishes_per_s", format!("{publishes_per_s:.0}")),
        ("publish_cpu_s", format!("{publish_cpu:.2}")),
        ("cpu_us_per_publish", format!("{cpu_us_per_publish:.2}")),
        ("delivered", received.to_string()),
        ("expected", expected.to_string()),
        ("closed_by_broker", closed.to_string()),
        ("tool_publish_cpu_s", format!("{tool_cpu:.2}")),
        ("tool_rss", tool_rss.to_string()),
    ];
    let mut json = format!("{{\"scenario\":\"many\",\"label\":\"{}\"", o.label);
    for (name, value) in figures {
        write!(json, ",\"{name}\":{value}")?;
    }
    let probes = [
        probe_before.json("probe_before"),
        probe_after.json("probe_after"),
    ];
    println!("{json},{}}}", probes.join(","));
    Ok(())
}
