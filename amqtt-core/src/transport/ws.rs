//! MQTT over WebSocket: the `mqtt` subprotocol handshake and [`WsStream`], which turns a
//! WebSocket into a byte stream (`AsyncRead + AsyncWrite`) so the broker's connection code runs
//! over it unchanged.
//!
//! MQTT travels in binary frames. A frame may hold part of a packet, one packet or several: on
//! read the payloads are concatenated, and the codec frames packets out of the bytes as it does
//! over TCP. Each write is sent as one binary frame, a vectored write's slices joined into it. A
//! text frame is a protocol error; a close frame is the end of the stream. Ping and pong are
//! answered by tungstenite.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The WebSocket subprotocol of MQTT 3.1.1 (MQTT 3.1.1 §6).
pub const MQTT_SUBPROTOCOL: &str = "mqtt";

/// Read buffer of a WebSocket connection: small, so idle connections cost little memory
/// (tungstenite's default is 128 KiB, allocated up front).
const READ_BUFFER: usize = 4096;
/// The smallest frame and message size limit, whatever `max_packet_size` is.
const MIN_MESSAGE_LIMIT: usize = 64 * 1024;

/// The client offered WebSocket subprotocols, none of them `mqtt`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the client offered WebSocket subprotocols {offered:?}, not `mqtt`")]
pub struct SubprotocolRefused {
    /// What the client offered.
    pub offered: Vec<String>,
}

/// Chooses the subprotocol to answer a WebSocket upgrade request with, from its
/// `Sec-WebSocket-Protocol` headers: `mqtt` when the client offers it, none when it offers none
/// (aMQTT accepts such clients too), and a refusal when it offers only others.
///
/// For an application that does the HTTP upgrade itself (see the `embedded_axum` example).
pub fn select_subprotocol(headers: &HeaderMap) -> Result<Option<&'static str>, SubprotocolRefused> {
    let offered: Vec<String> = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if offered.is_empty() {
        Ok(None)
    } else if offered.iter().any(|p| p == MQTT_SUBPROTOCOL) {
        Ok(Some(MQTT_SUBPROTOCOL))
    } else {
        Err(SubprotocolRefused { offered })
    }
}

/// The tungstenite configuration of a server connection whose MQTT packets are at most
/// `max_packet_size` bytes: a small read buffer, every message written at once (the broker
/// already batches its writes), and frames and messages bounded near the packet size.
pub fn websocket_config(max_packet_size: usize) -> WebSocketConfig {
    let limit = max_packet_size.saturating_add(8).max(MIN_MESSAGE_LIMIT);
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_frame_size(Some(limit))
        .max_message_size(Some(limit))
}

/// The handshake callback: answers with the `mqtt` subprotocol, or refuses with 400.
#[allow(
    clippy::result_large_err,
    reason = "the signature of tungstenite's handshake callback"
)]
fn negotiate(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    match select_subprotocol(request.headers()) {
        Ok(Some(protocol)) => {
            response
                .headers_mut()
                .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
            Ok(response)
        }
        Ok(None) => Ok(response),
        Err(refused) => {
            let mut error = ErrorResponse::new(Some(refused.to_string()));
            *error.status_mut() = StatusCode::BAD_REQUEST;
            Err(error)
        }
    }
}

/// A WebSocket carrying MQTT, as a byte stream.
///
/// Writes are buffered in tungstenite until flushed (the broker flushes after every batch);
/// shutting the stream down sends a close frame.
#[derive(Debug)]
pub struct WsStream<S> {
    ws: WebSocketStream<S>,
    /// The unread rest of the last binary frame.
    pending: Bytes,
    /// A close frame arrived or the stream ended: reads return end of stream.
    eof: bool,
}

impl<S> WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Wraps a WebSocket whose handshake is done (by [`WsStream::accept`], by
    /// `tokio_tungstenite::accept_hdr_async`, or by an HTTP server's upgrade followed by
    /// `WebSocketStream::from_raw_socket`).
    pub fn new(ws: WebSocketStream<S>) -> WsStream<S> {
        WsStream {
            ws,
            pending: Bytes::new(),
            eof: false,
        }
    }

    /// Does the server side of the HTTP upgrade on `stream` (any path, the `mqtt` subprotocol as
    /// [`select_subprotocol`] decides), with [`websocket_config`] for packets up to
    /// `max_packet_size` bytes.
    pub async fn accept(stream: S, max_packet_size: usize) -> Result<WsStream<S>, WsError> {
        let ws = tokio_tungstenite::accept_hdr_async_with_config(
            stream,
            negotiate,
            Some(websocket_config(max_packet_size)),
        )
        .await?;
        Ok(WsStream::new(ws))
    }

    /// The WebSocket.
    pub fn get_ref(&self) -> &WebSocketStream<S> {
        &self.ws
    }

    /// The WebSocket; bytes of a frame already read and not yet consumed are lost.
    pub fn into_inner(self) -> WebSocketStream<S> {
        self.ws
    }
}

/// An I/O error for a WebSocket error.
fn io_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, e)
        }
        e => io::Error::new(io::ErrorKind::InvalidData, e),
    }
}

impl<S> AsyncRead for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(payload))) => this.pending = payload,
                // tungstenite queues the pong itself; an unfragmented raw frame is never read.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_))) | None => this.eof = true,
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => this.eof = true,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text frame on an MQTT WebSocket (MQTT uses binary frames)",
                    )));
                }
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
            }
        }
    }
}

impl<S> AsyncWrite for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    /// Sends the slices joined into one binary frame: the one copy a frame needs.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|buf| buf.len()).sum();
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        let this = self.get_mut();
        ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(io_error)?;
        let mut frame = BytesMut::with_capacity(len);
        for buf in bufs {
            frame.extend_from_slice(buf);
        }
        Pin::new(&mut this.ws)
            .start_send(Message::Binary(frame.freeze()))
            .map_err(io_error)?;
        Poll::Ready(Ok(len))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(io_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.get_mut().ws).poll_close(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(io_error(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::tungstenite::protocol::Role;

    use super::*;

    #[tokio::test]
    async fn a_vectored_write_is_one_binary_frame() {
        let (server, client) = tokio::io::duplex(1 << 16);
        let mut server =
            WsStream::new(WebSocketStream::from_raw_socket(server, Role::Server, None).await);
        let mut client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        assert!(server.is_write_vectored());
        let slices = [
            IoSlice::new(b"head"),
            IoSlice::new(b""),
            IoSlice::new(b"payload"),
        ];
        assert_eq!(server.write_vectored(&slices).await.expect("written"), 11);
        server.flush().await.expect("flushed");
        let frame = client.next().await.expect("a frame").expect("valid");
        assert_eq!(frame, Message::Binary(Bytes::from_static(b"headpayload")));
    }

    fn offer(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        headers
    }

    #[test]
    fn subprotocol_selection() {
        assert_eq!(select_subprotocol(&offer(&[])), Ok(None));
        assert_eq!(select_subprotocol(&offer(&["mqtt"])), Ok(Some("mqtt")));
        assert_eq!(
            select_subprotocol(&offer(&["mqttv3.1, mqtt"])),
            Ok(Some("mqtt"))
        );
        assert_eq!(
            select_subprotocol(&offer(&["chat", "mqtt"])),
            Ok(Some("mqtt"))
        );
        assert_eq!(
            select_subprotocol(&offer(&["chat"])),
            Err(SubprotocolRefused {
                offered: vec!["chat".into()]
            })
        );
    }
}
