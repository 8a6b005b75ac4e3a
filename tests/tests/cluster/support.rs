//! Shared helpers of the cluster suite: [`Node`], one `amqtt` process of a cluster, and
//! [`start_cluster`]; [`await_route`], which waits until messages published on one node reach
//! subscribers on others (subscriptions propagate asynchronously); [`receive_exactly`] and
//! [`receive_until`], which take a subscriber's messages and acknowledge them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use amqtt_core::codec::{Packet, Publish, QoS, ReasonCode, SubAckCode};
use amqtt_tests::nats::{NatsServer, nats_server_or_skip};
use amqtt_tests::{BrokerProcess, RECV_TIMEOUT, RawClient, amqtt_binary, connect_packet, in_time};
use tokio::time::Instant;

/// How long a route may take to form: a subscription's interest reaching the other nodes, or
/// a node reconnecting to NATS after an outage (the NATS client backs off between attempts).
pub(crate) const ROUTE_WITHIN: Duration = Duration::from_secs(8);

/// How long a probe waits for a subscriber before the next one is published.
const PROBE_EVERY: Duration = Duration::from_millis(50);

/// Silence long enough to say that no further message is coming.
pub(crate) const QUIET: Duration = Duration::from_millis(300);

/// The `amqtt` binary, built once per test process (off the runtime's threads).
async fn binary() -> PathBuf {
    tokio::task::spawn_blocking(|| amqtt_binary("amqtt"))
        .await
        .expect("build the amqtt binary")
}

/// One broker of a cluster: the stock `amqtt` binary as a child process with a `cluster:`
/// section (`takeover_timeout: 0.5`) and anonymous access. Killed (SIGKILL) when dropped, as
/// by `kill -9`; if the test is failing then, its log goes to standard error.
pub(crate) struct Node {
    /// The node's id in the cluster.
    pub(crate) id: String,
    process: BrokerProcess,
}

impl Node {
    /// Starts node `id` of cluster `cluster` against the NATS server at `nats_url`.
    pub(crate) async fn start(nats_url: &str, cluster: &str, id: &str) -> Node {
        Node::start_with(nats_url, cluster, id, "").await
    }

    /// [`Node::start`] with a persistent store in `sync: always` in the SQLite file `store`,
    /// kept at a clean stop: a node that comes back after `kill -9` with the same id and store.
    pub(crate) async fn start_with_store(
        nats_url: &str,
        cluster: &str,
        id: &str,
        store: &Path,
    ) -> Node {
        let store = format!(
            "  persistence:\n    connection: sqlite+aiosqlite:///{}\n    sync: always\n    \
             clear_on_shutdown: false\n",
            store.display()
        );
        Node::start_with(nats_url, cluster, id, &store).await
    }

    /// [`Node::start`] with more `plugins:` entries (lines indented by two spaces).
    pub(crate) async fn start_with(nats_url: &str, cluster: &str, id: &str, plugins: &str) -> Node {
        Node::launch(nats_url, cluster, id, plugins, "").await
    }

    /// [`Node::start`] with a lease of `lease` (a node silent that long is taken for gone).
    pub(crate) async fn start_leased(
        nats_url: &str,
        cluster: &str,
        id: &str,
        lease: Duration,
    ) -> Node {
        let lease = format!("  lease: {}\n", lease.as_secs_f64());
        Node::launch(nats_url, cluster, id, "", &lease).await
    }

    /// Starts the node with more `plugins:` entries and more `cluster:` keys (lines indented
    /// by two spaces).
    async fn launch(nats_url: &str, cluster: &str, id: &str, plugins: &str, keys: &str) -> Node {
        let config = format!(
            "plugins:\n  auth_anonymous:\n{plugins}cluster:\n  nats: {nats_url}\n  \
             name: {cluster}\n  node: {id}\n  takeover_timeout: 0.5\n{keys}"
        );
        Node {
            id: id.to_owned(),
            process: BrokerProcess::start(binary().await, &config).await,
        }
    }

    /// What the node has logged so far.
    pub(crate) fn log(&self) -> String {
        self.process.log()
    }

    /// The address of its MQTT listener.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.process.addr
    }

    /// Kills the node with SIGKILL, as `kill -9` would (its process is killed when dropped).
    pub(crate) fn kill(self) {
        drop(self);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- node {} log ---\n{}", self.id, self.process.log());
        }
    }
}

/// For the test `test_name`: a [`NatsServer`] of its own and `N` nodes `n1`, `n2`, ... of a
/// cluster named `test_name` on it, each on its own port; `None` when the test is to be skipped
/// ([`nats_server_or_skip`]). Keep the server bound (`_nats`, not `_`): dropped, it is killed.
pub(crate) async fn start_cluster<const N: usize>(
    test_name: &str,
) -> Option<(NatsServer, [Node; N])> {
    let nats = nats_server_or_skip(test_name).await?;
    let mut nodes = Vec::with_capacity(N);
    for i in 1..=N {
        nodes.push(Node::start(&nats.url(), test_name, &format!("n{i}")).await);
    }
    match nodes.try_into() {
        Ok(nodes) => Some((nats, nodes)),
        Err(_) => unreachable!("{N} nodes were started"),
    }
}

/// Waits until a QoS 0 message `publisher` publishes to `topic` reaches every one of
/// `subscribers` (each subscribed to a filter matching `topic`): publishes numbered probes
/// until each has received one, then a last probe `fence` and reads every subscriber up to it,
/// so that no probe is left in flight to mix with what the test sends next (one publisher's
/// QoS 0 messages keep their order). Fails the test after [`ROUTE_WITHIN`].
pub(crate) async fn await_route(
    publisher: &mut RawClient,
    topic: &str,
    subscribers: &mut [&mut RawClient],
) {
    let deadline = Instant::now() + ROUTE_WITHIN;
    let mut reached = vec![false; subscribers.len()];
    for probe in 0.. {
        if reached.iter().all(|r| *r) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no route to subscribers {reached:?} for `{topic}` within {ROUTE_WITHIN:?}"
        );
        publisher
            .publish(topic, &format!("probe {probe}"), QoS::AtMostOnce, false)
            .await;
        for (subscriber, reached) in subscribers.iter_mut().zip(&mut reached) {
            if !*reached && let Some(packet) = subscriber.recv_within(PROBE_EVERY).await {
                expect_probe(packet, topic);
                *reached = true;
            }
        }
    }
    publisher
        .publish(topic, "fence", QoS::AtMostOnce, false)
        .await;
    for subscriber in subscribers.iter_mut() {
        while expect_probe(subscriber.recv().await, topic).payload != "fence" {}
    }
}

/// `packet` as one of [`await_route`]'s probes: a QoS 0 PUBLISH to `topic`. Fails the test on
/// any other packet.
fn expect_probe(packet: Packet, topic: &str) -> Publish {
    match packet {
        Packet::Publish(p) if p.topic == topic && p.qos == QoS::AtMostOnce => p,
        other => panic!("expected a probe on `{topic}`, got {other:?}"),
    }
}

/// Waits for the route from `publisher` to `subscriber` (see [`await_route`]; probes on
/// `probe_topic`), publishes `message` (its topic, payload and QoS) and asserts `subscriber`,
/// granted at least that QoS, gets it exactly once.
pub(crate) async fn assert_routed(
    publisher: &mut RawClient,
    subscriber: &mut RawClient,
    probe_topic: &str,
    message: Delivery,
) {
    await_route(publisher, probe_topic, &mut [&mut *subscriber]).await;
    publisher
        .publish(&message.topic, &message.payload, message.qos, false)
        .await;
    assert_eq!(receive_exactly(subscriber, 1).await, [message]);
}

/// A message as a subscriber received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// Its topic.
    pub(crate) topic: String,
    /// Its payload, as text.
    pub(crate) payload: String,
    /// The QoS it was delivered at.
    pub(crate) qos: QoS,
    /// Its retain flag.
    pub(crate) retain: bool,
}

impl Delivery {
    /// A delivery of `topic`/`payload` at `qos`, not retained.
    pub(crate) fn new(topic: &str, payload: &str, qos: QoS) -> Delivery {
        Delivery {
            topic: topic.to_owned(),
            payload: payload.to_owned(),
            qos,
            retain: false,
        }
    }

    fn of(publish: &Publish) -> Delivery {
        Delivery {
            topic: publish.topic.to_string(),
            payload: String::from_utf8_lossy(&publish.payload).into_owned(),
            qos: publish.qos,
            retain: publish.retain,
        }
    }
}

/// Receives PUBLISHes on `client` until `count` have come (see [`receive_until`]); a further
/// one within [`QUIET`] (a duplicate, or a message that had no business coming) fails the test.
pub(crate) async fn receive_exactly(client: &mut RawClient, count: usize) -> Vec<Delivery> {
    let received = receive_until(client, |received| received.len() >= count).await;
    assert_eq!(received.len(), count, "one message too many: {received:?}");
    received
}

/// Receives PUBLISHes on `client`, each acknowledged as its QoS asks (PUBACK; PUBREC, then
/// PUBCOMP for the PUBREL whenever it comes), until `done` holds for what came, then for as long
/// as more keep coming within [`QUIET`]; returns them all. Fails the test if a wait for the next
/// one, while `done` does not hold, exceeds [`RECV_TIMEOUT`].
pub(crate) async fn receive_until(
    client: &mut RawClient,
    done: impl Fn(&[Delivery]) -> bool,
) -> Vec<Delivery> {
    let mut received = Vec::new();
    loop {
        let finished = done(&received);
        let wait = if finished { QUIET } else { RECV_TIMEOUT };
        let Some(packet) = client.recv_within(wait).await else {
            assert!(finished, "only {received:?} came within {RECV_TIMEOUT:?}");
            return received;
        };
        match packet {
            Packet::Publish(publish) => {
                match (publish.qos, publish.packet_id) {
                    (QoS::AtLeastOnce, Some(id)) => client.send(Packet::PubAck(id.into())).await,
                    (QoS::ExactlyOnce, Some(id)) => client.send(Packet::PubRec(id.into())).await,
                    _ => {}
                }
                received.push(Delivery::of(&publish));
            }
            Packet::PubRel(ack) => client.send(Packet::PubComp(ack.packet_id.into())).await,
            other => panic!("expected PUBLISH or PUBREL, got {other:?}"),
        }
    }
}

/// Connects `client_id` on `node` with a persistent session (clean session 0) and returns the
/// client and the CONNACK's session-present flag; asserts the connection is accepted.
pub(crate) async fn connect_persistent(node: &Node, client_id: &str) -> (RawClient, bool) {
    let connect = connect_packet(client_id, false);
    let (client, ack) = in_time(RawClient::connect_with(node.addr(), connect)).await;
    let on = &node.id;
    assert_eq!(
        ack.code,
        ReasonCode::Success,
        "CONNACK of {client_id} on {on}"
    );
    (client, ack.session_present)
}

/// Publishes `count` QoS 1 messages `m0`, `m1`, ... to `topic` from `publisher`, each
/// acknowledged, and returns them as a subscriber granted QoS 1 gets them.
pub(crate) async fn publish_numbered(
    publisher: &mut RawClient,
    topic: &str,
    count: usize,
) -> Vec<Delivery> {
    let mut published = Vec::with_capacity(count);
    for i in 0..count {
        let message = Delivery::new(topic, &format!("m{i}"), QoS::AtLeastOnce);
        publisher
            .publish(topic, &message.payload, QoS::AtLeastOnce, false)
            .await;
        published.push(message);
    }
    published
}

/// Connects `client_id` on `addr` with a clean session and subscribes it to `filter` at `qos`;
/// asserts the subscription is granted at `qos`.
pub(crate) async fn subscriber(
    addr: SocketAddr,
    client_id: &str,
    filter: &str,
    qos: QoS,
) -> RawClient {
    let mut client = RawClient::connect(addr, client_id).await;
    subscribe(&mut client, filter, qos).await;
    client
}

/// Subscribes `client` to `filter` at `qos` and asserts it is granted at `qos`.
pub(crate) async fn subscribe(client: &mut RawClient, filter: &str, qos: QoS) {
    let ack = client.subscribe(1, &[(filter, qos)]).await;
    assert_eq!(
        ack.codes,
        vec![SubAckCode::Success(qos)],
        "SUBACK of `{filter}`"
    );
}

/// Asserts every one of `expected` is in `received` (QoS 1 after a crash: duplicates allowed).
pub(crate) fn assert_none_lost(received: &[Delivery], expected: &[Delivery]) {
    for message in expected {
        assert!(
            received.contains(message),
            "{message:?} lost: got {received:?}"
        );
    }
}

/// Connects `X` on `a` with a persistent session subscribed to `k/#` at QoS 1, and a publisher
/// on `b` whose messages reach it: returns both.
pub(crate) async fn routed_persistent_subscriber(a: &Node, b: &Node) -> (RawClient, RawClient) {
    let (mut x, _) = connect_persistent(a, "X").await;
    subscribe(&mut x, "k/#", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(b.addr(), "publisher").await;
    await_route(&mut publisher, "k/probe", &mut [&mut x]).await;
    (x, publisher)
}

/// The `$SYS` plugin publishing every second, as a `plugins:` entry of [`Node::start_with`].
pub(crate) const SYS_EVERY_SECOND: &str =
    "  amqtt.plugins.sys.broker.BrokerSysPlugin:\n    sys_interval: 1\n";

/// The values of the `$SYS` topics `topics` (counters, or `heap/maximum` in MiB) read by
/// `client`, subscribed to them, from the `$SYS` plugin's first publication (one every second,
/// all topics in a burst) to begin after the call: what came before a silence of
/// [`SYS_SILENCE`] is skipped, so every value was taken after the call began.
pub(crate) async fn sys_values<const N: usize>(
    client: &mut RawClient,
    topics: [&str; N],
) -> [f64; N] {
    while client.recv_within(SYS_SILENCE).await.is_some() {}
    let mut values = [None; N];
    let deadline = Instant::now() + ROUTE_WITHIN;
    loop {
        if let Some(found) = values.iter().copied().collect::<Option<Vec<f64>>>() {
            return found.try_into().expect("N values");
        }
        assert!(
            Instant::now() < deadline,
            "no values of {topics:?} within {ROUTE_WITHIN:?}"
        );
        if let Some(Packet::Publish(p)) = client.recv_within(RECV_TIMEOUT).await
            && let Some(at) = topics.iter().position(|topic| p.topic == *topic)
        {
            let value = std::str::from_utf8(&p.payload)
                .ok()
                .and_then(|v| v.parse().ok());
            values[at] = Some(value.unwrap_or_else(|| panic!("`{}` is not a number", p.topic)));
        }
    }
}

/// A pause longer than the `$SYS` plugin takes to publish one burst, shorter than between two.
const SYS_SILENCE: Duration = Duration::from_millis(100);
