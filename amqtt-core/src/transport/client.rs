//! The client side of the transports: a broker URL (`mqtt://`, `mqtts://`, `ws://`, `wss://`)
//! and [`ConnectOptions`] give a [`ClientStream`], a byte stream that MQTT packets are written to
//! and read from whatever the transport.
//!
//! ```no_run
//! # async fn demo() -> Result<(), amqtt_core::transport::client::ClientTransportError> {
//! use amqtt_core::transport::client::{ClientTransport, ConnectOptions};
//!
//! let options = ConnectOptions::new().ca_file("ca.crt");
//! let transport = ClientTransport::new("mqtts://user:secret@broker.example", &options)?;
//! let username = transport.url().username.clone(); // for CONNECT
//! let stream = transport.connect().await?; // again for each reconnection
//! # Ok(()) }
//! ```
//!
//! TLS is rustls with the aws-lc-rs provider. The server certificate is verified against the CA
//! file, directory or inline PEM of the options or, when none is given, against the Mozilla
//! roots compiled in by `webpki-roots` (no system store is read). WebSocket requests the `mqtt`
//! subprotocol and fails unless the server answers with it. TCP_NODELAY is set.

mod stream;
mod tls;
mod url;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use rustls::pki_types::ServerName;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, Uri};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{MQTT_SUBPROTOCOL, WsStream};

pub use stream::ClientStream;
pub use url::{BrokerUrl, Scheme};

/// The connect timeout of [`ConnectOptions::new`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest MQTT 3.1.1 packet: a 256 MiB remaining length and a 5-byte fixed header. It
/// bounds the WebSocket frames and messages the client accepts.
const MAX_MQTT_PACKET: usize = 268_435_455 + 5;

/// How to connect: the TLS files and checks, WebSocket headers and the timeout. The keys follow
/// aMQTT's client configuration (`cafile`, `capath`, `cadata`, `certfile`, `keyfile`,
/// `check_hostname`); TLS options are ignored by `mqtt://` and `ws://`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// PEM file of the CAs the server certificate must chain to (it may hold several).
    pub ca_file: Option<PathBuf>,
    /// Directory whose files hold CA certificates in PEM.
    pub ca_path: Option<PathBuf>,
    /// CA certificates as PEM text.
    pub ca_data: Option<String>,
    /// PEM file of the client certificate (its chain may follow it).
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's key; without it the key is read from `cert_file`.
    pub key_file: Option<PathBuf>,
    /// Whether the server certificate must be issued for the URL's host (default `true`). When
    /// `false` the chain is still verified.
    pub check_hostname: bool,
    /// Accept any server certificate, verifying neither chain nor name: for tests only. The
    /// handshake signatures are still checked.
    pub insecure_skip_verify: bool,
    /// Extra headers of the WebSocket upgrade request (they replace default headers of the same
    /// name, except `Sec-WebSocket-Protocol`, which is always `mqtt`).
    pub extra_headers: Vec<(String, String)>,
    /// Bound on the whole connection: name resolution, TCP, TLS and WebSocket handshakes
    /// (`None`: unbounded).
    pub connect_timeout: Option<Duration>,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            ca_file: None,
            ca_path: None,
            ca_data: None,
            cert_file: None,
            key_file: None,
            check_hostname: true,
            insecure_skip_verify: false,
            extra_headers: Vec::new(),
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
        }
    }
}

impl ConnectOptions {
    /// The defaults: verify the server against the webpki roots, host name included, no client
    /// certificate, no extra headers, [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn new() -> ConnectOptions {
        ConnectOptions::default()
    }

    /// Sets [`ConnectOptions::ca_file`].
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> ConnectOptions {
        self.ca_file = Some(path.into());
        self
    }

    /// Sets [`ConnectOptions::ca_path`].
    pub fn ca_path(mut self, path: impl Into<PathBuf>) -> ConnectOptions {
        self.ca_path = Some(path.into());
        self
    }

    /// Sets [`ConnectOptions::ca_data`].
    pub fn ca_data(mut self, pem: impl Into<String>) -> ConnectOptions {
        self.ca_data = Some(pem.into());
        self
    }

    /// Sets the client certificate and key files ([`ConnectOptions::cert_file`],
    /// [`ConnectOptions::key_file`]).
    pub fn client_cert(
        mut self,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> ConnectOptions {
        self.cert_file = Some(cert_file.into());
        self.key_file = Some(key_file.into());
        self
    }

    /// Sets [`ConnectOptions::check_hostname`].
    pub fn check_hostname(mut self, check: bool) -> ConnectOptions {
        self.check_hostname = check;
        self
    }

    /// Sets [`ConnectOptions::insecure_skip_verify`].
    pub fn insecure_skip_verify(mut self, skip: bool) -> ConnectOptions {
        self.insecure_skip_verify = skip;
        self
    }

    /// Adds a header to [`ConnectOptions::extra_headers`].
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ConnectOptions {
        self.extra_headers.push((name.into(), value.into()));
        self
    }

    /// Sets [`ConnectOptions::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> ConnectOptions {
        self.connect_timeout = timeout;
        self
    }
}

/// Why a client connection cannot be made.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientTransportError {
    /// The URL cannot be parsed (its password is masked here).
    #[error("invalid broker URL `{url}`: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL's scheme is none of `mqtt`, `mqtts`, `ws`, `wss`.
    #[error("unsupported scheme `{scheme}` in `{url}` (expected mqtt, mqtts, ws or wss)")]
    UnsupportedScheme {
        /// The URL (its password masked).
        url: String,
        /// The scheme it names.
        scheme: String,
    },
    /// An extra WebSocket header is not a valid HTTP header.
    #[error("invalid WebSocket header `{name}`: {reason}")]
    BadHeader {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A TLS file (or the CA directory) cannot be read.
    #[error("cannot read {key} `{}`: {source}", path.display())]
    TlsFileRead {
        /// The option naming it (`cafile`, `capath`, `certfile`, `keyfile`).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A TLS file was read but does not hold what it should.
    #[error("{key} `{}`: {reason}", path.display())]
    TlsFile {
        /// The option naming it (`cafile`, `capath`, `certfile`, `keyfile`).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The inline CA data holds no usable certificate.
    #[error("cadata: {0}")]
    CaData(String),
    /// The TLS options do not make a configuration (a key that does not match the certificate,
    /// a key file without a certificate file).
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// The host name does not resolve.
    #[error("cannot resolve `{host}`: {source}")]
    Resolve {
        /// The host of the URL.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// The TCP connection failed (refused, unreachable, ...).
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// The address tried last (with the URL's host when it is a name).
        address: String,
        /// The OS error.
        source: io::Error,
    },
    /// The TLS handshake failed: the server certificate did not verify, the server refused the
    /// client certificate, or the peer does not speak TLS. The source is usually an
    /// [`io::Error`] wrapping a [`rustls::Error`].
    #[error("TLS handshake with {address} failed: {source}")]
    TlsHandshake {
        /// `host:port`.
        address: String,
        /// The error of the handshake.
        source: io::Error,
    },
    /// The WebSocket upgrade failed (HTTP error status, no `mqtt` subprotocol, ...).
    #[error("WebSocket handshake with {url} failed: {source}")]
    WsHandshake {
        /// The request URL.
        url: String,
        /// tungstenite's error.
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The connection was not made within [`ConnectOptions::connect_timeout`].
    #[error("connecting to {address} timed out after {after:?}")]
    Timeout {
        /// `host:port`.
        address: String,
        /// The timeout.
        after: Duration,
    },
}

/// A prepared connection to one broker URL: TLS files are read and headers checked once, in
/// [`ClientTransport::new`]; [`ClientTransport::connect`] then opens a connection each time it is
/// called (a client that reconnects keeps its `ClientTransport`).
pub struct ClientTransport {
    url: BrokerUrl,
    /// The connector and the name the certificate must be issued for; `Some` for TLS schemes.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// The upgrade request's URI; `Some` for WebSocket schemes.
    ws_uri: Option<Uri>,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for ClientTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTransport")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ClientTransport {
    /// Parses `url` and prepares its transport with `options` (reading the TLS files of a
    /// `mqtts://` or `wss://` URL).
    pub fn new(
        url: &str,
        options: &ConnectOptions,
    ) -> Result<ClientTransport, ClientTransportError> {
        ClientTransport::from_url(BrokerUrl::parse(url)?, options)
    }

    /// Prepares the transport of a parsed URL.
    pub fn from_url(
        url: BrokerUrl,
        options: &ConnectOptions,
    ) -> Result<ClientTransport, ClientTransportError> {
        let tls = if url.scheme.is_tls() {
            let name = ServerName::try_from(url.host.clone()).map_err(|_| {
                ClientTransportError::BadUrl {
                    url: url.to_string(),
                    reason: format!(
                        "`{}` is not a valid DNS name or IP address for TLS",
                        url.host
                    ),
                }
            })?;
            Some((TlsConnector::from(tls::client_config(options)?), name))
        } else {
            None
        };
        let ws_uri = if url.scheme.is_websocket() {
            let text = format!("{}://{}{}", url.scheme, url.authority(), url.path);
            Some(
                text.parse::<Uri>()
                    .map_err(|e| ClientTransportError::BadUrl {
                        url: url.to_string(),
                        reason: format!("not a valid WebSocket URL: {e}"),
                    })?,
            )
        } else {
            None
        };
        let headers = options
            .extra_headers
            .iter()
            .map(|(name, value)| {
                let bad = |reason: String| ClientTransportError::BadHeader {
                    name: name.clone(),
                    reason,
                };
                let header = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| bad(format!("invalid name: {e}")))?;
                let value =
                    HeaderValue::from_str(value).map_err(|e| bad(format!("invalid value: {e}")))?;
                Ok((header, value))
            })
            .collect::<Result<Vec<_>, ClientTransportError>>()?;
        Ok(ClientTransport {
            url,
            tls,
            ws_uri,
            headers,
            timeout: options.connect_timeout,
        })
    }

    /// The broker URL, with the user name and password for CONNECT.
    pub fn url(&self) -> &BrokerUrl {
        &self.url
    }

    /// Opens a connection: TCP, then the TLS and WebSocket handshakes the scheme asks for, all
    /// within the connect timeout.
    pub async fn connect(&self) -> Result<ClientStream, ClientTransportError> {
        let Some(after) = self.timeout else {
            return self.open().await;
        };
        tokio::time::timeout(after, self.open())
            .await
            .map_err(|_| ClientTransportError::Timeout {
                address: self.url.authority(),
                after,
            })?
    }

    async fn open(&self) -> Result<ClientStream, ClientTransportError> {
        let tcp = self.tcp().await?;
        let Some((connector, name)) = &self.tls else {
            return Ok(match &self.ws_uri {
                None => ClientStream::Tcp(tcp),
                Some(uri) => ClientStream::Ws(Box::new(self.websocket(uri, tcp).await?)),
            });
        };
        let tls = connector
            .connect(name.clone(), tcp)
            .await
            .map_err(|source| ClientTransportError::TlsHandshake {
                address: self.url.authority(),
                source,
            })?;
        Ok(match &self.ws_uri {
            None => ClientStream::Tls(Box::new(tls)),
            Some(uri) => ClientStream::Wss(Box::new(self.websocket(uri, tls).await?)),
        })
    }

    /// Resolves the host and connects to its addresses in turn.
    async fn tcp(&self) -> Result<TcpStream, ClientTransportError> {
        let resolve_error = |source| ClientTransportError::Resolve {
            host: self.url.host.clone(),
            source,
        };
        let addrs: Vec<SocketAddr> =
            tokio::net::lookup_host((self.url.host.as_str(), self.url.port))
                .await
                .map_err(resolve_error)?
                .collect();
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect(addr).await.and_then(|tcp| {
                tcp.set_nodelay(true)?;
                Ok(tcp)
            }) {
                Ok(tcp) => return Ok(tcp),
                Err(e) => last = Some((addr, e)),
            }
        }
        let Some((addr, source)) = last else {
            return Err(resolve_error(io::Error::new(
                io::ErrorKind::NotFound,
                "no address",
            )));
        };
        let address = if self.url.host.parse::<IpAddr>().is_ok() {
            addr.to_string()
        } else {
            format!("{} ({addr})", self.url.authority())
        };
        Err(ClientTransportError::Connect { address, source })
    }

    /// Does the WebSocket upgrade on `stream`.
    async fn websocket<S>(&self, uri: &Uri, stream: S) -> Result<WsStream<S>, ClientTransportError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let ws_error = |e| ClientTransportError::WsHandshake {
            url: uri.to_string(),
            source: Box::new(e),
        };
        let mut request = uri.clone().into_client_request().map_err(ws_error)?;
        let headers = request.headers_mut();
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        headers.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(MQTT_SUBPROTOCOL),
        );
        let config = WebSocketConfig::default()
            .max_frame_size(Some(MAX_MQTT_PACKET))
            .max_message_size(Some(MAX_MQTT_PACKET));
        let (ws, _response) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(ws_error)?;
        Ok(WsStream::new(ws))
    }
}

/// Parses `url`, prepares its transport with `options` and opens one connection.
///
/// For the user name and password of the URL, or to reconnect without reading the TLS files
/// again, use [`ClientTransport`].
pub async fn connect(
    url: &str,
    options: &ConnectOptions,
) -> Result<ClientStream, ClientTransportError> {
    ClientTransport::new(url, options)?.connect().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_stream<T: AsyncRead + AsyncWrite + Send + Unpin + 'static>() {}

    #[test]
    fn client_stream_is_a_send_byte_stream() {
        assert_stream::<ClientStream>();
    }

    #[test]
    fn options_are_checked_before_connecting() {
        let bad_header = ClientTransport::new("ws://h", &ConnectOptions::new().header("a b", "v"));
        assert!(
            matches!(bad_header, Err(ClientTransportError::BadHeader { name, .. }) if name == "a b")
        );
        let missing = ConnectOptions::new().ca_file("/nonexistent/amqtt/ca.crt");
        let e = ClientTransport::new("mqtts://h", &missing).expect_err("missing CA file");
        assert!(
            e.to_string().contains("cafile `/nonexistent/amqtt/ca.crt`"),
            "{e}"
        );
        // TLS files are read only for TLS schemes.
        assert!(ClientTransport::new("mqtt://h", &missing).is_ok());
        let key_only = ConnectOptions {
            key_file: Some("k.pem".into()),
            ..ConnectOptions::new()
        };
        assert!(matches!(
            ClientTransport::new("wss://h", &key_only),
            Err(ClientTransportError::TlsConfig(_))
        ));
    }
}
