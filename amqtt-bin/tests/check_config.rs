//! End-to-end tests of the `amqtt` binary's `--check-config`, port-less and external listeners,
//! the error for a value that is no boolean even in aMQTT's YAML 1.1, and `--log-format json`:
//! the real binary, its exit code and its output.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Runs `amqtt` with `args` to completion.
fn amqtt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_amqtt"))
        .args(args)
        .output()
        .expect("run amqtt")
}

/// A configuration file in a directory of its own, removed when dropped.
struct ConfigFile {
    dir: PathBuf,
    file: PathBuf,
}

impl ConfigFile {
    fn new(test: &str, yaml: &str) -> ConfigFile {
        let dir = std::env::temp_dir().join(format!("amqtt-check-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let file = dir.join("amqtt.yaml");
        std::fs::write(&file, yaml).expect("write config");
        ConfigFile { dir, file }
    }

    fn path(&self) -> &str {
        self.file.to_str().expect("UTF-8 temp path")
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn check_config_of_the_embedded_default_prints_what_would_run_and_exits_0() {
    let output = amqtt(&["--check-config"]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("default: tcp, bind 0.0.0.0:1883"), "{out}");
    // Each plugin under its name, with the configuration it runs with.
    for shown in [
        "  event_logger: null\n",
        "  auth_anonymous:\n    allow_anonymous: true\n",
        "  broker_sys:\n    sys_interval: 20\n",
    ] {
        assert!(out.contains(shown), "`{shown}` missing from: {out}");
    }
    assert!(!out.contains("BrokerSysPlugin"), "{out}");
    assert!(
        out.ends_with("configuration OK: the embedded default configuration\n"),
        "{out}"
    );
}

#[test]
fn check_config_masks_secrets_and_shows_listener_forms() {
    let config = ConfigFile::new(
        "masked",
        "listeners:
  default:
    bind: 127.0.0.1
  app:
    type: external
plugins:
  auth_jwt:
    secret_key: hunter2-jwt
    user_claim: sub
  auth_anonymous:
  metrics: {}
  persistence:
    connection: postgresql://amqtt:hunter2-db@db.invalid/amqtt
",
    );
    let output = amqtt(&["--check-config", "-c", config.path()]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    let out = stdout(&output);
    assert!(!out.contains("hunter2"), "secret shown: {out}");
    assert!(out.contains("secret_key: '****'"), "{out}");
    assert!(out.contains("user_claim: sub"), "{out}");
    // The effective configuration: keys left out show the defaults they take, the store's
    // too (not opened: its server need not exist).
    for shown in [
        "    algorithm: null\n",
        "  auth_anonymous:\n    allow_anonymous: true\n",
        "  metrics:\n    bind: 127.0.0.1:9100\n",
        "    connection: postgresql://amqtt:****@db.invalid/amqtt\n",
        "    sync: always\n",
    ] {
        assert!(out.contains(shown), "`{shown}` missing from: {out}");
    }
    // A bind without a port takes the transport's default; an external listener binds nothing.
    assert!(out.contains("default: tcp, bind 127.0.0.1:1883"), "{out}");
    assert!(out.contains("app: external, binds nothing"), "{out}");
    assert!(
        out.contains(&format!("configuration OK: {}", config.path())),
        "{out}"
    );
}

/// `--check-config` fails exactly as the broker would: same message, exit 1.
fn assert_fails_as_the_broker(config: &ConfigFile, expected: &[&str]) {
    let checked = amqtt(&["--check-config", "-c", config.path()]);
    assert_eq!(
        checked.status.code(),
        Some(1),
        "stdout: {}",
        stdout(&checked)
    );
    let message = stderr(&checked);
    for part in expected {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    let served = amqtt(&["-c", config.path()]);
    assert_eq!(served.status.code(), Some(1));
    assert_eq!(stderr(&served), message);
}

#[test]
fn check_config_names_a_missing_certificate_file_and_exits_1() {
    let config = ConfigFile::new(
        "cert",
        "listeners:
  default:
    bind: 127.0.0.1:0
  tls:
    bind: 127.0.0.1:0
    ssl: true
    certfile: missing-cert.pem
    keyfile: missing-key.pem
plugins:
  auth_anonymous:
",
    );
    assert_fails_as_the_broker(&config, &["listener `tls`", "missing-cert.pem"]);
}

#[test]
fn check_config_refuses_a_bad_address_and_an_unknown_plugin() {
    let config = ConfigFile::new(
        "addr",
        "listeners:\n  default:\n    bind: 127.0.0.1:99999\n",
    );
    assert_fails_as_the_broker(
        &config,
        &["listeners.default.bind", "127.0.0.1:99999", "expected"],
    );
    // Resolved, not bound: a name without addresses fails as `bind` would.
    let config = ConfigFile::new(
        "host",
        "listeners:\n  default:\n    bind: no-such-host.invalid\nplugins:\n  auth_anonymous:\n",
    );
    assert_fails_as_the_broker(
        &config,
        &["listener `default`", "no-such-host.invalid:1883"],
    );
    let config = ConfigFile::new(
        "plugin",
        "listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins:\n  auth_anonymus:\n",
    );
    assert_fails_as_the_broker(&config, &["auth_anonymus", "auth_anonymous"]);
}

#[test]
fn a_value_that_is_no_boolean_in_yaml_1_1_either_names_file_key_and_spellings() {
    let config = ConfigFile::new(
        "maybe",
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n  my-tcp-ssl-1:\n    ssl: maybe\n",
    );
    let expected = format!(
        "amqtt: config file {}: key `listeners.my-tcp-ssl-1.ssl`: invalid type: string \"maybe\", \
         expected a boolean: true/false, yes/no, on/off or y/n at line 5 column 10\n",
        config.path()
    );
    assert_fails_as_the_broker(&config, &[&expected]);
    assert_eq!(stderr(&amqtt(&["-c", config.path()])), expected);
}

#[test]
fn check_config_checks_the_address_of_the_metrics_plugin() {
    let config = ConfigFile::new(
        "metrics-port",
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n\
         plugins:\n  auth_anonymous:\n  metrics:\n    bind: 127.0.0.1:99999\n",
    );
    assert_fails_as_the_broker(
        &config,
        &[
            "plugin `metrics`",
            "cannot bind 127.0.0.1:99999",
            "invalid port",
        ],
    );
    let config = ConfigFile::new(
        "metrics-host",
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n\
         plugins:\n  auth_anonymous:\n  metrics:\n    bind: no-such-host.invalid:9100\n",
    );
    assert_fails_as_the_broker(
        &config,
        &["plugin `metrics`", "cannot bind no-such-host.invalid:9100"],
    );
}

#[test]
fn check_config_reads_the_store_section_without_opening_the_store() {
    let config = ConfigFile::new(
        "store",
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n\
         plugins:\n  auth_anonymous:\n  persistence:\n    sync: sometimes\n",
    );
    assert_fails_as_the_broker(&config, &["plugins.persistence.sync", "sometimes"]);
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let config = ConfigFile::new(
        "json",
        "listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins:\n  auth_anonymous:\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_amqtt"))
        .args(["--log-format", "json", "-c", config.path()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn amqtt");
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let listening = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = received.recv_timeout(left) else {
            break None;
        };
        let value: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        let message = value["fields"]["message"].as_str().map(str::to_owned);
        seen.push(line);
        if message.as_deref() == Some("listening") {
            break Some(value);
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let listening = listening.unwrap_or_else(|| panic!("no `listening` line in {seen:?}"));
    assert_eq!(listening["level"], "INFO");
    assert_eq!(listening["fields"]["listener"], "default");
}
