//! Interoperability with aMQTT itself (its Python package, `pip install amqtt sqlalchemy
//! aiosqlite 'pwdlib[argon2,bcrypt]'`): a database written by aMQTT's `UserManager` and
//! `TopicManager` is read by our plugins, and one written by ours is read by aMQTT's.

use std::process::Command;

use amqtt_contrib::auth_db::{TopicAuthDb, UserAuthDb};
use amqtt_core::codec::{QoS, ReasonCode, SubAckCode};
use amqtt_core::plugin::Action;
use amqtt_tests::{RawClient, TestBroker, connect_packet};

use crate::support::{TempDir, admin, connack, section, unique};

/// aMQTT's side: `write` creates the tables, a user `py-user`/`py-pw` and its subscribe topic
/// `p/#`; `read USER PW` prints whether aMQTT accepts USER with PW and a wrong password, and
/// USER's publish list.
const SCRIPT: &str = r#"
import asyncio, sys
from amqtt.contexts import Action
from amqtt.contrib.auth_db.managers import TopicManager, UserManager

async def main(url, mode, *args):
    async with UserManager(url) as users, TopicManager(url) as topics:
        if mode == "write":
            await users.db_sync()
            await users.create_user_auth("py-user", "py-pw")
            await topics.create_topic_auth("py-user")
            await topics.add_allowed_topic("py-user", "p/#", Action.SUBSCRIBE)
        else:
            user, password = args
            right = await users.verify_user_auth_password(user, password)
            wrong = await users.verify_user_auth_password(user, password + "x")
            acl = (await topics.get_topic_auth(user)).publish_acl
            print(f"right={right} wrong={wrong} publish={[t.topic for t in acl]}")

asyncio.run(main(*sys.argv[1:]))
"#;

/// Runs the script; `None` (and a message) when aMQTT's Python package is not installed, a
/// failure in CI, where `.ci/run` installs it.
fn amqtt_python(args: &[&str]) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", "import amqtt.contrib.auth_db.managers, aiosqlite"])
        .output();
    if !probe.is_ok_and(|out| out.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "aMQTT's Python package is missing, and CI is set"
        );
        println!(
            "skipping: aMQTT's Python package (amqtt, sqlalchemy, aiosqlite, pwdlib) is not installed"
        );
        return None;
    }
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "aMQTT's script {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn a_database_written_by_amqtt_is_read_by_ours_and_back() {
    let dir = TempDir::new();
    let url = dir.sqlite_url("amqtt.db");
    let Some(_) = amqtt_python(&[&url, "write"]) else {
        return;
    };
    let yaml = format!(
        "plugins:\n{}{}",
        section("UserAuthDBPlugin", &url, ""),
        section("TopicAuthDBPlugin", &url, "")
    );
    let broker = TestBroker::<(UserAuthDb, TopicAuthDb)>::start_with_plugins(&yaml).await;
    assert_eq!(
        connack(broker.addr, Some("py-user"), Some("py-pwx")).await,
        ReasonCode::NotAuthorized
    );
    let mut connect = connect_packet(&unique("py-client"), true);
    connect.username = Some("py-user".into());
    connect.password = Some(bytes::Bytes::from_static(b"py-pw"));
    let (mut client, ack) = RawClient::connect_with(broker.addr, connect).await;
    assert_eq!(ack.code, ReasonCode::Success, "aMQTT's argon2 hash");
    let granted = client
        .subscribe(1, &[("p/1", QoS::AtMostOnce), ("q", QoS::AtMostOnce)])
        .await;
    assert_eq!(
        granted.codes,
        [SubAckCode::Success(QoS::AtMostOnce), SubAckCode::FAILURE]
    );
    broker.stop().await;

    // Ours to theirs: a user and a topic list written by our admin code.
    let admin = admin(&url).await;
    admin
        .add_user("rs-user", "rs-pw")
        .await
        .expect("user added");
    admin
        .add_topic("rs-user", Action::Publish, "r/+")
        .await
        .expect("topic added");
    admin.close().await;
    let read = amqtt_python(&[&url, "read", "rs-user", "rs-pw"]).expect("installed");
    assert_eq!(read.trim(), "right=True wrong=False publish=['r/+']");
}
