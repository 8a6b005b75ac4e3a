//! A reload reads its files off the connections' threads: a password file on a slow disk
//! (here a FIFO that a writer fills a second later) stalls no connection while it is read.

use std::path::Path;
use std::time::{Duration, Instant};

use amqtt_core::codec::{ByteString, Packet, ReasonCode};
use amqtt_core::config::BrokerConfig;
use amqtt_plugins::FileAuth;
use amqtt_tests::{RawClient, TestBroker, connect_packet, slow_file};
use bytes::Bytes;

/// How long the FIFO's writer waits before it writes the file.
const SLOW_DISK: Duration = Duration::from_secs(1);

/// The `plugins:` section of `auth_file` on `file`.
fn plugins(file: &Path) -> String {
    format!(
        "plugins:\n  auth_file:\n    password_file: '{}'\n",
        file.display()
    )
}

/// A password file line for `user`, whose password is its name.
fn user_line(user: &str) -> String {
    format!("{user}:{}\n", bcrypt::hash(user, 4).expect("bcrypt"))
}

/// Connects as `user` (password: the user name); the CONNACK code and the client.
async fn login(addr: std::net::SocketAddr, user: &str) -> (ReasonCode, RawClient) {
    let mut connect = connect_packet(&format!("{user}-client"), true);
    connect.username = Some(ByteString::from(user));
    connect.password = Some(Bytes::copy_from_slice(user.as_bytes()));
    let (client, ack) = RawClient::connect_with(addr, connect).await;
    (ack.code, client)
}

// `tokio::test` runs the broker and this test on one thread: a reload that read its file on
// it would stop everything until the file came.
#[tokio::test]
async fn a_slow_password_file_stalls_no_connection_while_a_reload_reads_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, user_line("alice")).expect("write password file");
    let broker = TestBroker::<(FileAuth,)>::start_with_plugins(&plugins(&passwd)).await;
    let (code, mut alice) = login(broker.addr, "alice").await;
    assert_eq!(code, ReasonCode::Success);

    let slow = dir.path().join("slow-passwd");
    let text = format!("{}{}", user_line("alice"), user_line("bob"));
    let writer = slow_file(&slow, text, SLOW_DISK);
    let yaml = format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\n{}",
        plugins(&slow)
    );
    let config = BrokerConfig::from_yaml(&yaml).expect("valid");
    let handle = broker.handle.clone();
    let started = Instant::now();
    let reload = tokio::spawn(async move { handle.reload(&config).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    alice.send(Packet::PingReq).await;
    assert_eq!(alice.recv().await, Packet::PingResp);
    let answered = started.elapsed();
    assert!(
        answered < SLOW_DISK / 2,
        "a connection waited {answered:?} for the reload's file"
    );

    reload.await.expect("reload task").expect("reload");
    writer.join().expect("writer");
    assert_eq!(login(broker.addr, "bob").await.0, ReasonCode::Success);
    broker.stop().await;
}
