//! The `my-broker` binary itself: it starts from a configuration file, admits a client, and
//! exits 0 on SIGTERM.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// An MQTT 3.1.1 CONNECT with clean session, keep-alive 60 and client id `bin`.
const CONNECT: [u8; 17] = [
    0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 3, b'b', b'i', b'n',
];

#[test]
fn my_broker_serves_and_exits_0_on_sigterm() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("my-broker-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("my-broker.yaml");
    std::fs::write(
        &config,
        format!(
            "listeners:\n  default:\n    bind: 127.0.0.1:{port}\nplugins:\n  auth_anonymous:\n"
        ),
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_my-broker"))
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn my-broker");

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        if let Ok(stream) = TcpStream::connect(addr) {
            break stream;
        }
        assert!(
            Instant::now() < deadline,
            "my-broker did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    stream.write_all(&CONNECT).expect("send CONNECT");
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack).expect("read CONNACK");
    assert_eq!(connack, [0x20, 2, 0, 0], "CONNACK accepted");

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll my-broker") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("my-broker still running after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(status.code(), Some(0), "exit status {status}");
}
