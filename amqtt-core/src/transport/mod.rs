//! Transports: MQTT over TCP, TLS (rustls), WebSocket (subprotocol `mqtt`) and secure WebSocket,
//! behind one stream type the connection code runs over.
//!
//! A listener's `Acceptor` is built when the broker binds (TLS files are read then, so a bad
//! one stops startup); the TLS and WebSocket handshakes run later, in each connection's own
//! task, never in the accept loop. [`WsStream`] and [`select_subprotocol`] are public so that an
//! application can serve MQTT over WebSocket from its own HTTP server and hand the stream to
//! `BrokerHandle::serve_stream`. The [`client`] module opens the same transports from a client.

/// Implements `AsyncRead` and `AsyncWrite` for a stream enum whose variants `Tcp`, `Tls`, `Ws` and
/// `Wss` each hold a stream (the last three boxed), forwarding every poll to the one it holds with a
/// `match` (static dispatch). Shared by the broker's [`ServerStream`] and the client's
/// [`client::ClientStream`].
macro_rules! impl_stream_io {
    ($stream:ident) => {
        impl_stream_io!(@forward $stream);
    };
    (@each $self:expr, $s:ident => $body:expr) => {
        match $self.get_mut() {
            Self::Tcp($s) => {
                let $s = ::std::pin::Pin::new($s);
                $body
            }
            Self::Tls($s) => {
                let $s = ::std::pin::Pin::new(&mut **$s);
                $body
            }
            Self::Ws($s) => {
                let $s = ::std::pin::Pin::new(&mut **$s);
                $body
            }
            Self::Wss($s) => {
                let $s = ::std::pin::Pin::new(&mut **$s);
                $body
            }
        }
    };
    (@forward $stream:ident) => {
        impl ::tokio::io::AsyncRead for $stream {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &mut ::tokio::io::ReadBuf<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                impl_stream_io!(@each self, s => s.poll_read(cx, buf))
            }
        }

        impl ::tokio::io::AsyncWrite for $stream {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                impl_stream_io!(@each self, s => s.poll_write(cx, buf))
            }

            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                impl_stream_io!(@each self, s => s.poll_flush(cx))
            }

            fn poll_shutdown(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                impl_stream_io!(@each self, s => s.poll_shutdown(cx))
            }

            fn poll_write_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                impl_stream_io!(@each self, s => s.poll_write_vectored(cx, bufs))
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    Self::Tcp(s) => s.is_write_vectored(),
                    Self::Tls(s) => s.is_write_vectored(),
                    Self::Ws(s) => s.is_write_vectored(),
                    Self::Wss(s) => s.is_write_vectored(),
                }
            }
        }
    };
}

pub mod client;
mod tls;
mod ws;

use std::io;
use std::sync::{PoisonError, RwLock};

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::{ListenerConfig, ListenerType};

pub use tls::TlsSetupError;
pub use ws::{
    MQTT_SUBPROTOCOL, SubprotocolRefused, WsStream, select_subprotocol, websocket_config,
};

/// A connection accepted by a listener, whatever its transport. The variants other than TCP
/// are boxed: they are large, and an idle TCP connection should stay small.
#[derive(Debug)]
pub(crate) enum ServerStream {
    /// Plain MQTT over TCP.
    Tcp(TcpStream),
    /// MQTT over TLS.
    Tls(Box<TlsStream<TcpStream>>),
    /// MQTT over WebSocket.
    Ws(Box<WsStream<TcpStream>>),
    /// MQTT over WebSocket over TLS.
    Wss(Box<WsStream<TlsStream<TcpStream>>>),
}

/// A connection after its transport handshakes.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// The stream MQTT runs over.
    pub(crate) stream: ServerStream,
    /// The client's verified certificate chain (DER, the client's own first); empty without TLS
    /// or when the client presented none.
    pub(crate) peer_certificates: Vec<Bytes>,
}

/// What a listener does to a fresh TCP connection before MQTT starts.
pub(crate) struct Acceptor {
    /// The TLS setup new handshakes use; a reload replaces it (connections up keep theirs).
    tls: Option<RwLock<TlsAcceptor>>,
    /// `Some(max_packet_size)` for a WebSocket listener.
    websocket: Option<usize>,
    /// The transport's name ([`ListenerType::transport_name`]).
    transport: &'static str,
}

impl Acceptor {
    /// The acceptor of `listener`; reads and checks its TLS files.
    pub(crate) fn new(
        listener: &ListenerConfig,
        max_packet_size: usize,
    ) -> Result<Acceptor, TlsSetupError> {
        let tls = if listener.ssl {
            Some(RwLock::new(TlsAcceptor::from(tls::server_config(
                listener,
            )?)))
        } else {
            None
        };
        let websocket = (listener.kind == ListenerType::Ws).then_some(max_packet_size);
        let transport = listener.kind.transport_name(listener.ssl);
        Ok(Acceptor {
            tls,
            websocket,
            transport,
        })
    }

    /// The TLS setup that `listener`'s certificate, key and CA files give now, read and
    /// checked for a reload; `None` for a listener without TLS. Changes nothing.
    pub(crate) fn stage_tls(
        &self,
        listener: &ListenerConfig,
    ) -> Result<Option<TlsAcceptor>, TlsSetupError> {
        match &self.tls {
            Some(_) => Ok(Some(TlsAcceptor::from(tls::server_config(listener)?))),
            None => Ok(None),
        }
    }

    /// Puts a TLS setup from [`Acceptor::stage_tls`] in force: the next handshakes use it.
    pub(crate) fn set_tls(&self, staged: TlsAcceptor) {
        if let Some(tls) = &self.tls {
            *tls.write().unwrap_or_else(PoisonError::into_inner) = staged;
        }
    }

    /// The transport's name, for log lines.
    pub(crate) fn describe(&self) -> &'static str {
        self.transport
    }

    /// Runs the TLS and WebSocket handshakes that the listener asks for. Not bounded in time:
    /// the caller bounds it.
    pub(crate) async fn accept(&self, tcp: TcpStream) -> io::Result<Accepted> {
        // A clone of the current setup (an `Arc`): a reload during the handshake does not touch it.
        let tls = self
            .tls
            .as_ref()
            .map(|tls| tls.read().unwrap_or_else(PoisonError::into_inner).clone());
        let Some(tls) = tls else {
            let stream = match self.websocket {
                None => ServerStream::Tcp(tcp),
                Some(max) => ServerStream::Ws(Box::new(
                    WsStream::accept(tcp, max).await.map_err(io::Error::other)?,
                )),
            };
            return Ok(Accepted {
                stream,
                peer_certificates: Vec::new(),
            });
        };
        let tls = tls.accept(tcp).await?;
        let peer_certificates = tls
            .get_ref()
            .1
            .peer_certificates()
            .map(|chain| {
                chain
                    .iter()
                    .map(|c| Bytes::copy_from_slice(c.as_ref()))
                    .collect()
            })
            .unwrap_or_default();
        let stream = match self.websocket {
            None => ServerStream::Tls(Box::new(tls)),
            Some(max) => ServerStream::Wss(Box::new(
                WsStream::accept(tls, max).await.map_err(io::Error::other)?,
            )),
        };
        Ok(Accepted {
            stream,
            peer_certificates,
        })
    }
}

/// Whether a handshake failed because the client's certificate was missing (where required) or
/// did not verify: worth a log line above the noise of port scans and aborted handshakes.
pub(crate) fn is_certificate_refusal(e: &io::Error) -> bool {
    matches!(
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
    )
}

impl_stream_io!(ServerStream);
