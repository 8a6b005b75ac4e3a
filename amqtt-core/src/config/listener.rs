//! Listener sections: `default` is required and the others inherit the fields they leave unset.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::broker::{RateLimit, ResolveError, rate};

/// The transport a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ListenerType {
    /// MQTT over TCP (or TLS with `ssl: true`).
    #[default]
    Tcp,
    /// MQTT over WebSocket (or secure WebSocket with `ssl: true`).
    Ws,
    /// Binds nothing: the application accepts the connections itself and hands each stream to
    /// the broker with `BrokerHandle::serve_stream` (aMQTT's `external` listener).
    External,
}

impl ListenerType {
    /// The transport's name, as logs and `--check-config` show it: `tcp`, `tls`, `ws`, `wss`
    /// or `external`.
    pub fn transport_name(self, ssl: bool) -> &'static str {
        match (self, ssl) {
            (ListenerType::External, _) => "external",
            (ListenerType::Tcp, false) => "tcp",
            (ListenerType::Tcp, true) => "tls",
            (ListenerType::Ws, false) => "ws",
            (ListenerType::Ws, true) => "wss",
        }
    }

    /// The port of a `bind` that names none: 1883 for TCP, 8883 for TLS, and 8883 for
    /// WebSocket with or without TLS (aMQTT's `DEFAULT_PORTS`).
    pub fn default_port(self, ssl: bool) -> u16 {
        match (self, ssl) {
            (ListenerType::Tcp | ListenerType::External, false) => 1883,
            _ => 8883,
        }
    }
}

/// Where a listener binds: a host (name or address) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Host name or IP address; IPv6 addresses without brackets.
    pub host: String,
    /// TCP port; 0 asks the OS for a free one.
    pub port: u16,
}

impl Bind {
    /// Parses every form aMQTT accepts: `1883`, `:1883`, `host:1883`, `[::]:1883`, and without
    /// a port (`host`, `host:`, `[::1]`, or nothing), which binds `default_port`. No host means
    /// every interface (`0.0.0.0`).
    pub fn parse(text: &str, default_port: u16) -> Option<Bind> {
        let text = text.trim();
        let port_of = |port: &str| {
            if port.is_empty() {
                Some(default_port)
            } else {
                port.parse().ok()
            }
        };
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']')?;
            let port = match after {
                "" => default_port,
                after => port_of(after.strip_prefix(':')?)?,
            };
            (host, port)
        } else if let Some((host, port)) = text.rsplit_once(':') {
            if host.contains(':') {
                return None;
            }
            (host, port_of(port)?)
        } else if let Ok(port) = text.parse() {
            ("", port)
        } else {
            (text, default_port)
        };
        let host = if host.is_empty() { "0.0.0.0" } else { host };
        Some(Bind {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Bind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One resolved listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The listener's name in the file (`default` for the required one).
    pub name: String,
    /// Transport type.
    pub kind: ListenerType,
    /// Address to bind.
    pub bind: Bind,
    /// Most simultaneous connections; 0 means no limit.
    pub max_connections: usize,
    /// Most new connections accepted a second, with a burst of as many; past it a connection
    /// is closed before any handshake. `None`: no limit.
    pub max_connection_rate: Option<RateLimit>,
    /// Whether the listener is secured with TLS.
    pub ssl: bool,
    /// Server certificate chain (PEM).
    pub certfile: Option<PathBuf>,
    /// Server private key (PEM).
    pub keyfile: Option<PathBuf>,
    /// CA certificates (PEM) that verify client certificates.
    pub cafile: Option<PathBuf>,
    /// Directory of CA certificates (PEM) that verify client certificates.
    pub capath: Option<PathBuf>,
    /// CA certificates given inline (PEM).
    pub cadata: Option<String>,
    /// Whether a TLS client must present a certificate (verified against `cafile`, `capath` and
    /// `cadata`). When false (aMQTT's behaviour) a certificate is optional, but one that is
    /// presented must verify.
    pub require_certificate: bool,
}

/// A listener section as written; unset fields come from `default`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListener {
    #[serde(default, rename = "type")]
    kind: Option<ListenerType>,
    #[serde(default)]
    bind: Option<String>,
    #[serde(default, alias = "max-connections")]
    max_connections: Option<i64>,
    #[serde(default, alias = "max-connection-rate")]
    max_connection_rate: Option<u64>,
    #[serde(default)]
    ssl: Option<bool>,
    #[serde(default)]
    certfile: Option<PathBuf>,
    #[serde(default)]
    keyfile: Option<PathBuf>,
    #[serde(default)]
    cafile: Option<PathBuf>,
    #[serde(default)]
    capath: Option<PathBuf>,
    #[serde(default)]
    cadata: Option<String>,
    #[serde(default, alias = "require-certificate")]
    require_certificate: Option<bool>,
    /// aMQTT's external-listener stream factories: accepted and ignored here.
    #[serde(default, rename = "reader")]
    _reader: Option<serde::de::IgnoredAny>,
    /// aMQTT's external-listener stream factories: accepted and ignored here.
    #[serde(default, rename = "writer")]
    _writer: Option<serde::de::IgnoredAny>,
}

impl RawListener {
    fn inherit(self, d: &RawListener) -> RawListener {
        RawListener {
            kind: self.kind.or(d.kind),
            bind: self.bind.or_else(|| d.bind.clone()),
            max_connections: self.max_connections.or(d.max_connections),
            max_connection_rate: self.max_connection_rate.or(d.max_connection_rate),
            ssl: self.ssl.or(d.ssl),
            certfile: self.certfile.or_else(|| d.certfile.clone()),
            keyfile: self.keyfile.or_else(|| d.keyfile.clone()),
            cafile: self.cafile.or_else(|| d.cafile.clone()),
            capath: self.capath.or_else(|| d.capath.clone()),
            cadata: self.cadata.or_else(|| d.cadata.clone()),
            require_certificate: self.require_certificate.or(d.require_certificate),
            _reader: None,
            _writer: None,
        }
    }

    fn resolve(self, name: &str) -> Result<ListenerConfig, ResolveError> {
        let key = |field: &str| format!("listeners.{name}.{field}");
        let kind = self.kind.unwrap_or_default();
        let ssl = self.ssl.unwrap_or(false);
        let bind_text = self.bind.unwrap_or_default();
        let bind = Bind::parse(&bind_text, kind.default_port(ssl)).ok_or_else(|| {
            (
                key("bind"),
                format!(
                    "expected `port`, `:port`, `host`, `host:port`, `[ipv6]` or `[ipv6]:port`, found `{bind_text}`"
                ),
            )
        })?;
        if self.certfile.is_some() != self.keyfile.is_some() {
            return Err((
                key("certfile"),
                "expected both `certfile` and `keyfile`, or neither".into(),
            ));
        }
        Ok(ListenerConfig {
            name: name.to_owned(),
            kind,
            bind,
            max_connections: usize::try_from(self.max_connections.unwrap_or(0)).unwrap_or(0),
            max_connection_rate: rate(&key("max_connection_rate"), self.max_connection_rate, None)?,
            ssl,
            certfile: self.certfile,
            keyfile: self.keyfile,
            cafile: self.cafile,
            capath: self.capath,
            cadata: self.cadata,
            require_certificate: self.require_certificate.unwrap_or(false),
        })
    }
}

pub(super) fn resolve_listeners(
    raw: Option<BTreeMap<String, RawListener>>,
) -> Result<BTreeMap<String, ListenerConfig>, ResolveError> {
    let mut raw =
        raw.unwrap_or_else(|| BTreeMap::from([("default".to_owned(), RawListener::default())]));
    let default = raw.remove("default").ok_or_else(|| {
        (
            "listeners".to_owned(),
            "expected a listener named `default`".to_owned(),
        )
    })?;
    let mut listeners = BTreeMap::new();
    for (name, listener) in raw {
        let resolved = listener.inherit(&default).resolve(&name)?;
        listeners.insert(name, resolved);
    }
    listeners.insert("default".to_owned(), default.resolve("default")?);
    Ok(listeners)
}
