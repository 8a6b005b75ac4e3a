//! [`BrokerProcess`]: a broker binary run as a child process, for testing the binary itself
//! (its configuration file, its listeners, its exit on SIGTERM).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// How long a broker binary may take to listen after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a broker binary may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A port of 127.0.0.1 that was free a moment ago (the kernel's pick for port 0), for a
/// process that must be told its port in advance.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port of 127.0.0.1")
        .port()
}

/// A broker binary (a custom broker built on `amqtt_bin::BrokerMain`, or `amqtt`) running as
/// a child process with `-c FILE`, its `default` listener on a free port of 127.0.0.1, its
/// standard error (the log) in a file ([`BrokerProcess::log`]). Killed (SIGKILL) when dropped;
/// [`BrokerProcess::terminate`] stops it with SIGTERM. Unix only.
pub struct BrokerProcess {
    /// The address of its `default` listener.
    pub addr: SocketAddr,
    child: Child,
    config: PathBuf,
    log: PathBuf,
}

impl BrokerProcess {
    /// Writes a configuration file (the `default` listener on a free port of 127.0.0.1, then
    /// the `extra` YAML keys, e.g. `"plugins:\n  auth_anonymous:\n"`), runs `program -c FILE`
    /// and waits until it accepts TCP connections. Panics, with what the broker wrote to
    /// standard error, if it exits first; panics if it does not listen within 10 s.
    pub async fn start(program: impl AsRef<Path>, extra: &str) -> BrokerProcess {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let stem = format!("amqtt-test-{}-{}", std::process::id(), addr.port());
        let config = std::env::temp_dir().join(format!("{stem}.yaml"));
        let log = std::env::temp_dir().join(format!("{stem}.log"));
        let yaml = format!("listeners:\n  default:\n    bind: {addr}\n{extra}");
        std::fs::write(&config, yaml).expect("write the broker's configuration file");
        // A file, not a pipe: a pipe nobody reads would stop a broker that logs a lot.
        let stderr = std::fs::File::create(&log).expect("create the broker's log file");
        let child = Command::new(program.as_ref())
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.as_ref().display()));
        let mut broker = BrokerProcess {
            addr,
            child,
            config,
            log,
        };
        broker.wait_listening().await;
        broker
    }

    /// What the broker has written to standard error so far: its log, or why it stopped.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls the listener until it accepts a connection.
    async fn wait_listening(&mut self) {
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        while TcpStream::connect(self.addr).await.is_err() {
            if let Some(status) = self.child.try_wait().expect("poll the broker process") {
                panic!(
                    "the broker exited ({status}) before listening: {}",
                    self.log()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the broker did not listen on {} within {START_TIMEOUT:?}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM and returns the exit status; fails the test if the process is still
    /// running 10 s later.
    pub async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().expect("the broker is running");
        let kill = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("run kill");
        assert!(kill.success(), "kill -TERM {pid} failed: {kill}");
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => status.expect("wait for the broker process"),
            Err(_) => panic!("the broker still runs {STOP_TIMEOUT:?} after SIGTERM"),
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config);
        let _ = std::fs::remove_file(&self.log);
    }
}
