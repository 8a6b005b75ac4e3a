//! The plugins' files and sections on a SIGHUP: the password file and the topic ACL put in
//! force together or not at all; a plugin section added, removed or unknown refuses the
//! reload; nothing is logged as loaded by a reload that was refused.

use std::net::SocketAddr;
use std::path::Path;

use amqtt_core::codec::{ByteString, QoS, ReasonCode, SubAckCode};
use amqtt_tests::{AmqttProcess, RawClient, connect_packet};
use bytes::Bytes;

/// Writes `dir/passwd` with `users` (each one's password is its name) and `dir/amqtt.yaml`
/// with `auth_file` on it, the `topic_acl` section letting `alice` subscribe to
/// `alice_filters`, and the plugin sections of `more`.
fn write_config(dir: &Path, port: u16, users: &[&str], alice_filters: &[&str], more: &str) {
    write_users(&dir.join("passwd"), users);
    let filters = alice_filters
        .iter()
        .map(|f| format!("'{f}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let acl = format!("  topic_acl:\n    subscribe_acl:\n      alice: [{filters}]\n");
    write_plugins(dir, port, &format!("{acl}{more}"));
}

/// Writes `dir/amqtt.yaml` with `auth_file` on `dir/passwd` and the plugin sections of `more`.
fn write_plugins(dir: &Path, port: u16, more: &str) {
    let yaml = format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:{port}\nplugins:\n  auth_file:\n    \
         password_file: '{}'\n{more}",
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
    let broker =
        AmqttProcess::start(|dir, port| write_config(dir, port, &["alice"], &["a/#"], "")).await;
    let (addr, dir) = (broker.addr, broker.dir());
    assert_eq!(login(addr, "bob").await.0, ReasonCode::NotAuthorized);
    assert!(!alice_may_subscribe(addr, "b/1").await);
    let (_, mut up) = login_as(addr, "alice", "alice-up").await;

    // New users and a new ACL, one SIGHUP: both are in force.
    write_config(dir, addr.port(), &["alice", "bob"], &["a/#", "b/#"], "");
    let log = broker.hang_up().await;
    assert!(log.contains("reloaded"), "{log}");
    assert_eq!(login(addr, "bob").await.0, ReasonCode::Success);
    assert!(alice_may_subscribe(addr, "b/1").await);

    // A new ACL with a broken password file: neither changes, the log names the file.
    write_config(dir, addr.port(), &["alice"], &["a/#", "b/#", "c/#"], "");
    std::fs::write(broker.file("passwd"), "carol\n").expect("break the password file");
    let log = broker.hang_up().await;
    let file = broker.file("passwd").display().to_string();
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

#[tokio::test]
async fn a_plugin_section_added_removed_or_unknown_refuses_the_whole_reload() {
    let broker =
        AmqttProcess::start(|dir, port| write_config(dir, port, &["alice"], &["a/#"], "")).await;
    let (addr, dir) = (broker.addr, broker.dir());
    assert!(!alice_may_subscribe(addr, "b/1").await);

    // The ACL's section removed (with a new user): refused, the ACL and the users stay.
    write_users(&broker.file("passwd"), &["alice", "bob"]);
    write_plugins(dir, addr.port(), "");
    let log = broker.hang_up().await;
    assert!(
        log.contains("reload refused")
            && log.contains("plugin `topic_acl`: its section was removed from `plugins`"),
        "{log}"
    );
    assert!(!alice_may_subscribe(addr, "b/1").await);
    assert_eq!(login(addr, "bob").await.0, ReasonCode::NotAuthorized);

    // A section for a plugin the binary has but did not run: refused.
    let scram = "  auth_scram:\n    password_file: passwd\n";
    write_config(dir, addr.port(), &["alice", "bob"], &["a/#"], scram);
    let log = broker.hang_up().await;
    assert!(
        log.contains("plugin `auth_scram`: its section was added to `plugins`"),
        "{log}"
    );
    assert_eq!(login(addr, "bob").await.0, ReasonCode::NotAuthorized);

    // A section naming no plugin: the error a start gives.
    write_config(
        dir,
        addr.port(),
        &["alice", "bob"],
        &["a/#"],
        "  auth_fiel: {}\n",
    );
    let log = broker.hang_up().await;
    assert!(log.contains("unknown plugin `auth_fiel`"), "{log}");
    assert_eq!(login(addr, "bob").await.0, ReasonCode::NotAuthorized);

    // The same plugins again: the reload goes through.
    write_config(dir, addr.port(), &["alice", "bob"], &["a/#", "b/#"], "");
    let log = broker.hang_up().await;
    assert!(log.contains("reloaded"), "{log}");
    assert_eq!(login(addr, "bob").await.0, ReasonCode::Success);
    assert!(alice_may_subscribe(addr, "b/1").await);
}

#[tokio::test]
async fn a_refused_reload_logs_no_file_as_loaded() {
    let broker =
        AmqttProcess::start(|dir, port| write_config(dir, port, &["alice"], &["a/#"], "")).await;
    let (addr, dir) = (broker.addr, broker.dir());
    // A good new password file, read first, and an ACL with a filter that is not valid.
    write_config(dir, addr.port(), &["alice", "bob"], &["a/#/b"], "");
    let log = broker.hang_up().await;
    assert!(log.contains("reload refused"), "{log}");
    assert!(!log.contains("password file loaded"), "{log}");
    assert_eq!(login(addr, "bob").await.0, ReasonCode::NotAuthorized);

    // Accepted, the reload logs the file when it puts it in force.
    write_config(dir, addr.port(), &["alice", "bob"], &["a/#"], "");
    let log = broker.hang_up().await;
    assert!(log.contains("password file loaded"), "{log}");
    assert_eq!(login(addr, "bob").await.0, ReasonCode::Success);
}
