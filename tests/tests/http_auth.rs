//! End-to-end tests of the HTTP plugins (`amqtt.contrib.http.UserAuthHttpPlugin`,
//! `amqtt.contrib.http.TopicAuthHttpPlugin`) against a real HTTP backend the tests start on
//! 127.0.0.1 (axum, plain and TLS), which records every request.

#[path = "http_auth/acl.rs"]
mod acl;
#[path = "http_auth/backend.rs"]
mod backend;
#[path = "http_auth/connect.rs"]
mod connect;
#[path = "http_auth/failures.rs"]
mod failures;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use amqtt_contrib::http::{TopicAuthHttp, UserAuthHttp};
use amqtt_core::broker::Broker;
use amqtt_core::codec::{ByteString, ReasonCode};
use amqtt_core::config::BrokerConfig;
use amqtt_tests::{RawClient, connect_packet};
use bytes::Bytes;

/// The plugin set of these tests: both HTTP plugins, each on when configured.
type Plugins = (Option<UserAuthHttp>, Option<TopicAuthHttp>);

/// A name unique to this test process and call, for client ids and users.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A plugin section for the backend at `addr`: `class` is `UserAuthHttpPlugin` or
/// `TopicAuthHttpPlugin`, `keys` more keys, one per line, unindented.
fn section(class: &str, addr: SocketAddr, keys: &str) -> String {
    let mut text = format!(
        "  amqtt.contrib.http.{class}:\n    host: 127.0.0.1\n    port: {}\n",
        addr.port()
    );
    for line in keys.lines().filter(|l| !l.trim().is_empty()) {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// `plugins:` and the sections.
fn plugins(sections: &[String]) -> String {
    format!("plugins:\n{}", sections.concat())
}

/// The CONNECT of `client_id` with the given credentials.
fn login(
    client_id: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> amqtt_core::codec::Connect {
    let mut connect = connect_packet(client_id, true);
    connect.username = user.map(ByteString::from);
    connect.password = password.map(|p| Bytes::copy_from_slice(p.as_bytes()));
    connect
}

/// Connects with the given credentials and returns the CONNACK code.
async fn connack(
    addr: SocketAddr,
    client_id: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> ReasonCode {
    let (_client, ack) = RawClient::connect_with(addr, login(client_id, user, password)).await;
    ack.code
}

/// The error `Broker::bind` gives for the `plugins:` section `plugins`.
async fn bind_error(plugins: &str) -> String {
    let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:0\n{plugins}");
    let config = BrokerConfig::from_yaml(&yaml).expect("config parses");
    match Broker::<Plugins>::bind(config).await {
        Ok(_) => panic!("the broker started with:\n{plugins}"),
        Err(e) => e.to_string(),
    }
}
