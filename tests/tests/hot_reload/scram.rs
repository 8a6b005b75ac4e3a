//! `auth_scram` on a SIGHUP: a user added to its password file logs in by SCRAM after the
//! reload.

use std::path::Path;

use amqtt_core::client::{ClientError, ClientOptions, MqttClient};
use amqtt_core::codec::{ProtocolVersion, ReasonCode};
use amqtt_plugins::scram::{ScramClient, ScramCredential};
use amqtt_tests::AmqttProcess;

/// Writes `dir/passwd` with SCRAM verifiers of `users` (each one's password is its name).
fn write_users(dir: &Path, users: &[&str]) {
    let lines: String = users
        .iter()
        .map(|user| format!("{user}:{}\n", ScramCredential::generate(user.as_bytes())))
        .collect();
    std::fs::write(dir.join("passwd"), lines).expect("write password file");
}

/// Connects to `addr` by SCRAM as `user` (password: the user name).
async fn scram_login(addr: std::net::SocketAddr, user: &str) -> Result<MqttClient, ClientError> {
    let options = ClientOptions::new()
        .protocol(ProtocolVersion::V5)
        .client_id(format!("{user}-scram"))
        .auto_reconnect(false)
        .authenticator(ScramClient::new(user, user));
    MqttClient::connect(&format!("mqtt://{addr}"), options).await
}

#[tokio::test]
async fn a_user_added_to_the_scram_password_file_logs_in_after_sighup() {
    let broker = AmqttProcess::start(|dir, port| {
        write_users(dir, &["alice"]);
        let yaml = format!(
            "listeners:\n  default:\n    bind: 127.0.0.1:{port}\nplugins:\n  auth_scram:\n    \
             password_file: '{}'\n",
            dir.join("passwd").display()
        );
        std::fs::write(dir.join("amqtt.yaml"), yaml).expect("write config");
    })
    .await;
    let alice = scram_login(broker.addr, "alice")
        .await
        .expect("alice logs in");
    match scram_login(broker.addr, "bob").await {
        Err(ClientError::Refused(code)) => assert_eq!(code, ReasonCode::BadUserNameOrPassword),
        other => panic!("bob is not a user yet: {other:?}"),
    }

    write_users(broker.dir(), &["alice", "bob"]);
    let log = broker.hang_up().await;
    assert!(log.contains("reloaded"), "{log}");
    assert!(log.contains("SCRAM credentials loaded"), "{log}");
    let bob = scram_login(broker.addr, "bob")
        .await
        .expect("bob logs in after the reload");
    bob.disconnect().await.expect("disconnect");
    alice.disconnect().await.expect("alice stayed connected");
}
