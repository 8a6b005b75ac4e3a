//! End-to-end tests of the password-file authentication plugin (`auth_file`, aMQTT's
//! `FileAuthPlugin`) and of the `amqtt_passwd` tool, through real sockets.
//!
//! Hashes are made here with the same crates the plugin verifies with (argon2 with cheap
//! parameters, bcrypt at cost 4, sha512-crypt at 1000 rounds), plus one made by OpenSSL
//! (`openssl passwd -6`) to pin interoperability with hashes from other tools.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use amqtt_core::broker::Broker;
use amqtt_core::codec::{ByteString, ReasonCode};
use amqtt_core::config::BrokerConfig;
use amqtt_plugins::AnonymousAuth;
use amqtt_plugins::file_auth::FileAuth;
use amqtt_tests::{RawClient, TestBroker, amqtt_binary, connect_packet};
use argon2::{Argon2, PasswordHasher as _};
use bytes::Bytes;
use std::io::Write as _;

/// `openssl passwd -6 -salt saltsalt secret`.
const OPENSSL_SHA512: &str = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";

/// A temporary directory, removed with its contents when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "amqtt-file-auth-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// Writes `contents` to `name` in the directory and returns its path.
    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An argon2 hash with cheap parameters (8 KiB, one pass).
fn argon2_hash(algorithm: argon2::Algorithm, password: &str) -> String {
    let params = argon2::Params::new(8, 1, 1, None).expect("argon2 params");
    Argon2::new(algorithm, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes())
        .expect("argon2 hash")
        .to_string()
}

/// A bcrypt hash at the lowest cost.
fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).expect("bcrypt hash")
}

/// A sha512-crypt hash with 1000 rounds.
fn sha512_hash(password: &str) -> String {
    use sha_crypt::{CustomizedPasswordHasher as _, Params, ShaCrypt};
    let params = Params::new(1000).expect("sha-crypt params");
    ShaCrypt::SHA512
        .hash_password_with_params(password.as_bytes(), b"amqttsalt", params)
        .expect("sha512-crypt hash")
        .to_string()
}

/// A password file with one user per supported format, and comments.
fn password_file(dir: &TempDir) -> PathBuf {
    let contents = format!(
        "# amqtt users\n\
         \n\
         alice:{}\n\
         bob:{}\n\
         carol:{}\n\
         # made by OpenSSL\n\
         dave:{OPENSSL_SHA512}\n\
         erin:{}\n\
         frank:{}\n",
        argon2_hash(argon2::Algorithm::Argon2id, "alice-pw"),
        bcrypt_hash("bob-pw"),
        sha512_hash("carol-pw"),
        argon2_hash(argon2::Algorithm::Argon2i, "erin-pw"),
        argon2_hash(argon2::Algorithm::Argon2d, "frank-pw"),
    );
    dir.file("passwd", &contents)
}

/// The `plugins:` section turning the plugin on with `file`, under its aMQTT class path.
fn plugins_yaml(file: &Path) -> String {
    format!(
        "plugins:\n  amqtt.plugins.authentication.FileAuthPlugin:\n    password_file: '{}'\n",
        file.display()
    )
}

/// Connects with the given credentials and returns the CONNACK code.
async fn connack(addr: SocketAddr, user: Option<&str>, password: Option<&str>) -> ReasonCode {
    let mut connect = connect_packet("file-auth-client", true);
    connect.username = user.map(ByteString::from);
    connect.password = password.map(|p| Bytes::copy_from_slice(p.as_bytes()));
    let (_client, ack) = RawClient::connect_with(addr, connect).await;
    ack.code
}

/// The error `Broker::bind` gives for `yaml`'s plugins section.
async fn bind_error(plugins: &str) -> String {
    let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:0\n{plugins}");
    let config = BrokerConfig::from_yaml(&yaml).expect("config parses");
    match Broker::<(FileAuth,)>::bind(config).await {
        Ok(_) => panic!("the broker started"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn each_hash_format_admits_its_user_with_the_right_password_only() {
    let dir = TempDir::new();
    let file = password_file(&dir);
    let broker = TestBroker::<(FileAuth,)>::start_with_plugins(&plugins_yaml(&file)).await;
    assert_eq!(broker.handle.plugins().0.user_count(), 6);
    for (user, password) in [
        ("alice", "alice-pw"),
        ("bob", "bob-pw"),
        ("carol", "carol-pw"),
        ("dave", "secret"),
        ("erin", "erin-pw"),
        ("frank", "frank-pw"),
    ] {
        assert_eq!(
            connack(broker.addr, Some(user), Some(password)).await,
            ReasonCode::Success,
            "{user} with the right password"
        );
        let wrong = format!("{password}x");
        assert_eq!(
            connack(broker.addr, Some(user), Some(&wrong)).await,
            ReasonCode::NotAuthorized,
            "{user} with a wrong password"
        );
    }
    // Another user's password does not open an account.
    assert_eq!(
        connack(broker.addr, Some("alice"), Some("bob-pw")).await,
        ReasonCode::NotAuthorized
    );
    broker.stop().await;
}

#[tokio::test]
async fn unknown_user_and_missing_password_are_refused() {
    let dir = TempDir::new();
    let file = password_file(&dir);
    let broker = TestBroker::<(FileAuth,)>::start_with_plugins(&plugins_yaml(&file)).await;
    assert_eq!(
        connack(broker.addr, Some("mallory"), Some("alice-pw")).await,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        connack(broker.addr, Some("alice"), None).await,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        connack(broker.addr, Some("alice"), Some("")).await,
        ReasonCode::NotAuthorized
    );
    broker.stop().await;
}

#[tokio::test]
async fn no_user_name_is_refused_when_no_other_plugin_allows() {
    let dir = TempDir::new();
    let file = password_file(&dir);
    let broker = TestBroker::<(FileAuth,)>::start_with_plugins(&plugins_yaml(&file)).await;
    assert_eq!(
        connack(broker.addr, None, None).await,
        ReasonCode::NotAuthorized
    );
    broker.stop().await;
}

#[tokio::test]
async fn anonymous_plugin_admits_clients_without_user_name_but_not_bad_passwords() {
    let dir = TempDir::new();
    let file = password_file(&dir);
    let yaml = format!(
        "{}  auth_anonymous:\n    allow_anonymous: true\n",
        plugins_yaml(&file)
    );
    let broker = TestBroker::<(Option<AnonymousAuth>, FileAuth)>::start_with_plugins(&yaml).await;
    assert_eq!(connack(broker.addr, None, None).await, ReasonCode::Success);
    assert_eq!(
        connack(broker.addr, Some("alice"), Some("alice-pw")).await,
        ReasonCode::Success
    );
    // The file plugin's Deny wins over the anonymous plugin's Allow.
    assert_eq!(
        connack(broker.addr, Some("alice"), Some("nope")).await,
        ReasonCode::NotAuthorized
    );
    broker.stop().await;
}

#[tokio::test]
async fn short_name_and_dashed_key_are_accepted() {
    let dir = TempDir::new();
    let file = password_file(&dir);
    let yaml = format!(
        "plugins:\n  auth_file:\n    password-file: '{}'\n",
        file.display()
    );
    let broker = TestBroker::<(FileAuth,)>::start_with_plugins(&yaml).await;
    assert_eq!(
        connack(broker.addr, Some("bob"), Some("bob-pw")).await,
        ReasonCode::Success
    );
    broker.stop().await;
}

#[tokio::test]
async fn missing_file_is_a_startup_error_naming_the_file() {
    let dir = TempDir::new();
    let missing = dir.0.join("no-such-passwd");
    let error = bind_error(&plugins_yaml(&missing)).await;
    assert!(
        error.contains(&missing.display().to_string()),
        "no file name in: {error}"
    );
    assert!(error.contains("auth_file"), "no plugin name in: {error}");
}

#[tokio::test]
async fn missing_password_file_setting_is_a_startup_error() {
    let error = bind_error("plugins:\n  amqtt.plugins.authentication.FileAuthPlugin: {}\n").await;
    assert!(error.contains("password_file"), "{error}");
}

#[tokio::test]
async fn malformed_line_is_a_startup_error_naming_file_and_line() {
    let dir = TempDir::new();
    let good = argon2_hash(argon2::Algorithm::Argon2id, "pw");
    let file = dir.file(
        "passwd",
        &format!("# comment\nalice:{good}\nbob has no colon\n"),
    );
    let error = bind_error(&plugins_yaml(&file)).await;
    assert!(error.contains(&file.display().to_string()), "{error}");
    assert!(error.contains("line 3"), "no line number in: {error}");
}

#[tokio::test]
async fn unknown_hash_format_is_a_startup_error_naming_the_line() {
    let dir = TempDir::new();
    let file = dir.file("passwd", "\n# plain text is not a hash\n\nalice:secret\n");
    let error = bind_error(&plugins_yaml(&file)).await;
    assert!(error.contains("line 4"), "no line number in: {error}");
    assert!(error.contains("hash"), "{error}");
    // A `$1$` (md5-crypt) hash is not supported either.
    let file = dir.file("passwd", "alice:$1$salt$qJH7.N4xYta3aEG/dfqo/0\n");
    let error = bind_error(&plugins_yaml(&file)).await;
    assert!(error.contains("line 1"), "no line number in: {error}");
}

#[tokio::test]
async fn reload_puts_new_users_in_force_and_keeps_old_ones_on_error() {
    let dir = TempDir::new();
    let file = password_file(&dir);
    let broker = TestBroker::<(FileAuth,)>::start_with_plugins(&plugins_yaml(&file)).await;
    assert_eq!(
        connack(broker.addr, Some("grace"), Some("grace-pw")).await,
        ReasonCode::NotAuthorized
    );

    let mut passwd = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .expect("open password file");
    writeln!(passwd, "grace:{}", bcrypt_hash("grace-pw")).expect("append user");
    drop(passwd);
    let plugin = &broker.handle.plugins().0;
    assert_eq!(plugin.reread_password_file().expect("reload"), 7);
    assert_eq!(
        connack(broker.addr, Some("grace"), Some("grace-pw")).await,
        ReasonCode::Success
    );

    // A broken file is refused and the users loaded before stay.
    std::fs::write(&file, "grace\n").expect("break the file");
    let error = plugin
        .reread_password_file()
        .expect_err("a broken file does not load");
    assert!(error.to_string().contains("line 1"), "{error}");
    assert_eq!(plugin.user_count(), 7);
    assert_eq!(
        connack(broker.addr, Some("grace"), Some("grace-pw")).await,
        ReasonCode::Success
    );

    // A removed user is refused after a reload.
    std::fs::write(&file, format!("bob:{}\n", bcrypt_hash("bob-pw"))).expect("rewrite");
    assert_eq!(plugin.reread_password_file().expect("reload"), 1);
    assert_eq!(
        connack(broker.addr, Some("grace"), Some("grace-pw")).await,
        ReasonCode::NotAuthorized
    );
    broker.stop().await;
}

/// Runs `amqtt_passwd args` with `stdin` as its standard input (not a terminal).
fn passwd(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(amqtt_binary("amqtt_passwd"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run amqtt_passwd");
    if let Some(mut input) = child.stdin.take() {
        // The tool may exit before reading (a usage error, say): a broken pipe is fine.
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("wait for amqtt_passwd")
}

#[tokio::test]
async fn amqtt_passwd_adds_updates_and_deletes_users() {
    let dir = TempDir::new();
    let bob = format!("bob:{}", bcrypt_hash("bob-pw"));
    let file = dir.file("passwd", &format!("# our users\n{bob}\n"));
    let path = file.to_str().expect("UTF-8 temp path");

    let added = passwd(&[path, "henry"], "henry-pw\n");
    assert!(added.status.success(), "{added:?}");
    let text = std::fs::read_to_string(&file).expect("read password file");
    assert!(
        text.starts_with(&format!("# our users\n{bob}\nhenry:$argon2id$")),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }

    let broker = TestBroker::<(FileAuth,)>::start_with_plugins(&plugins_yaml(&file)).await;
    assert_eq!(
        connack(broker.addr, Some("henry"), Some("henry-pw")).await,
        ReasonCode::Success
    );
    assert_eq!(
        connack(broker.addr, Some("bob"), Some("bob-pw")).await,
        ReasonCode::Success
    );

    // A new password replaces the old one (CRLF from a script is not part of it).
    let updated = passwd(&[path, "henry"], "henry-new\r\n");
    assert!(updated.status.success(), "{updated:?}");
    let plugin = &broker.handle.plugins().0;
    assert_eq!(plugin.reread_password_file().expect("reload"), 2);
    assert_eq!(
        connack(broker.addr, Some("henry"), Some("henry-new")).await,
        ReasonCode::Success
    );
    assert_eq!(
        connack(broker.addr, Some("henry"), Some("henry-pw")).await,
        ReasonCode::NotAuthorized
    );

    let deleted = passwd(&["-D", path, "henry"], "");
    assert!(deleted.status.success(), "{deleted:?}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read password file"),
        format!("# our users\n{bob}\n")
    );
    assert_eq!(plugin.reread_password_file().expect("reload"), 1);
    assert_eq!(
        connack(broker.addr, Some("henry"), Some("henry-new")).await,
        ReasonCode::NotAuthorized
    );
    broker.stop().await;

    let again = passwd(&["-D", path, "henry"], "");
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("henry") && stderr.contains("not found"),
        "{stderr}"
    );
}

#[test]
fn amqtt_passwd_creates_files_and_reports_errors() {
    let dir = TempDir::new();
    let file = dir.0.join("new-passwd");
    let path = file.to_str().expect("UTF-8 temp path");

    // A missing file is created.
    let created = passwd(&[path, "ivy"], "ivy-pw\n");
    assert!(created.status.success(), "{created:?}");
    let text = std::fs::read_to_string(&file).expect("read password file");
    assert!(
        text.starts_with("ivy:$argon2id$") && text.ends_with('\n'),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1);

    // -c starts over.
    let fresh = passwd(&["-c", path, "jack"], "jack-pw\n");
    assert!(fresh.status.success(), "{fresh:?}");
    let text = std::fs::read_to_string(&file).expect("read password file");
    assert!(text.starts_with("jack:$argon2id$"), "{text}");
    assert_eq!(text.lines().count(), 1);

    // No password on standard input, an empty one, a bad user name: refused, file unchanged.
    for (args, stdin, message) in [
        (vec![path, "kim"], "", "no password"),
        (vec![path, "kim"], "\n", "empty"),
        (vec![path, "k:m"], "pw\n", ":"),
    ] {
        let output = passwd(&args, stdin);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(&file).expect("read password file"),
        text
    );

    // Deleting from a missing file names it.
    let missing = dir.0.join("missing");
    let missing = missing.to_str().expect("UTF-8 temp path");
    let output = passwd(&["-D", missing, "ivy"], "");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(missing), "{stderr}");

    // The password is never an argument.
    let output = passwd(&[path, "kim", "secret"], "");
    assert_ne!(output.status.code(), Some(0));
}
