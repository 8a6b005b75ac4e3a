//! `amqtt_user_mgr` and `amqtt_topic_mgr` run as processes against SQLite, then the users they
//! made log in through a broker.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use amqtt_contrib::auth_db::{TopicAuthDb, UserAuthDb};
use amqtt_core::codec::{QoS, ReasonCode, SubAckCode};
use amqtt_tests::{RawClient, TestBroker, amqtt_binary, connect_packet};

use crate::support::{TempDir, connack, section, server_url, unique};

/// Runs tool `name` with `args` after `-d sqlite -f <file>`, `stdin` as its standard input.
fn run(name: &str, file: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(amqtt_binary(name))
        .args(["-d", "sqlite", "-f"])
        .arg(file)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tool starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("tool ends")
}

/// Runs a tool and asserts it succeeded; returns its standard output.
fn ok(name: &str, file: &Path, args: &[&str], stdin: &str) -> String {
    let out = run(name, file, args, stdin);
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a tool and asserts it failed; returns its standard error.
fn fails(name: &str, file: &Path, args: &[&str], stdin: &str) -> String {
    let out = run(name, file, args, stdin);
    assert!(!out.status.success(), "{name} {args:?} must fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn users_and_topics_made_by_the_tools_log_in_and_are_checked() {
    let dir = TempDir::new();
    let file = dir.0.join("auth.db");
    let user = unique("tool-user");
    let users = "amqtt_user_mgr";
    let topics = "amqtt_topic_mgr";

    let e = fails(users, &file, &["list"], "");
    assert!(e.contains("could not find"), "{e}");
    ok(users, &file, &["sync"], "");
    ok(users, &file, &["add", "-c", &user], "  first-pw  \n");
    let e = fails(users, &file, &["add", "-c", &user], "x\n");
    assert!(e.contains("already exists"), "{e}");
    let e = fails(users, &file, &["add", "-c", "empty"], "   \n");
    assert!(e.contains("cannot be empty"), "{e}");
    let listed = ok(users, &file, &["list"], "");
    assert!(
        listed.contains(&format!(
            "'{user}' with password hash: $argon2id$v=19$m=65536,t=3,p=4$"
        )),
        "{listed}"
    );
    ok(
        topics,
        &file,
        &["add", "s/#", "-c", &user, "-a", "subscribe"],
        "",
    );
    ok(
        topics,
        &file,
        &["add", "s/+/x", "-c", &user, "-a", "subscribe"],
        "",
    );
    ok(
        topics,
        &file,
        &["rm", "-c", &user, "-a", "subscribe", "s/+/x"],
        "",
    );
    let e = fails(
        topics,
        &file,
        &["add", "$SYS/x", "-c", &user, "-a", "publish"],
        "",
    );
    assert!(e.contains("$ topics"), "{e}");
    let listed = ok(topics, &file, &["list"], "");
    assert!(
        listed.contains(&format!(
            "'{user}':\n\tpublish: [], subscribe: [s/#], receive: []"
        )),
        "{listed}"
    );

    let yaml = format!(
        "plugins:\n{}{}",
        section(
            "UserAuthDBPlugin",
            &format!("sqlite+aiosqlite:///{}", file.display()),
            ""
        ),
        section(
            "TopicAuthDBPlugin",
            &format!("sqlite+aiosqlite:///{}", file.display()),
            ""
        )
    );
    let broker = TestBroker::<(UserAuthDb, TopicAuthDb)>::start_with_plugins(&yaml).await;
    // The password was stripped of its surrounding spaces, as aMQTT's tool does.
    let mut connect = connect_packet(&unique("tool-client"), true);
    connect.username = Some(user.as_str().into());
    connect.password = Some(bytes::Bytes::from_static(b"first-pw"));
    let (mut client, ack) = RawClient::connect_with(broker.addr, connect).await;
    assert_eq!(ack.code, ReasonCode::Success);
    let granted = client
        .subscribe(1, &[("s/1", QoS::AtMostOnce), ("t", QoS::AtMostOnce)])
        .await;
    assert_eq!(
        granted.codes,
        [SubAckCode::Success(QoS::AtMostOnce), SubAckCode::FAILURE]
    );

    ok(users, &file, &["pwd", "-c", &user], "second-pw\n");
    let refused = ReasonCode::NotAuthorized;
    assert_eq!(
        connack(broker.addr, Some(&user), Some("first-pw")).await,
        refused
    );
    assert_eq!(
        connack(broker.addr, Some(&user), Some("second-pw")).await,
        ReasonCode::Success
    );
    // `rm` asks: "n" keeps the user, `-y` does not ask.
    ok(users, &file, &["rm", "-c", &user], "n\n");
    assert!(ok(users, &file, &["list"], "").contains(&user));
    ok(users, &file, &["rm", "-c", &user, "-y"], "");
    assert!(!ok(users, &file, &["list"], "").contains(&user));
    let e = fails(users, &file, &["pwd", "-c", &user], "pw\n");
    assert!(e.contains("doesn't exist"), "{e}");
    broker.stop().await;
}

#[tokio::test]
async fn a_server_database_needs_a_user_name_and_its_password_comes_from_stdin() {
    let tool = amqtt_binary("amqtt_user_mgr");
    let out = Command::new(&tool)
        .args(["-d", "postgresql", "list"])
        .stdin(Stdio::null())
        .output()
        .expect("tool runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("requires a username"));
    let out = Command::new(&tool)
        .args([
            "-d",
            "postgresql",
            "-u",
            "amqtt",
            "-h",
            "127.0.0.1",
            "-p",
            "1",
            "list",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("tool runs");
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("cannot read the db password: nothing on standard input"),
        "{e}"
    );
    let Some(_) = server_url("PostgreSQL").await else {
        return;
    };
    // The db password, then the client's, one per line.
    let user = unique("pg-tool-user");
    let server = [
        "-d",
        "postgresql",
        "-u",
        "amqtt",
        "-h",
        "127.0.0.1",
        "-n",
        "amqtt_test",
    ];
    let run_pg = |args: &[&str], stdin: &str| {
        let mut child = Command::new(&tool)
            .args(server)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tool starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("tool ends");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run_pg(&["sync"], "amqtt\n");
    run_pg(&["add", "-c", &user], "amqtt\npg-pw\n");
    assert!(
        run_pg(&["list"], "amqtt\n").contains(&format!("'{user}' with password hash: $argon2id$"))
    );
    run_pg(&["rm", "-y", "-c", &user], "amqtt\n");
    assert!(!run_pg(&["list"], "amqtt\n").contains(&user));
}
