//! A real HTTP backend for the tests (axum on 127.0.0.1:0, plain or TLS) that records every
//! request and answers as the test says.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Where a request carried its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carried {
    /// A JSON body.
    Json,
    /// A urlencoded body.
    FormBody,
    /// The query string.
    Query,
    /// Nowhere.
    Nothing,
}

/// One request as the backend saw it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    /// `GET`, `POST`...
    pub(crate) method: Method,
    /// The path, without the query.
    pub(crate) path: String,
    /// The `User-Agent` header.
    pub(crate) user_agent: Option<String>,
    /// Where the parameters were.
    pub(crate) carried: Carried,
    /// The parameters: JSON values, or strings for form fields.
    pub(crate) params: BTreeMap<String, Value>,
}

impl Request {
    /// A parameter as text (a JSON string's content, a number in decimal), or `None` when absent
    /// or null.
    pub(crate) fn param(&self, name: &str) -> Option<String> {
        match self.params.get(name)? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// What the backend answers.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    /// How long to wait before answering.
    pub(crate) delay: Duration,
}

impl Reply {
    /// `status` with `body`, at once.
    pub(crate) fn new(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    /// The same reply after `delay`.
    pub(crate) fn after(self, delay: Duration) -> Reply {
        Reply { delay, ..self }
    }
}

type Responder = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Shared {
    requests: Arc<Mutex<Vec<Request>>>,
    respond: Responder,
}

/// A running backend; stops when dropped.
pub(crate) struct Backend {
    /// Its address.
    pub(crate) addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    task: JoinHandle<()>,
}

impl Backend {
    /// A plain HTTP backend answering with `respond`.
    pub(crate) async fn start(
        respond: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind backend");
        let addr = listener.local_addr().expect("backend address");
        let (router, requests) = router(respond);
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("backend runs");
        });
        Backend {
            addr,
            requests,
            task,
        }
    }

    /// An HTTPS backend with a certificate for 127.0.0.1 from `pki`'s CA.
    pub(crate) async fn start_tls(
        pki: &Pki,
        respond: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Backend {
        let tcp = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind backend");
        let addr = tcp.local_addr().expect("backend address");
        let listener = TlsListener {
            tcp,
            acceptor: pki.acceptor(),
        };
        let (router, requests) = router(respond);
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("backend runs");
        });
        Backend {
            addr,
            requests,
            task,
        }
    }

    /// Every request so far, oldest first.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// The requests to `path` so far.
    pub(crate) fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn router(
    respond: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> (Router, Arc<Mutex<Vec<Request>>>) {
    let requests = Arc::new(Mutex::new(Vec::new()));
    let shared = Shared {
        requests: requests.clone(),
        respond: Arc::new(respond),
    };
    (Router::new().fallback(handle).with_state(shared), requests)
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = text(header::CONTENT_TYPE).unwrap_or_default();
    let form = |bytes: &[u8]| {
        form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect::<BTreeMap<_, _>>()
    };
    let (carried, params) = if content_type.starts_with("application/json") {
        let value: Value = serde_json::from_slice(&body).expect("JSON body");
        let Value::Object(members) = value else {
            panic!("JSON body is not an object: {value}");
        };
        (Carried::Json, members.into_iter().collect())
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        (Carried::FormBody, form(&body))
    } else if let Some(query) = uri.query() {
        (Carried::Query, form(query.as_bytes()))
    } else {
        (Carried::Nothing, BTreeMap::new())
    };
    let request = Request {
        method,
        path: uri.path().to_owned(),
        user_agent: text(header::USER_AGENT),
        carried,
        params,
    };
    let reply = (shared.respond)(&request);
    shared.requests.lock().expect("requests lock").push(request);
    tokio::time::sleep(reply.delay).await;
    let status = StatusCode::from_u16(reply.status).expect("test status code");
    (status, reply.body)
}

/// Accepts TLS connections for axum, skipping failed handshakes.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A CA and a server certificate for `127.0.0.1` and `localhost`; the CA's PEM in a file.
pub(crate) struct Pki {
    _dir: tempfile::TempDir,
    /// The CA certificate file, for the plugin's `cafile`.
    pub(crate) ca_file: PathBuf,
    cert_pem: String,
    key_pem: String,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "http backend test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write CA file");
        Pki {
            _dir: dir,
            ca_file,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    fn acceptor(&self) -> TlsAcceptor {
        let chain = vec![CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).expect("cert")];
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("key");
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server TLS config");
        TlsAcceptor::from(Arc::new(config))
    }
}
