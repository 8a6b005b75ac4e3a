//! [`RawClient`]: an MQTT 3.1.1 client at the packet level, for asserting on the exact packets
//! a broker sends.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use amqtt_core::codec::{
    ByteString, ConnAck, Connect, Packet, ProtocolVersion, Publish, QoS, ReasonCode, SubAck,
    Subscribe, Unsubscribe,
};

use crate::stream::PacketStream;
use crate::{RECV_TIMEOUT, connect_packet, pid, publish_packet};

/// A raw MQTT 3.1.1 client over TCP that sends and receives whole packets. Every wait fails
/// the test after [`RECV_TIMEOUT`] unless it takes its own duration.
pub struct RawClient {
    stream: PacketStream,
}

impl RawClient {
    /// Opens a TCP connection without sending anything.
    pub async fn open(addr: SocketAddr) -> RawClient {
        RawClient {
            stream: PacketStream::open(addr, ProtocolVersion::V311).await,
        }
    }

    /// Connects with `connect` and returns the client and the CONNACK, whatever its code.
    pub async fn connect_with(addr: SocketAddr, connect: Connect) -> (RawClient, ConnAck) {
        let mut client = RawClient::open(addr).await;
        client.send(Packet::Connect(Box::new(connect))).await;
        match client.recv().await {
            Packet::ConnAck(ack) => (client, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects `client_id` with a clean session and asserts the connection is accepted.
    pub async fn connect(addr: SocketAddr, client_id: &str) -> RawClient {
        let (client, ack) = RawClient::connect_with(addr, connect_packet(client_id, true)).await;
        assert_eq!(ack.code, ReasonCode::Success, "CONNACK of {client_id}");
        client
    }

    /// Connects with `connect`, asserts the broker refuses it and then closes the connection,
    /// and returns the CONNACK's refusing code (e.g. [`ReasonCode::NotAuthorized`], 0x05 in
    /// 3.1.1).
    pub async fn connect_refused(addr: SocketAddr, connect: Connect) -> ReasonCode {
        let (mut client, ack) = RawClient::connect_with(addr, connect).await;
        assert_ne!(ack.code, ReasonCode::Success, "the CONNECT was accepted");
        client.expect_closed(RECV_TIMEOUT).await;
        ack.code
    }

    /// Closes the connection abruptly: with linger 0 the close sends RST, as from a client that
    /// vanished.
    pub fn reset(self) {
        self.stream.reset();
    }

    /// Sends one packet.
    pub async fn send(&mut self, packet: Packet) {
        self.stream.send(packet).await;
    }

    /// Sends raw bytes: for packets the codec will not encode.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.send_raw(bytes).await;
    }

    /// Receives the next packet, failing the test after [`RECV_TIMEOUT`] or if the broker
    /// closes.
    pub async fn recv(&mut self) -> Packet {
        self.stream.recv().await
    }

    /// The next packet if one arrives within `wait`; panics if the connection closes.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Packet> {
        self.stream.recv_within(wait).await
    }

    /// Asserts no packet arrives within `wait` (and the connection stays open).
    pub async fn expect_silence(&mut self, wait: Duration) {
        self.stream.expect_silence(wait).await;
    }

    /// Asserts the broker closes the connection within `wait` (packets sent before are skipped).
    pub async fn expect_closed(&mut self, wait: Duration) {
        let stream = &mut self.stream;
        let closed = tokio::time::timeout(wait, async {
            while stream.read_packet().await.is_some() {}
        })
        .await;
        assert!(
            closed.is_ok(),
            "broker did not close the connection within {wait:?}"
        );
    }

    /// Receives a PUBLISH, failing on any other packet.
    pub async fn recv_publish(&mut self) -> Publish {
        match self.recv().await {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Subscribes to `filters` (filter and requested QoS) with packet id `id` and returns the
    /// SUBACK, whose codes say what was granted or refused.
    pub async fn subscribe(&mut self, id: u16, filters: &[(&str, QoS)]) -> SubAck {
        self.send(Packet::Subscribe(Subscribe {
            packet_id: pid(id),
            filters: filters
                .iter()
                .map(|(f, q)| (ByteString::from(*f), (*q).into()))
                .collect(),
            properties: None,
        }))
        .await;
        match self.recv().await {
            Packet::SubAck(ack) => {
                assert_eq!(ack.packet_id, pid(id));
                ack
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Unsubscribes from `filters` with packet id `id` and waits for the UNSUBACK.
    pub async fn unsubscribe(&mut self, id: u16, filters: &[&str]) {
        self.send(Packet::Unsubscribe(Unsubscribe {
            packet_id: pid(id),
            filters: filters.iter().map(|f| ByteString::from(*f)).collect(),
            properties: None,
        }))
        .await;
        assert_eq!(self.recv().await, Packet::UnsubAck(pid(id).into()));
    }

    /// Publishes (packet id 4242 at QoS 1 and 2) and completes the handshake of its QoS
    /// (PUBACK, or PUBREC/PUBREL/PUBCOMP).
    pub async fn publish(&mut self, topic: &str, payload: &str, qos: QoS, retain: bool) {
        let id = (qos != QoS::AtMostOnce).then_some(4242);
        self.send(Packet::Publish(publish_packet(
            topic, payload, qos, retain, id,
        )))
        .await;
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => assert_eq!(self.recv().await, Packet::PubAck(pid(4242).into())),
            QoS::ExactlyOnce => {
                assert_eq!(self.recv().await, Packet::PubRec(pid(4242).into()));
                self.send(Packet::PubRel(pid(4242).into())).await;
                assert_eq!(self.recv().await, Packet::PubComp(pid(4242).into()));
            }
        }
    }

    /// Sends DISCONNECT and closes the socket.
    pub async fn disconnect(mut self) {
        self.send(Packet::Disconnect(Default::default())).await;
        self.stream.shutdown().await;
    }

    /// Receives a PUBLISH and asserts it is exactly `topic`/`payload` at `qos` with `retain` and
    /// DUP 0, carrying a packet id if and only if `qos` is 1 or 2. Returns that id.
    pub async fn expect_publish(
        &mut self,
        topic: &str,
        payload: &str,
        qos: QoS,
        retain: bool,
    ) -> Option<NonZeroU16> {
        let publish = self.recv_publish().await;
        let id = publish.packet_id;
        assert_eq!(
            id.is_some(),
            qos != QoS::AtMostOnce,
            "packet id of {publish:?}"
        );
        assert_eq!(
            publish,
            publish_packet(topic, payload, qos, retain, id.map(NonZeroU16::get))
        );
        id
    }

    /// Completes the receiver's side of the handshake for a PUBLISH the broker sent at `qos`
    /// with `id`: nothing (QoS 0), PUBACK (QoS 1), or PUBREC, then asserts the next packet is
    /// the PUBREL, then PUBCOMP (QoS 2).
    pub async fn ack(&mut self, qos: QoS, id: Option<NonZeroU16>) {
        match (qos, id) {
            (QoS::AtMostOnce, _) => {}
            (QoS::AtLeastOnce, Some(id)) => self.send(Packet::PubAck(id.into())).await,
            (QoS::ExactlyOnce, Some(id)) => {
                self.send(Packet::PubRec(id.into())).await;
                assert_eq!(self.recv().await, Packet::PubRel(id.into()));
                self.send(Packet::PubComp(id.into())).await;
            }
            (qos, None) => panic!("a QoS {qos:?} PUBLISH needs a packet id"),
        }
    }

    /// [`RawClient::expect_publish`] then [`RawClient::ack`].
    pub async fn expect_publish_and_ack(
        &mut self,
        topic: &str,
        payload: &str,
        qos: QoS,
        retain: bool,
    ) {
        let id = self.expect_publish(topic, payload, qos, retain).await;
        self.ack(qos, id).await;
    }
}
