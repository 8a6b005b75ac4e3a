//! End-to-end tests of the JWT plugins (`amqtt.contrib.jwt.UserAuthJwtPlugin`,
//! `amqtt.contrib.jwt.TopicAuthJwtPlugin`): tokens minted here with jsonwebtoken for each
//! algorithm family, with keys made here (rcgen on aws-lc-rs), sent as the MQTT password.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use amqtt_contrib::jwt::{TopicAuthJwt, UserAuthJwt};
use amqtt_core::broker::Broker;
use amqtt_core::codec::ReasonCode::{self, NotAuthorized, Success as Accepted};
use amqtt_core::codec::{ByteString, QoS, SubAckCode};
use amqtt_core::config::BrokerConfig;
use amqtt_tests::{RawClient, TestBroker, connect_packet};
use bytes::Bytes;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use rcgen::{KeyPair, SignatureAlgorithm};
use serde_json::{Value, json};

type Plugins = (Option<UserAuthJwt>, Option<TopicAuthJwt>);

/// How long a test waits to be sure a message is not delivered.
const SILENCE: Duration = Duration::from_millis(300);

/// A name unique to this test process and call.
fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Seconds since the epoch, `offset` away from now.
fn epoch(offset: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(now).expect("seconds fit") + offset
}

/// A signing key and the configuration keys that verify it.
struct Signer {
    algorithm: Algorithm,
    key: EncodingKey,
    /// The public key (PEM) or the secret.
    verify: String,
}

impl Signer {
    fn hmac(algorithm: Algorithm, secret: &str) -> Signer {
        Signer {
            algorithm,
            key: EncodingKey::from_secret(secret.as_bytes()).expect("HMAC key"),
            verify: secret.to_owned(),
        }
    }

    /// A fresh key pair for `algorithm`.
    fn generate(algorithm: Algorithm) -> Signer {
        let rcgen_algorithm: &'static SignatureAlgorithm = match algorithm {
            Algorithm::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Algorithm::ES384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Algorithm::EdDSA => &rcgen::PKCS_ED25519,
            _ => &rcgen::PKCS_RSA_SHA256,
        };
        let pair = KeyPair::generate_for(rcgen_algorithm).expect("key pair");
        let private = pair.serialize_pem();
        let key = match algorithm {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(private.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(private.as_bytes()),
            _ => EncodingKey::from_rsa_pem(private.as_bytes()),
        }
        .expect("encoding key");
        Signer {
            algorithm,
            key,
            verify: pair.public_key_pem(),
        }
    }

    /// A token with `claims`, signed with this key and algorithm.
    fn token(&self, claims: &Value) -> String {
        self.token_as(self.algorithm, claims)
    }

    /// A token with `claims`, signed with this key but labelled `algorithm`.
    fn token_as(&self, algorithm: Algorithm, claims: &Value) -> String {
        encode(&Header::new(algorithm), claims, &self.key).expect("token")
    }
}

/// A temporary directory for key files.
fn key_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write key file");
    path
}

/// The user plugin's section: `user_claim: username` and `keys` (unindented lines).
fn user_section(keys: &str) -> String {
    let mut text = "  amqtt.contrib.jwt.UserAuthJwtPlugin:\n    user_claim: username\n".to_owned();
    for line in keys.lines() {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// A YAML scalar holding `text` (PEM keys span lines): a literal block at `indent`.
fn block(text: &str, indent: &str) -> String {
    let mut out = "|\n".to_owned();
    for line in text.lines() {
        out.push_str(indent);
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_owned()
}

async fn connack(addr: SocketAddr, user: Option<&str>, token: Option<&str>) -> ReasonCode {
    client(addr, user, token).await.1
}

async fn client(
    addr: SocketAddr,
    user: Option<&str>,
    token: Option<&str>,
) -> (RawClient, ReasonCode) {
    let mut connect = connect_packet(&unique("jwt-client"), true);
    connect.username = user.map(ByteString::from);
    connect.password = token.map(|t| Bytes::copy_from_slice(t.as_bytes()));
    let (client, ack) = RawClient::connect_with(addr, connect).await;
    (client, ack.code)
}

async fn bind_error(plugins: &str) -> String {
    let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins:\n{plugins}");
    let config = BrokerConfig::from_yaml(&yaml).expect("config parses");
    match Broker::<Plugins>::bind(config).await {
        Ok(_) => panic!("the broker started with:\n{plugins}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn hmac_tokens_are_checked_for_user_signature_algorithm_and_expiry() {
    for algorithm in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let signer = Signer::hmac(algorithm, "the-shared-secret");
        let keys = format!("secret_key: {}\nalgorithm: {algorithm:?}", signer.verify);
        let broker = TestBroker::<Plugins>::start_with_plugins(&format!(
            "plugins:\n{}",
            user_section(&keys)
        ))
        .await;
        let user = unique("alice");
        let claims = json!({"username": user, "exp": epoch(60)});
        let good = signer.token(&claims);
        assert_eq!(
            connack(broker.addr, Some(&user), Some(&good)).await,
            Accepted,
            "{algorithm:?}"
        );
        // No `exp` at all is accepted, as PyJWT does.
        let forever = signer.token(&json!({"username": user}));
        assert_eq!(
            connack(broker.addr, Some(&user), Some(&forever)).await,
            Accepted
        );
        // The token names another user.
        assert_eq!(
            connack(broker.addr, Some(&unique("mallory")), Some(&good)).await,
            NotAuthorized
        );
        // Expired.
        let expired = signer.token(&json!({"username": user, "exp": epoch(-5)}));
        assert_eq!(
            connack(broker.addr, Some(&user), Some(&expired)).await,
            NotAuthorized
        );
        // Another secret.
        let forged = Signer::hmac(algorithm, "another-secret").token(&claims);
        assert_eq!(
            connack(broker.addr, Some(&user), Some(&forged)).await,
            NotAuthorized
        );
        // The right secret, another HMAC algorithm.
        let other = if algorithm == Algorithm::HS256 {
            Algorithm::HS512
        } else {
            Algorithm::HS256
        };
        let wrong_algorithm = signer.token_as(other, &claims);
        assert_eq!(
            connack(broker.addr, Some(&user), Some(&wrong_algorithm)).await,
            NotAuthorized
        );
        assert_eq!(
            connack(broker.addr, Some(&user), Some("not.a.token")).await,
            NotAuthorized
        );
        // No password: no opinion, and no other plugin admits.
        assert_eq!(connack(broker.addr, Some(&user), None).await, NotAuthorized);
        broker.stop().await;
    }
}

#[tokio::test]
async fn public_key_algorithms_verify_with_the_configured_pem_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (algorithm, source) in [
        (Algorithm::RS256, "public_key_file"),
        (Algorithm::PS384, "public_key"),
        (Algorithm::RS512, "secret_key"),
        (Algorithm::ES256, "public_key_file"),
        (Algorithm::ES384, "public_key"),
        (Algorithm::EdDSA, "public_key_file"),
    ] {
        let signer = Signer::generate(algorithm);
        let key = match source {
            "public_key_file" => key_file(&dir, &unique("public"), &signer.verify)
                .display()
                .to_string(),
            _ => block(&signer.verify, "      "),
        };
        let keys = format!("algorithm: {algorithm:?}\n{source}: {key}");
        let yaml = format!("plugins:\n{}", user_section(&keys));
        let broker = TestBroker::<Plugins>::start_with_plugins(&yaml).await;
        let user = unique("device");
        let claims = json!({"username": user, "exp": epoch(60)});
        let good = signer.token(&claims);
        assert_eq!(
            connack(broker.addr, Some(&user), Some(&good)).await,
            Accepted,
            "{algorithm:?} from {source}"
        );
        // Signed by another key of the same kind.
        let forged = Signer::generate(algorithm).token(&claims);
        assert_eq!(
            connack(broker.addr, Some(&user), Some(&forged)).await,
            NotAuthorized
        );
        // The public key used as an HMAC secret: refused, only the configured algorithm counts.
        let confused = Signer::hmac(Algorithm::HS256, &signer.verify).token(&claims);
        assert_eq!(
            connack(broker.addr, Some(&user), Some(&confused)).await,
            NotAuthorized
        );
        let expired = signer.token(&json!({"username": user, "exp": epoch(-5)}));
        assert_eq!(
            connack(broker.addr, Some(&user), Some(&expired)).await,
            NotAuthorized
        );
        broker.stop().await;
    }
}

#[tokio::test]
async fn topic_claims_decide_subscribe_publish_and_receive() {
    let signer = Signer::hmac(Algorithm::HS256, "topic-secret");
    let yaml = format!(
        "plugins:\n{}  amqtt.contrib.jwt.TopicAuthJwtPlugin:\n    secret_key: topic-secret\n    \
         publish_claim: pub\n    subscribe_claim: subscribe\n    receive_claim: recv\n",
        user_section("secret_key: topic-secret")
    );
    let broker = TestBroker::<Plugins>::start_with_plugins(&yaml).await;
    let (reader, writer) = (unique("reader"), unique("writer"));
    let reader_token = signer.token(&json!({
        "username": reader,
        "subscribe": ["sensors/#", "rooms/+"],
        "recv": ["sensors/+/temp"],
    }));
    let writer_token = signer.token(&json!({"username": writer, "pub": "sensors/+/temp"}));
    let (mut subscriber, code) = client(broker.addr, Some(&reader), Some(&reader_token)).await;
    assert_eq!(code, Accepted);
    let (mut publisher, code) = client(broker.addr, Some(&writer), Some(&writer_token)).await;
    assert_eq!(code, Accepted);

    let ok = SubAckCode::Success(QoS::AtMostOnce);
    let refused = SubAckCode::FAILURE;
    let filters = ["sensors/#", "sensors/+/temp", "rooms/a", "rooms/#", "other"];
    let subscribe: Vec<(&str, QoS)> = filters.iter().map(|f| (*f, QoS::AtMostOnce)).collect();
    let granted = subscriber.subscribe(1, &subscribe).await;
    // `rooms/+` does not cover `rooms/#`.
    assert_eq!(granted.codes, [ok, ok, ok, refused, refused]);
    // The writer has no subscribe claim at all.
    let none = publisher
        .subscribe(1, &[("sensors/#", QoS::AtMostOnce)])
        .await;
    assert_eq!(none.codes, [refused]);

    // Publish: `sensors/+/temp` only; receive: `sensors/+/temp` only.
    publisher
        .publish("sensors/a/humidity", "no publish", QoS::AtLeastOnce, false)
        .await;
    publisher
        .publish("sensors/a/temp", "yes", QoS::AtLeastOnce, false)
        .await;
    let delivered = subscriber.recv_publish().await;
    assert_eq!(&*delivered.topic, "sensors/a/temp");
    subscriber.expect_silence(SILENCE).await;
    // The reader may not publish (no publish claim), so its message reaches no one.
    subscriber
        .publish("sensors/b/temp", "x", QoS::AtLeastOnce, false)
        .await;
    subscriber.expect_silence(SILENCE).await;
    broker.stop().await;
}

#[tokio::test]
async fn a_client_without_a_valid_token_gets_no_topic() {
    let signer = Signer::hmac(Algorithm::HS256, "s");
    let yaml = concat!(
        "plugins:\n",
        "  amqtt.contrib.jwt.TopicAuthJwtPlugin:\n",
        "    secret_key: s\n",
        "    publish_claim: p\n",
        "    subscribe_claim: s\n",
        "    receive_claim: r\n",
        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n",
        "    allow_anonymous: true\n",
    );
    let broker =
        TestBroker::<(Option<amqtt_plugins::AnonymousAuth>, Plugins)>::start_with_plugins(yaml)
            .await;
    let expired = signer.token(&json!({"s": ["#"], "exp": epoch(-5)}));
    let valid = signer.token(&json!({"s": ["#"]}));
    for (token, expected) in [
        (None, SubAckCode::FAILURE),
        (Some(expired.as_str()), SubAckCode::FAILURE),
        (Some(valid.as_str()), SubAckCode::Success(QoS::AtMostOnce)),
    ] {
        let (mut c, code) = client(broker.addr, None, token).await;
        assert_eq!(code, Accepted);
        let ack = c.subscribe(1, &[("a/b", QoS::AtMostOnce)]).await;
        assert_eq!(ack.codes, [expected], "token {token:?}");
    }
    broker.stop().await;
}

#[tokio::test]
async fn bad_configurations_name_the_plugin_and_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let garbage = key_file(
        &dir,
        "garbage.pem",
        "-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n",
    );
    let p384 = key_file(&dir, "p384.pem", &Signer::generate(Algorithm::ES384).verify);
    let user = |keys: &str| user_section(keys);
    let cases = [
        (user("secret_key: s\nalgorithm: HS999"), "`algorithm`"),
        (user("secret_key: s\nalgorithm: ES512"), "not supported"),
        (user("algorithm: HS256"), "`secret_key`"),
        (user("algorithm: RS256"), "`public_key_file`"),
        (
            user(&format!("algorithm: RS256\npublic_key_file: {}", garbage.display())),
            "`public_key_file`",
        ),
        (
            user("algorithm: ES256\npublic_key_file: /nonexistent/key.pem"),
            "`public_key_file`: cannot read",
        ),
        (
            user(&format!("algorithm: ES256\npublic_key_file: {}", p384.display())),
            "is not a public key ES256 can verify with",
        ),
        (user("secret_key: s\nissuer: me"), "issuer"),
        (
            "  amqtt.contrib.jwt.UserAuthJwtPlugin:\n    secret_key: s\n".to_owned(),
            "`user_claim`",
        ),
        (
            "  amqtt.contrib.jwt.TopicAuthJwtPlugin:\n    secret_key: s\n    publish_claim: p\n    \
             subscribe_claim: s\n"
                .to_owned(),
            "`receive_claim`",
        ),
    ];
    for (yaml, key) in cases {
        let error = bind_error(&yaml).await;
        assert!(error.contains(key), "expected {key} in: {error}");
        assert!(
            error.contains("plugin `auth_jwt`") || error.contains("plugin `topic_jwt`"),
            "the plugin is named: {error}"
        );
    }
}
