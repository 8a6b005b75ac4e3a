//! Raw MQTT 3.1.1 frames over tokio TCP: the few packets the load needs, encoded by hand (a
//! pre-encoded PUBLISH whose packet id is patched per message), and a whole-frame reader.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Result;

/// Packet type of PUBLISH (the high nibble of the first byte).
pub(crate) const PUBLISH: u8 = 3;
/// Packet type of PUBACK.
pub(crate) const PUBACK: u8 = 4;
/// DISCONNECT, whole.
pub(crate) const DISCONNECT: [u8; 2] = [0xE0, 0];
/// Longest wait for a CONNACK or SUBACK.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Appends an MQTT variable-length integer.
fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if n == 0 {
            return;
        }
    }
}

/// Appends a length-prefixed UTF-8 string.
fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A whole packet: fixed header byte, then the variable header and payload.
fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    put_len(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

/// CONNECT with keep-alive 0 and no credentials.
fn connect(client_id: &str, clean: bool) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, "MQTT");
    body.push(4);
    body.push(if clean { 0x02 } else { 0 });
    body.extend_from_slice(&0u16.to_be_bytes());
    put_str(&mut body, client_id);
    frame(0x10, &body)
}

/// Appends a PUBACK of `pid`.
pub(crate) fn puback(out: &mut Vec<u8>, pid: u16) {
    out.extend_from_slice(&[0x40, 2]);
    out.extend_from_slice(&pid.to_be_bytes());
}

/// A pre-encoded QoS 1 PUBLISH; [`PublishTemplate::append`] patches in the packet id.
pub(crate) struct PublishTemplate {
    /// The whole frame, packet id zero.
    frame: Vec<u8>,
    /// Offset of the packet id in `frame`.
    pid_at: usize,
}

impl PublishTemplate {
    /// A QoS 1 PUBLISH to `topic` with `payload` bytes (0x5A).
    pub(crate) fn new(topic: &str, payload: usize) -> PublishTemplate {
        let mut body = Vec::new();
        put_str(&mut body, topic);
        let pid_in_body = body.len();
        body.extend_from_slice(&[0, 0]);
        body.resize(body.len() + payload, 0x5A);
        let frame = frame(0x32, &body);
        let pid_at = frame.len() - body.len() + pid_in_body;
        PublishTemplate { frame, pid_at }
    }

    /// Appends the PUBLISH with packet id `pid`.
    pub(crate) fn append(&self, out: &mut Vec<u8>, pid: u16) {
        let start = out.len();
        out.extend_from_slice(&self.frame);
        out[start + self.pid_at..start + self.pid_at + 2].copy_from_slice(&pid.to_be_bytes());
    }
}

/// One received packet.
pub(crate) struct Frame {
    /// Packet type (high nibble of the first byte).
    pub(crate) kind: u8,
    /// Flags (low nibble of the first byte).
    flags: u8,
    /// Variable header and payload.
    body: Bytes,
}

impl Frame {
    /// The packet id of a PUBACK, or of a QoS 1/2 PUBLISH; `None` for anything else.
    pub(crate) fn packet_id(&self) -> Option<u16> {
        let at = match self.kind {
            PUBLISH if self.flags & 0x06 != 0 => {
                2 + usize::from(u16::from_be_bytes([
                    *self.body.first()?,
                    *self.body.get(1)?,
                ]))
            }
            PUBACK => 0,
            _ => return None,
        };
        Some(u16::from_be_bytes([
            *self.body.get(at)?,
            *self.body.get(at + 1)?,
        ]))
    }
}

/// A TCP connection to the broker with its undecoded input.
pub(crate) struct Conn {
    /// The socket.
    pub(crate) stream: TcpStream,
    /// Received bytes not yet split into frames.
    buf: BytesMut,
}

impl Conn {
    /// Connects and sends CONNECT; returns the connection and CONNACK's session-present flag.
    pub(crate) async fn open(
        addr: SocketAddr,
        client_id: &str,
        clean: bool,
    ) -> Result<(Conn, bool)> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            buf: BytesMut::with_capacity(64 * 1024),
        };
        conn.stream.write_all(&connect(client_id, clean)).await?;
        let ack = conn.answer().await?;
        match (ack.kind, ack.body.as_ref()) {
            (2, [flags, 0]) => Ok((conn, flags & 1 == 1)),
            (kind, body) => {
                Err(format!("{client_id}: refused or bad CONNACK: type {kind}, {body:?}").into())
            }
        }
    }

    /// Subscribes to `filter` at QoS 1 and waits for a granting SUBACK.
    pub(crate) async fn subscribe(&mut self, filter: &str) -> Result<()> {
        let mut body = 1u16.to_be_bytes().to_vec();
        put_str(&mut body, filter);
        body.push(1);
        self.stream.write_all(&frame(0x82, &body)).await?;
        let ack = self.answer().await?;
        match (ack.kind, ack.body.as_ref()) {
            (9, [0, 1, 1]) => Ok(()),
            (kind, body) => Err(format!("SUBSCRIBE {filter}: type {kind}, {body:?}").into()),
        }
    }

    /// Sends DISCONNECT and closes, ignoring errors (the broker may be gone).
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = self.stream.write_all(&DISCONNECT).await;
            let _ = self.stream.shutdown().await;
        })
        .await;
    }

    /// The next frame within [`ANSWER_TIMEOUT`].
    async fn answer(&mut self) -> Result<Frame> {
        tokio::time::timeout(ANSWER_TIMEOUT, async {
            loop {
                if let Some(f) = self.next()? {
                    return Ok(f);
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
        let mut len = 0usize;
        let mut header = 1;
        loop {
            let Some(&byte) = self.buf.get(header) else {
                return Ok(None);
            };
            len |= usize::from(byte & 0x7F) << (7 * (header - 1));
            header += 1;
            if byte & 0x80 == 0 {
                break;
            }
            if header > 4 {
                return Err("malformed remaining length".into());
            }
        }
        if self.buf.len() < header + len {
            return Ok(None);
        }
        let first = self.buf[0];
        self.buf.advance(header);
        Ok(Some(Frame {
            kind: first >> 4,
            flags: first & 0x0F,
            body: self.buf.split_to(len).freeze(),
        }))
    }
}
