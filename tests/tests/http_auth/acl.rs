//! The topic check: subscribe (acc 4), publish (acc 2) and receive (acc 1), and superusers.

use std::time::Duration;

use amqtt_core::codec::{QoS, SubAckCode};
use amqtt_tests::{RawClient, TestBroker};

use super::backend::{Backend, Carried, Reply, Request};
use super::{Plugins, login, plugins, section, unique};

/// How long a test waits to be sure a message is not delivered.
const SILENCE: Duration = Duration::from_millis(300);

/// The backend's ACL: subscribe to `allowed/#`; publish to `allowed/` topics but not
/// `allowed/nopublish`; receive from `allowed/` topics but not `allowed/noreceive`. Superuser
/// when the user name starts with `root`. Every login is admitted.
fn acl(r: &Request) -> Reply {
    let yes = || Reply::new(200, r#"{"ok": true}"#);
    let no = || Reply::new(200, r#"{"ok": false}"#);
    let topic = r.param("topic").unwrap_or_default();
    match r.path.as_str() {
        "/user" => yes(),
        "/superuser" if r.param("username").is_some_and(|u| u.starts_with("root")) => yes(),
        "/superuser" => no(),
        "/acl" => {
            let allowed = match r.param("acc").as_deref() {
                Some("4") => topic == "allowed/#",
                Some("2") => topic.starts_with("allowed/") && topic != "allowed/nopublish",
                Some("1") => topic.starts_with("allowed/") && topic != "allowed/noreceive",
                _ => false,
            };
            if allowed { yes() } else { no() }
        }
        _ => Reply::new(404, ""),
    }
}

/// Both plugins on the backend at `backend`; the topic plugin with `topic_keys`.
async fn broker(backend: &Backend, topic_keys: &str) -> TestBroker<Plugins> {
    let yaml = plugins(&[
        section("UserAuthHttpPlugin", backend.addr, ""),
        section("TopicAuthHttpPlugin", backend.addr, topic_keys),
    ]);
    TestBroker::start_with_plugins(&yaml).await
}

async fn connect(broker: &TestBroker<Plugins>, client_id: &str, user: &str) -> RawClient {
    let (client, ack) =
        RawClient::connect_with(broker.addr, login(client_id, Some(user), Some("pw"))).await;
    assert_eq!(ack.code, amqtt_core::codec::ReasonCode::Success);
    client
}

#[tokio::test]
async fn subscribe_publish_and_receive_are_asked_with_their_acc() {
    let backend = Backend::start(acl).await;
    let broker = broker(&backend, "").await;
    let (sub_id, sub_user) = (unique("acl-sub"), unique("reader"));
    let (pub_id, pub_user) = (unique("acl-pub"), unique("writer"));
    let mut subscriber = connect(&broker, &sub_id, &sub_user).await;
    let mut publisher = connect(&broker, &pub_id, &pub_user).await;

    let granted = subscriber
        .subscribe(
            1,
            &[
                ("allowed/#", QoS::AtMostOnce),
                ("denied/#", QoS::AtMostOnce),
            ],
        )
        .await;
    assert_eq!(
        granted.codes,
        [SubAckCode::Success(QoS::AtMostOnce), SubAckCode::FAILURE]
    );
    for topic in ["allowed/nopublish", "allowed/noreceive", "allowed/yes"] {
        publisher
            .publish(topic, topic, QoS::AtLeastOnce, false)
            .await;
    }
    // Only the message both checks allow arrives.
    let delivered = subscriber.recv_publish().await;
    assert_eq!(&*delivered.topic, "allowed/yes");
    subscriber.expect_silence(SILENCE).await;

    let asked = |acc: &str| -> Vec<(String, String, String)> {
        backend
            .requests_to("/acl")
            .into_iter()
            .filter(|r| r.param("acc").as_deref() == Some(acc))
            .map(|r| {
                assert_eq!(r.carried, Carried::Json);
                assert_eq!(r.params.len(), 4, "{:?}", r.params);
                (
                    r.param("username").unwrap_or_default(),
                    r.param("client_id").unwrap_or_default(),
                    r.param("topic").unwrap_or_default(),
                )
            })
            .collect()
    };
    let triple =
        |user: &str, id: &str, topic: &str| (user.to_owned(), id.to_owned(), topic.to_owned());
    assert_eq!(
        asked("4"),
        [
            triple(&sub_user, &sub_id, "allowed/#"),
            triple(&sub_user, &sub_id, "denied/#")
        ]
    );
    assert_eq!(
        asked("2"),
        [
            triple(&pub_user, &pub_id, "allowed/nopublish"),
            triple(&pub_user, &pub_id, "allowed/noreceive"),
            triple(&pub_user, &pub_id, "allowed/yes")
        ]
    );
    assert_eq!(
        asked("1"),
        [
            triple(&sub_user, &sub_id, "allowed/noreceive"),
            triple(&sub_user, &sub_id, "allowed/yes")
        ]
    );
    broker.stop().await;
}

#[tokio::test]
async fn a_superuser_gets_every_topic_without_the_topic_uri_being_asked() {
    let backend = Backend::start(acl).await;
    let broker = broker(&backend, "superuser_uri: /superuser").await;
    let (root_id, root) = (unique("acl-root"), unique("root"));
    let (joe_id, joe) = (unique("acl-joe"), unique("joe"));
    let mut superuser = connect(&broker, &root_id, &root).await;
    let mut user = connect(&broker, &joe_id, &joe).await;

    let granted = superuser
        .subscribe(1, &[("denied/#", QoS::AtMostOnce)])
        .await;
    assert_eq!(granted.codes, [SubAckCode::Success(QoS::AtMostOnce)]);
    superuser
        .publish("denied/x", "x", QoS::AtMostOnce, false)
        .await;
    assert_eq!(&*superuser.recv_publish().await.topic, "denied/x");
    let refused = user.subscribe(1, &[("denied/#", QoS::AtMostOnce)]).await;
    assert_eq!(refused.codes, [SubAckCode::FAILURE]);

    let acl = backend.requests_to("/acl");
    assert!(
        acl.iter()
            .all(|r| r.param("username") != Some(root.clone())),
        "the topic URI was asked for the superuser: {acl:?}"
    );
    assert_eq!(acl.len(), 1, "{acl:?}");
    let superuser_checks = backend.requests_to("/superuser");
    // Subscribe, publish and receive for root, subscribe for joe; only `username` is sent.
    assert_eq!(superuser_checks.len(), 4, "{superuser_checks:?}");
    assert!(superuser_checks.iter().all(|r| r.params.len() == 1));
    assert_eq!(superuser_checks[3].param("username"), Some(joe));
    broker.stop().await;
}

#[tokio::test]
async fn an_answer_without_an_opinion_denies_the_topic() {
    let backend = Backend::start(|r: &Request| match r.path.as_str() {
        "/user" => Reply::new(200, ""),
        _ => Reply::new(500, ""),
    })
    .await;
    let yaml = plugins(&[
        section("UserAuthHttpPlugin", backend.addr, "response_mode: status"),
        section("TopicAuthHttpPlugin", backend.addr, "response_mode: status"),
    ]);
    let broker = TestBroker::<Plugins>::start_with_plugins(&yaml).await;
    let mut client = connect(&broker, &unique("noop"), &unique("noop-user")).await;
    let refused = client.subscribe(1, &[("a/b", QoS::AtMostOnce)]).await;
    assert_eq!(refused.codes, [SubAckCode::FAILURE]);
    assert_eq!(backend.requests_to("/acl").len(), 1);
    broker.stop().await;
}

#[tokio::test]
async fn the_cache_asks_once_per_topic_action_and_user() {
    let backend = Backend::start(acl).await;
    let broker = broker(&backend, "superuser_uri: /superuser\ncache_ttl: 30").await;
    let mut client = connect(&broker, &unique("cache-acl"), &unique("joe")).await;
    for id in 1..=2 {
        let granted = client
            .subscribe(id, &[("allowed/#", QoS::AtMostOnce)])
            .await;
        assert_eq!(granted.codes, [SubAckCode::Success(QoS::AtMostOnce)]);
    }
    for _ in 0..3 {
        client
            .publish("allowed/yes", "x", QoS::AtMostOnce, false)
            .await;
        assert_eq!(&*client.recv_publish().await.topic, "allowed/yes");
    }
    let acc = |value: &str| {
        backend
            .requests_to("/acl")
            .iter()
            .filter(|r| r.param("acc").as_deref() == Some(value))
            .count()
    };
    assert_eq!((acc("4"), acc("2"), acc("1")), (1, 1, 1));
    assert_eq!(backend.requests_to("/superuser").len(), 1);
    broker.stop().await;
}
