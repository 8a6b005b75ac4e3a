//! Hot reload of the stock `amqtt` binary on a real SIGHUP: the password file and the topic ACL
//! of the configuration file are read again and put in force together; when one of them is bad,
//! neither changes and the log says why.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use amqtt_core::codec::{ByteString, QoS, ReasonCode, SubAckCode};
use amqtt_tests::{RawClient, amqtt_binary, connect_packet, wait_until};
use bytes::Bytes;

/// How long the broker may take to start listening.
const START_WITHIN: Duration = Duration::from_secs(20);

/// A running `amqtt -c <dir>/amqtt.yaml`, its output in `<dir>/amqtt.log`; killed on drop.
struct Amqtt {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Amqtt {
    /// Writes the configuration (users `users`, `alice` may subscribe to `alice_filters`) and
    /// starts the broker on a free port.
    async fn start(users: &[&str], alice_filters: &[&str]) -> Amqtt {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        write_config(dir.path(), port, users, alice_filters);
        let binary = tokio::task::spawn_blocking(|| amqtt_binary("amqtt"))
            .await
            .expect("build amqtt");
        let log = std::fs::File::create(dir.path().join("amqtt.log")).expect("log file");
        let child = Command::new(binary)
            .arg("-c")
            .arg(dir.path().join("amqtt.yaml"))
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start amqtt");
        let started = tokio::time::Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                started.elapsed() < START_WITHIN,
                "amqtt did not start listening"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Amqtt { child, addr, dir }
    }

    /// Sends SIGHUP and waits until the broker logged the outcome of that reload (`reloaded`
    /// or `reload refused`).
    async fn hang_up(&self) {
        let outcomes = || {
            let log = self.log();
            log.matches("reloaded").count() + log.matches("reload refused").count()
        };
        let before = outcomes();
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP failed");
        wait_until("the reload's outcome in the log", || outcomes() > before).await;
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("amqtt.log")).unwrap_or_default()
    }

    fn password_file(&self) -> PathBuf {
        self.dir.path().join("passwd")
    }
}

impl Drop for Amqtt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `dir/passwd` with `users` (each one's password is its name) and `dir/amqtt.yaml`.
fn write_config(dir: &Path, port: u16, users: &[&str], alice_filters: &[&str]) {
    write_users(&dir.join("passwd"), users);
    let filters = alice_filters
        .iter()
        .map(|f| format!("'{f}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let yaml = format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:{port}\nplugins:\n  auth_file:\n    \
         password_file: '{}'\n  topic_acl:\n    subscribe_acl:\n      alice: [{filters}]\n",
        dir.join("passwd").display()
    );
    std::fs::write(dir.join("amqtt.yaml"), yaml).expect("write config");
}

fn write_users(file: &Path, users: &[&str]) {
    let lines: String = users
        .iter()
        .map(|user| format!("{user}:{}\n", bcrypt::hash(user, 4).expect("bcrypt")))
        .collect();
    std::fs::write(file, lines).expect("write password file");
}

/// Connects as `user` (password: the user name) and returns the CONNACK code and the client.
async fn login(addr: SocketAddr, user: &str) -> (ReasonCode, RawClient) {
    login_as(addr, user, &format!("{user}-client")).await
}

/// As [`login`], with client id `client_id`.
async fn login_as(addr: SocketAddr, user: &str, client_id: &str) -> (ReasonCode, RawClient) {
    let mut connect = connect_packet(client_id, true);
    connect.username = Some(ByteString::from(user));
    connect.password = Some(Bytes::copy_from_slice(user.as_bytes()));
    let (client, ack) = RawClient::connect_with(addr, connect).await;
    (ack.code, client)
}

/// Whether `alice` may subscribe to `filter`.
async fn alice_may_subscribe(addr: SocketAddr, filter: &str) -> bool {
    let (code, mut alice) = login(addr, "alice").await;
    assert_eq!(code, ReasonCode::Success);
    let ack = alice.subscribe(1, &[(filter, QoS::AtMostOnce)]).await;
    alice.disconnect().await;
    matches!(ack.codes[..], [SubAckCode::Success(_)])
}

#[tokio::test]
async fn sighup_puts_a_new_password_file_and_acl_in_force_together_or_not_at_all() {
    let broker = Amqtt::start(&["alice"], &["a/#"]).await;
    let addr = broker.addr;
    assert_eq!(login(addr, "bob").await.0, ReasonCode::NotAuthorized);
    assert!(!alice_may_subscribe(addr, "b/1").await);
    let (_, mut up) = login_as(addr, "alice", "alice-up").await;

    // New users and a new ACL, one SIGHUP: both are in force.
    write_config(
        broker.dir.path(),
        addr.port(),
        &["alice", "bob"],
        &["a/#", "b/#"],
    );
    broker.hang_up().await;
    assert!(broker.log().contains("reloaded"), "{}", broker.log());
    assert_eq!(login(addr, "bob").await.0, ReasonCode::Success);
    assert!(alice_may_subscribe(addr, "b/1").await);

    // A new ACL with a broken password file: neither changes, the log names the file.
    write_config(
        broker.dir.path(),
        addr.port(),
        &["alice"],
        &["a/#", "b/#", "c/#"],
    );
    std::fs::write(broker.password_file(), "carol\n").expect("break the password file");
    broker.hang_up().await;
    let log = broker.log();
    assert!(log.contains("reload refused"), "{log}");
    let file = broker.password_file().display().to_string();
    let refused = log.lines().find(|line| line.contains("reload refused"));
    assert!(
        refused.is_some_and(|line| line.contains(&file)),
        "the error names the file: {log}"
    );
    assert_eq!(login(addr, "bob").await.0, ReasonCode::Success);
    assert!(!alice_may_subscribe(addr, "c/1").await);

    // The connection made before the reloads was never dropped.
    up.subscribe(1, &[("a/1", QoS::AtMostOnce)]).await;
    up.disconnect().await;
}
