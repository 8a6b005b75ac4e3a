//! [`ClientStream`]: one byte stream type over the four client transports, so the client's
//! MQTT code runs over any of them unchanged.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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

/// Forwards a poll to whichever stream the variant holds.
macro_rules! each {
    ($self:expr, $s:ident => $body:expr) => {
        match $self.get_mut() {
            ClientStream::Tcp($s) => {
                let $s = Pin::new($s);
                $body
            }
            ClientStream::Tls($s) => {
                let $s = Pin::new(&mut **$s);
                $body
            }
            ClientStream::Ws($s) => {
                let $s = Pin::new(&mut **$s);
                $body
            }
            ClientStream::Wss($s) => {
                let $s = Pin::new(&mut **$s);
                $body
            }
        }
    };
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientStream::Tcp(s) => s.is_write_vectored(),
            ClientStream::Tls(s) => s.is_write_vectored(),
            ClientStream::Ws(s) => s.is_write_vectored(),
            ClientStream::Wss(s) => s.is_write_vectored(),
        }
    }
}
