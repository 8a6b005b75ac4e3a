//! End-to-end tests of the `amqtt` binary: `--version`, configuration errors that name the file
//! and the key, and a broker that serves and exits cleanly on SIGTERM.
//!
//! The binary belongs to another package (`amqtt-bin`), so Cargo does not build it for these
//! tests; the first test to need it builds it once, into the target directory and profile of
//! this test executable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use amqtt_core::codec::ReasonCode;
use amqtt_tests::{RawClient, amqtt_binary, connect_packet, free_port};
use tokio::net::TcpStream;

/// Runs `amqtt` with `args` to completion.
fn run(args: &[&str]) -> Output {
    Command::new(amqtt_binary("amqtt"))
        .args(args)
        .output()
        .expect("run amqtt")
}

/// A temporary file that is removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("amqtt-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("UTF-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn version_prints_the_version_and_exits_0() {
    let output = run(&["--version"]);
    assert!(output.status.success(), "status {}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.trim(),
        format!("amqtt {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn missing_config_file_exits_1_and_names_the_file() {
    let path = std::env::temp_dir().join(format!("amqtt-cli-{}-missing.yaml", std::process::id()));
    let path = path.to_str().expect("UTF-8 temp path");
    let output = run(&["-c", path]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(path),
        "stderr does not name {path}: {stderr}"
    );
}

#[test]
fn invalid_config_value_exits_1_and_names_file_key_and_expectation() {
    let file = TempFile::new(
        "lots.yaml",
        "listeners: {default: {max_connections: lots}}\n",
    );
    let output = run(&["-c", file.path()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(file.path()), "no file name in: {stderr}");
    assert!(
        stderr.contains("listeners.default.max_connections"),
        "no key path in: {stderr}"
    );
    assert!(stderr.contains("expected"), "no expectation in: {stderr}");
    assert!(stderr.contains("lots"), "no offending value in: {stderr}");
}

/// Kills the child on drop, so a failing test does not leave a broker running.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts TCP connections on `addr`.
async fn wait_for_listener(addr: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        if let Some(status) = child.try_wait().expect("poll amqtt") {
            panic!("amqtt exited early with {status}");
        }
        assert!(Instant::now() < deadline, "amqtt did not listen on {addr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn zero_workers_is_refused_with_exit_2() {
    let out = run(&["--workers", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--workers"), "stderr: {stderr}");
}

/// Also runs the broker on a one-worker runtime (`--workers 1`); the other tests that start the
/// binary use the default, one worker per core.
#[tokio::test]
async fn broker_serves_and_exits_0_on_sigterm() {
    let port = free_port();
    let file = TempFile::new(
        "serve.yaml",
        &format!(
            "listeners:\n  default:\n    bind: 127.0.0.1:{port}\nplugins:\n  auth_anonymous:\n"
        ),
    );
    let child = Command::new(amqtt_binary("amqtt"))
        .args(["--workers", "1", "-c", file.path()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn amqtt");
    let mut child = KillOnDrop(child);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for_listener(addr, &mut child.0).await;

    let (mut client, ack) = RawClient::connect_with(addr, connect_packet("cli", true)).await;
    assert_eq!(ack.code, ReasonCode::Success);

    let kill = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());

    client.expect_closed(Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("poll amqtt") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "amqtt still running after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0), "exit status {status}");
}
