//! End-to-end tests of the `amqtt_pub` and `amqtt_sub` binaries against the Mosquitto broker,
//! over TCP (`mqtt://`), TLS (`mqtts://`) and WebSocket (`ws://`).
//!
//! Each test starts a private `mosquitto` on free 127.0.0.1 ports, from a configuration file
//! written to a temporary directory. When `mosquitto` is not installed a test prints
//! `skipped: ...` and passes, unless `CI` is set: CI must run them (`.ci/run` installs
//! `mosquitto`).
//!
//! The binaries belong to another package (`amqtt-bin`); the first test to need them builds
//! them once, into the target directory and profile of this test executable. Every child is
//! killed when dropped and waited for at most [`CHILD_TIMEOUT`].

#[path = "transports/common.rs"]
#[allow(
    dead_code,
    reason = "shared with the transport tests; only the PKI is used here"
)]
mod common;

use amqtt_tests::{amqtt_binary, free_port};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

/// The longest a test waits for one child.
const CHILD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long mosquitto may take to listen on all its ports.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// A command for the built binary `name`, without inherited log settings.
fn tool(name: &str) -> Command {
    let binary = amqtt_binary(name);
    assert!(binary.is_file(), "{} was not built", binary.display());
    let mut command = Command::new(binary);
    command.env_remove("RUST_LOG").kill_on_drop(true);
    command
}

/// Where `program` is: found on `PATH`, else in the `sbin` directories where Debian installs
/// `mosquitto` (not on a normal user's `PATH`), else `program` itself (which then fails to start).
fn locate(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

/// True when `mosquitto` can be started here. Otherwise prints why the test is skipped and
/// returns false, or panics when `CI` is set.
async fn mosquitto_installed() -> bool {
    let child = Command::new(locate("mosquitto"))
        .arg("-h")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    // Starting it is proof enough: `-h` may exit non-zero.
    let installed = match child {
        Ok(mut child) => timeout(CHILD_TIMEOUT, child.wait())
            .await
            .is_ok_and(|s| s.is_ok()),
        Err(_) => false,
    };
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "mosquitto not installed, but CI is set and CI must run these tests \
             (CI installs it via .ci/run)"
        );
        eprintln!("skipped: mosquitto not installed (CI installs it via .ci/run)");
    }
    installed
}

/// A private mosquitto broker with TCP, TLS and WebSocket listeners, killed when dropped.
struct Mosquitto {
    dir: tempfile::TempDir,
    child: Child,
    /// The plain MQTT listener.
    tcp: SocketAddr,
    /// The TLS listener.
    tls: SocketAddr,
    /// The WebSocket listener.
    ws: SocketAddr,
    /// Its certificates, kept alive for the TLS listener.
    pki: common::Pki,
}

impl Mosquitto {
    /// Writes a configuration with the three listeners and starts mosquitto on it.
    async fn start() -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = common::Pki::new();
        let addr = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let (tcp, tls, ws) = (addr(free_port()), addr(free_port()), addr(free_port()));
        let log = dir.path().join("mosquitto.log");
        let conf = format!(
            "persistence false\nlog_dest file {}\nlog_type all\nallow_anonymous true\n\
             listener {} 127.0.0.1\n\
             listener {} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
             listener {} 127.0.0.1\nprotocol websockets\n",
            log.display(),
            tcp.port(),
            tls.port(),
            pki.ca_file.display(),
            pki.cert_file.display(),
            pki.key_file.display(),
            ws.port()
        );
        let conf_path = dir.path().join("mosquitto.conf");
        std::fs::write(&conf_path, conf).expect("write mosquitto.conf");
        let child = Command::new(locate("mosquitto"))
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start mosquitto");
        let mut mosquitto = Mosquitto {
            dir,
            child,
            tcp,
            tls,
            ws,
            pki,
        };
        mosquitto.wait_listening().await;
        mosquitto
    }

    /// Its log so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Waits (bounded) until every listener accepts TCP connections.
    async fn wait_listening(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        for addr in [self.tcp, self.tls, self.ws] {
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("mosquitto exited with {status}:\n{}", self.log());
                }
                if TcpStream::connect(addr).await.is_ok() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "mosquitto not listening on {addr} within {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
                sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Runs `command` (stdin empty) to completion within [`CHILD_TIMEOUT`].
async fn run(mut command: Command) -> Output {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("spawn child");
    timeout(CHILD_TIMEOUT, child.wait_with_output())
        .await
        .expect("child finishes in time")
        .expect("child output")
}

/// A running `amqtt_sub` whose subscription the broker has acknowledged.
struct Subscriber {
    child: Child,
}

impl Subscriber {
    /// Starts `amqtt_sub --url URL -d ARGS` and waits until it logs that it is subscribed.
    async fn start(url: &str, args: &[&str]) -> Subscriber {
        let mut child = tool("amqtt_sub")
            .arg("--url")
            .arg(url)
            .arg("-d")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn amqtt_sub");
        let stderr = child.stderr.take().expect("stderr piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let subscribed = timeout(CHILD_TIMEOUT, async {
            while let Some(line) = lines.next_line().await.expect("read stderr") {
                let done = line.contains("subscribed to");
                seen.push(line);
                if done {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(subscribed, Ok(true)),
            "amqtt_sub did not subscribe; stderr:\n{}",
            seen.join("\n")
        );
        // Keep draining the debug log so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Subscriber { child }
    }

    /// Waits for the subscriber to exit; returns its status and standard output.
    async fn finish(self) -> (std::process::ExitStatus, String) {
        let output = timeout(CHILD_TIMEOUT, self.child.wait_with_output())
            .await
            .expect("amqtt_sub finishes in time")
            .expect("amqtt_sub output");
        (
            output.status,
            String::from_utf8(output.stdout).expect("UTF-8 output"),
        )
    }
}

/// The scenario against `url`: `amqtt_sub -t 'a/#' -n 3 -v` receives three messages
/// sent by three runs of `amqtt_pub`, prints exactly them and exits 0. `extra` goes to both
/// tools (e.g. `--ca-file`).
async fn sub_gets_three_from_pub(broker: &Mosquitto, url: &str, extra: &[&str]) {
    let mut sub_args = extra.to_vec();
    sub_args.extend(["-t", "a/#", "-n", "3", "-v"]);
    let sub = Subscriber::start(url, &sub_args).await;
    for (topic, payload) in [("a/x", "one"), ("a/y", "two"), ("a/z", "three")] {
        let mut command = tool("amqtt_pub");
        command
            .arg("--url")
            .arg(url)
            .args(extra)
            .args(["-t", topic, "-m", payload]);
        let output = run(command).await;
        assert!(
            output.status.success(),
            "amqtt_pub -t {topic} -m {payload} to {url} failed: {}\nmosquitto log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            broker.log()
        );
    }
    let (status, stdout) = sub.finish().await;
    assert!(
        status.success(),
        "amqtt_sub on {url} exit: {status}\nmosquitto log:\n{}",
        broker.log()
    );
    assert_eq!(
        stdout, "a/x one\na/y two\na/z three\n",
        "amqtt_sub on {url}"
    );
}

#[tokio::test]
async fn pub_and_sub_over_tcp() {
    if !mosquitto_installed().await {
        return;
    }
    let broker = Mosquitto::start().await;
    let url = format!("mqtt://{}", broker.tcp);
    sub_gets_three_from_pub(&broker, &url, &[]).await;
}

#[tokio::test]
async fn pub_and_sub_over_tls() {
    if !mosquitto_installed().await {
        return;
    }
    let broker = Mosquitto::start().await;
    // `localhost` matches the server certificate's subject alternative name.
    let url = format!("mqtts://localhost:{}", broker.tls.port());
    let ca_file = broker.pki.ca_file.to_str().expect("UTF-8 path").to_owned();
    sub_gets_three_from_pub(&broker, &url, &["--ca-file", &ca_file]).await;
}

#[tokio::test]
async fn pub_and_sub_over_websocket() {
    if !mosquitto_installed().await {
        return;
    }
    let broker = Mosquitto::start().await;
    let url = format!("ws://{}/mqtt", broker.ws);
    sub_gets_three_from_pub(&broker, &url, &[]).await;
}
