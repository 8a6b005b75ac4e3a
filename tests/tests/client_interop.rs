//! Interoperability tests: the client library (`amqtt_core::client`) against the Mosquitto broker.
//!
//! Each test starts a private `mosquitto` on free 127.0.0.1 ports, from a configuration file
//! written to a temporary directory, and talks to it over TCP, TLS and WebSocket; some tests also
//! use Mosquitto's command-line clients as peers. When `mosquitto` (or a peer) is not installed a
//! test prints `skipped: ...` and passes, unless `CI` is set: CI must run them (`.ci/run`
//! installs `mosquitto` and `mosquitto-clients`).
//!
//! Every child is killed when dropped and every wait is bounded, so nothing hangs the suite.

#[path = "transports/common.rs"]
#[allow(
    dead_code,
    reason = "shared with the transport tests; only the PKI is used here"
)]
mod common;
#[path = "client_interop/v5.rs"]
mod v5;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use amqtt_core::client::{ClientOptions, Message, MqttClient};
use amqtt_core::codec::{QoS, SubAckCode};
use amqtt_core::transport::client::ConnectOptions;
use amqtt_tests::free_port;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

/// How long a client operation, a message or a child may take.
const STEP: Duration = Duration::from_secs(5);
/// How long a test waits to be confident something does not happen.
const QUIET: Duration = Duration::from_millis(500);
/// How long mosquitto may take to listen on all its ports.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// A program a test needs.
struct Tool {
    /// Its name in the skip message.
    name: &'static str,
    /// The command that probes for it (starting it is proof enough: `--help` may exit non-zero).
    program: &'static str,
    args: &'static [&'static str],
}

const MOSQUITTO: Tool = Tool {
    name: "mosquitto",
    program: "mosquitto",
    args: &["-h"],
};
const MOSQUITTO_PUB: Tool = Tool {
    name: "mosquitto_pub (mosquitto-clients)",
    program: "mosquitto_pub",
    args: &["--help"],
};
const MOSQUITTO_SUB: Tool = Tool {
    name: "mosquitto_sub (mosquitto-clients)",
    program: "mosquitto_sub",
    args: &["--help"],
};
const STDBUF: Tool = Tool {
    name: "stdbuf (coreutils)",
    program: "stdbuf",
    args: &["--version"],
};

/// Where `program` is: found on `PATH`, else in the `sbin` directories where Debian installs
/// `mosquitto` (not on a normal user's `PATH`), else `program` itself (which then fails to start).
fn locate(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

/// Whether `tool` can be started here.
async fn installed(tool: &Tool) -> bool {
    let child = Command::new(locate(tool.program))
        .args(tool.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else { return false };
    timeout(STEP, child.wait()).await.is_ok_and(|s| s.is_ok())
}

/// True when all `tools` are installed. Otherwise prints why the test is skipped and returns
/// false, or panics when `CI` is set.
async fn require(tools: &[Tool]) -> bool {
    for tool in tools {
        if !installed(tool).await {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{} not installed, but CI is set and CI must run the client interop tests \
                     (CI installs it via .ci/run)",
                    tool.name
                );
            }
            eprintln!(
                "skipped: {} not installed (CI installs it via .ci/run)",
                tool.name
            );
            return false;
        }
    }
    true
}

/// The listeners of a private mosquitto.
#[derive(Default)]
struct Listeners {
    /// A TLS listener with this PKI's server certificate.
    tls: Option<common::Pki>,
    /// A WebSocket listener.
    ws: bool,
    /// More configuration lines.
    extra: &'static str,
}

/// A private mosquitto broker, killed when dropped.
struct Mosquitto {
    dir: tempfile::TempDir,
    child: Child,
    /// The plain MQTT listener.
    tcp: SocketAddr,
    /// The TLS listener, if configured.
    tls: Option<SocketAddr>,
    /// The WebSocket listener, if configured.
    ws: Option<SocketAddr>,
    /// Its certificates, kept alive for the TLS listener.
    pki: Option<common::Pki>,
}

impl Mosquitto {
    /// Writes a configuration with `listeners` and starts mosquitto on it.
    async fn start(listeners: Listeners) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir");
        let addr = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let tcp = addr(free_port());
        let log = dir.path().join("mosquitto.log");
        let mut conf = format!(
            "persistence false\nlog_dest file {}\nlog_type all\nallow_anonymous true\n\
             {}listener {} 127.0.0.1\n",
            log.display(),
            listeners.extra,
            tcp.port()
        );
        let tls = listeners.tls.as_ref().map(|pki| {
            let tls = addr(free_port());
            conf.push_str(&format!(
                "listener {} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
                tls.port(),
                pki.ca_file.display(),
                pki.cert_file.display(),
                pki.key_file.display()
            ));
            tls
        });
        let ws = listeners.ws.then(|| {
            let ws = addr(free_port());
            conf.push_str(&format!(
                "listener {} 127.0.0.1\nprotocol websockets\n",
                ws.port()
            ));
            ws
        });
        std::fs::write(dir.path().join("mosquitto.conf"), conf).expect("write mosquitto.conf");
        let child = Self::spawn(&dir.path().join("mosquitto.conf"));
        let mut mosquitto = Mosquitto {
            dir,
            child,
            tcp,
            tls,
            ws,
            pki: listeners.tls,
        };
        mosquitto.wait_listening().await;
        mosquitto
    }

    fn spawn(conf: &Path) -> Child {
        Command::new(locate("mosquitto"))
            .arg("-c")
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start mosquitto")
    }

    /// Its log so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Waits (bounded) until every listener accepts TCP connections.
    async fn wait_listening(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let addrs: Vec<SocketAddr> = [Some(self.tcp), self.tls, self.ws]
            .into_iter()
            .flatten()
            .collect();
        for addr in addrs {
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("mosquitto exited with {status}:\n{}", self.log());
                }
                if TcpStream::connect(addr).await.is_ok() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "mosquitto not listening on {addr} within {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
                sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Kills it (SIGKILL) and waits until it is gone.
    async fn kill(&mut self) {
        self.child.start_kill().expect("kill mosquitto");
        timeout(STEP, self.child.wait())
            .await
            .expect("killed mosquitto exits")
            .expect("wait for mosquitto");
    }

    /// Kills it and starts a new one from the same configuration, on the same ports.
    async fn restart(&mut self) {
        self.kill().await;
        self.child = Self::spawn(&self.dir.path().join("mosquitto.conf"));
        self.wait_listening().await;
    }

    fn url(&self) -> String {
        format!("mqtt://{}", self.tcp)
    }
}

/// Options for a test client: no auto-reconnect, so a lost connection fails fast.
fn options(id: &str) -> ClientOptions {
    ClientOptions::new().client_id(id).auto_reconnect(false)
}

/// Runs `future`, failing the test after [`STEP`].
async fn bounded<T>(future: impl Future<Output = T>) -> T {
    timeout(STEP, future).await.expect("completes in time")
}

async fn connect(url: &str, options: ClientOptions) -> MqttClient {
    bounded(MqttClient::connect(url, options))
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

async fn subscribe(client: &MqttClient, filter: &str, qos: QoS) {
    let codes = bounded(client.subscribe(&[(filter, qos)]))
        .await
        .expect("subscribe");
    assert_eq!(codes, vec![SubAckCode::Success(qos)], "SUBACK for {filter}");
}

async fn publish(client: &MqttClient, topic: &str, payload: &str, qos: QoS, retain: bool) {
    bounded(client.publish(topic, payload.to_owned(), qos, retain))
        .await
        .unwrap_or_else(|e| panic!("publish to {topic} at {qos:?}: {e}"));
}

async fn expect_message(client: &mut MqttClient) -> Message {
    client
        .deliver_message(STEP)
        .await
        .expect("a message arrives")
}

async fn expect_nothing(client: &mut MqttClient) {
    if let Some(message) = client.deliver_message(QUIET).await {
        panic!("unexpected message: {message:?}");
    }
}

fn assert_message(message: &Message, topic: &str, payload: &str, qos: QoS, retain: bool) {
    assert_eq!(&message.topic[..], topic, "{message:?}");
    assert_eq!(&message.payload[..], payload.as_bytes(), "{message:?}");
    assert_eq!(message.qos, qos, "{message:?}");
    assert_eq!(message.retain, retain, "{message:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_to_itself_at_each_qos() {
    if !require(&[MOSQUITTO]).await {
        return;
    }
    let broker = Mosquitto::start(Listeners::default()).await;
    let mut client = connect(&broker.url(), options("self")).await;
    subscribe(&client, "q/#", QoS::ExactlyOnce).await;
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let topic = format!("q/{i}");
        publish(&client, &topic, &format!("payload {i}"), qos, false).await;
        let message = expect_message(&mut client).await;
        assert_message(&message, &topic, &format!("payload {i}"), qos, false);
        assert!(!message.dup, "{message:?}");
    }
    // Each exactly once.
    expect_nothing(&mut client).await;
    bounded(client.disconnect()).await.expect("disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_message_reaches_a_later_subscriber() {
    if !require(&[MOSQUITTO]).await {
        return;
    }
    let broker = Mosquitto::start(Listeners::default()).await;
    let publisher = connect(&broker.url(), options("retainer")).await;
    publish(&publisher, "r/state", "on", QoS::AtLeastOnce, true).await;
    bounded(publisher.disconnect()).await.expect("disconnect");

    let mut late = connect(&broker.url(), options("late")).await;
    subscribe(&late, "r/#", QoS::AtLeastOnce).await;
    let message = expect_message(&mut late).await;
    assert_message(&message, "r/state", "on", QoS::AtLeastOnce, true);
    // A live publish to a subscriber is not flagged retained.
    publish(&late, "r/state", "off", QoS::AtLeastOnce, true).await;
    let message = expect_message(&mut late).await;
    assert_message(&message, "r/state", "off", QoS::AtLeastOnce, false);
    expect_nothing(&mut late).await;
    bounded(late.disconnect()).await.expect("disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_is_published_after_kill_but_not_after_disconnect() {
    if !require(&[MOSQUITTO]).await {
        return;
    }
    let broker = Mosquitto::start(Listeners::default()).await;
    let mut watcher = connect(&broker.url(), options("watcher")).await;
    subscribe(&watcher, "will/#", QoS::AtLeastOnce).await;

    let polite = options("polite").will("will/polite", "gone", QoS::AtLeastOnce, false);
    let polite = connect(&broker.url(), polite).await;
    bounded(polite.disconnect()).await.expect("disconnect");
    expect_nothing(&mut watcher).await;

    let crasher = options("crasher").will("will/crasher", "crashed", QoS::AtLeastOnce, false);
    let crasher = connect(&broker.url(), crasher).await;
    crasher.kill();
    let message = expect_message(&mut watcher).await;
    assert_message(&message, "will/crasher", "crashed", QoS::AtLeastOnce, false);
    expect_nothing(&mut watcher).await;
    bounded(watcher.disconnect()).await.expect("disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_stops_delivery() {
    if !require(&[MOSQUITTO]).await {
        return;
    }
    let broker = Mosquitto::start(Listeners::default()).await;
    let mut client = connect(&broker.url(), options("unsub")).await;
    subscribe(&client, "u/+", QoS::AtLeastOnce).await;
    publish(&client, "u/a", "before", QoS::AtLeastOnce, false).await;
    let message = expect_message(&mut client).await;
    assert_message(&message, "u/a", "before", QoS::AtLeastOnce, false);
    bounded(client.unsubscribe(&["u/+"]))
        .await
        .expect("unsubscribe");
    publish(&client, "u/a", "after", QoS::AtLeastOnce, false).await;
    expect_nothing(&mut client).await;
    bounded(client.disconnect()).await.expect("disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_over_tls_and_websocket() {
    if !require(&[MOSQUITTO]).await {
        return;
    }
    let broker = Mosquitto::start(Listeners {
        tls: Some(common::Pki::new()),
        ws: true,
        extra: "",
    })
    .await;
    let pki = broker.pki.as_ref().expect("PKI");
    let urls = [
        format!("mqtts://localhost:{}", broker.tls.expect("TLS").port()),
        format!("ws://{}/mqtt", broker.ws.expect("WebSocket")),
    ];
    let connection = ConnectOptions::new().ca_file(&pki.ca_file);
    for (i, url) in urls.iter().enumerate() {
        let mut client = connect(
            url,
            options(&format!("c{i}")).connection(connection.clone()),
        )
        .await;
        subscribe(&client, "x/#", QoS::ExactlyOnce).await;
        publish(&client, "x/y", url, QoS::ExactlyOnce, false).await;
        let message = expect_message(&mut client).await;
        assert_message(&message, "x/y", url, QoS::ExactlyOnce, false);
        bounded(client.disconnect()).await.expect("disconnect");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_and_resubscribes_after_a_broker_restart() {
    if !require(&[MOSQUITTO]).await {
        return;
    }
    let mut broker = Mosquitto::start(Listeners::default()).await;
    let resilient = ClientOptions::new()
        .client_id("resilient")
        .clean_session(false)
        .auto_reconnect(true)
        .reconnect_retries(-1)
        .reconnect_max_interval(Duration::from_millis(500));
    let mut client = connect(&broker.url(), resilient).await;
    subscribe(&client, "re/#", QoS::AtLeastOnce).await;

    broker.restart().await;

    // The new broker (no persistence) knows nothing of the session: only the client's
    // re-subscription can route this. Publish until it arrives, as the client reconnects on
    // its own schedule.
    let publisher = connect(&broker.url(), options("after-restart")).await;
    let deadline = Instant::now() + STEP;
    let message = loop {
        publish(&publisher, "re/x", "again", QoS::AtLeastOnce, false).await;
        if let Some(message) = client.deliver_message(Duration::from_millis(200)).await {
            break message;
        }
        assert!(
            Instant::now() < deadline,
            "no message after the restart within {STEP:?}:\n{}",
            broker.log()
        );
    };
    assert_message(&message, "re/x", "again", QoS::AtLeastOnce, false);
    // The client still works both ways.
    publish(&client, "re/y", "mine", QoS::AtLeastOnce, false).await;
    let message = loop {
        let message = expect_message(&mut client).await;
        if &message.topic[..] == "re/y" {
            break message;
        }
    };
    assert_message(&message, "re/y", "mine", QoS::AtLeastOnce, false);
    bounded(publisher.disconnect()).await.expect("disconnect");
    bounded(client.disconnect()).await.expect("disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_pub_to_our_subscriber() {
    if !require(&[MOSQUITTO, MOSQUITTO_PUB]).await {
        return;
    }
    let broker = Mosquitto::start(Listeners::default()).await;
    let mut client = connect(&broker.url(), options("sub")).await;
    subscribe(&client, "m/#", QoS::ExactlyOnce).await;
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.tcp.port().to_string()])
        .args([
            "-V",
            "mqttv311",
            "-q",
            "2",
            "-t",
            "m/p",
            "-m",
            "from mosquitto_pub",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start mosquitto_pub");
    let status = timeout(STEP, child.wait())
        .await
        .expect("mosquitto_pub finishes")
        .expect("wait for mosquitto_pub");
    assert!(status.success(), "mosquitto_pub failed: {status}");
    let message = expect_message(&mut client).await;
    assert_message(
        &message,
        "m/p",
        "from mosquitto_pub",
        QoS::ExactlyOnce,
        false,
    );
    expect_nothing(&mut client).await;
    bounded(client.disconnect()).await.expect("disconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_publisher_to_mosquitto_sub() {
    if !require(&[MOSQUITTO, MOSQUITTO_SUB, STDBUF]).await {
        return;
    }
    let broker = Mosquitto::start(Listeners::default()).await;
    // Line-buffered, so its `-d` line on SUBACK tells when it is subscribed.
    let mut child = Command::new("stdbuf")
        .args(["-oL", "mosquitto_sub"])
        .args(["-h", "127.0.0.1", "-p", &broker.tcp.port().to_string()])
        .args(["-V", "mqttv311", "-i", "msub", "-d", "-v"])
        .args(["-q", "2", "-t", "o/#", "-C", "1", "-W", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start mosquitto_sub");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut transcript = Vec::new();
    let subscribed = timeout(STEP, async {
        while let Ok(Some(line)) = lines.next_line().await {
            transcript.push(line.clone());
            if line.starts_with("Subscribed (mid: ") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        subscribed,
        Ok(true),
        "mosquitto_sub not subscribed: {transcript:?}"
    );

    let client = connect(&broker.url(), options("pub")).await;
    publish(&client, "o/p", "from amqtt", QoS::ExactlyOnce, false).await;
    let start = transcript.len();
    timeout(STEP, async {
        while let Ok(Some(line)) = lines.next_line().await {
            transcript.push(line);
        }
    })
    .await
    .expect("mosquitto_sub exits after one message");
    let status = timeout(STEP, child.wait())
        .await
        .expect("mosquitto_sub exits")
        .expect("wait for mosquitto_sub");
    assert!(
        status.success(),
        "mosquitto_sub failed: {status}: {transcript:?}"
    );
    let messages: Vec<&String> = transcript[start..]
        .iter()
        .filter(|line| !line.starts_with("Client msub "))
        .collect();
    assert_eq!(messages, ["o/p from amqtt"], "{transcript:?}");
    bounded(client.disconnect()).await.expect("disconnect");
}
