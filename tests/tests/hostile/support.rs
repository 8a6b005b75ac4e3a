//! Shared helpers of the hostile suite: a seeded PRNG, an in-process broker that also exposes
//! its `BrokerContext`, the broker binary as a child process with its resident memory, the probe
//! client, a `$SYS` watcher, and raw-socket helpers (abrupt close with RST, reading to the close).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use amqtt_core::broker::{Broker, Stats};
use amqtt_core::codec::{Packet, QoS, ReasonCode, Subscribe};
use amqtt_core::config::BrokerConfig;
use amqtt_core::plugin::BrokerContext;
use amqtt_tests::{RawClient, TestBroker, amqtt_binary, connect_packet, pid, publish_packet};
use bytes::BytesMut;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Longest a probe QoS 1 round trip (PUBLISH -> PUBACK and the message back) may take. Generous:
/// the CI machine has two noisy cores and the suite's tests run in parallel.
pub(crate) const ROUND_TRIP_BOUND: Duration = Duration::from_secs(2);

/// Upper bound for a close the broker should perform promptly (a bad packet, an EOF).
pub(crate) const CLOSE_WITHIN: Duration = Duration::from_secs(3);

/// Fewest round trips a probe must have completed: the first, and one after the hostile phase.
const MIN_ROUND_TRIPS: u32 = 2;

/// A small deterministic pseudo-random generator (xorshift64*), so a failure replays.
pub(crate) struct XorShift(u64);

impl XorShift {
    /// A generator for `seed` (any value; it is scrambled so nearby seeds diverge at once).
    pub(crate) fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 pseudo-random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        // The high bits are the best ones of xorshift64*.
        usize::try_from((self.next_u64() >> 32) % n as u64).expect("fits in usize")
    }

    /// A pseudo-random byte.
    pub(crate) fn byte(&mut self) -> u8 {
        self.next_u64().to_be_bytes()[0]
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// The encoded bytes of `packet`.
pub(crate) fn encode(packet: &Packet) -> Vec<u8> {
    let mut out = BytesMut::new();
    packet.encode(&mut out);
    out.to_vec()
}

/// A broker in this process, with the `BrokerContext` its plugin set would get: sessions and
/// the subscription index can be inspected while it runs.
pub(crate) struct LiveBroker {
    /// The broker (stopped when dropped).
    pub(crate) broker: TestBroker,
    /// Read access to sessions, subscriptions and counters.
    pub(crate) ctx: BrokerContext,
}

impl LiveBroker {
    /// Starts a broker without plugins on 127.0.0.1:0 with the `extra` YAML broker keys.
    pub(crate) async fn start(extra: &str) -> LiveBroker {
        let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins: {{}}\n{extra}");
        let config = BrokerConfig::from_yaml(&yaml).expect("test config is valid");
        let mut ctx = None;
        let broker = Broker::<()>::bind_with(config, |c| {
            ctx = Some(c.clone());
            Ok(())
        })
        .await
        .expect("broker binds");
        LiveBroker {
            broker: TestBroker::serve(broker),
            ctx: ctx.expect("bind_with hands over a context"),
        }
    }

    /// The address of the default listener.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.broker.addr
    }

    /// The broker's counters.
    pub(crate) fn stats(&self) -> &Stats {
        self.broker.handle.stats()
    }

    /// Waits (up to 5 s) until exactly `connected` clients are connected, e.g. only the probe
    /// once every hostile connection has been closed and cleaned up.
    pub(crate) async fn settle(&self, connected: u64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = self.stats().clients_connected.get();
            if now == connected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{now} clients still connected, expected {connected}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asserts the broker's invariants ([`TestBroker::assert_consistent`]: every subscription in
    /// the index belongs to a live session and the index holds exactly the sessions' lists),
    /// retrying while a session that is ending leaves the index a slice at a time.
    pub(crate) async fn assert_consistent(&self) {
        self.broker.assert_consistent().await;
    }
}

/// What a probe saw while it ran.
#[derive(Debug)]
pub(crate) struct ProbeReport {
    /// Completed QoS 1 round trips.
    pub(crate) round_trips: u32,
    /// The slowest of them.
    pub(crate) slowest: Duration,
}

/// A well-behaved client connected throughout a test, looping QoS 1 round trips to its own
/// topic in a task; the task fails the test if one takes longer than [`ROUND_TRIP_BOUND`] or
/// the broker closes its connection.
pub(crate) struct Probe {
    stop: Arc<AtomicBool>,
    task: JoinHandle<(ProbeReport, RawClient)>,
}

impl Probe {
    /// Connects `probe-<name>`, subscribes it to `probe/<name>` at QoS 1, completes one round
    /// trip, and keeps going in the background until [`Probe::finish`].
    pub(crate) async fn start(addr: SocketAddr, name: &str) -> Probe {
        let topic = format!("probe/{name}");
        let mut client = RawClient::connect(addr, &format!("probe-{name}")).await;
        client.subscribe(1, &[(&topic, QoS::AtLeastOnce)]).await;
        round_trip(&mut client, &topic, 0).await;
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(probe_loop(client, topic, stop.clone()));
        Probe { stop, task }
    }

    /// Stops the loop after one more round trip and returns what it saw, and the client, still
    /// connected (bind it, e.g. to `_probe`, to keep the probe's session until the test ends);
    /// re-raises the probe's own failure, and asserts it kept going during the test.
    pub(crate) async fn finish(self) -> (ProbeReport, RawClient) {
        self.stop.store(true, Ordering::Relaxed);
        let (report, client) = match self.task.await {
            Ok(report) => report,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("probe task did not finish: {e}"),
        };
        assert!(
            report.round_trips >= MIN_ROUND_TRIPS,
            "the probe completed only {} round trips",
            report.round_trips
        );
        (report, client)
    }
}

/// The probe's loop: a round trip, a short pause, until `stop`; then one last round trip.
async fn probe_loop(
    mut client: RawClient,
    topic: String,
    stop: Arc<AtomicBool>,
) -> (ProbeReport, RawClient) {
    let mut report = ProbeReport {
        round_trips: 1,
        slowest: Duration::ZERO,
    };
    loop {
        let started = Instant::now();
        round_trip(&mut client, &topic, report.round_trips).await;
        report.round_trips += 1;
        report.slowest = report.slowest.max(started.elapsed());
        if stop.load(Ordering::Relaxed) {
            return (report, client);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One QoS 1 round trip numbered `n`: PUBLISH to `topic`, then both the PUBACK and the message
/// back (acknowledged) within [`ROUND_TRIP_BOUND`], in either order.
async fn round_trip(client: &mut RawClient, topic: &str, n: u32) {
    let id = u16::try_from(n % 65_535 + 1).expect("at most 65535");
    let payload = format!("probe {n}");
    client
        .send(Packet::Publish(publish_packet(
            topic,
            &payload,
            QoS::AtLeastOnce,
            false,
            Some(id),
        )))
        .await;
    let deadline = Instant::now() + ROUND_TRIP_BOUND;
    let (mut acked, mut echoed) = (false, false);
    while !(acked && echoed) {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.recv_within(left).await {
            None => panic!(
                "probe round trip {n} took longer than {ROUND_TRIP_BOUND:?} \
                 (PUBACK seen: {acked}, message back: {echoed})"
            ),
            Some(Packet::PubAck(ack)) if ack.packet_id.get() == id => acked = true,
            Some(Packet::Publish(p)) if p.payload == payload.as_bytes() => {
                echoed = true;
                if let Some(id) = p.packet_id {
                    client.send(Packet::PubAck(id.into())).await;
                }
            }
            Some(other) => panic!("probe round trip {n}: unexpected {other:?}"),
        }
    }
}

/// Connects a raw TCP socket with `TCP_NODELAY`.
pub(crate) async fn open_raw(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).await.expect("tcp connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Closes `stream` abruptly: `SO_LINGER` 0, so the kernel sends RST instead of FIN and the
/// broker sees a half-open connection fail rather than end.
pub(crate) fn reset(stream: TcpStream) {
    // A socket the broker already reset may refuse the option; it is closing either way.
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// The broker binary running as a child process on a free port of 127.0.0.1, killed when
/// dropped; for tests that measure the broker's resident memory.
pub(crate) struct ChildBroker {
    child: Child,
    /// The address of its listener.
    pub(crate) addr: SocketAddr,
    /// Holds the configuration file.
    _dir: tempfile::TempDir,
}

impl ChildBroker {
    /// Writes a configuration with one TCP listener, anonymous access, `$SYS` every second and
    /// the `extra` broker keys, starts `amqtt -c` on it and waits until it listens.
    pub(crate) async fn start(extra: &str) -> ChildBroker {
        let binary: PathBuf = tokio::task::spawn_blocking(|| amqtt_binary("amqtt"))
            .await
            .expect("build the amqtt binary");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("hostile.yaml");
        let yaml = format!(
            "listeners:\n  default:\n    bind: 127.0.0.1:{port}\n{extra}plugins:\n  \
             auth_anonymous:\n  broker_sys:\n    sys_interval: 1\n"
        );
        std::fs::write(&file, yaml).expect("write the broker config");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&file)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn amqtt");
        let mut broker = ChildBroker {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(broker.addr).await.is_err() {
            broker.assert_running();
            assert!(Instant::now() < deadline, "amqtt did not listen in time");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        broker
    }

    /// Asserts the broker process has not exited.
    pub(crate) fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("poll the amqtt process");
        assert!(status.is_none(), "the broker exited: {status:?}");
    }

    /// The broker's resident memory (`VmRSS`) in KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// A `kB` field of `/proc/<pid>/status`, e.g. `VmRSS:` or `VmSize:`.
    pub(crate) fn status_kib(&self, field: &str) -> u64 {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in {path}"))
    }
}

impl Drop for ChildBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client subscribed to some `$SYS/broker/...` figures of a child broker (published every
/// second), remembering the latest value of each.
pub(crate) struct SysWatch {
    client: RawClient,
    latest: HashMap<String, u64>,
}

impl SysWatch {
    /// Connects `sys-watch` and subscribes to each `$SYS/broker/<figure>`.
    pub(crate) async fn start(addr: SocketAddr, figures: &[&str]) -> SysWatch {
        let mut client = RawClient::connect(addr, "sys-watch").await;
        let topics: Vec<String> = figures.iter().map(|f| format!("$SYS/broker/{f}")).collect();
        let filters: Vec<(&str, QoS)> = topics
            .iter()
            .map(|t| (t.as_str(), QoS::AtMostOnce))
            .collect();
        client.subscribe(1, &filters).await;
        SysWatch {
            client,
            latest: HashMap::new(),
        }
    }

    /// Reads `$SYS` messages until `figure` has been published with a value that satisfies
    /// `want`, and returns it; fails the test after `within`, naming the last value seen.
    pub(crate) async fn wait_for(
        &mut self,
        figure: &str,
        want: impl Fn(u64) -> bool,
        within: Duration,
    ) -> u64 {
        let topic = format!("$SYS/broker/{figure}");
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(packet) = self.client.recv_within(left).await else {
                panic!(
                    "{topic} never satisfied the test within {within:?}; last value {:?}",
                    self.latest.get(&topic)
                );
            };
            if let Packet::Publish(p) = packet {
                let value = std::str::from_utf8(&p.payload)
                    .ok()
                    .and_then(|s| s.trim().parse::<f64>().ok());
                if let Some(value) = value {
                    // Counts are integers; `as` only drops a fraction that is not there.
                    let value = value as u64;
                    self.latest.insert(p.topic.to_string(), value);
                    if p.topic == topic.as_str() && want(value) {
                        return value;
                    }
                }
            }
        }
    }
}

/// A raw client for the hostile side: whole packets over a [`TcpStream`] it can reset.
pub(crate) struct Hostile(RawClient);

impl Hostile {
    /// Connects `client_id` (keep-alive 0) and asserts the CONNACK accepts it.
    pub(crate) async fn connect(addr: SocketAddr, client_id: &str, clean: bool) -> Hostile {
        let (client, ack) = RawClient::connect_with(addr, connect_packet(client_id, clean)).await;
        assert_eq!(ack.code, ReasonCode::Success, "CONNACK of {client_id}");
        Hostile(client)
    }

    /// Sends one packet.
    pub(crate) async fn send(&mut self, packet: &Packet) {
        self.0.send(packet.clone()).await;
    }

    /// The next packet within [`CLOSE_WITHIN`]; panics on a timeout or a close.
    pub(crate) async fn recv(&mut self) -> Packet {
        match self.0.recv_within(CLOSE_WITHIN).await {
            Some(packet) => packet,
            None => panic!("no packet from the broker within {CLOSE_WITHIN:?}"),
        }
    }

    /// The next packet within `wait`, `None` on a timeout; panics on a close.
    pub(crate) async fn recv_within(&mut self, wait: Duration) -> Option<Packet> {
        self.0.recv_within(wait).await
    }

    /// Receives until a packet `wanted` accepts arrives (others are skipped) and returns it.
    pub(crate) async fn recv_until(&mut self, wanted: impl Fn(&Packet) -> bool) -> Packet {
        loop {
            let packet = self.recv().await;
            if wanted(&packet) {
                return packet;
            }
        }
    }

    /// Subscribes to `filters` and waits for the SUBACK (other packets are skipped).
    pub(crate) async fn subscribe(&mut self, id: u16, filters: &[(&str, QoS)]) {
        let packet_id = pid(id);
        self.send(&Packet::Subscribe(Subscribe {
            packet_id,
            filters: filters
                .iter()
                .map(|(f, q)| ((*f).into(), (*q).into()))
                .collect(),
            properties: None,
        }))
        .await;
        self.recv_until(|p| matches!(p, Packet::SubAck(ack) if ack.packet_id == packet_id))
            .await;
    }

    /// Closes the connection abruptly with RST ([`RawClient::reset`]).
    pub(crate) fn reset(self) {
        self.0.reset();
    }
}
