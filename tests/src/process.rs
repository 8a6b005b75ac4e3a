//! A real `amqtt` process, for the tests of what the stock binary does on a signal: started
//! on a free port from a configuration file the test writes, its output in a log file; and a
//! file on a slow disk, for the tests of what the broker does while it reads one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{amqtt_binary, free_port, wait_until};

/// How long the broker may take to start listening.
const START_WITHIN: Duration = Duration::from_secs(20);

/// A running `amqtt -c <dir>/amqtt.yaml`, its output in `<dir>/amqtt.log`; killed on drop.
pub struct AmqttProcess {
    child: Child,
    /// The address of its `default` listener.
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl AmqttProcess {
    /// Writes the configuration with `write_config(dir, port)` (`dir/amqtt.yaml`, and any file
    /// it names in `dir`) and starts the broker on the free port `port`.
    pub async fn start(write_config: impl FnOnce(&Path, u16)) -> AmqttProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        write_config(dir.path(), port);
        let binary = tokio::task::spawn_blocking(|| amqtt_binary("amqtt"))
            .await
            .expect("build amqtt");
        let log = std::fs::File::create(dir.path().join("amqtt.log")).expect("log file");
        let child = Command::new(binary)
            .arg("-c")
            .arg(dir.path().join("amqtt.yaml"))
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start amqtt");
        let started = tokio::time::Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                started.elapsed() < START_WITHIN,
                "amqtt did not start listening"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        AmqttProcess { child, addr, dir }
    }

    /// Sends SIGHUP and waits until the broker logged the outcome of that reload (`reloaded`
    /// or `reload refused`); returns the log written since the SIGHUP.
    pub async fn hang_up(&self) -> String {
        let outcomes =
            |log: &str| log.matches("reloaded").count() + log.matches("reload refused").count();
        let before = self.log();
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP failed");
        wait_until("the reload's outcome in the log", || {
            outcomes(&self.log()) > outcomes(&before)
        })
        .await;
        self.log().split_off(before.len())
    }

    /// Everything the broker logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("amqtt.log")).unwrap_or_default()
    }

    /// The directory of its configuration and files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `dir/name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for AmqttProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes `path` a FIFO whose reader gets `text` only after `delay`: a file on a very slow
/// disk. A reader blocks in `open` until the writer (a thread, returned) comes.
pub fn slow_file(path: &Path, text: String, delay: Duration) -> std::thread::JoinHandle<()> {
    let made = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo {} failed", path.display());
    let path = path.to_owned();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        std::fs::write(&path, text).expect("write the FIFO");
    })
}
