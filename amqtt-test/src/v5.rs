//! [`V5Client`], a raw MQTT 5.0 test client that sends and receives whole packets encoded for
//! 5.0, and builders of 5.0 CONNECT and PUBLISH packets, properties and subscription options.

use std::net::SocketAddr;
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;
use std::time::Duration;

use amqtt_core::codec::{
    Ack, ByteString, ConnAck, Connect, LastWill, Packet, Properties, ProtocolVersion, Publish, QoS,
    ReasonBody, ReasonCode, RetainHandling, SubAck, SubAckCode, Subscribe, SubscriptionOptions,
};
use bytes::Bytes;

use crate::stream::PacketStream;
use crate::{RECV_TIMEOUT, pid};

/// A raw MQTT 5.0 client over TCP that sends and receives whole packets encoded for 5.0. Every
/// wait fails the test after [`RECV_TIMEOUT`] unless it takes its own duration.
pub struct V5Client {
    stream: PacketStream,
}

/// A 5.0 CONNECT for `client_id` with `properties`, clean start.
pub fn connect_v5(client_id: &str, properties: Properties) -> Connect {
    Connect {
        protocol: ProtocolVersion::V5,
        clean_session: true,
        client_id: ByteString::from(client_id),
        properties,
        ..Connect::default()
    }
}

/// A 5.0 CONNECT for `client_id` with Clean Start `clean_start` and, if given, a Session Expiry
/// Interval; keep-alive 0, no will.
pub fn session_connect(client_id: &str, clean_start: bool, expiry: Option<u32>) -> Connect {
    Connect {
        clean_session: clean_start,
        properties: Properties {
            session_expiry_interval: expiry,
            ..Properties::default()
        },
        ..connect_v5(client_id, Properties::default())
    }
}

/// `will` with a Will Delay Interval of `seconds`.
pub fn delayed(mut will: LastWill, seconds: u32) -> LastWill {
    will.properties = Some(Arc::new(Properties {
        will_delay_interval: Some(seconds),
        ..Properties::default()
    }));
    will
}

/// A PUBLISH as a 5.0 client sends it, with `properties` (none when empty).
pub fn publish_v5(
    topic: &str,
    payload: &str,
    qos: QoS,
    id: Option<u16>,
    properties: Properties,
) -> Publish {
    Publish {
        packet_id: id.map(pid),
        properties: (!properties.is_empty()).then(|| Arc::new(properties)),
        ..Publish::new(
            ByteString::from(topic),
            Bytes::copy_from_slice(payload.as_bytes()),
            qos,
            false,
        )
    }
}

/// Properties with only a message expiry interval.
pub fn expiring(seconds: u32) -> Properties {
    Properties {
        message_expiry_interval: Some(seconds),
        ..Properties::default()
    }
}

/// Properties with only a topic alias.
pub fn alias(alias: u16) -> Properties {
    Properties {
        topic_alias: NonZeroU16::new(alias),
        ..Properties::default()
    }
}

impl V5Client {
    /// Opens a connection and sends `connect` (a 5.0 CONNECT) without waiting for an answer
    /// (an enhanced authentication answers with AUTH before the CONNACK).
    pub async fn start(addr: SocketAddr, connect: Connect) -> V5Client {
        let mut client = V5Client {
            stream: PacketStream::open(addr, ProtocolVersion::V5).await,
        };
        client.send(Packet::Connect(Box::new(connect))).await;
        client
    }

    /// Connects with `connect` (a 5.0 CONNECT) and returns the client and the CONNACK.
    pub async fn connect_with(addr: SocketAddr, connect: Connect) -> (V5Client, ConnAck) {
        let mut client = V5Client::start(addr, connect).await;
        match client.recv().await {
            Packet::ConnAck(ack) => (client, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects `client_id` with a clean start and CONNECT `properties`; asserts success.
    pub async fn connect(addr: SocketAddr, client_id: &str, properties: Properties) -> V5Client {
        let (client, ack) = V5Client::connect_with(addr, connect_v5(client_id, properties)).await;
        assert_eq!(ack.code, ReasonCode::Success);
        client
    }

    /// Connects `client_id` (see [`session_connect`]), asserts success and returns the client
    /// and the CONNACK's session-present flag.
    pub async fn connect_session(
        addr: SocketAddr,
        client_id: &str,
        clean_start: bool,
        expiry: Option<u32>,
    ) -> (V5Client, bool) {
        let connect = session_connect(client_id, clean_start, expiry);
        let (client, ack) = V5Client::connect_with(addr, connect).await;
        assert_eq!(ack.code, ReasonCode::Success);
        (client, ack.session_present)
    }

    /// Sends one packet, encoded for 5.0.
    pub async fn send(&mut self, packet: Packet) {
        self.stream.send(packet).await;
    }

    /// Sends DISCONNECT with `body` and closes the socket.
    pub async fn disconnect_with(mut self, body: ReasonBody) {
        self.send(Packet::Disconnect(body)).await;
        self.stream.shutdown().await;
    }

    /// Closes the connection abruptly (RST), as from a client that vanished.
    pub fn reset(self) {
        self.stream.reset();
    }

    /// Receives the next packet, failing after [`RECV_TIMEOUT`] or if the broker closes.
    pub async fn recv(&mut self) -> Packet {
        self.stream.recv().await
    }

    /// The next packet if one arrives within `wait`; panics if the connection closes.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Packet> {
        self.stream.recv_within(wait).await
    }

    /// Asserts no packet arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        self.stream.expect_silence(wait).await;
    }

    /// Asserts the next packet is a DISCONNECT with `reason` and the broker then closes the
    /// connection.
    pub async fn expect_disconnect(&mut self, reason: ReasonCode) {
        match self.recv().await {
            Packet::Disconnect(body) => assert_eq!(body.reason, reason, "{body:?}"),
            other => panic!("expected DISCONNECT {reason:?}, got {other:?}"),
        }
        self.expect_closed().await;
    }

    /// Asserts the broker closes the connection without sending anything more.
    pub async fn expect_closed(&mut self) {
        match tokio::time::timeout(RECV_TIMEOUT, self.stream.read_packet()).await {
            Ok(None) => {}
            Ok(Some(packet)) => panic!("expected the close, got {packet:?}"),
            Err(_) => panic!("broker did not close the connection"),
        }
    }

    /// Receives a PUBLISH, failing on any other packet.
    pub async fn recv_publish(&mut self) -> Publish {
        match self.recv().await {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Subscribes to `filter` at `qos` and asserts it was granted.
    pub async fn subscribe(&mut self, id: u16, filter: &str, qos: QoS) {
        self.subscribe_with(id, filter, qos.into(), None).await;
    }

    /// Subscribes to `filter` with `options` and, if given, the Subscription Identifier
    /// `subscription_id`; asserts it was granted at the options' QoS.
    pub async fn subscribe_with(
        &mut self,
        id: u16,
        filter: &str,
        options: SubscriptionOptions,
        subscription_id: Option<u32>,
    ) {
        let properties = subscription_id.map(|n| {
            Box::new(Properties {
                subscription_identifiers: vec![NonZeroU32::new(n).expect("non-zero id")],
                ..Properties::default()
            })
        });
        self.send(Packet::Subscribe(Subscribe {
            packet_id: pid(id),
            filters: vec![(ByteString::from(filter), options)],
            properties,
        }))
        .await;
        match self.recv().await {
            Packet::SubAck(SubAck { codes, .. }) => {
                assert_eq!(codes, vec![SubAckCode::Success(options.qos)]);
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Sends bytes as they are: for packets the codec will not encode.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.send_raw(bytes).await;
    }

    /// Sends a QoS 1 or 2 PUBLISH and returns the PUBACK / PUBREC that answers it.
    pub async fn publish_acked(&mut self, publish: Publish) -> Ack {
        let id = publish.packet_id.expect("QoS 1/2");
        self.send(Packet::Publish(publish)).await;
        match self.recv().await {
            Packet::PubAck(ack) | Packet::PubRec(ack) => {
                assert_eq!(ack.packet_id, id);
                ack
            }
            other => panic!("expected PUBACK or PUBREC, got {other:?}"),
        }
    }

    /// Sends PUBACK for `id`.
    pub async fn puback(&mut self, id: NonZeroU16) {
        self.send(Packet::PubAck(id.into())).await;
    }
}

/// The Subscription Identifiers a received PUBLISH carries, in increasing order.
pub fn subscription_ids(publish: &Publish) -> Vec<u32> {
    let mut ids: Vec<u32> = publish
        .properties
        .iter()
        .flat_map(|p| p.subscription_identifiers.iter().map(|id| id.get()))
        .collect();
    ids.sort_unstable();
    ids
}

/// Subscription options: QoS 0 with No Local.
pub fn no_local() -> SubscriptionOptions {
    SubscriptionOptions {
        no_local: true,
        ..QoS::AtMostOnce.into()
    }
}

/// Subscription options: QoS 0 with Retain As Published.
pub fn as_published() -> SubscriptionOptions {
    SubscriptionOptions {
        retain_as_published: true,
        ..QoS::AtMostOnce.into()
    }
}

/// Subscription options: QoS 0 with Retain Handling `handling`.
pub fn retain_handling(handling: RetainHandling) -> SubscriptionOptions {
    SubscriptionOptions {
        retain_handling: handling,
        ..QoS::AtMostOnce.into()
    }
}
