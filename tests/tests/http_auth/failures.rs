//! A backend that is slow, down, or behind TLS, and configurations the broker refuses.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use amqtt_core::codec::ReasonCode::{NotAuthorized, Success as Accepted};
use amqtt_core::codec::{QoS, SubAckCode};
use amqtt_tests::{RawClient, TestBroker};

use super::backend::{Backend, Pki, Reply, Request};
use super::{Plugins, bind_error, connack, login, plugins, section, unique};

/// A port on 127.0.0.1 where nothing listens.
async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    addr
}

#[tokio::test]
async fn a_slow_backend_denies_within_the_timeout_and_delays_no_one_else() {
    let backend = Backend::start(|r: &Request| {
        let reply = Reply::new(200, r#"{"ok": true}"#);
        if r.param("username").is_some_and(|u| u.starts_with("slow")) {
            reply.after(Duration::from_secs(10))
        } else {
            reply
        }
    })
    .await;
    let yaml = plugins(&[section("UserAuthHttpPlugin", backend.addr, "timeout: 2")]);
    let broker = TestBroker::<Plugins>::start_with_plugins(&yaml).await;
    let addr = broker.addr;
    let started = Instant::now();
    let slow = tokio::spawn(async move {
        let code = connack(
            addr,
            &unique("slow-client"),
            Some(&unique("slow")),
            Some("pw"),
        )
        .await;
        (code, started.elapsed())
    });
    // Let the slow request reach the backend, then log in through the fast path.
    while backend.requests_to("/user").is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let fast_started = Instant::now();
    assert_eq!(
        connack(
            addr,
            &unique("fast-client"),
            Some(&unique("fast")),
            Some("pw")
        )
        .await,
        Accepted
    );
    let fast = fast_started.elapsed();
    // Held behind the slow one, it would wait for the timeout (2 s).
    assert!(
        fast < Duration::from_secs(1),
        "the fast login took {fast:?}"
    );
    let (code, slow) = slow.await.expect("slow login task");
    assert_eq!(code, NotAuthorized);
    assert!(
        slow >= Duration::from_millis(1900) && slow < Duration::from_millis(3500),
        "the slow login was answered after {slow:?}, the timeout is 2 s"
    );
    broker.stop().await;
}

#[tokio::test]
async fn a_backend_that_is_down_denies_logins_and_topics() {
    let addr = closed_port().await;
    let yaml = plugins(&[
        section(
            "UserAuthHttpPlugin",
            addr,
            "probe_at_start: false\ntimeout: 2",
        ),
        section(
            "TopicAuthHttpPlugin",
            addr,
            "probe_at_start: false\ntimeout: 2",
        ),
    ]);
    let broker = TestBroker::<Plugins>::start_with_plugins(&yaml).await;
    let started = Instant::now();
    assert_eq!(
        connack(broker.addr, &unique("down"), Some("user"), Some("pw")).await,
        NotAuthorized
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused connections answer at once"
    );
    broker.stop().await;
}

#[tokio::test]
async fn topics_are_denied_when_only_the_topic_backend_is_down() {
    let backend = Backend::start(|_: &Request| Reply::new(200, r#"{"ok": true}"#)).await;
    let down = closed_port().await;
    let yaml = plugins(&[
        section("UserAuthHttpPlugin", backend.addr, ""),
        section("TopicAuthHttpPlugin", down, "probe_at_start: false"),
    ]);
    let broker = TestBroker::<Plugins>::start_with_plugins(&yaml).await;
    let (mut client, ack) = RawClient::connect_with(
        broker.addr,
        login(&unique("down-acl"), Some("u"), Some("p")),
    )
    .await;
    assert_eq!(ack.code, Accepted);
    let refused = client.subscribe(1, &[("a/b", QoS::AtMostOnce)]).await;
    assert_eq!(refused.codes, [SubAckCode::FAILURE]);
    broker.stop().await;
}

#[tokio::test]
async fn an_unreachable_backend_stops_the_broker_at_start() {
    let addr = closed_port().await;
    let error = bind_error(&plugins(&[section(
        "UserAuthHttpPlugin",
        addr,
        "timeout: 2",
    )]))
    .await;
    eprintln!("ERR: {error}");
    assert!(error.contains("plugin `auth_http`"), "{error}");
    assert!(error.contains("`host`/`port`"), "{error}");
    assert!(error.contains("does not answer"), "{error}");
    assert!(error.contains("probe_at_start"), "{error}");
}

#[tokio::test]
async fn tls_to_the_backend_trusts_the_ca_file() {
    let pki = Pki::new();
    let backend = Backend::start_tls(&pki, |_: &Request| Reply::new(200, r#"{"ok": true}"#)).await;
    let keys = format!("with_tls: true\ncafile: {}", pki.ca_file.display());
    let yaml = plugins(&[section("UserAuthHttpPlugin", backend.addr, &keys)]);
    let broker = TestBroker::<Plugins>::start_with_plugins(&yaml).await;
    let id = unique("tls-client");
    assert_eq!(
        connack(broker.addr, &id, Some("u"), Some("p")).await,
        Accepted
    );
    let requests = backend.requests_to("/user");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].param("client_id"), Some(id));
    broker.stop().await;

    // Without the CA the certificate is not trusted: the broker does not start.
    let yaml = plugins(&[section(
        "UserAuthHttpPlugin",
        backend.addr,
        "with_tls: true",
    )]);
    let error = bind_error(&yaml).await;
    eprintln!("ERR: {error}");
    assert!(error.contains("plugin `auth_http`"), "{error}");
    assert!(error.contains("`cafile`"), "{error}");
}

#[tokio::test]
async fn bad_configurations_name_the_key() {
    let backend = Backend::start(|_: &Request| Reply::new(200, "")).await;
    let user = |keys: &str| plugins(&[section("UserAuthHttpPlugin", backend.addr, keys)]);
    let cases = [
        (user("timeout: 0"), "`timeout`"),
        (user("request_method: patch"), "expected one of get, post, put"),
        (user("response_mode: xml"), "expected one of status, json, text"),
        (user("user_uri: user"), "`user_uri`"),
        (user("topic_uri: /acl"), "`topic_uri`"),
        (user("cafile: /nonexistent/ca.pem"), "`cafile`"),
        (user("cache_ttl: -1"), "`cache_ttl`"),
        (user("password_uri: /x"), "password_uri"),
        (
            "plugins:\n  amqtt.contrib.http.UserAuthHttpPlugin:\n    host: http://127.0.0.1\n    port: 80\n"
                .to_owned(),
            "`host`",
        ),
        (
            "plugins:\n  amqtt.contrib.http.TopicAuthHttpPlugin:\n    host: 127.0.0.1\n".to_owned(),
            "`port`",
        ),
        (
            plugins(&[section("TopicAuthHttpPlugin", backend.addr, "superuser_uri: su")]),
            "`superuser_uri`",
        ),
    ];
    for (yaml, key) in cases {
        let error = bind_error(&yaml).await;
        eprintln!("ERR: {error}");
        assert!(error.contains(key), "expected {key} in: {error}");
        assert!(
            error.contains("auth_http") || error.contains("topic_http"),
            "the plugin is named: {error}"
        );
    }
}
