//! The login check: requests (method, path, parameters, user agent) and each response mode.

use amqtt_core::codec::ReasonCode::{NotAuthorized, Success as Accepted};
use amqtt_tests::TestBroker;
use axum::http::Method;
use serde_json::Value;

use super::backend::{Backend, Carried, Reply, Request};
use super::{Plugins, connack, plugins, section, unique};

/// The password each user must give.
fn password_of(user: &str) -> String {
    format!("{user}-pw")
}

#[tokio::test]
async fn json_post_sends_a_json_object_and_reads_the_ok_member() {
    let (alice, bob, carol) = (unique("alice"), unique("bob"), unique("carol"));
    let (a, b, c) = (alice.clone(), bob.clone(), carol.clone());
    let backend = Backend::start(move |r: &Request| {
        let user = r.param("username").unwrap_or_default();
        let right = r.param("password") == Some(password_of(&user));
        match user.as_str() {
            u if u == a && right => Reply::new(200, r#"{"ok": true}"#),
            u if u == b => Reply::new(200, r#"{"Ok": false, "error": "no"}"#),
            u if u == c => Reply::new(200, r#"{"error": "ask someone else"}"#),
            _ => Reply::new(200, r#"{"ok": false}"#),
        }
    })
    .await;
    let yaml = plugins(&[section(
        "UserAuthHttpPlugin",
        backend.addr,
        "request_method: post\nparams_mode: json\nresponse_mode: json",
    )]);
    let broker = TestBroker::<Plugins>::start_with_plugins(&yaml).await;
    let id = unique("json-client");
    let pw = password_of(&alice);
    assert_eq!(
        connack(broker.addr, &id, Some(&alice), Some(&pw)).await,
        Accepted
    );
    assert_eq!(
        connack(broker.addr, &id, Some(&alice), Some("wrong")).await,
        NotAuthorized
    );
    let pw = password_of(&bob);
    assert_eq!(
        connack(broker.addr, &id, Some(&bob), Some(&pw)).await,
        NotAuthorized
    );
    // No `ok`: no opinion, and no other plugin admits.
    assert_eq!(
        connack(broker.addr, &id, Some(&carol), None).await,
        NotAuthorized
    );
    assert_eq!(connack(broker.addr, &id, None, None).await, NotAuthorized);

    let requests = backend.requests_to("/user");
    assert_eq!(requests.len(), 5, "{requests:?}");
    let first = &requests[0];
    assert_eq!(first.method, Method::POST);
    assert_eq!(first.carried, Carried::Json);
    assert_eq!(first.user_agent.as_deref(), Some("amqtt"));
    assert_eq!(first.params.len(), 3, "{:?}", first.params);
    assert_eq!(first.param("username"), Some(alice.clone()));
    assert_eq!(first.param("password"), Some(password_of(&alice)));
    assert_eq!(first.param("client_id"), Some(id.clone()));
    // A missing user name and password are JSON nulls.
    let anonymous = &requests[4];
    assert_eq!(anonymous.params.get("username"), Some(&Value::Null));
    assert_eq!(anonymous.params.get("password"), Some(&Value::Null));
    broker.stop().await;
}

#[tokio::test]
async fn form_get_sends_a_query_string_and_status_mode_reads_the_code() {
    let (alice, bob, carol) = (unique("alice"), unique("bob"), unique("carol"));
    let (a, b) = (alice.clone(), bob.clone());
    let backend = Backend::start(move |r: &Request| match r.param("username") {
        Some(u) if u == a => Reply::new(204, ""),
        Some(u) if u == b => Reply::new(403, ""),
        _ => Reply::new(503, ""),
    })
    .await;
    let yaml = plugins(&[section(
        "UserAuthHttpPlugin",
        backend.addr,
        "user_uri: /mqtt/auth\nrequest_method: GET\nparams_mode: form\nresponse_mode: status\n\
         user_agent: amqtt-test/1.0",
    )]);
    let broker = TestBroker::<Plugins>::start_with_plugins(&yaml).await;
    let id = unique("form-get");
    assert_eq!(
        connack(broker.addr, &id, Some(&alice), Some("x")).await,
        Accepted
    );
    assert_eq!(
        connack(broker.addr, &id, Some(&bob), Some("x")).await,
        NotAuthorized
    );
    // 5xx: no opinion, so not admitted.
    assert_eq!(
        connack(broker.addr, &id, Some(&carol), Some("x")).await,
        NotAuthorized
    );

    let requests = backend.requests_to("/mqtt/auth");
    assert_eq!(requests.len(), 3, "{requests:?}");
    let first = &requests[0];
    assert_eq!(first.method, Method::GET);
    assert_eq!(first.carried, Carried::Query);
    assert_eq!(first.user_agent.as_deref(), Some("amqtt-test/1.0"));
    assert_eq!(first.param("username"), Some(alice));
    assert_eq!(first.param("password").as_deref(), Some("x"));
    assert_eq!(first.param("client_id"), Some(id));
    broker.stop().await;
}

#[tokio::test]
async fn form_put_sends_a_urlencoded_body_and_text_mode_wants_ok() {
    let backend = Backend::start(|r: &Request| {
        let password = r.param("password").unwrap_or_default();
        match password.as_str() {
            "plain" => Reply::new(200, "ok"),
            "shouted" => Reply::new(200, "OK\n"),
            "error-text" => Reply::new(200, "error"),
            _ => Reply::new(500, "ok"),
        }
    })
    .await;
    let yaml = plugins(&[section(
        "UserAuthHttpPlugin",
        backend.addr,
        "request_method: put\nparams_mode: form\nresponse_mode: text",
    )]);
    let broker = TestBroker::<Plugins>::start_with_plugins(&yaml).await;
    let id = unique("form-put");
    let user = unique("user");
    for (password, expected) in [
        ("plain", Accepted),
        ("shouted", Accepted),
        ("error-text", NotAuthorized),
        ("server-error", NotAuthorized),
    ] {
        assert_eq!(
            connack(broker.addr, &id, Some(&user), Some(password)).await,
            expected,
            "{password}"
        );
    }
    let requests = backend.requests_to("/user");
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert!(requests.iter().all(|r| r.method == Method::PUT));
    assert!(requests.iter().all(|r| r.carried == Carried::FormBody));
    assert_eq!(requests[0].param("username"), Some(user));
    assert_eq!(requests[0].param("client_id"), Some(id));
    broker.stop().await;
}

#[tokio::test]
async fn the_cache_reuses_an_answer_for_the_same_request() {
    let backend = Backend::start(|r: &Request| {
        let ok = r.param("password").as_deref() == Some("good");
        Reply::new(200, &format!("{{\"ok\": {ok}}}"))
    })
    .await;
    let yaml = plugins(&[section(
        "UserAuthHttpPlugin",
        backend.addr,
        "cache_ttl: 30\ncache_size: 100",
    )]);
    let broker = TestBroker::<Plugins>::start_with_plugins(&yaml).await;
    let (id, user) = (unique("cached"), unique("user"));
    for _ in 0..3 {
        assert_eq!(
            connack(broker.addr, &id, Some(&user), Some("good")).await,
            Accepted
        );
    }
    assert_eq!(backend.requests_to("/user").len(), 1);
    // Another password or client id is another request; denials are cached too.
    for _ in 0..2 {
        assert_eq!(
            connack(broker.addr, &id, Some(&user), Some("bad")).await,
            NotAuthorized
        );
    }
    let other = unique("cached-other");
    assert_eq!(
        connack(broker.addr, &other, Some(&user), Some("good")).await,
        Accepted
    );
    assert_eq!(backend.requests_to("/user").len(), 3);
    broker.stop().await;
}
