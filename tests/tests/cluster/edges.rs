//! The cluster's edges: a broker built without a cluster refuses a `cluster:` section;
//! `amqtt --check-config` names a bad cluster key and passes a good section without NATS; a
//! message larger than NATS's `max_payload` stays on its node; a QoS 0 flood across nodes to a
//! slow subscriber keeps its connections and its counts.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use amqtt_core::broker::Broker;
use amqtt_core::codec::{Packet, QoS};
use amqtt_core::config::BrokerConfig;
use amqtt_tests::nats::{nats_server_or_skip, nats_server_with_or_skip};
use amqtt_tests::{RawClient, amqtt_binary, free_port, publish_packet};
use bytes::BytesMut;
use tokio::time::Instant;

use super::support::{
    Delivery, Node, QUIET, ROUTE_WITHIN, SYS_EVERY_SECOND, assert_routed, await_route,
    receive_exactly, subscriber, sys_values,
};

/// A configuration file in a temporary directory: `amqtt.yaml` with `yaml`.
struct ConfigFile {
    dir: tempfile::TempDir,
}

impl ConfigFile {
    /// Writes `yaml` to a new temporary `amqtt.yaml`.
    fn new(yaml: &str) -> ConfigFile {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("amqtt.yaml"), yaml).expect("write amqtt.yaml");
        ConfigFile { dir }
    }

    /// The file's path.
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("amqtt.yaml")
    }

    /// Runs `amqtt --check-config -c <file>`: its exit code and its standard error.
    fn check(&self) -> (Option<i32>, String) {
        let output = Command::new(amqtt_binary("amqtt"))
            .arg("--check-config")
            .arg("-c")
            .arg(self.path())
            .output()
            .expect("run amqtt --check-config");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stderr)
    }
}

/// A `cluster:` section whose NATS URL nothing listens on, with `extra` keys.
fn cluster_section(extra: &str) -> String {
    let nats = format!("nats://127.0.0.1:{}", free_port());
    format!(
        "listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins: {{}}\n\
         cluster:\n  nats: {nats}\n  name: x\n  node: a\n{extra}"
    )
}

#[tokio::test]
async fn a_broker_built_without_a_cluster_refuses_a_cluster_section() {
    let file = ConfigFile::new(&cluster_section(""));
    let config = BrokerConfig::from_file(&file.path()).expect("a valid configuration");
    let error = match Broker::<()>::bind(config).await {
        Ok(_) => panic!("a broker without a cluster bound a configuration with `cluster:`"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("built without a cluster") && error.contains("`cluster:` section"),
        "{error}"
    );

    // The same configuration without the section binds.
    let yaml = std::fs::read_to_string(file.path()).expect("read amqtt.yaml");
    let without = yaml
        .split("cluster:")
        .next()
        .expect("text before `cluster:`");
    let config = BrokerConfig::from_yaml(without).expect("a valid configuration");
    Broker::<()>::bind(config)
        .await
        .expect("binds without `cluster:`");
}

#[tokio::test]
async fn check_config_names_the_file_and_the_bad_cluster_key() {
    let bad_node = ConfigFile::new(&cluster_section("").replace("node: a", "node: \"a b\""));
    let unknown = ConfigFile::new(&cluster_section("  colour: red\n"));
    let bad_timeout = ConfigFile::new(&cluster_section("  takeover_timeout: -1\n"));
    for (file, key, expected) in [
        (&bad_node, "cluster.node", "expected letters, digits"),
        (&unknown, "cluster.colour", "expected one of"),
        (
            &bad_timeout,
            "cluster.takeover_timeout",
            "expected a positive number",
        ),
    ] {
        let (code, stderr) = file.check();
        assert_eq!(code, Some(1), "{stderr}");
        let path = file.path();
        let path = path.to_str().expect("UTF-8 path");
        assert!(stderr.contains(path), "no file name in: {stderr}");
        assert!(stderr.contains(key), "no `{key}` in: {stderr}");
        assert!(stderr.contains(expected), "no `{expected}` in: {stderr}");
    }
}

#[tokio::test]
async fn check_config_passes_a_good_cluster_section_without_nats() {
    let file = ConfigFile::new(&cluster_section("  takeover_timeout: 0.5\n"));
    let (code, stderr) = file.check();
    assert_eq!(code, Some(0), "{stderr}");
}

/// The largest message `nats-server` takes in [`a_message_larger_than_max_payload_stays_on_its_node`].
const MAX_PAYLOAD: usize = 4096;

#[tokio::test]
async fn a_message_larger_than_max_payload_stays_on_its_node() {
    let name = "a_message_larger_than_max_payload_stays_on_its_node";
    let config = format!("max_payload: {MAX_PAYLOAD}\n");
    let Some(nats) = nats_server_with_or_skip(name, &config).await else {
        return;
    };
    let a = Node::start(&nats.url(), name, "n1").await;
    let b = Node::start(&nats.url(), name, "n2").await;
    let mut near = subscriber(a.addr(), "near", "big/#", QoS::AtLeastOnce).await;
    let mut far = subscriber(b.addr(), "far", "big/#", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(a.addr(), "publisher").await;
    await_route(&mut publisher, "big/probe", &mut [&mut near, &mut far]).await;

    let large = "x".repeat(4 * MAX_PAYLOAD);
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
        // At QoS 1 this waits for the PUBACK: the copy that cannot be sent holds nothing back.
        publisher.publish("big/large", &large, qos, false).await;
        let message = Delivery::new("big/large", &large, qos);
        assert_eq!(receive_exactly(&mut near, 1).await, [message]);
    }
    // A small message still crosses, and nothing came before it.
    let small = Delivery::new("big/small", "small", QoS::AtLeastOnce);
    publisher
        .publish(&small.topic, &small.payload, small.qos, false)
        .await;
    assert_eq!(
        receive_exactly(&mut near, 1).await,
        std::slice::from_ref(&small)
    );
    assert_eq!(receive_exactly(&mut far, 1).await, [small]);
    let skipped = a
        .log()
        .matches("larger than NATS's max_payload; delivered on this node only")
        .count();
    assert_eq!(skipped, 2, "one line per message kept here:\n{}", a.log());
}

/// QoS 0 messages in [`a_qos0_flood_across_nodes_keeps_its_connections_and_counts`].
const FLOOD: usize = 200_000;

/// The size of each flood message's payload (its number, padded with zeros).
const FLOOD_PAYLOAD: usize = 512;

/// PUBLISH packets sent in one write by the flooding publisher.
const FLOOD_BATCH: usize = 2_000;

/// `$SYS` topics of the flood's sending node: what it sent on, what it dropped, its memory.
const SENDER_SYS: [&str; 3] = [
    "$SYS/broker/heap/maximum",
    "$SYS/broker/cluster/messages/sent",
    "$SYS/broker/messages/publish/dropped/cluster",
];

/// `$SYS` topics of the flood's receiving node: what it received, what its congested
/// subscriber lost, what it could not route as fast as it came, its memory.
const RECEIVER_SYS: [&str; 4] = [
    "$SYS/broker/heap/maximum",
    "$SYS/broker/cluster/messages/received",
    "$SYS/broker/messages/publish/dropped/qos0",
    "$SYS/broker/messages/publish/dropped/cluster",
];

/// The most resident memory a node may reach in the flood (MiB): about twice what the nodes
/// took when measured (A 32, B 55 at most). A bound against gross growth only: the whole
/// flood (some 15 MB on the wire) held in memory would fit under it too.
const FLOOD_MEMORY_MIB: f64 = 128.0;

#[tokio::test]
async fn a_qos0_flood_across_nodes_keeps_its_connections_and_counts() {
    let name = "a_qos0_flood_across_nodes_keeps_its_connections_and_counts";
    let Some(nats) = nats_server_or_skip(name).await else {
        return;
    };
    let a = Node::start_with(&nats.url(), name, "n1", SYS_EVERY_SECOND).await;
    let b = Node::start_with(&nats.url(), name, "n2", SYS_EVERY_SECOND).await;
    let mut on_a = RawClient::connect(a.addr(), "sys-a").await;
    on_a.subscribe(1, &SENDER_SYS.map(|t| (t, QoS::AtMostOnce)))
        .await;
    let mut on_b = RawClient::connect(b.addr(), "sys-b").await;
    on_b.subscribe(1, &RECEIVER_SYS.map(|t| (t, QoS::AtMostOnce)))
        .await;
    let mut sub = subscriber(b.addr(), "slow", "flood/#", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(a.addr(), "flooder").await;
    await_route(&mut publisher, "flood/probe", &mut [&mut sub]).await;
    let [_, sent_before, dropped_before] = sys_values(&mut on_a, SENDER_SYS).await;
    let [_, received_before, lost_before, unrouted_before] =
        sys_values(&mut on_b, RECEIVER_SYS).await;

    // The subscriber reads slowly until told to stop, then until the messages stop coming.
    let stop = Arc::new(AtomicBool::new(false));
    let reading = tokio::spawn(read_slowly(sub, Arc::clone(&stop)));
    let mut batch = BytesMut::new();
    let started = Instant::now();
    for start in (0..FLOOD).step_by(FLOOD_BATCH) {
        for i in start..start + FLOOD_BATCH {
            let payload = format!("{i:0>FLOOD_PAYLOAD$}");
            let message = publish_packet("flood/m", &payload, QoS::AtMostOnce, false, None);
            Packet::Publish(message).encode(&mut batch);
        }
        publisher.send_raw(&batch.split()).await;
    }
    // Still connected: the broker answers a ping once it has read the whole flood.
    publisher.send(Packet::PingReq).await;
    let pong = publisher.recv_within(ROUTE_WITHIN).await;
    assert_eq!(
        pong,
        Some(Packet::PingResp),
        "no answer to a ping after the flood"
    );

    // Node A forwarded each message or dropped it, counted (the sending is counted once done).
    let deadline = Instant::now() + ROUTE_WITHIN;
    let (heap_a, sent, dropped) = loop {
        let [heap, sent, dropped] = sys_values(&mut on_a, SENDER_SYS).await;
        let (sent, dropped) = (sent - sent_before, dropped - dropped_before);
        if sent + dropped >= FLOOD as f64 || Instant::now() > deadline {
            break (heap, sent, dropped);
        }
    };
    assert_eq!(
        sent + dropped,
        FLOOD as f64,
        "sent {sent}, dropped {dropped}"
    );
    stop.store(true, Ordering::Relaxed);
    let (mut sub, received) = reading.await.expect("the subscriber's task");
    let [heap_b, arrived, lost, unrouted] = sys_values(&mut on_b, RECEIVER_SYS).await;
    let (arrived, lost) = (arrived - received_before, lost - lost_before);
    let unrouted = unrouted - unrouted_before;
    eprintln!(
        "after {:?}: flood of {FLOOD}: A sent {sent}, dropped {dropped}; B got {arrived}, dropped {lost} + {unrouted}; \
         the subscriber read {}; memory A {heap_a} MiB, B {heap_b} MiB",
        started.elapsed(),
        received.len()
    );
    assert_eq!(arrived, sent, "lost between the nodes, uncounted");
    assert_eq!(
        received.len() as f64 + lost + unrouted,
        arrived,
        "what B got was read or counted as dropped"
    );
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "out of order or twice"
    );
    assert!(heap_a < FLOOD_MEMORY_MIB && heap_b < FLOOD_MEMORY_MIB);

    // The route still works.
    let after = Delivery::new("flood/after", "after", QoS::AtMostOnce);
    assert_routed(&mut publisher, &mut sub, "flood/probe", after).await;
}

/// Reads `sub`'s flood messages (their numbers, in the order they came), pausing now and then,
/// until `stop` is set and no message has come for [`QUIET`]; returns the client and them.
async fn read_slowly(mut sub: RawClient, stop: Arc<AtomicBool>) -> (RawClient, Vec<usize>) {
    let mut received = Vec::new();
    loop {
        match sub.recv_within(QUIET).await {
            Some(Packet::Publish(p)) => {
                let number = std::str::from_utf8(&p.payload)
                    .ok()
                    .and_then(|n| n.parse().ok());
                received.push(number.expect("a flood message"));
                if received.len() % 1000 == 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Some(other) => panic!("expected PUBLISH, got {other:?}"),
            None if stop.load(Ordering::Relaxed) => return (sub, received),
            None => {}
        }
    }
}
