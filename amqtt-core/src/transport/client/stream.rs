//! [`ClientStream`]: one byte stream type over the four client transports, so the client's
//! MQTT code runs over any of them unchanged.

use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::transport::WsStream;

/// A client connection, whatever its transport: `AsyncRead + AsyncWrite + Send + Unpin`. Writes
/// may be buffered (by TLS and WebSocket) until flushed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientStream {
    /// `mqtt://`.
    Tcp(TcpStream),
    /// `mqtts://`.
    Tls(Box<TlsStream<TcpStream>>),
    /// `ws://`.
    Ws(Box<WsStream<TcpStream>>),
    /// `wss://`.
    Wss(Box<WsStream<TlsStream<TcpStream>>>),
}

impl_stream_io!(ClientStream);
