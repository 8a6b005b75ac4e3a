//! Broker URLs of the client: `mqtt://`, `mqtts://`, `ws://` and `wss://`, with the user name
//! and password of the userinfo part, parsed by hand (the four schemes need little of RFC 3986).
//!
//! `scheme://[user[:password]@]host[:port][/path][?query][#fragment]`: the scheme is
//! case-insensitive; the host is a name, an IPv4 address or a bracketed IPv6 address; the port
//! defaults to the scheme's; the path and query matter for WebSocket only (the fragment is
//! dropped). The user name and password are percent-decoded; empty ones count as absent, as in
//! aMQTT.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use super::ClientTransportError;

/// The transport a broker URL asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `mqtt://`: MQTT over TCP, port 1883 by default.
    Mqtt,
    /// `mqtts://`: MQTT over TLS, port 8883 by default.
    Mqtts,
    /// `ws://`: MQTT over WebSocket, port 80 by default.
    Ws,
    /// `wss://`: MQTT over WebSocket over TLS, port 443 by default.
    Wss,
}

impl Scheme {
    /// The scheme for its (case-insensitive) name, if it is one of the four.
    pub fn from_name(name: &str) -> Option<Scheme> {
        [Scheme::Mqtt, Scheme::Mqtts, Scheme::Ws, Scheme::Wss]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    /// The scheme's name, lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Mqtt => 1883,
            Scheme::Mqtts => 8883,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    /// Whether the transport runs over TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Scheme::Mqtts | Scheme::Wss)
    }

    /// Whether the transport is a WebSocket.
    pub fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed broker URL.
///
/// Its `Display` form leaves the password out, so it can go into log lines.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// The transport.
    pub scheme: Scheme,
    /// The host name or IP address, without the brackets of an IPv6 address.
    pub host: String,
    /// The port, the scheme's default when the URL names none.
    pub port: u16,
    /// The path and query of a WebSocket request (`/` when the URL has none).
    pub path: String,
    /// The percent-decoded user name of the URL, for CONNECT.
    pub username: Option<String>,
    /// The percent-decoded password of the URL, for CONNECT.
    pub password: Option<String>,
}

impl BrokerUrl {
    /// Parses a broker URL.
    ///
    /// Errors are [`ClientTransportError::BadUrl`] (with the reason, the password masked) and
    /// [`ClientTransportError::UnsupportedScheme`].
    pub fn parse(url: &str) -> Result<BrokerUrl, ClientTransportError> {
        let bad = |reason: &str| ClientTransportError::BadUrl {
            url: redact(url),
            reason: reason.to_owned(),
        };
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("no `scheme://` (expected mqtt://, mqtts://, ws:// or wss://)"))?;
        let scheme =
            Scheme::from_name(scheme).ok_or_else(|| ClientTransportError::UnsupportedScheme {
                url: redact(url),
                scheme: scheme.to_owned(),
            })?;
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (authority, path) = rest
            .find(['/', '?'])
            .map_or((rest, ""), |i| rest.split_at(i));
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (user, pass) = info
                    .split_once(':')
                    .map_or((info, None), |(u, p)| (u, Some(p)));
                let user = decode(user).ok_or_else(|| bad("the user name is not UTF-8"))?;
                let pass = pass
                    .map(|p| decode(p).ok_or_else(|| bad("the password is not UTF-8")))
                    .transpose()?;
                (non_empty(user), pass.and_then(non_empty))
            }
        };
        let (host, port) = split_host_port(hostport).map_err(|reason| bad(&reason))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("the host holds a space or control character"));
        }
        let port = match port {
            None | Some("") => scheme.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(port) if port != 0 => port,
                _ => return Err(bad(&format!("invalid port `{p}`"))),
            },
        };
        Ok(BrokerUrl {
            scheme,
            host: host.to_owned(),
            port,
            path,
            username,
            password,
        })
    }

    /// `host:port`, with brackets around an IPv6 address: for connecting and for messages.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for BrokerUrl {
    type Err = ClientTransportError;

    fn from_str(url: &str) -> Result<BrokerUrl, ClientTransportError> {
        BrokerUrl::parse(url)
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(user) = &self.username {
            write!(f, "{user}@")?;
        }
        f.write_str(&self.authority())?;
        if self.scheme.is_websocket() {
            f.write_str(&self.path)?;
        }
        Ok(())
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerUrl")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "****"))
            .finish()
    }
}

/// Splits `host[:port]` or `[v6][:port]`; the port is returned unparsed.
fn split_host_port(hostport: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("an IPv6 address without its closing `]`")?;
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!("`[{host}]` is not an IPv6 address"));
        }
        return match after {
            "" => Ok((host, None)),
            a => match a.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("unexpected `{a}` after the IPv6 address")),
            },
        };
    }
    match hostport.split_once(':') {
        Some((_, port)) if port.contains(':') => {
            Err("an IPv6 address must be in brackets, as `[::1]:1883`".to_owned())
        }
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((hostport, None)),
    }
}

/// Decodes the `%XX` escapes of `text` (a `%` not followed by two hex digits stays as it is);
/// `None` if the result is not UTF-8.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// `url` with the password of its userinfo replaced by `****`, for error messages.
pub(super) fn redact(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let Some(at) = url[start..authority_end].rfind('@').map(|i| start + i) else {
        return url.to_owned();
    };
    match url[start..at].find(':').map(|i| start + i) {
        Some(colon) => format!("{}****{}", &url[..=colon], &url[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> BrokerUrl {
        BrokerUrl::parse(url).expect("valid URL")
    }

    #[test]
    fn defaults_and_parts() {
        let u = parse("mqtt://broker.example");
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port),
            (Scheme::Mqtt, "broker.example", 1883)
        );
        assert_eq!((u.username, u.password), (None, None));
        assert_eq!(parse("MQTTS://h").port, 8883);
        assert_eq!(parse("ws://h").port, 80);
        assert_eq!(parse("wss://h").port, 443);
        assert_eq!(parse("ws://h").path, "/");
        assert_eq!(parse("ws://h:9001/mqtt?x=1#frag").path, "/mqtt?x=1");
        assert_eq!(parse("ws://h?x=1").path, "/?x=1");
        assert_eq!(parse("mqtt://h:").port, 1883);

        let u = parse("wss://us%40er:p%3Aw@d@[::1]:8443/ws");
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 8443);
        assert_eq!(u.username.as_deref(), Some("us@er"));
        assert_eq!(u.password.as_deref(), Some("p:w@d"));
        assert_eq!(u.authority(), "[::1]:8443");
        assert_eq!(u.to_string(), "wss://us@er@[::1]:8443/ws");
        assert!(!format!("{u:?}").contains("p:w@d"));

        let u = parse("mqtt://user@h");
        assert_eq!((u.username.as_deref(), u.password), (Some("user"), None));
        let u = parse("mqtt://:@h");
        assert_eq!((u.username, u.password), (None, None));
        assert_eq!(parse("mqtt://a:100%@h").password.as_deref(), Some("100%"));
    }

    #[test]
    fn errors() {
        let reason = |url: &str| match BrokerUrl::parse(url) {
            Err(ClientTransportError::BadUrl { reason, .. }) => reason,
            other => panic!("{url}: {other:?}"),
        };
        assert!(reason("localhost:1883").contains("scheme"));
        assert_eq!(reason("mqtt://"), "no host");
        assert_eq!(reason("mqtt://user:pw@:1883"), "no host");
        assert!(reason("mqtt://h:99999").contains("invalid port"));
        assert!(reason("mqtt://h:0").contains("invalid port"));
        assert!(reason("mqtt://::1").contains("brackets"));
        assert!(reason("mqtt://[::1").contains("`]`"));
        assert!(reason("mqtt://[nope]:1").contains("IPv6"));
        assert!(matches!(
            BrokerUrl::parse("http://h"),
            Err(ClientTransportError::UnsupportedScheme { scheme, .. }) if scheme == "http"
        ));
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(redact("mqtt://u:secret@h:99999"), "mqtt://u:****@h:99999");
        assert_eq!(redact("mqtt://u@h/x@y"), "mqtt://u@h/x@y");
        assert_eq!(redact("mqtt://h"), "mqtt://h");
        let e = BrokerUrl::parse("mqtt://u:secret@h:x").expect_err("bad port");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
