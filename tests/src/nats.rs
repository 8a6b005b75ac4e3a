//! What the cluster tests run the brokers against: [`NatsServer`], a `nats-server` with
//! JetStream as a child process that a test can kill and restart on the same port and store,
//! and [`CutProxy`], a TCP proxy that cuts one broker off NATS and lets it back.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{free_port, wait_until};

/// Where Debian installs `nats-server`, which is not on a normal user's PATH.
const DEBIAN_NATS_SERVER: &str = "/usr/sbin/nats-server";

/// How long `nats-server` may take to accept connections (a JetStream store to recover).
const START_WITHIN: Duration = Duration::from_secs(10);

/// The `nats-server` binary: `nats-server` on the PATH, else Debian's `/usr/sbin/nats-server`.
pub fn nats_server_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("nats-server"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let debian = PathBuf::from(DEBIAN_NATS_SERVER);
        debian.is_file().then_some(debian)
    })
}

/// A [`NatsServer`] for the test `test_name`, or `None` after one line on standard error when
/// `nats-server` is not installed. Under CI (`CI` set), where it must be, panics instead.
pub async fn nats_server_or_skip(test_name: &str) -> Option<NatsServer> {
    nats_server_with_or_skip(test_name, "").await
}

/// [`nats_server_or_skip`] for a server that also reads the `nats-server` configuration
/// `config` (e.g. `"max_payload: 4096\n"`; see [`NatsServer::start_with`]).
pub async fn nats_server_with_or_skip(test_name: &str, config: &str) -> Option<NatsServer> {
    match nats_server_binary() {
        Some(binary) => Some(NatsServer::start_with(binary, config).await),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test_name}: nats-server is not installed, and CI is set"
            );
            eprintln!("skipping {test_name}: nats-server not installed");
            None
        }
    }
}

/// `nats-server -js` on free ports of 127.0.0.1, its JetStream store (`jetstream/`) and its log
/// in a temporary directory that outlives the process: [`NatsServer::kill`] then [`NatsServer::restart`] bring
/// it back on the same ports with the same streams. Killed (SIGKILL) when dropped; if the test
/// is failing then, its log goes to standard error.
pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    monitoring_port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts `binary` with JetStream and waits until it accepts clients.
    pub async fn start(binary: PathBuf) -> NatsServer {
        NatsServer::start_with(binary, "").await
    }

    /// The URL brokers connect to: `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr())
    }

    /// The client port's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The HTTP monitoring endpoint (`/varz`, `/connz`, `/jsz`): `http://127.0.0.1:<port>`.
    pub fn monitoring_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitoring_port)
    }

    /// Kills the server with SIGKILL, as a crash would, and reaps it. Its clients see their
    /// connections reset and new ones refused.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("nats-server is running");
        child.kill().expect("SIGKILL nats-server");
        child.wait().expect("reap nats-server");
    }

    /// Starts the server (again) on the same ports and store directory, and waits until it
    /// accepts clients. Panics, with its log, if it exits or does not listen in time.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "nats-server is already running");
        let stderr = std::fs::File::create(self.stderr_file()).expect("nats-server stderr file");
        let mut command = Command::new(&self.binary);
        if self.config_file().is_file() {
            command.arg("-c").arg(self.config_file());
        }
        let child = command
            .arg("-js")
            .arg("-sd")
            .arg(self.dir.path())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-m", &self.monitoring_port.to_string()])
            .arg("-l")
            .arg(self.log_file())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.binary.display()));
        self.child = Some(child);
        let started = tokio::time::Instant::now();
        while self.info().await.is_none() {
            let child = self.child.as_mut().expect("started above");
            if let Some(status) = child.try_wait().expect("poll nats-server") {
                self.child = None;
                panic!(
                    "nats-server exited ({status}) before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < START_WITHIN,
                "nats-server did not listen on {} within {START_WITHIN:?}:\n{}",
                self.addr(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The `INFO {...}` line a new connection gets first (it says the server's version and
    /// whether JetStream is on), or `None` if nothing accepts on the port.
    pub async fn info(&self) -> Option<String> {
        let stream = TcpStream::connect(self.addr()).await.ok()?;
        let mut line = String::new();
        let mut reader = BufReader::new(stream);
        let read = reader.read_line(&mut line);
        match tokio::time::timeout(Duration::from_secs(1), read).await {
            Ok(Ok(_)) if line.starts_with("INFO ") => Some(line.trim_end().to_owned()),
            _ => None,
        }
    }

    /// Everything the server logged, over all its starts, then what it wrote to standard error
    /// in the last one (why it could not start).
    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
        let stderr = std::fs::read_to_string(self.stderr_file()).unwrap_or_default();
        format!("{log}{stderr}")
    }

    /// [`NatsServer::start`], the server also reading the `nats-server` configuration `config`
    /// (its command-line options, the ports and the store, take precedence), e.g.
    /// `"max_payload: 4096\n"`. The configuration is kept for [`NatsServer::restart`].
    pub async fn start_with(binary: PathBuf, config: &str) -> NatsServer {
        let mut server = NatsServer {
            binary,
            port: free_port(),
            monitoring_port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        if !config.is_empty() {
            std::fs::write(server.config_file(), config).expect("write nats-server.conf");
        }
        server.restart().await;
        server
    }

    /// The configuration file [`NatsServer::start_with`] wrote, if it wrote one.
    fn config_file(&self) -> PathBuf {
        self.dir.path().join("nats-server.conf")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    fn stderr_file(&self) -> PathBuf {
        self.dir.path().join("nats-server.stderr")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- nats-server log ({}) ---\n{}", self.url(), self.log());
        }
    }
}

/// The state of a [`CutProxy`]'s link, watched by every proxied connection.
#[derive(Clone, Copy, Default)]
struct Link {
    /// New connections are closed as soon as they are accepted.
    cut: bool,
    /// How many times the link was cut: a connection ends when this changes.
    cuts: u64,
}

/// A TCP proxy on a free port of 127.0.0.1 in front of `upstream`, each connection relayed by
/// a tokio task: [`CutProxy::cut`] closes every relayed connection and closes new ones at once
/// (the far side looks down), [`CutProxy::heal`] relays again. Stops when dropped.
pub struct CutProxy {
    addr: SocketAddr,
    link: Arc<watch::Sender<Link>>,
    accept: JoinHandle<()>,
}

impl CutProxy {
    /// Listens on a free port of 127.0.0.1 and relays each connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let link = Arc::new(watch::Sender::new(Link::default()));
        let accept = tokio::spawn(accept_loop(listener, upstream, Arc::clone(&link)));
        CutProxy { addr, link, accept }
    }

    /// The address clients connect to instead of `upstream`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections are being relayed now.
    pub fn connections(&self) -> usize {
        self.link.receiver_count()
    }

    /// Cuts the link: closes every relayed connection (returns once they are all closed) and
    /// closes new ones as soon as they are accepted, until [`CutProxy::heal`].
    pub async fn cut(&self) {
        self.link.send_modify(|link| {
            link.cut = true;
            link.cuts += 1;
        });
        wait_until("every relayed connection is closed", || {
            self.connections() == 0
        })
        .await;
    }

    /// Relays new connections again.
    pub fn heal(&self) {
        self.link.send_modify(|link| link.cut = false);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.link.send_modify(|link| link.cuts += 1);
    }
}

/// Accepts connections, closes them while the link is cut, else relays each in its own task.
async fn accept_loop(listener: TcpListener, upstream: SocketAddr, link: Arc<watch::Sender<Link>>) {
    while let Ok((client, _)) = listener.accept().await {
        // Subscribed here, before the task runs, so that `connections` counts it at once and a
        // cut from now on ends it.
        let watcher = link.subscribe();
        let now = *watcher.borrow();
        if !now.cut {
            tokio::spawn(relay(client, upstream, watcher, now.cuts));
        }
    }
}

/// Relays bytes both ways between `client` and a new connection to `upstream` until either
/// side closes or the link is cut again (it had been cut `cuts` times when `client` came); then
/// both connections are closed.
async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut link: watch::Receiver<Link>,
    cuts: u64,
) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = link.wait_for(|link| link.cuts != cuts) => {}
    }
}
