//! Helpers for the end-to-end tests: everything of `amqtt-test` (a broker on `127.0.0.1:0`,
//! raw MQTT 3.1.1 and 5.0 test clients that assert on the exact packets the broker sends,
//! packet builders, timed waits), and what only this repository's tests need: its binaries and
//! the external services the contributed plugins' tests use.

use std::time::Duration;

use tokio::net::TcpStream;

pub mod nats;
mod process;

pub use amqtt_test::*;
pub use process::{AmqttProcess, slow_file};

/// The path of the `amqtt-bin` binary `name` (`amqtt`, `amqtt_pub`, `amqtt_passwd`, ...), built
/// once per test process into this test's target directory and profile: Cargo does not build
/// another package's binaries for integration tests.
pub fn amqtt_binary(name: &str) -> std::path::PathBuf {
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;
    static PROFILE_DIR: OnceLock<PathBuf> = OnceLock::new();
    let profile_dir = PROFILE_DIR.get_or_init(|| {
        // A test executable is <target-dir>/<profile>/deps/<name>-<hash>.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("executable under <target>/<profile>/deps");
        let target_dir = profile_dir
            .parent()
            .expect("profile directory has a parent");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = std::process::Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "-p",
                "amqtt-bin",
                "--bins",
                "--target-dir",
            ])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(
            status.success(),
            "cargo build of amqtt-bin failed: {status}"
        );
        profile_dir.to_path_buf()
    });
    let binary = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.is_file(), "{} was not built", binary.display());
    binary
}

/// Whether the service `name` (PostgreSQL, MariaDB, OpenLDAP, ...) accepts TCP connections at
/// `addr`. When it does not, the test is to be skipped: this says so in one line, and under CI
/// (`CI` set), where every service must run, it fails the test instead.
pub async fn service_reachable(name: &str, addr: &str) -> bool {
    let probe = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr)).await;
    if matches!(probe, Ok(Ok(_))) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{name} not reachable at {addr}, and CI is set"
    );
    println!("skipping: {name} not reachable at {addr}");
    false
}
