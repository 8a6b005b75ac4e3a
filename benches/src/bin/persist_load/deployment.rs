//! What a run loads: one broker, or a cluster (nats-server with JetStream and two amqtt nodes
//! joined to a cluster of a fresh name), started in the run's folder and stopped after it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Result;
use crate::broker::{Exit, Server, Variant, amqtt_command, amqtt_config};
use crate::options::Options;
use crate::procfs;

/// Longest a server may take to start.
const START_LIMIT: Duration = Duration::from_secs(60);
/// What an amqtt node logs once it has joined its cluster (and is about to accept clients).
const JOINED: &str = "cluster: joined";
/// The folder of nats-server's JetStream store, in the run's folder.
pub(crate) const NATS_STORE: &str = "nats";

/// The servers of one run.
pub(crate) struct Deployment {
    /// The processes, named as in the results (`broker`, or `nats`, `node_a`, `node_b`), in
    /// the order they started.
    servers: Vec<(&'static str, Server)>,
    /// Where the publishers connect (a cluster's node A).
    pub(crate) publish_to: SocketAddr,
    /// Where the subscribers connect: node B in `cluster_cross`, else the publishers' server.
    pub(crate) subscribe_to: SocketAddr,
}

impl Deployment {
    /// Starts `variant`'s servers in `dir` and waits until they accept clients; on failure
    /// stops those it started.
    pub(crate) async fn start(
        o: &Options,
        variant: Variant,
        dir: &Path,
        max_queued: usize,
    ) -> Result<Deployment> {
        let addr = SocketAddr::from(([127, 0, 0, 1], variant.port(o)));
        let mut deployment = Deployment {
            servers: Vec::new(),
            publish_to: addr,
            subscribe_to: addr,
        };
        match deployment.start_servers(o, variant, dir, max_queued).await {
            Ok(()) => Ok(deployment),
            Err(e) => {
                deployment.stop().await;
                Err(e)
            }
        }
    }

    /// One broker; or for a cluster variant nats-server, then nodes `a` (on `--amqtt-port`)
    /// and `b` (the port above) of a cluster named afresh, so that nothing of an earlier run's
    /// state is reused.
    async fn start_servers(
        &mut self,
        o: &Options,
        variant: Variant,
        dir: &Path,
        max_queued: usize,
    ) -> Result<()> {
        if !variant.is_cluster() {
            let broker = Server::start(o, variant, dir, max_queued, "broker.log").await?;
            self.push("broker", broker)
                .wait_accepting(START_LIMIT)
                .await?;
            return Ok(());
        }
        std::fs::create_dir_all(dir)?;
        let mut command = Command::new(&o.nats);
        command.args(["-js", "-sd"]).arg(dir.join(NATS_STORE));
        command.args(["-a", "127.0.0.1", "-p", &o.nats_port.to_string()]);
        let nats_addr = SocketAddr::from(([127, 0, 0, 1], o.nats_port));
        let nats = Server::spawn(command, nats_addr, dir.join("nats.log")).await?;
        self.push("nats", nats).wait_accepting(START_LIMIT).await?;
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH)?;
        let cluster = format!("pl-{}-{}", std::process::id(), since_epoch.as_millis());
        let port_b = o
            .amqtt_port
            .checked_add(1)
            .ok_or("--amqtt-port is too high")?;
        for (name, node, port) in [("node_a", "a", o.amqtt_port), ("node_b", "b", port_b)] {
            let config = dir.join(format!("node-{node}.yaml"));
            let text = format!(
                "{}cluster:\n  nats: nats://{nats_addr}\n  name: {cluster}\n  node: {node}\n",
                amqtt_config(port, max_queued)
            );
            std::fs::write(&config, text)?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let log = dir.join(format!("node-{node}.log"));
            let server = Server::spawn(amqtt_command(o, &config), addr, log).await?;
            self.push(name, server);
        }
        for (_, node) in &mut self.servers[1..] {
            // A node binds its listener before it joins, and accepts clients once joined.
            node.wait_logged(JOINED, START_LIMIT).await?;
            node.wait_accepting(START_LIMIT).await?;
        }
        if variant == Variant::ClusterCross {
            self.subscribe_to = self.servers[2].1.addr;
        }
        Ok(())
    }

    /// Adds a started server; returns it.
    fn push(&mut self, name: &'static str, server: Server) -> &mut Server {
        self.servers.push((name, server));
        &mut self.servers.last_mut().expect("just pushed").1
    }

    /// The servers' names, in the order of [`Deployment::cpu_seconds`].
    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.servers.iter().map(|(name, _)| *name).collect()
    }

    /// Each server's CPU seconds so far.
    pub(crate) fn cpu_seconds(&self) -> Result<Vec<f64>> {
        self.servers
            .iter()
            .map(|(_, s)| procfs::cpu_seconds(s.pid))
            .collect()
    }

    /// Each server's peak resident memory (VmHWM), MiB.
    pub(crate) fn max_rss_mib(&self) -> Result<Vec<f64>> {
        self.servers
            .iter()
            .map(|(_, s)| procfs::mem_mib(s.pid, "VmHWM"))
            .collect()
    }

    /// Each server's log file.
    pub(crate) fn logs(&self) -> Vec<(&'static str, PathBuf)> {
        self.servers
            .iter()
            .map(|(name, s)| (*name, s.log.clone()))
            .collect()
    }

    /// Stops the servers, the last started first (the nodes leave the cluster while NATS is
    /// still there); returns how each ended, as text, and the time all took.
    pub(crate) async fn stop(self) -> (Vec<(&'static str, String)>, Duration) {
        let started = std::time::Instant::now();
        let mut exits = Vec::new();
        for (name, server) in self.servers.into_iter().rev() {
            let exit = match server.stop().await {
                Ok(Exit { status, .. }) => status,
                Err(e) => format!("not stopped: {e}"),
            };
            exits.push((name, exit));
        }
        exits.reverse();
        (exits, started.elapsed())
    }
}
