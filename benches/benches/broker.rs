//! In-process end-to-end benchmark: a batch of 1000 QoS 0 PUBLISHes (64-byte payload) from one
//! publisher, timed until all have arrived at one subscriber, through `Broker<()>` and through
//! `Broker<(NoopA, NoopB, NoopC)>` (three plugins that implement no hook): the difference is
//! what plugins without hooks cost on the path of a message, end to end.
//!
//! Broker and clients share one multi-thread tokio runtime; the clients speak raw MQTT over TCP
//! on 127.0.0.1.

use std::future::pending;
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use amqtt_core::broker::{Broker, BrokerHandle};
use amqtt_core::codec::{
    self, ByteString, Packet, Publish, QoS, ReasonCode, SubAckCode, Subscribe,
};
use amqtt_core::config::BrokerConfig;
use amqtt_core::plugin::{Hooks, Plugin};
use amqtt_test::connect_packet;
use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_main};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// Messages per measured batch.
const BATCH: usize = 1000;
/// Payload bytes per message.
const PAYLOAD: usize = 64;
/// The topic published to and subscribed to.
const TOPIC: &str = "bench/broker/telemetry";
/// How long a batch may take before the bench fails (a lost message would hang it otherwise).
const BATCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Declares plugins that implement no hook.
macro_rules! noop_plugins {
    ($($name:ident),+) => {$(
        /// A plugin that implements no hook.
        struct $name;

        impl Plugin for $name {
            const HOOKS: Hooks = Hooks::NONE;
        }
    )+};
}

noop_plugins!(NoopA, NoopB, NoopC);

/// A raw MQTT client over TCP.
struct Client {
    stream: TcpStream,
    buf: BytesMut,
}

impl Client {
    /// Connects with a clean session and waits for an accepting CONNACK.
    async fn connect(addr: SocketAddr, client_id: &str) -> Client {
        let stream = TcpStream::connect(addr).await.expect("tcp connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut client = Client {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
        };
        client
            .send(&Packet::Connect(Box::new(connect_packet(client_id, true))))
            .await;
        match client.recv().await {
            Packet::ConnAck(ack) => assert_eq!(ack.code, ReasonCode::Success),
            other => panic!("expected CONNACK, got {other:?}"),
        }
        client
    }

    /// Sends one packet.
    async fn send(&mut self, packet: &Packet) {
        let mut out = BytesMut::new();
        packet.encode(&mut out);
        self.stream.write_all(&out).await.expect("write to broker");
    }

    /// Receives one packet.
    async fn recv(&mut self) -> Packet {
        loop {
            if let Some(packet) = codec::decode(&mut self.buf, 1 << 20).expect("well-formed packet")
            {
                return packet;
            }
            let read = self.stream.read_buf(&mut self.buf).await.expect("read");
            assert_ne!(read, 0, "broker closed the connection");
        }
    }

    /// Reads and discards exactly `len` bytes (a whole batch of PUBLISH frames).
    async fn drain(&mut self, mut len: usize, chunk: &mut [u8]) {
        assert!(self.buf.is_empty(), "no partial packet is buffered");
        while len > 0 {
            let limit = len.min(chunk.len());
            let read = self.stream.read(&mut chunk[..limit]).await.expect("read");
            assert_ne!(read, 0, "broker closed the connection");
            len -= read;
        }
    }
}

/// A running broker and its two connected clients.
struct Setup<P: Plugin> {
    handle: BrokerHandle<P>,
    task: JoinHandle<()>,
    publisher: Client,
    subscriber: Client,
    /// `BATCH` encoded QoS 0 PUBLISH frames; the subscriber receives the same bytes.
    batch: Bytes,
    chunk: Vec<u8>,
}

/// The message the publisher sends, as the subscriber receives it.
fn message() -> Publish {
    Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: ByteString::from_static(TOPIC),
        packet_id: None,
        payload: Bytes::from(vec![0x5A; PAYLOAD]),
        properties: None,
    }
}

impl<P: Plugin> Setup<P> {
    /// Starts a broker over `plugins` on 127.0.0.1:0, connects a subscriber to [`TOPIC`] and a
    /// publisher, and checks that one batch arrives intact.
    async fn start(plugins: P) -> Setup<P> {
        // The outbound queue holds a whole batch, so no QoS 0 message is dropped.
        let yaml = format!(
            "listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins: {{}}\nmax_outbound: {}\n",
            4 * BATCH
        );
        let config = BrokerConfig::from_yaml(&yaml).expect("bench config is valid");
        let broker = Broker::<P>::bind_with(config, |_ctx| Ok(plugins))
            .await
            .expect("broker binds");
        let addr = broker.local_addr("default").expect("default listener");
        let handle = broker.handle();
        let task = tokio::spawn(broker.run(pending()));

        let mut subscriber = Client::connect(addr, "bench-sub").await;
        subscriber
            .send(&Packet::Subscribe(Subscribe {
                packet_id: NonZeroU16::MIN,
                filters: vec![(ByteString::from_static(TOPIC), QoS::AtMostOnce.into())],
                properties: None,
            }))
            .await;
        match subscriber.recv().await {
            Packet::SubAck(ack) => assert_eq!(ack.codes, [SubAckCode::Success(QoS::AtMostOnce)]),
            other => panic!("expected SUBACK, got {other:?}"),
        }
        let publisher = Client::connect(addr, "bench-pub").await;

        let mut batch = BytesMut::new();
        let message = Packet::Publish(message());
        for _ in 0..BATCH {
            message.encode(&mut batch);
        }
        let mut setup = Setup {
            handle,
            task,
            publisher,
            subscriber,
            batch: batch.freeze(),
            chunk: vec![0; 64 * 1024],
        };

        // One checked batch: every message arrives, as sent.
        setup
            .publisher
            .stream
            .write_all(&setup.batch)
            .await
            .expect("publish");
        for _ in 0..BATCH {
            assert_eq!(setup.subscriber.recv().await, message);
        }
        setup
    }

    /// Publishes one batch and waits until the subscriber has received all of it.
    async fn round(&mut self) {
        let Setup {
            publisher,
            subscriber,
            batch,
            chunk,
            ..
        } = self;
        let send = async {
            publisher.stream.write_all(batch).await.expect("publish");
        };
        let receive = subscriber.drain(batch.len(), chunk);
        tokio::time::timeout(BATCH_TIMEOUT, async { tokio::join!(send, receive) })
            .await
            .expect("the whole batch arrives (no message may be dropped)");
    }

    /// Stops the broker.
    async fn stop(self) {
        assert_eq!(
            self.handle.stats().dropped_qos0.get(),
            0,
            "no message was dropped"
        );
        self.handle.shutdown();
        self.task.await.expect("broker task ends cleanly");
    }
}

/// Benchmarks publish -> deliver of one batch through a broker over `plugins`.
fn bench_broker<P: Plugin>(c: &mut Criterion, rt: &Runtime, name: &str, plugins: P) {
    let mut setup = rt.block_on(Setup::start(plugins));
    let mut group = c.benchmark_group("broker/publish_deliver_qos0_1000x64B");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    setup.round().await;
                }
                start.elapsed()
            })
        });
    });
    group.finish();
    rt.block_on(setup.stop());
}

fn broker(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    bench_broker(c, &rt, "unit", ());
    bench_broker(c, &rt, "three_noop", (NoopA, NoopB, NoopC));
}

// `criterion_group!` generates a public function it cannot document.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::broker);
}
criterion_main!(group::benches);
