//! Shared helpers of the persistence suite: [`StoreBroker`], the `amqtt` binary as a child
//! process over a directory and a port that outlive it (so it can be killed and started again on
//! the same store), a start that must fail, and client helpers (connect with an expected
//! session-present flag, wait for the broker to close after DISCONNECT, binary PUBLISH packets).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use amqtt_core::codec::{Packet, Publish, QoS, ReasonCode, SubAckCode};
pub(crate) use amqtt_tests::publish_bytes;
use amqtt_tests::{RawClient, amqtt_binary, connect_packet, free_port, pid};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long a broker may take to listen after it was spawned (a store to load, a loaded
/// machine).
const START_WITHIN: Duration = Duration::from_secs(15);

/// How long a broker may take to exit after SIGTERM (the store is closed, and maybe cleared).
const EXIT_WITHIN: Duration = Duration::from_secs(10);

/// How long to keep retrying a start whose listener could not bind because the port was still
/// held (by the killed broker's sockets, or briefly by another test's connection).
const BIND_RETRY_FOR: Duration = Duration::from_secs(5);

/// Silence long enough to say "nothing more is coming" on a broker that has nothing to do.
pub(crate) const SILENCE: Duration = Duration::from_millis(500);

/// Time given to the broker after the last packet before it is killed, so its store thread
/// has committed what that packet changed (in `sync: always` the acknowledgement already waits
/// for that commit; this covers state changes without one, e.g. a DISCONNECT).
pub(crate) const SETTLE: Duration = Duration::from_millis(300);

/// The `amqtt` binary, built once per test process (off the runtime's thread).
async fn binary() -> PathBuf {
    tokio::task::spawn_blocking(|| amqtt_binary("amqtt"))
        .await
        .expect("build the amqtt binary")
}

/// The configuration file's text: one TCP listener on `port`, the `extra` top-level keys,
/// anonymous access and the `store` lines under `plugins:` (indented by two spaces, e.g.
/// `"  persistence: {clear_on_shutdown: false}\n"`).
fn config_yaml(port: u16, extra: &str, store: &str) -> String {
    format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:{port}\n{extra}plugins:\n  \
         auth_anonymous:\n{store}"
    )
}

/// The `amqtt` broker as a child process with a persistent store: its working directory (where
/// a relative SQLite path lands) and its port are kept across [`StoreBroker::kill9`],
/// [`StoreBroker::terminate`] and [`StoreBroker::restart`]. Killed when dropped.
pub(crate) struct StoreBroker {
    dir: tempfile::TempDir,
    port: u16,
    extra: String,
    store: String,
    child: Option<Child>,
    /// Starts so far; each start's stdout and stderr go to `output-<n>.log` in the directory.
    starts: u32,
}

impl StoreBroker {
    /// Starts a broker in a new temporary directory with the `extra` top-level keys (each line
    /// ending in a newline, e.g. `"max_queued: 100000\n"`) and the `store` lines under
    /// `plugins:` (see [`config_yaml`]); waits until it listens.
    pub(crate) async fn start(extra: &str, store: &str) -> StoreBroker {
        let mut broker = StoreBroker::new(extra, store);
        broker.launch().await;
        broker
    }

    /// A broker as [`StoreBroker::start`] configures it, not started yet: a test can put files
    /// into [`StoreBroker::dir`] first, then [`StoreBroker::restart`] starts it.
    pub(crate) fn new(extra: &str, store: &str) -> StoreBroker {
        StoreBroker {
            dir: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
            extra: extra.to_owned(),
            store: store.to_owned(),
            child: None,
            starts: 0,
        }
    }

    /// The listener's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The broker's working directory, which holds the configuration, the output logs and any
    /// relative store file.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `name` in the working directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What the running (or last) broker process wrote to stdout and stderr: its log goes to
    /// stdout, errors that stop it from running to stderr.
    pub(crate) fn output_text(&self) -> String {
        let path = self.path(&format!("output-{}.log", self.starts));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// Kills the broker with SIGKILL, as a crash or `kill -9` would, and reaps it.
    pub(crate) fn kill9(&mut self) {
        let mut child = self.child.take().expect("the broker is running");
        child.kill().expect("SIGKILL the broker");
        child.wait().expect("reap the killed broker");
    }

    /// Stops the broker cleanly with SIGTERM and asserts it exits with success in time.
    pub(crate) async fn terminate(&mut self) {
        self.stop_with("-TERM").await;
    }

    /// Stops the broker cleanly with SIGINT (Ctrl-C) and asserts it exits with success in time.
    pub(crate) async fn interrupt(&mut self) {
        self.stop_with("-INT").await;
    }

    /// Sends `signal` (`kill`'s option, e.g. `-TERM`) and waits for a successful exit.
    async fn stop_with(&mut self, signal: &str) {
        let mut child = self.child.take().expect("the broker is running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed: {status}");
        let status = wait_exit(&mut child, EXIT_WITHIN).await.unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the broker did not exit within {EXIT_WITHIN:?} of kill {signal}; output:\n{}",
                self.output_text()
            )
        });
        assert!(
            status.success(),
            "the broker exited with {status} after kill {signal}; output:\n{}",
            self.output_text()
        );
    }

    /// Starts the broker (again) on the same directory, port and configuration.
    pub(crate) async fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running broker");
        self.launch().await;
    }

    /// Starts the broker again with other `extra` top-level keys.
    pub(crate) async fn restart_with_extra(&mut self, extra: &str) {
        extra.clone_into(&mut self.extra);
        self.restart().await;
    }

    /// Starts the broker again with other `store` lines under `plugins:`.
    pub(crate) async fn restart_with_store(&mut self, store: &str) {
        store.clone_into(&mut self.store);
        self.restart().await;
    }

    /// Writes the configuration, spawns `amqtt -c broker.yaml` in the directory and waits until
    /// it accepts connections; a start that fails because the port is still in use is retried
    /// for [`BIND_RETRY_FOR`].
    async fn launch(&mut self) {
        let binary = binary().await;
        let config = self.path("broker.yaml");
        std::fs::write(&config, config_yaml(self.port, &self.extra, &self.store))
            .expect("write the broker config");
        let retry_until = Instant::now() + BIND_RETRY_FOR;
        loop {
            self.starts += 1;
            let log = self.path(&format!("output-{}.log", self.starts));
            let child = spawn_amqtt(&binary, &config, self.dir.path(), &log);
            self.child = Some(child);
            match self.wait_listening().await {
                Ok(()) => return,
                Err(status) => {
                    let output = self.output_text();
                    let busy = output.contains("in use") || output.contains("AddrInUse");
                    assert!(
                        busy && Instant::now() < retry_until,
                        "the broker exited with {status} before listening; output:\n{output}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Waits until the port accepts a connection; `Err` with the exit status if the broker
    /// exited first. Panics (killing it) after [`START_WITHIN`].
    async fn wait_listening(&mut self) -> Result<(), ExitStatus> {
        let deadline = Instant::now() + START_WITHIN;
        let addr = self.addr();
        loop {
            let child = self.child.as_mut().expect("spawned");
            if let Some(status) = child.try_wait().expect("poll the amqtt process") {
                self.child = None;
                return Err(status);
            }
            if TcpStream::connect(addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                panic!(
                    "the broker did not listen within {START_WITHIN:?}; output:\n{}",
                    self.output_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for StoreBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A new file at `path` as the stdout and the stderr of a child process: one open file, so the
/// two streams interleave as written.
fn output_file(path: &Path) -> (Stdio, Stdio) {
    let file = std::fs::File::create(path).expect("create the output log");
    let clone = file.try_clone().expect("duplicate the output log's handle");
    (Stdio::from(file), Stdio::from(clone))
}

/// Polls `child` until it exits; `None` if it is still running after `within`.
async fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("poll the amqtt process") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts `amqtt` with the `store` lines under `plugins:` in a new directory, expecting it to
/// refuse to start: waits for its exit (killing it and failing the test if it is still running
/// after 10 s) and returns the exit status and what it wrote to stdout and stderr.
pub(crate) async fn start_expecting_failure(store: &str) -> (ExitStatus, String) {
    let binary = binary().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("broker.yaml");
    std::fs::write(&config, config_yaml(free_port(), "", store)).expect("write the config");
    let log = dir.path().join("output.log");
    let mut child = spawn_amqtt(&binary, &config, dir.path(), &log);
    let status = wait_exit(&mut child, Duration::from_secs(10)).await;
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the broker did not exit within 10 s; output:\n{output}");
    };
    (status, output)
}

/// Connects `client_id` with the clean-session flag `clean` and asserts the connection is
/// accepted with session-present `present`.
pub(crate) async fn connect(
    addr: SocketAddr,
    client_id: &str,
    clean: bool,
    present: bool,
) -> RawClient {
    let (client, ack) = RawClient::connect_with(addr, connect_packet(client_id, clean)).await;
    assert_eq!(ack.code, ReasonCode::Success, "CONNACK of {client_id}");
    assert_eq!(
        ack.session_present, present,
        "session present in the CONNACK of {client_id}"
    );
    client
}

/// Subscribes to `filters` and asserts each is granted at the QoS asked for.
pub(crate) async fn subscribe(client: &mut RawClient, id: u16, filters: &[(&str, QoS)]) {
    let ack = client.subscribe(id, filters).await;
    let granted: Vec<SubAckCode> = filters
        .iter()
        .map(|(_, qos)| SubAckCode::Success(*qos))
        .collect();
    assert_eq!(ack.codes, granted, "SUBACK of {filters:?}");
}

/// Sends DISCONNECT and waits until the broker closes the connection: by then it has taken the
/// session offline, so what is published next is queued for it, not sent.
pub(crate) async fn disconnect(mut client: RawClient) {
    client.send(Packet::Disconnect(Default::default())).await;
    client.expect_closed(Duration::from_secs(5)).await;
}

/// Publishes `payload` to `topic` with packet id `id` and completes the handshake of `qos`.
pub(crate) async fn publish(
    client: &mut RawClient,
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    id: u16,
) {
    let packet_id = (qos != QoS::AtMostOnce).then_some(id);
    client
        .send(Packet::Publish(publish_bytes(
            topic, payload, qos, retain, packet_id,
        )))
        .await;
    match qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => assert_eq!(client.recv().await, Packet::PubAck(pid(id).into())),
        QoS::ExactlyOnce => {
            assert_eq!(client.recv().await, Packet::PubRec(pid(id).into()));
            client.send(Packet::PubRel(pid(id).into())).await;
            assert_eq!(client.recv().await, Packet::PubComp(pid(id).into()));
        }
    }
}

/// A message a subscriber expects: topic, payload, QoS, retain flag (DUP 0).
pub(crate) type Expected<'a> = (&'a str, &'a [u8], QoS, bool);

/// Receives `expected` in order, asserting each PUBLISH's topic, payload, QoS, retain flag and
/// DUP 0, and completes the receiver's handshake of each: PUBACK, or PUBREC and then PUBCOMP
/// for its PUBREL, which may come after the next PUBLISH (the broker pipelines deliveries).
/// Returns once every message has arrived and every QoS 2 handshake is complete.
pub(crate) async fn expect_messages(client: &mut RawClient, expected: &[Expected<'_>]) {
    let mut next = 0;
    let mut awaiting_rel = Vec::new();
    while next < expected.len() || !awaiting_rel.is_empty() {
        match client.recv().await {
            Packet::Publish(publish) => {
                let Some(&(topic, payload, qos, retain)) = expected.get(next) else {
                    panic!(
                        "unexpected {publish:?} after the {} expected",
                        expected.len()
                    );
                };
                let id = publish.packet_id;
                assert_eq!(
                    publish,
                    Publish {
                        packet_id: id,
                        ..publish_bytes(topic, payload, qos, retain, None)
                    },
                    "message {next}: expected {topic} {payload:?} at {qos:?}, retain {retain}, \
                     DUP 0"
                );
                assert_eq!(
                    id.is_some(),
                    qos != QoS::AtMostOnce,
                    "packet id of {publish:?}"
                );
                match (qos, id) {
                    (QoS::AtLeastOnce, Some(id)) => client.send(Packet::PubAck(id.into())).await,
                    (QoS::ExactlyOnce, Some(id)) => {
                        client.send(Packet::PubRec(id.into())).await;
                        awaiting_rel.push(id);
                    }
                    _ => {}
                }
                next += 1;
            }
            Packet::PubRel(amqtt_core::codec::Ack { packet_id: id, .. }) => {
                let at = awaiting_rel.iter().position(|a| *a == id);
                let at = at.unwrap_or_else(|| panic!("PUBREL {id} for no PUBREC"));
                awaiting_rel.remove(at);
                client.send(Packet::PubComp(id.into())).await;
            }
            other => panic!("expected PUBLISH or PUBREL, got {other:?}"),
        }
    }
}

/// [`expect_messages`] for one message.
pub(crate) async fn expect_message(
    client: &mut RawClient,
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
) {
    expect_messages(client, &[(topic, payload, qos, retain)]).await;
}

/// A prefix unique to this test process, for client ids and topics in a store other test
/// runs may share (PostgreSQL).
pub(crate) fn run_tag() -> String {
    format!("p{}", std::process::id())
}

/// Starts `amqtt -c config` in `dir`, logging at info (uncoloured) to `log`.
fn spawn_amqtt(binary: &Path, config: &Path, dir: &Path, log: &Path) -> Child {
    let (stdout, stderr) = output_file(log);
    Command::new(binary)
        .arg("-c")
        .arg(config)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("spawn amqtt")
}
