//! MQTT frames over tokio TCP, for 3.1.1 or 5.0 clients: CONNECT, SUBSCRIBE and the PUBLISH
//! template are encoded, and CONNACK and SUBACK decoded, by `amqtt_core::codec`; per message
//! the PUBLISH template gets its packet id and send time patched in, PUBACKs are written by hand
//! (their 4-byte form is the same in both versions), and whole frames are split off the input.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use amqtt_core::codec::{
    self, Connect, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, ReasonCode,
    SubAckCode, Subscribe,
};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Result;

/// Packet type of PUBLISH (the high nibble of the first byte).
pub(crate) const PUBLISH: u8 = 3;
/// Packet type of PUBACK.
pub(crate) const PUBACK: u8 = 4;
/// DISCONNECT, whole: 3.1.1's, and 5.0's normal disconnection (reason code omitted).
pub(crate) const DISCONNECT: [u8; 2] = [0xE0, 0];
/// Longest wait for a CONNACK or SUBACK.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest frame accepted from the broker.
const MAX_FRAME: usize = 1 << 20;
/// Bytes of the send time the PUBLISH template carries at the start of its payload.
pub(crate) const STAMP_LEN: usize = 8;

/// The packet id 1, for the single SUBSCRIBE of a connection and the PUBLISH template.
fn first_id() -> PacketId {
    NonZeroU16::MIN
}

/// Appends a PUBACK of `pid` (in 5.0 too: reason code Success and no properties are omitted).
pub(crate) fn puback(out: &mut Vec<u8>, pid: u16) {
    out.extend_from_slice(&[0x40, 2]);
    out.extend_from_slice(&pid.to_be_bytes());
}

/// A pre-encoded PUBLISH; [`PublishTemplate::append`] patches in the packet id (QoS 1) and the
/// send time (the first [`STAMP_LEN`] payload bytes).
pub(crate) struct PublishTemplate {
    /// The whole frame, packet id 1.
    frame: Vec<u8>,
    /// Offset of the packet id in `frame` (QoS 1 only).
    pid_at: Option<usize>,
    /// Offset of the payload in `frame`.
    payload_at: usize,
}

impl PublishTemplate {
    /// A PUBLISH to `topic` at `qos` with `payload` bytes (0x5A, at least [`STAMP_LEN`]), as a
    /// `protocol` client sends it (5.0: an empty property block).
    pub(crate) fn new(
        topic: &str,
        qos: QoS,
        payload: usize,
        protocol: ProtocolVersion,
    ) -> PublishTemplate {
        let mut publish = Publish::new(topic, vec![0x5A; payload], qos, false);
        if qos != QoS::AtMostOnce {
            publish.packet_id = Some(first_id());
        }
        let mut frame = BytesMut::new();
        Packet::Publish(publish).encode_as(protocol, &mut frame);
        let payload_at = frame.len() - payload;
        let properties = usize::from(protocol.is_v5());
        let pid_at = (qos != QoS::AtMostOnce).then(|| payload_at - properties - 2);
        PublishTemplate {
            frame: frame.to_vec(),
            pid_at,
            payload_at,
        }
    }

    /// Bytes of one PUBLISH.
    pub(crate) fn len(&self) -> usize {
        self.frame.len()
    }

    /// Appends the PUBLISH with packet id `pid` (ignored at QoS 0) and send time `stamp`.
    pub(crate) fn append(&self, out: &mut Vec<u8>, pid: u16, stamp: u64) {
        let start = out.len();
        out.extend_from_slice(&self.frame);
        if let Some(at) = self.pid_at {
            out[start + at..start + at + 2].copy_from_slice(&pid.to_be_bytes());
        }
        let at = start + self.payload_at;
        out[at..at + STAMP_LEN].copy_from_slice(&stamp.to_le_bytes());
    }
}

/// One received packet.
pub(crate) struct Frame {
    /// Packet type (high nibble of the first byte).
    pub(crate) kind: u8,
    /// Flags (low nibble of the first byte).
    flags: u8,
    /// The whole frame, fixed header included.
    bytes: Bytes,
    /// Length of the fixed header.
    header_len: usize,
}

impl Frame {
    /// Splits the first frame off `buf`, once all of it is there.
    fn split(buf: &mut BytesMut) -> Result<Option<Frame>> {
        let Some(len) = codec::frame_len(buf, MAX_FRAME)? else {
            return Ok(None);
        };
        if buf.len() < len {
            return Ok(None);
        }
        let first = buf[0];
        let bytes = buf.split_to(len).freeze();
        // The remaining length takes the bytes up to and including the first below 0x80.
        let header_len = 2 + bytes[1..].iter().take_while(|b| **b & 0x80 != 0).count();
        Ok(Some(Frame {
            kind: first >> 4,
            flags: first & 0x0F,
            bytes,
            header_len,
        }))
    }

    /// Variable header and payload.
    fn body(&self) -> &[u8] {
        &self.bytes[self.header_len..]
    }

    /// The packet id of a PUBACK, or of a QoS 1/2 PUBLISH; `None` for anything else.
    pub(crate) fn packet_id(&self) -> Option<u16> {
        let body = self.body();
        let at = match self.kind {
            PUBLISH if self.flags & 0x06 != 0 => {
                2 + usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]))
            }
            PUBACK => 0,
            _ => return None,
        };
        Some(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]))
    }

    /// The reason code of a 5.0 PUBACK (Success when omitted, and always on 3.1.1).
    pub(crate) fn reason(&self) -> u8 {
        self.body().get(2).copied().unwrap_or(0)
    }

    /// The send time a PUBLISH's payload starts with, decoded as a `protocol` connection
    /// receives it (a 5.0 PUBLISH has properties before the payload).
    pub(crate) fn stamp(&self, protocol: ProtocolVersion) -> Result<u64> {
        match Packet::decode_frame_as(self.bytes.clone(), protocol)? {
            Packet::Publish(p) if p.payload.len() >= STAMP_LEN => {
                let mut stamp = [0; STAMP_LEN];
                stamp.copy_from_slice(&p.payload[..STAMP_LEN]);
                Ok(u64::from_le_bytes(stamp))
            }
            other => Err(format!("no send time in a {}", other.name()).into()),
        }
    }
}

/// A TCP connection to the broker with its undecoded input.
pub(crate) struct Conn {
    /// The socket.
    pub(crate) stream: TcpStream,
    /// The protocol the connection speaks.
    pub(crate) protocol: ProtocolVersion,
    /// Unacknowledged QoS 1 PUBLISHes the broker accepts (its CONNACK's receive maximum).
    pub(crate) receive_maximum: u16,
    /// Received bytes not yet split into frames.
    buf: BytesMut,
}

impl Conn {
    /// Connects and sends a `protocol` CONNECT (keep-alive 0, no credentials); returns the
    /// connection and CONNACK's session-present flag. A persistent (`clean` false) 5.0 session
    /// never expires, as a 3.1.1 one; otherwise 5.0's property block is empty.
    pub(crate) async fn open(
        addr: SocketAddr,
        client_id: &str,
        clean: bool,
        protocol: ProtocolVersion,
    ) -> Result<(Conn, bool)> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            protocol,
            receive_maximum: u16::MAX,
            buf: BytesMut::with_capacity(64 * 1024),
        };
        let mut properties = Properties::default();
        if protocol.is_v5() && !clean {
            properties.session_expiry_interval = Some(u32::MAX);
        }
        let connect = Connect {
            protocol,
            clean_session: clean,
            client_id: client_id.into(),
            properties,
            ..Connect::default()
        };
        conn.send(Packet::Connect(Box::new(connect))).await?;
        match conn.answer().await? {
            Packet::ConnAck(ack) if ack.code == ReasonCode::Success => {
                if let Some(max) = ack.properties.and_then(|p| p.receive_maximum) {
                    conn.receive_maximum = max.get();
                }
                Ok((conn, ack.session_present))
            }
            other => Err(format!("{client_id}: refused or bad CONNACK: {other:?}").into()),
        }
    }

    /// Subscribes to `filter` at `qos` and waits for a SUBACK granting it.
    pub(crate) async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<()> {
        let subscribe = Subscribe {
            packet_id: first_id(),
            filters: vec![(filter.into(), qos.into())],
            properties: None,
        };
        self.send(Packet::Subscribe(subscribe)).await?;
        match self.answer().await? {
            Packet::SubAck(ack) if ack.codes == [SubAckCode::Success(qos)] => Ok(()),
            other => Err(format!("SUBSCRIBE {filter}: {other:?}").into()),
        }
    }

    /// Encodes `packet` for this connection's protocol and writes it.
    async fn send(&mut self, packet: Packet) -> Result<()> {
        let mut out = BytesMut::new();
        packet.encode_as(self.protocol, &mut out);
        Ok(self.stream.write_all(&out).await?)
    }

    /// Sends DISCONNECT and closes, ignoring errors (the broker may be gone).
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = self.stream.write_all(&DISCONNECT).await;
            let _ = self.stream.shutdown().await;
        })
        .await;
    }

    /// The next packet, decoded, within [`ANSWER_TIMEOUT`].
    async fn answer(&mut self) -> Result<Packet> {
        tokio::time::timeout(ANSWER_TIMEOUT, async {
            loop {
                if let Some(packet) = codec::decode_as(&mut self.buf, MAX_FRAME, self.protocol)? {
                    return Ok(packet);
                }
                if !self.fill().await? {
                    return Err("the broker closed the connection".into());
                }
            }
        })
        .await
        .map_err(|_| format!("no answer from the broker within {ANSWER_TIMEOUT:?}"))?
    }

    /// Reads more bytes; `false` once the broker has closed. Cancel-safe.
    pub(crate) async fn fill(&mut self) -> Result<bool> {
        self.buf.reserve(64 * 1024);
        Ok(self.stream.read_buf(&mut self.buf).await? > 0)
    }

    /// The next whole frame already received, if any.
    pub(crate) fn next(&mut self) -> Result<Option<Frame>> {
        Frame::split(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use amqtt_core::codec::{Packet, ProtocolVersion, QoS};
    use bytes::BytesMut;

    use super::{Frame, PUBLISH, PublishTemplate};

    /// The patched template is a PUBLISH the codec reads back with its packet id and send
    /// time, in both protocols and at both QoS levels; the raw reads agree with the codec.
    #[test]
    fn template_decodes_with_its_packet_id_and_send_time() {
        for protocol in [ProtocolVersion::V311, ProtocolVersion::V5] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
                let template = PublishTemplate::new("pl/pair/7", qos, 64, protocol);
                let mut out = Vec::new();
                template.append(&mut out, 0x1234, 0x0102_0304_0506_0708);
                assert_eq!(out.len(), template.len());
                let frame = Packet::decode_frame_as(out.clone().into(), protocol);
                let Ok(Packet::Publish(p)) = frame else {
                    panic!("{protocol} {qos:?}: {frame:?}");
                };
                assert_eq!(&p.topic[..], "pl/pair/7");
                assert_eq!(p.payload.len(), 64);
                assert!(p.properties.is_none());
                let pid = (qos == QoS::AtLeastOnce).then_some(0x1234);
                assert_eq!(p.packet_id.map(|id| id.get()), pid);

                let mut received = BytesMut::from(&out[..]);
                received.extend_from_slice(&out[..3]);
                let raw = Frame::split(&mut received)
                    .expect("a frame")
                    .expect("whole");
                assert_eq!(&received[..], &out[..3]);
                assert_eq!(raw.kind, PUBLISH);
                assert_eq!(raw.packet_id(), pid);
                let stamp = raw.stamp(protocol).expect("a send time");
                assert_eq!(stamp, 0x0102_0304_0506_0708);
            }
        }
    }
}
