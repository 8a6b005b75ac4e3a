//! The broker variants: each one's configuration file, and the processes under test (a broker,
//! or nats-server), started fresh per run (spawn, wait until the port accepts, stop with
//! SIGTERM or SIGKILL, wait for the exit).

use std::fmt::Write as _;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::Result;
use crate::options::Options;

/// A broker configuration under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    /// amqtt without a store.
    Memory,
    /// amqtt with the SQLite store, `sync: always` (PUBACK after fsync).
    Always,
    /// amqtt with the SQLite store, `sync: batch` (commit every `sync_interval` 0.1 s).
    Batch,
    /// amqtt with the SQLite store, `sync: none` (commits, no fsync).
    None,
    /// Mosquitto with `persistence true` (a periodic snapshot, `autosave_interval` 1800 s).
    Mosquitto,
    /// Two amqtt nodes of a cluster over nats-server; publishers and subscribers on node A.
    ClusterLocal,
    /// Two amqtt nodes of a cluster over nats-server; publishers on node A, subscribers on B.
    ClusterCross,
}

impl Variant {
    /// All variants, in table order.
    pub(crate) const ALL: [Variant; 7] = [
        Variant::Memory,
        Variant::Always,
        Variant::Batch,
        Variant::None,
        Variant::Mosquitto,
        Variant::ClusterLocal,
        Variant::ClusterCross,
    ];

    /// The variants run by default: the store measurement's (the cluster's need nats-server).
    pub(crate) const STORE: [Variant; 5] = [
        Variant::Memory,
        Variant::Always,
        Variant::Batch,
        Variant::None,
        Variant::Mosquitto,
    ];

    /// The variant's name on the command line and in the results.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Variant::Memory => "memory",
            Variant::Always => "always",
            Variant::Batch => "batch",
            Variant::None => "none",
            Variant::Mosquitto => "mosquitto",
            Variant::ClusterLocal => "cluster_local",
            Variant::ClusterCross => "cluster_cross",
        }
    }

    /// Whether the variant is a cluster (two nodes and nats-server).
    pub(crate) fn is_cluster(self) -> bool {
        matches!(self, Variant::ClusterLocal | Variant::ClusterCross)
    }

    /// The variant called `name`.
    pub(crate) fn parse(name: &str) -> Result<Variant> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name() == name)
            .ok_or_else(|| format!("unknown variant {name}").into())
    }

    /// The port this variant's broker (a cluster's node A) listens on.
    pub(crate) fn port(self, o: &Options) -> u16 {
        match self {
            Variant::Mosquitto => o.mosquitto_port,
            _ => o.amqtt_port,
        }
    }

    /// Writes the configuration into `dir` (the store goes there too); returns its path.
    fn write_config(self, o: &Options, dir: &Path, max_queued: usize) -> Result<PathBuf> {
        let port = self.port(o);
        let mut text = String::new();
        let path = if self == Variant::Mosquitto {
            writeln!(
                text,
                "per_listener_settings false\nlistener {port} 127.0.0.1"
            )?;
            writeln!(text, "allow_anonymous true\nuser root")?;
            writeln!(
                text,
                "persistence true\npersistence_location {}/",
                dir.display()
            )?;
            writeln!(text, "autosave_interval 1800")?;
            writeln!(
                text,
                "max_queued_messages {max_queued}\nmax_inflight_messages 100"
            )?;
            writeln!(text, "max_connections -1\nlog_dest stderr\nlog_type error")?;
            writeln!(text, "log_type warning\nconnection_messages false")?;
            dir.join("mosquitto.conf")
        } else {
            text = amqtt_config(port, max_queued);
            if matches!(self, Variant::Always | Variant::Batch | Variant::None) {
                let db = dir.join("amqtt.db");
                writeln!(text, "  persistence:")?;
                // An absolute path: `sqlite+aiosqlite:///` + `/tmp/...`.
                writeln!(text, "    connection: sqlite+aiosqlite:///{}", db.display())?;
                writeln!(
                    text,
                    "    clear_on_shutdown: true\n    sync: {}",
                    self.name()
                )?;
                if self == Variant::Batch {
                    writeln!(text, "    sync_interval: 0.1")?;
                }
            }
            dir.join("amqtt.yaml")
        };
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

/// amqtt's configuration without a store or a cluster: a TCP listener on 127.0.0.1:`port`,
/// anonymous clients, `max_queued` and `max_inflight` 100.
pub(crate) fn amqtt_config(port: u16, max_queued: usize) -> String {
    format!(
        "listeners:\n  default:\n    type: tcp\n    bind: 127.0.0.1:{port}\n\
         max_queued: {max_queued}\nmax_inflight: 100\nplugins:\n  auth_anonymous:\n"
    )
}

/// A running server process under test: a broker, or nats-server.
pub(crate) struct Server {
    /// The process.
    child: Child,
    /// Its process id.
    pub(crate) pid: u32,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// When it was spawned.
    spawned: Instant,
    /// Its stderr (and stdout) log.
    pub(crate) log: PathBuf,
}

/// How a broker process ended.
pub(crate) struct Exit {
    /// Exit status as text (`exit status: 0`, `signal: 9 (SIGKILL)`).
    pub(crate) status: String,
    /// From the stop signal to the exit.
    pub(crate) took: Duration,
}

impl Server {
    /// Writes the variant's configuration into `dir` (kept across restarts: it holds the
    /// store) and starts the broker with its output in `dir/<log_name>`. Not for the cluster
    /// variants (see `deployment.rs`).
    pub(crate) async fn start(
        o: &Options,
        variant: Variant,
        dir: &Path,
        max_queued: usize,
        log_name: &str,
    ) -> Result<Server> {
        std::fs::create_dir_all(dir)?;
        let config = variant.write_config(o, dir, max_queued)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], variant.port(o)));
        let command = if variant == Variant::Mosquitto {
            let mut c = Command::new(&o.mosquitto);
            c.arg("-c").arg(&config);
            c
        } else {
            amqtt_command(o, &config)
        };
        Server::spawn(command, addr, dir.join(log_name)).await
    }

    /// Starts `command` with its output in `log`, once nothing accepts on `addr` (where it is
    /// to listen).
    pub(crate) async fn spawn(
        mut command: Command,
        addr: SocketAddr,
        log: PathBuf,
    ) -> Result<Server> {
        if TcpStream::connect(addr).await.is_ok() {
            return Err(format!("{addr} already accepts: is a server left running?").into());
        }
        let out = File::create(&log)?;
        command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let spawned = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
        Ok(Server {
            pid: child.id(),
            child,
            addr,
            spawned,
            log,
        })
    }

    /// Waits until the port accepts a TCP connection; returns the time since the spawn.
    pub(crate) async fn wait_accepting(&mut self, limit: Duration) -> Result<Duration> {
        loop {
            if TcpStream::connect(self.addr).await.is_ok() {
                return Ok(self.spawned.elapsed());
            }
            self.check_starting(limit, "accept")?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until the log has a line containing `text` (`limit` after the spawn at most).
    pub(crate) async fn wait_logged(&mut self, text: &str, limit: Duration) -> Result<()> {
        loop {
            if log_lines(&self.log).iter().any(|l| l.contains(text)) {
                return Ok(());
            }
            self.check_starting(limit, &format!("log {text:?}"))?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// An error if the process has exited, or `limit` has passed since the spawn before it
    /// did `what`.
    fn check_starting(&mut self, limit: Duration, what: &str) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            return Err(format!("{:?} exited at startup ({status})", self.log).into());
        }
        if self.spawned.elapsed() > limit {
            return Err(format!(
                "the server of {:?} did not {what} within {limit:?}",
                self.log
            )
            .into());
        }
        Ok(())
    }

    /// Sends SIGTERM and waits up to 60 s for the exit (then SIGKILL).
    pub(crate) async fn stop(mut self) -> Result<Exit> {
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()?;
        if let Some(exit) = self.wait(started, Duration::from_secs(60)).await? {
            return Ok(exit);
        }
        self.child.kill()?;
        let status = self.child.wait()?;
        Ok(Exit {
            status: format!("no exit within 60 s of SIGTERM; killed ({status})"),
            took: started.elapsed(),
        })
    }

    /// Sends SIGKILL and waits for the exit.
    pub(crate) async fn kill(mut self) -> Result<Exit> {
        let started = Instant::now();
        self.child.kill()?;
        let status = self.child.wait()?;
        Ok(Exit {
            status: status.to_string(),
            took: started.elapsed(),
        })
    }

    /// Polls for the exit until `limit` after `started`.
    async fn wait(&mut self, started: Instant, limit: Duration) -> Result<Option<Exit>> {
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(Exit {
                    status: status.to_string(),
                    took: started.elapsed(),
                }));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(None)
    }
}

/// The command that starts amqtt with the configuration file `config`.
pub(crate) fn amqtt_command(o: &Options, config: &Path) -> Command {
    let mut c = Command::new(&o.amqtt);
    // The store's restore line and the cluster's join line are at info.
    c.env("RUST_LOG", "info").arg("-c").arg(config);
    c
}

/// The lines of a broker log, without ANSI colour sequences (tracing colours its levels).
pub(crate) fn log_lines(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(|line| {
            let mut plain = String::with_capacity(line.len());
            let mut chars = line.chars();
            while let Some(c) = chars.next() {
                if c == '\x1b' {
                    // CSI: ESC [ parameters, ending with a letter.
                    chars.by_ref().find(char::is_ascii_alphabetic);
                } else {
                    plain.push(c);
                }
            }
            plain
        })
        .collect()
}

/// The WARN and ERROR lines of a server log (amqtt's tracing levels, Mosquitto's `Error:` and
/// `Warning:` prefixes, less its warning about running as root, nats-server's `[WRN]` and
/// `[ERR]`), at most `keep` of them, and how many there were.
pub(crate) fn log_problems(log: &Path, keep: usize) -> (usize, Vec<String>) {
    let bad: Vec<String> = log_lines(log)
        .into_iter()
        .filter(|l| {
            l.contains(" WARN ")
                || l.contains(" ERROR ")
                || l.contains("Error:")
                || l.contains("Warning:")
                || l.contains("[WRN]")
                || l.contains("[ERR]")
        })
        // Mosquitto's notice that running as root (`user root`, as here) is discouraged.
        .filter(|l| !l.contains("should not be run as root"))
        .collect();
    let count = bad.len();
    (count, bad.into_iter().take(keep).collect())
}

#[cfg(test)]
mod tests {
    use super::log_problems;

    /// nats-server's `[WRN]` and `[ERR]` lines count with amqtt's WARN and ERROR ones, its
    /// `[INF]` lines and amqtt's INFO ones do not.
    #[test]
    fn warnings_of_every_server_count() {
        let log = std::env::temp_dir().join(format!("persist_load-{}.log", std::process::id()));
        let text = "[1] 2026/12/03 17:21:18.654427 [INF] Server is ready\n\
                    [1] 2026/12/03 17:21:19.000000 [WRN] JetStream resource limits\n\
                    [1] 2026/12/03 17:21:20.000000 [ERR] JetStream out of storage\n\
                    2026-12-03T17:24:19.003692Z  INFO amqtt_core::broker: broker shutting down\n\
                    2026-12-03T17:24:19.006103Z  \x1b[33m WARN\x1b[0m amqtt_cluster: watch failed\n";
        std::fs::write(&log, text).expect("a temporary file");
        let (count, first) = log_problems(&log, 2);
        let _ = std::fs::remove_file(&log);
        assert_eq!(count, 3);
        assert_eq!(first.len(), 2);
        assert!(first[0].contains("[WRN]"), "{first:?}");
    }
}
