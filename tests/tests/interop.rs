//! Interoperability tests: third-party MQTT 3.1.1 clients against a real broker on 127.0.0.1.
//!
//! The peers are Mosquitto's command-line clients (`mosquitto_pub`, `mosquitto_sub`) and the
//! Eclipse paho-mqtt Python client (`tests/interop/paho_check.py`), run as child processes while
//! the broker serves in the test's own runtime. When a peer is not installed a test prints
//! `skipped: ...` and passes, unless `CI` is set: CI must run them (`.ci/run` installs the peers).
//!
//! Every child is killed when dropped and every wait on it is bounded, so nothing hangs the suite.
//!
//! `mosquitto_sub` only flushes stdout after a message, so its `-d` debug lines (among them
//! `Subscribed (mid: 1): ...`, printed on SUBACK) would stay in its buffer; it runs under
//! `stdbuf -oL` to make them line-buffered, which tells a test exactly when it is subscribed.

use std::net::SocketAddr;
use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use amqtt_tests::TestBroker;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// How long a child may take to do what the test waits for (connect and subscribe, exit, ...).
const CHILD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the whole paho-mqtt check may take (it normally takes about 5 s).
const PAHO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a test waits to be confident something does not happen.
const QUIET: Duration = Duration::from_secs(1);
/// `mosquitto_sub -W`: the exit status when the timeout expires.
const MOSQUITTO_SUB_TIMED_OUT: i32 = 27;

/// A peer program the interop tests need.
struct Tool {
    /// Its name in the skip message.
    name: &'static str,
    /// The command that probes for it.
    program: &'static str,
    args: &'static [&'static str],
    /// Whether starting it is proof enough (`mosquitto_pub --help` exits 1).
    spawn_is_enough: bool,
    /// Where it comes from, for the skip message.
    source: &'static str,
}

const MOSQUITTO_PUB: Tool = Tool {
    name: "mosquitto_pub (mosquitto-clients)",
    program: "mosquitto_pub",
    args: &["--help"],
    spawn_is_enough: true,
    source: "CI installs it via .ci/run",
};
const MOSQUITTO_SUB: Tool = Tool {
    name: "mosquitto_sub (mosquitto-clients)",
    program: "mosquitto_sub",
    args: &["--help"],
    spawn_is_enough: true,
    source: "CI installs it via .ci/run",
};
const STDBUF: Tool = Tool {
    name: "stdbuf (coreutils)",
    program: "stdbuf",
    args: &["--version"],
    spawn_is_enough: false,
    source: "part of GNU coreutils",
};
const PAHO: Tool = Tool {
    name: "python3 with paho-mqtt",
    program: "python3",
    args: &["-c", "import paho.mqtt.client"],
    spawn_is_enough: false,
    source: "CI installs it via .ci/run",
};

/// Whether `tool` can run here.
async fn installed(tool: &Tool) -> bool {
    let child = Command::new(tool.program)
        .args(tool.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else { return false };
    match timeout(CHILD_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) => tool.spawn_is_enough || status.success(),
        _ => false,
    }
}

/// True when all `tools` are installed. Otherwise prints why the test is skipped and returns
/// false, or panics when `CI` is set.
async fn require(tools: &[Tool]) -> bool {
    for tool in tools {
        if !installed(tool).await {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{} not installed, but CI is set and CI must run the interop tests ({})",
                    tool.name, tool.source
                );
            }
            eprintln!("skipped: {} not installed ({})", tool.name, tool.source);
            return false;
        }
    }
    true
}

/// The arguments that point a Mosquitto client at `addr`, speaking MQTT 3.1.1.
fn broker_args(addr: SocketAddr) -> Vec<String> {
    vec![
        "-h".into(),
        addr.ip().to_string(),
        "-p".into(),
        addr.port().to_string(),
        "-V".into(),
        "mqttv311".into(),
    ]
}

/// Runs a child to completion with `stdin` as its input, within `limit`.
async fn run(mut command: Command, stdin: &[u8], limit: Duration) -> Output {
    let described = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {described}: {e}"));
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    let writer = tokio::spawn(async move {
        let _ = input.write_all(&stdin).await;
        // Dropping `input` closes the child's stdin.
    });
    let output = match timeout(limit, child.wait_with_output()).await {
        Ok(output) => output.unwrap_or_else(|e| panic!("waiting for {described}: {e}")),
        Err(_) => panic!("{described} did not finish within {limit:?} (killed)"),
    };
    let _ = writer.await;
    output
}

/// Panics with the child's output unless it exited with status 0.
fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed with {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Publishes with `mosquitto_pub <args>` and waits until it has finished (for QoS 1 and 2, until
/// its handshake with the broker is complete).
async fn mosquitto_pub(addr: SocketAddr, args: &[&str], stdin: &str) {
    let mut command = Command::new("mosquitto_pub");
    command.args(broker_args(addr)).args(args);
    let output = run(command, stdin.as_bytes(), CHILD_TIMEOUT).await;
    assert_success(&format!("mosquitto_pub {}", args.join(" ")), &output);
}

/// Runs `mosquitto_sub <args>` to completion (the args must bound it, e.g. with `-C` and `-W`).
async fn mosquitto_sub_once(addr: SocketAddr, args: &[&str]) -> Output {
    let mut command = Command::new("mosquitto_sub");
    command.args(broker_args(addr)).args(args);
    run(command, b"", CHILD_TIMEOUT).await
}

/// A `mosquitto_sub` running in the background with debug output, line-buffered.
struct Sub {
    /// Its client id, which its debug lines start with.
    client_id: String,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: JoinHandle<String>,
    /// Every line it printed so far, debug lines included (for failure messages).
    transcript: Vec<String>,
}

impl Sub {
    /// Starts `mosquitto_sub -i <client_id> -d <args>` and waits until its SUBACK arrived.
    async fn start(addr: SocketAddr, client_id: &str, args: &[&str]) -> Sub {
        let mut child = Command::new("stdbuf")
            .arg("-oL")
            .arg("mosquitto_sub")
            .args(broker_args(addr))
            .args(["-i", client_id, "-d"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start mosquitto_sub");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut sub = Sub {
            client_id: client_id.to_owned(),
            child,
            stdout,
            stderr,
            transcript: Vec::new(),
        };
        sub.wait_subscribed().await;
        sub
    }

    /// Reads its debug output up to `Subscribed (mid: 1): <granted QoS list>`.
    async fn wait_subscribed(&mut self) {
        let waited = timeout(CHILD_TIMEOUT, async {
            while let Some(line) = self.next_line().await {
                if let Some(granted) = line.strip_prefix("Subscribed (mid: 1): ") {
                    return Some(granted.to_owned());
                }
            }
            None
        })
        .await;
        match waited {
            Ok(Some(granted)) => {
                assert!(
                    !granted.split(", ").any(|qos| qos == "128"),
                    "{}: the broker refused a subscription: {}",
                    self.client_id,
                    self.transcript.join("\n")
                );
            }
            Ok(None) => self.fail("exited before it was subscribed").await,
            Err(_) => {
                self.fail(&format!("not subscribed within {CHILD_TIMEOUT:?}"))
                    .await
            }
        }
    }

    /// The next line of its stdout, `None` at its end.
    async fn next_line(&mut self) -> Option<String> {
        let line = self
            .stdout
            .next_line()
            .await
            .expect("read mosquitto_sub stdout")?;
        self.transcript.push(line.clone());
        Some(line)
    }

    /// Whether `line` is one of its `-d` debug lines rather than a received message.
    fn is_debug(&self, line: &str) -> bool {
        line.strip_prefix("Client ")
            .is_some_and(|rest| rest.starts_with(&format!("{} ", self.client_id)))
            || line.starts_with("Subscribed (mid: ")
    }

    /// Waits (bounded) until it exits, e.g. after its `-C` count; returns its exit status and the
    /// messages it printed since it subscribed.
    async fn finish(mut self) -> (ExitStatus, Vec<String>) {
        let start = self.transcript.len();
        let read = timeout(CHILD_TIMEOUT, async {
            while self.next_line().await.is_some() {}
        })
        .await;
        if read.is_err() {
            self.fail(&format!("did not exit within {CHILD_TIMEOUT:?}"))
                .await;
        }
        let status = match timeout(CHILD_TIMEOUT, self.child.wait()).await {
            Ok(status) => status.expect("wait for mosquitto_sub"),
            Err(_) => self.fail("closed stdout but did not exit").await,
        };
        let messages = self.transcript[start..]
            .iter()
            .filter(|line| !self.is_debug(line))
            .cloned()
            .collect();
        (status, messages)
    }

    /// Kills it with SIGKILL, so it cannot send DISCONNECT, and waits until it is gone.
    async fn kill(mut self) {
        self.child
            .start_kill()
            .expect("send SIGKILL to mosquitto_sub");
        let status = timeout(CHILD_TIMEOUT, self.child.wait())
            .await
            .expect("killed mosquitto_sub exits")
            .expect("wait for mosquitto_sub");
        assert!(
            !status.success(),
            "mosquitto_sub exited normally although killed: {status}"
        );
    }

    /// Kills it and panics with `what` and everything it printed.
    async fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.start_kill();
        let _ = timeout(CHILD_TIMEOUT, self.child.wait()).await;
        while let Ok(Some(_)) = timeout(QUIET, self.next_line()).await {}
        let stderr = timeout(QUIET, &mut self.stderr).await;
        let stderr = match stderr {
            Ok(Ok(text)) => text,
            _ => String::from("<unavailable>"),
        };
        panic!(
            "mosquitto_sub {}: {what}\nstdout:\n{}\nstderr:\n{stderr}",
            self.client_id,
            self.transcript.join("\n")
        );
    }
}

/// Sorted copy, for comparing messages from different connections (MQTT orders messages only
/// per publishing connection and QoS).
fn sorted(lines: &[String]) -> Vec<String> {
    let mut lines = lines.to_vec();
    lines.sort();
    lines
}

/// `mosquitto_sub -t 'interop/#' -v -C 4` at `qos` receives what two `mosquitto_pub` runs send at
/// `qos`: one message with `-m` and three with `-l` (one per stdin line, in order).
async fn pub_sub_at_qos(qos: u8) {
    if !require(&[MOSQUITTO_PUB, MOSQUITTO_SUB, STDBUF]).await {
        return;
    }
    let broker = TestBroker::start("").await;
    let q = qos.to_string();
    let sub_id = format!("interop-sub-q{qos}");
    let sub = Sub::start(
        broker.addr,
        &sub_id,
        &["-q", &q, "-t", "interop/#", "-v", "-C", "4"],
    )
    .await;

    let single = format!("interop/q{qos}/single");
    let lines = format!("interop/q{qos}/lines/deeper");
    mosquitto_pub(
        broker.addr,
        &["-q", &q, "-t", &single, "-m", "hello from mosquitto_pub"],
        "",
    )
    .await;
    mosquitto_pub(
        broker.addr,
        &["-q", &q, "-t", &lines, "-l"],
        "line one\nline two has spaces\nline three: ünïcödé ✓\n",
    )
    .await;

    let (status, got) = sub.finish().await;
    let expected_lines = vec![
        format!("{lines} line one"),
        format!("{lines} line two has spaces"),
        format!("{lines} line three: ünïcödé ✓"),
    ];
    let mut expected = vec![format!("{single} hello from mosquitto_pub")];
    expected.extend(expected_lines.iter().cloned());
    assert_eq!(
        sorted(&got),
        sorted(&expected),
        "QoS {qos}: messages mosquitto_sub printed"
    );
    let in_order: Vec<String> = got
        .iter()
        .filter(|l| l.starts_with(&lines))
        .cloned()
        .collect();
    assert_eq!(
        in_order, expected_lines,
        "QoS {qos}: one connection's messages out of order"
    );
    assert!(
        status.success(),
        "QoS {qos}: mosquitto_sub -C 4 exited with {status}"
    );
    broker.stop().await;
}

/// QoS 0: `mosquitto_pub -q 0` to `mosquitto_sub -q 0`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_pub_sub_qos0() {
    pub_sub_at_qos(0).await;
}

/// QoS 1: `mosquitto_pub -q 1` to `mosquitto_sub -q 1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_pub_sub_qos1() {
    pub_sub_at_qos(1).await;
}

/// QoS 2: `mosquitto_pub -q 2` to `mosquitto_sub -q 2`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_pub_sub_qos2() {
    pub_sub_at_qos(2).await;
}

/// `mosquitto_pub -r` leaves a retained message a later `mosquitto_sub` gets (retain flag set);
/// an empty retained message (`-n -r`) clears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_retained_set_and_clear() {
    if !require(&[MOSQUITTO_PUB, MOSQUITTO_SUB]).await {
        return;
    }
    let broker = TestBroker::start("").await;
    let topic = "interop/retained";
    mosquitto_pub(
        broker.addr,
        &["-q", "1", "-r", "-t", topic, "-m", "kept for later"],
        "",
    )
    .await;

    // `-F '%r %q %t %p'`: retain flag, QoS, topic, payload.
    let output = mosquitto_sub_once(
        broker.addr,
        &[
            "-q",
            "1",
            "-t",
            topic,
            "-C",
            "1",
            "-W",
            "10",
            "-F",
            "%r %q %t %p",
        ],
    )
    .await;
    assert_success("mosquitto_sub of the retained message", &output);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "1 1 interop/retained kept for later\n",
        "a later subscriber gets the retained message, retain flag set, at QoS 1"
    );

    mosquitto_pub(broker.addr, &["-q", "1", "-r", "-n", "-t", topic], "").await;
    let output = mosquitto_sub_once(
        broker.addr,
        &["-q", "1", "-t", topic, "-v", "-C", "1", "-W", "2"],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(MOSQUITTO_SUB_TIMED_OUT),
        "after an empty retained message, mosquitto_sub -W 2 must time out (exit 27) with nothing\n\
         stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "",
        "nothing printed after the clear"
    );
    broker.stop().await;
}

/// A `mosquitto_sub` with a will, killed with SIGKILL (no DISCONNECT): another subscriber gets the
/// will, and since it was retained, so does a later one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_will_on_sigkill() {
    if !require(&[MOSQUITTO_PUB, MOSQUITTO_SUB, STDBUF]).await {
        return;
    }
    let broker = TestBroker::start("").await;
    // `-F '%q %r %t %p'`: QoS, retain flag, topic, payload.
    let watcher = Sub::start(
        broker.addr,
        "interop-will-watcher",
        &[
            "-q",
            "2",
            "-t",
            "interop/will/#",
            "-C",
            "1",
            "-F",
            "%q %r %t %p",
        ],
    )
    .await;
    let holder = Sub::start(
        broker.addr,
        "interop-will-holder",
        &[
            "-t",
            "interop/holder",
            "--will-topic",
            "interop/will/killed",
            "--will-payload",
            "holder vanished",
            "--will-qos",
            "1",
            "--will-retain",
        ],
    )
    .await;
    holder.kill().await;

    let (status, got) = watcher.finish().await;
    assert_eq!(
        got,
        ["1 0 interop/will/killed holder vanished"],
        "the will, at QoS 1, retain flag clear on an established subscription"
    );
    assert!(
        status.success(),
        "watcher mosquitto_sub -C 1 exited with {status}"
    );

    let output = mosquitto_sub_once(
        broker.addr,
        &[
            "-q",
            "2",
            "-t",
            "interop/will/#",
            "-C",
            "1",
            "-W",
            "10",
            "-F",
            "%q %r %t %p",
        ],
    )
    .await;
    assert_success("mosquitto_sub of the retained will", &output);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "1 1 interop/will/killed holder vanished\n",
        "the will was retained (--will-retain)"
    );
    broker.stop().await;
}

/// A `mosquitto_sub -C 1` with a will that exits after its message sends DISCONNECT: the broker
/// must discard the will (neither published nor retained).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_no_will_on_clean_disconnect() {
    if !require(&[MOSQUITTO_PUB, MOSQUITTO_SUB, STDBUF]).await {
        return;
    }
    let broker = TestBroker::start("").await;
    let watcher = Sub::start(
        broker.addr,
        "interop-clean-watcher",
        &[
            "-t",
            "interop/will/#",
            "-t",
            "interop/marker",
            "-v",
            "-C",
            "1",
        ],
    )
    .await;
    let holder = Sub::start(
        broker.addr,
        "interop-clean-holder",
        &[
            "-t",
            "interop/trigger",
            "-v",
            "-C",
            "1",
            "--will-topic",
            "interop/will/clean",
            "--will-payload",
            "should never be published",
            "--will-qos",
            "1",
            "--will-retain",
        ],
    )
    .await;
    mosquitto_pub(
        broker.addr,
        &["-q", "1", "-t", "interop/trigger", "-m", "bye"],
        "",
    )
    .await;
    let holder_id = holder.client_id.clone();
    let (status, got) = holder.finish().await;
    assert_eq!(got, ["interop/trigger bye"], "the will holder's message");
    assert!(
        status.success(),
        "will holder mosquitto_sub -C 1 exited with {status}"
    );

    // A will published because of the holder's exit would reach the watcher before this marker.
    tokio::time::sleep(QUIET).await;
    mosquitto_pub(
        broker.addr,
        &["-q", "1", "-t", "interop/marker", "-m", "after"],
        "",
    )
    .await;
    let (status, got) = watcher.finish().await;
    assert_eq!(
        got,
        ["interop/marker after"],
        "{holder_id} sent DISCONNECT, so its will must not be published"
    );
    assert!(
        status.success(),
        "watcher mosquitto_sub -C 1 exited with {status}"
    );

    let output = mosquitto_sub_once(
        broker.addr,
        &["-t", "interop/will/#", "-v", "-C", "1", "-W", "2"],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(MOSQUITTO_SUB_TIMED_OUT),
        "no retained will after a clean disconnect: mosquitto_sub -W 2 must time out (exit 27)\n\
         stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    broker.stop().await;
}

/// The paho-mqtt Python client: QoS 0/1/2 round trips, retained messages and wills, checked by
/// `tests/interop/paho_check.py` (works with paho-mqtt 1.6 and 2.x).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_mqtt_python() {
    paho_check("paho_check.py").await;
}

/// The paho-mqtt Python client in MQTT 5.0: assigned client ids, request/response with user
/// properties, content type, response topic and correlation data between two v5 clients, and a
/// 3.1.1 client on the same topic, checked by `tests/interop/paho_v5_check.py`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_mqtt_python_v5() {
    paho_check("paho_v5_check.py").await;
}

/// Runs the paho check `script` (in `tests/interop/`) against a fresh broker.
async fn paho_check(script: &str) {
    if !require(&[PAHO]).await {
        return;
    }
    let broker = TestBroker::start("").await;
    let path = format!("{}/interop/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new("python3");
    command
        .arg(path)
        .arg(broker.addr.port().to_string())
        .arg(broker.addr.ip().to_string());
    let output = run(command, b"", PAHO_TIMEOUT).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.lines().any(|line| line == "OK"),
        "{script} failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    broker.stop().await;
}
