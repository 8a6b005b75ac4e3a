//! End-to-end tests of the `amqtt_pub` and `amqtt_sub` binaries against our broker (over TCP,
//! WebSocket and TLS) and with Mosquitto's command-line clients. The Mosquitto tests print
//! `skipped: ...` and pass when the tools are missing, unless `CI` is set.
//!
//! The binaries belong to another package (`amqtt-bin`); the first test to need them builds
//! them once, into the target directory and profile of this test executable. Every child is
//! killed when dropped and waited for at most [`CHILD_TIMEOUT`].

#[path = "transports/common.rs"]
#[allow(
    dead_code,
    reason = "shared with the transport tests; only the PKI and `start` are used here"
)]
mod common;

use std::net::SocketAddr;
use std::process::{Output, Stdio};
use std::time::Duration;

use amqtt_core::broker::Broker;
use amqtt_core::config::BrokerConfig;
use amqtt_plugins::PackagedPlugins;
use amqtt_tests::{TestBroker, amqtt_binary};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// The longest a test waits for one child.
const CHILD_TIMEOUT: Duration = Duration::from_secs(10);

/// A command for the built binary `name`, without inherited log settings.
fn tool(name: &str) -> Command {
    let binary = amqtt_binary(name);
    assert!(binary.is_file(), "{} was not built", binary.display());
    let mut command = Command::new(binary);
    command.env_remove("RUST_LOG").kill_on_drop(true);
    command
}

/// `mqtt://` URL of `addr`.
fn url(addr: SocketAddr) -> String {
    format!("mqtt://{addr}")
}

/// Runs `command` with `stdin` (empty if `None`) to completion within [`CHILD_TIMEOUT`].
async fn run(mut command: Command, stdin: Option<&[u8]>) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn child");
    let mut pipe = child.stdin.take().expect("stdin piped");
    if let Some(input) = stdin {
        pipe.write_all(input).await.expect("write stdin");
    }
    drop(pipe);
    tokio::time::timeout(CHILD_TIMEOUT, child.wait_with_output())
        .await
        .expect("child finishes in time")
        .expect("child output")
}

/// Runs `amqtt_pub` with `args` (after `--url`) and `stdin`, and checks that it succeeds.
async fn publish(addr: SocketAddr, args: &[&str], stdin: Option<&[u8]>) {
    let mut command = tool("amqtt_pub");
    command.arg("--url").arg(url(addr)).args(args);
    let output = run(command, stdin).await;
    assert!(
        output.status.success(),
        "amqtt_pub {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
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
        let subscribed = tokio::time::timeout(CHILD_TIMEOUT, async {
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
        let output = tokio::time::timeout(CHILD_TIMEOUT, self.child.wait_with_output())
            .await
            .expect("amqtt_sub finishes in time")
            .expect("amqtt_sub output");
        (
            output.status,
            String::from_utf8(output.stdout).expect("UTF-8 output"),
        )
    }
}

/// A temporary file holding `contents`.
fn temp_file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    std::io::Write::write_all(&mut file, contents.as_bytes()).expect("write temp file");
    file
}

#[tokio::test]
async fn sub_receives_three_messages_from_pub_m_l_and_f() {
    let broker = TestBroker::start("").await;
    let sub = Subscriber::start(&url(broker.addr), &["-t", "a/#", "-n", "3", "-v"]).await;
    publish(broker.addr, &["-t", "a/1", "-m", "one"], None).await;
    publish(broker.addr, &["-t", "a/2", "-q", "1", "-l"], Some(b"two\n")).await;
    let file = temp_file("three\n");
    let path = file.path().to_str().expect("UTF-8 path");
    publish(broker.addr, &["-t", "a/3", "-q", "2", "-f", path], None).await;
    let (status, stdout) = sub.finish().await;
    assert!(status.success(), "amqtt_sub exit: {status}");
    assert_eq!(stdout, "a/1 one\na/2 two\na/3 three\n");
}

#[tokio::test]
async fn lines_and_files_give_one_message_per_non_empty_line() {
    let broker = TestBroker::start("").await;
    let sub = Subscriber::start(&url(broker.addr), &["-t", "l", "-n", "4"]).await;
    publish(
        broker.addr,
        &["-t", "l", "-q", "1", "-l"],
        Some(b"a\n\nb\r\n"),
    )
    .await;
    let file = temp_file("c\nd");
    let path = file.path().to_str().expect("UTF-8 path");
    publish(broker.addr, &["-t", "l", "-q", "1", "-f", path], None).await;
    let (status, stdout) = sub.finish().await;
    assert!(status.success(), "amqtt_sub exit: {status}");
    assert_eq!(stdout, "a\nb\nc\nd\n");
}

#[tokio::test]
async fn stdin_is_one_message_and_no_message_is_empty() {
    let broker = TestBroker::start("").await;
    let sub = Subscriber::start(&url(broker.addr), &["-t", "s/+", "-n", "2", "-v"]).await;
    publish(
        broker.addr,
        &["-t", "s/all", "-q", "1", "-s"],
        Some(b"x\ny"),
    )
    .await;
    publish(broker.addr, &["-t", "s/empty", "-q", "1", "-n"], None).await;
    let (status, stdout) = sub.finish().await;
    assert!(status.success(), "amqtt_sub exit: {status}");
    assert_eq!(stdout, "s/all x\ny\ns/empty \n");
}

#[tokio::test]
async fn retained_message_reaches_a_later_subscriber() {
    let broker = TestBroker::start("").await;
    publish(
        broker.addr,
        &["-t", "r/1", "-r", "-q", "1", "-m", "kept"],
        None,
    )
    .await;
    let sub = Subscriber::start(&url(broker.addr), &["-t", "r/#", "-n", "1", "-v"]).await;
    let (status, stdout) = sub.finish().await;
    assert!(status.success(), "amqtt_sub exit: {status}");
    assert_eq!(stdout, "r/1 kept\n");
}

#[tokio::test]
async fn sub_exits_cleanly_on_sigint() {
    let broker = TestBroker::start("").await;
    let sub = Subscriber::start(&url(broker.addr), &["-t", "never"]).await;
    let pid = sub.child.id().expect("running child").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let (status, stdout) = sub.finish().await;
    assert!(status.success(), "amqtt_sub exit on SIGINT: {status}");
    assert_eq!(stdout, "");
}

#[tokio::test]
async fn refused_connection_names_the_connack_code() {
    let broker = TestBroker::<PackagedPlugins>::start_with_plugins(
        "plugins:\n  auth_anonymous:\n    allow_anonymous: false\n",
    )
    .await;
    for (name, args) in [
        ("amqtt_pub", ["-t", "x", "-m", "hi"]),
        ("amqtt_sub", ["-t", "x", "-n", "1"]),
    ] {
        let mut command = tool(name);
        command.arg("--url").arg(url(broker.addr)).args(args);
        let output = run(command, None).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name} succeeded");
        assert!(stderr.contains("not authorized"), "{name} stderr: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{name}: {stderr}");
    }
}

#[tokio::test]
async fn unreachable_broker_names_the_url_without_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let url = format!("mqtt://user:secret@127.0.0.1:{port}");
    for (name, args) in [
        ("amqtt_pub", ["-t", "x", "-m", "hi"]),
        ("amqtt_sub", ["-t", "x", "-n", "1"]),
    ] {
        let mut command = tool(name);
        command.arg("--url").arg(&url).args(args);
        let output = run(command, None).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name} succeeded");
        assert!(
            stderr.contains(&format!("mqtt://user:****@127.0.0.1:{port}")),
            "{name} stderr: {stderr}"
        );
        assert!(!stderr.contains("secret"), "{name} shows the password");
    }
}

#[tokio::test]
async fn two_message_sources_are_a_usage_error() {
    let mut command = tool("amqtt_pub");
    command.args(["-t", "x", "-m", "hi", "-l"]);
    let output = run(command, None).await;
    assert_eq!(output.status.code(), Some(2));
    let mut command = tool("amqtt_pub");
    command.args(["-t", "x"]);
    assert_eq!(run(command, None).await.status.code(), Some(2));
    let mut command = tool("amqtt_sub");
    command.args(["-n", "1"]);
    assert_eq!(run(command, None).await.status.code(), Some(2));
}

#[tokio::test]
async fn pub_and_sub_work_over_websocket() {
    let yaml = "listeners:\n  default:\n    type: ws\n    bind: 127.0.0.1:0\nplugins: {}\n";
    let config = BrokerConfig::from_yaml(yaml).expect("valid YAML");
    let broker = TestBroker::serve(Broker::<()>::bind(config).await.expect("broker binds"));
    let ws = format!("ws://{}", broker.addr);
    let sub = Subscriber::start(
        &ws,
        &[
            "-t",
            "w/#",
            "-n",
            "1",
            "-v",
            "--extra-headers",
            r#"{"X-Test": "1"}"#,
        ],
    )
    .await;
    let mut command = tool("amqtt_pub");
    command.args(["--url", &ws, "-t", "w/1", "-q", "1", "-m", "over ws"]);
    let output = run(command, None).await;
    assert!(output.status.success(), "{output:?}");
    let (status, stdout) = sub.finish().await;
    assert!(status.success(), "amqtt_sub exit: {status}");
    assert_eq!(stdout, "w/1 over ws\n");
}

#[tokio::test]
async fn pub_and_sub_work_over_tls_and_secure_websocket() {
    let pki = common::Pki::new();
    let tls = pki.tls_keys();
    let yaml = format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n  tls:\n    bind: 127.0.0.1:0\n{tls}  \
         wss:\n    type: ws\n    bind: 127.0.0.1:0\n{tls}plugins: {{}}\n"
    );
    let (broker, addrs) = common::start(&yaml, ()).await;
    let ca_file = pki.ca_file.to_str().expect("UTF-8 path");
    for url in [
        format!("mqtts://localhost:{}", addrs["tls"].port()),
        format!("wss://127.0.0.1:{}/mqtt", addrs["wss"].port()),
    ] {
        let sub =
            Subscriber::start(&url, &["--ca-file", ca_file, "-t", "t/#", "-n", "1", "-v"]).await;
        let mut command = tool("amqtt_pub");
        command.args([
            "--url",
            &url,
            "--ca-file",
            ca_file,
            "-t",
            "t/1",
            "-q",
            "1",
            "-m",
            "secure",
        ]);
        let output = run(command, None).await;
        assert!(output.status.success(), "{url}: {output:?}");
        let (status, stdout) = sub.finish().await;
        assert!(status.success(), "{url}: amqtt_sub exit: {status}");
        assert_eq!(stdout, "t/1 secure\n", "{url}");
    }
    // Without the CA the server certificate does not verify.
    let mut command = tool("amqtt_pub");
    let url = format!("mqtts://localhost:{}", addrs["tls"].port());
    command.args(["--url", &url, "-t", "t/1", "-m", "x"]);
    let output = run(command, None).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains(&url));
    drop(broker);
}

/// True when the Mosquitto tools are installed. Otherwise prints why the test is skipped and
/// returns false, or panics when `CI` is set (CI installs them via `.ci/run`).
fn mosquitto_tools() -> bool {
    let found = ["mosquitto_pub", "mosquitto_sub"].iter().all(|name| {
        std::process::Command::new(name)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "mosquitto_pub/mosquitto_sub not installed, but CI is set and must run this test"
        );
        eprintln!(
            "skipped: mosquitto_pub/mosquitto_sub not installed (CI installs them via .ci/run)"
        );
    }
    found
}

#[tokio::test]
async fn amqtt_sub_receives_from_mosquitto_pub() {
    if !mosquitto_tools() {
        return;
    }
    let broker = TestBroker::start("").await;
    let sub = Subscriber::start(
        &url(broker.addr),
        &["-t", "m/#", "-n", "2", "-v", "-q", "2"],
    )
    .await;
    let port = broker.addr.port().to_string();
    for (topic, payload) in [("m/1", "from mosquitto"), ("m/2", "again")] {
        let mut command = Command::new("mosquitto_pub");
        command.kill_on_drop(true).args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
        ]);
        let output = run(command, None).await;
        assert!(output.status.success(), "mosquitto_pub: {output:?}");
    }
    let (status, stdout) = sub.finish().await;
    assert!(status.success(), "amqtt_sub exit: {status}");
    assert_eq!(stdout, "m/1 from mosquitto\nm/2 again\n");
}

#[tokio::test]
async fn mosquitto_sub_receives_from_amqtt_pub() {
    if !mosquitto_tools() {
        return;
    }
    let broker = TestBroker::start("").await;
    // Retained, so mosquitto_sub gets it whenever its subscription lands.
    publish(
        broker.addr,
        &["-t", "p/1", "-q", "2", "-r", "-m", "from amqtt"],
        None,
    )
    .await;
    let mut command = Command::new("mosquitto_sub");
    command.kill_on_drop(true).args([
        "-h",
        "127.0.0.1",
        "-p",
        &broker.addr.port().to_string(),
        "-t",
        "p/#",
        "-C",
        "1",
        "-v",
    ]);
    let output = run(command, None).await;
    assert!(output.status.success(), "mosquitto_sub: {output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "p/1 from amqtt\n");
}

#[tokio::test]
async fn refused_subscription_is_an_error() {
    let broker = TestBroker::<PackagedPlugins>::start_with_plugins(
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n  \
         amqtt.plugins.topic_checking.TopicTabooPlugin:\n",
    )
    .await;
    let mut command = tool("amqtt_sub");
    command
        .arg("--url")
        .arg(format!("mqtt://bob@{}", broker.addr))
        .args(["-t", "news", "-t", "prohibited", "-n", "1"]);
    let output = run(command, None).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "amqtt_sub succeeded");
    assert!(
        stderr.contains("prohibited") && stderr.contains("0x80") && !stderr.contains("news"),
        "stderr: {stderr}"
    );
}

#[tokio::test]
async fn config_file_gives_the_url_and_version_prints() {
    let broker = TestBroker::start("").await;
    let config = temp_file(&format!(
        "keep_alive: 5\nconnection:\n  uri: {}\n",
        url(broker.addr)
    ));
    let config = config.path().to_str().expect("UTF-8 path");
    let mut command = tool("amqtt_pub");
    command.args([
        "-c",
        config,
        "-t",
        "c/1",
        "-r",
        "-q",
        "1",
        "-m",
        "via config",
    ]);
    let output = run(command, None).await;
    assert!(output.status.success(), "{output:?}");
    let mut command = tool("amqtt_sub");
    command.args(["-c", config, "-t", "c/1", "-n", "1"]);
    let output = run(command, None).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "via config\n");
    for name in ["amqtt_pub", "amqtt_sub"] {
        let mut command = tool(name);
        command.arg("--version");
        let output = run(command, None).await;
        assert!(output.status.success());
        assert!(String::from_utf8_lossy(&output.stdout).starts_with(name));
    }
}
