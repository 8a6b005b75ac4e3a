//! Cluster end-to-end suite: `amqtt` processes sharing one NATS JetStream server as one broker
//! (fan-out across nodes at every QoS, interest-based forwarding, retained messages, shared
//! subscriptions, wills, takeover and persistent sessions across nodes), and what they do when
//! NATS goes away, when a node is killed with SIGKILL and when one node is cut off from NATS,
//! and what happens once a node has been gone for longer than its lease.
//! Every test starts its own `nats-server` (skipped, with a line on standard error, when it is
//! not installed, except under `CI`). This file also tests the harness itself: [`NatsServer`]
//! and [`CutProxy`].

#[path = "cluster/delivery.rs"]
mod delivery;
#[path = "cluster/edges.rs"]
mod edges;
#[path = "cluster/failures.rs"]
mod failures;
#[path = "cluster/leases.rs"]
mod leases;
#[path = "cluster/sessions.rs"]
mod sessions;
#[path = "cluster/support.rs"]
mod support;

use std::net::SocketAddr;

use amqtt_tests::nats::{CutProxy, NatsServer, nats_server_or_skip};
use amqtt_tests::{in_time, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Sends one JetStream API request over a raw NATS connection to `server` (`CONNECT`, a reply
/// subscription, `PUB <subject>` with `body`) and returns what came back up to the end of the
/// `..._response` JSON line.
async fn jetstream_request(server: &NatsServer, subject: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
    let request = format!(
        "CONNECT {{\"verbose\":false}}\r\nSUB reply 1\r\nPUB {subject} reply {}\r\n{body}\r\n",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut received = Vec::new();
    in_time(async {
        loop {
            let text = String::from_utf8_lossy(&received);
            if text.contains("_response\"") && text.ends_with("\r\n") {
                return text.into_owned();
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read the reply");
            assert!(n > 0, "nats-server closed the connection: {text}");
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await
}

#[tokio::test]
async fn nats_server_runs_jetstream_on_its_port() {
    let Some(server) = nats_server_or_skip("nats_server_runs_jetstream_on_its_port").await else {
        return;
    };
    let info = server.info().await.expect("an INFO line");
    assert!(info.contains("\"jetstream\":true"), "{info}");
    assert!(
        info.contains(&format!("\"port\":{}", server.addr().port())),
        "{info}"
    );
    assert_eq!(server.url(), format!("nats://{}", server.addr()));
    assert!(
        server.log().contains("Starting nats-server"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn nats_server_restarts_on_its_port_with_its_streams() {
    let Some(mut server) =
        nats_server_or_skip("nats_server_restarts_on_its_port_with_its_streams").await
    else {
        return;
    };
    let create = jetstream_request(
        &server,
        "$JS.API.STREAM.CREATE.KEPT",
        r#"{"name":"KEPT","subjects":["kept.>"],"storage":"file"}"#,
    )
    .await;
    assert!(create.contains("\"did_create\":true"), "{create}");

    server.kill();
    assert!(server.info().await.is_none(), "nats-server still answers");
    assert!(TcpStream::connect(server.addr()).await.is_err());

    server.restart().await;
    let info = jetstream_request(&server, "$JS.API.STREAM.INFO.KEPT", "").await;
    assert!(info.contains("stream_info_response"), "{info}");
    assert!(info.contains("\"name\":\"KEPT\""), "{info}");
    assert!(!info.contains("\"error\""), "{info}");
    assert_eq!(server.log().matches("Starting nats-server").count(), 2);
}

/// A TCP server on 127.0.0.1 that sends back whatever each connection sends it.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut reader, mut writer) = stream.split();
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
            });
        }
    });
    addr
}

/// Sends `text` on `stream` and asserts it comes back.
async fn assert_echoes(stream: &mut TcpStream, text: &str) {
    stream.write_all(text.as_bytes()).await.expect("send");
    let mut back = vec![0u8; text.len()];
    in_time(stream.read_exact(&mut back))
        .await
        .expect("read the echo");
    assert_eq!(back, text.as_bytes());
}

/// Asserts the peer of `stream` closes it (end of stream or reset) without sending anything.
async fn assert_closed(stream: &mut TcpStream) {
    let mut byte = [0u8; 1];
    match in_time(stream.read(&mut byte)).await {
        Ok(0) | Err(_) => {}
        Ok(_) => panic!("received {byte:?} instead of a close"),
    }
}

#[tokio::test]
async fn proxy_relays_until_cut_and_again_once_healed() {
    let proxy = CutProxy::start(echo_server().await).await;
    let mut first = TcpStream::connect(proxy.addr()).await.expect("connect");
    let mut second = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert_echoes(&mut first, "hello").await;
    assert_echoes(&mut second, "world").await;
    assert_eq!(proxy.connections(), 2);

    in_time(proxy.cut()).await;
    assert_eq!(proxy.connections(), 0);
    assert_closed(&mut first).await;
    assert_closed(&mut second).await;
    let mut refused = TcpStream::connect(proxy.addr()).await.expect("accepted");
    assert_closed(&mut refused).await;

    proxy.heal();
    let mut healed = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert_echoes(&mut healed, "again").await;
    assert_eq!(proxy.connections(), 1);
}

#[tokio::test]
async fn proxy_closes_the_client_when_upstream_is_down() {
    let upstream = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = upstream.local_addr().expect("address");
    drop(upstream);
    let proxy = CutProxy::start(addr).await;
    let mut client = TcpStream::connect(proxy.addr()).await.expect("accepted");
    assert_closed(&mut client).await;
    wait_until("the relay ends", || proxy.connections() == 0).await;
}
