//! The HTTP client of the plugins: one pooled reqwest client, the URLs of the checks, the
//! request as aMQTT sends it and the reading of the answer.

use std::error::Error as StdError;
use std::fmt;
use std::net::Ipv6Addr;
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Certificate, Client, Method, Response, Url};
use serde_json::{Map, Value};

use super::config::{HttpConfig, ParamsMode, RequestMethod, ResponseMode};

/// The parameters of one request: a JSON object, or form fields.
pub(crate) type Params = Map<String, Value>;

/// Why a request got no answer the plugin can use: the answer is then a denial.
#[derive(Debug)]
pub(crate) enum AskError {
    /// No response: refused, unreachable, TLS failure, timeout.
    Transport(reqwest::Error),
    /// A response that does not say yes or no the way `response_mode` expects.
    Answer(String),
}

impl fmt::Display for AskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AskError::Transport(e) => f.write_str(&error_chain(e)),
            AskError::Answer(message) => f.write_str(message),
        }
    }
}

impl From<reqwest::Error> for AskError {
    fn from(e: reqwest::Error) -> AskError {
        AskError::Transport(e)
    }
}

/// An error and its causes, `: `-separated (reqwest's own message names only the URL).
pub(crate) fn error_chain(e: &dyn StdError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The backend as configured: where it is, how to ask it, how it answers.
#[derive(Debug)]
pub(crate) struct Backend {
    client: Client,
    /// `scheme://host:port/`.
    base: Url,
    method: Method,
    params_mode: ParamsMode,
    response_mode: ResponseMode,
    timeout: Duration,
    probe_at_start: bool,
    with_tls: bool,
}

impl Backend {
    /// Checks the keys shared by both plugins and builds the client; the error names the key.
    pub(crate) fn new(config: &HttpConfig) -> Result<Backend, String> {
        let base = base_url(config)?;
        let timeout = Duration::try_from_secs_f64(config.timeout)
            .ok()
            .filter(|t| !t.is_zero())
            .ok_or_else(|| {
                format!(
                    "`timeout`: expected a number of seconds > 0, got {}",
                    config.timeout
                )
            })?;
        let user_agent = HeaderValue::from_str(&config.user_agent).map_err(|_| {
            format!(
                "`user_agent`: `{}` cannot be sent as a header value",
                config.user_agent.escape_debug()
            )
        })?;
        let mut builder = Client::builder()
            .user_agent(user_agent)
            .timeout(timeout)
            .connect_timeout(timeout)
            .no_proxy();
        if let Some(path) = &config.cafile {
            if !config.with_tls {
                tracing::warn!("`cafile` is set but `with_tls` is false: the CA is not used");
            }
            builder = builder.tls_certs_merge(read_cafile(path)?);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot make the HTTP client: {}", error_chain(&e)))?;
        Ok(Backend {
            client,
            base,
            method: match config.request_method {
                RequestMethod::Get => Method::GET,
                RequestMethod::Post => Method::POST,
                RequestMethod::Put => Method::PUT,
            },
            params_mode: config.params_mode,
            response_mode: config.response_mode,
            timeout,
            probe_at_start: config.probe_at_start,
            with_tls: config.with_tls,
        })
    }

    /// The URL of the check `key` (`user_uri`, ...), whose path is `uri`.
    pub(crate) fn url(&self, key: &str, uri: &str) -> Result<Url, String> {
        let bad =
            || format!("`{key}`: expected a path starting with `/` (like `/user`), got `{uri}`");
        if !uri.starts_with('/') || uri.starts_with("//") {
            return Err(bad());
        }
        let url = self.base.join(uri).map_err(|_| bad())?;
        if url.host_str() != self.base.host_str() || url.port() != self.base.port() {
            return Err(bad());
        }
        Ok(url)
    }

    /// Sends `params` to `url` and reads the answer: `Some(true)` yes, `Some(false)` no, `None`
    /// no opinion (as `response_mode` defines them).
    pub(crate) async fn ask(&self, url: &Url, params: &Params) -> Result<Option<bool>, AskError> {
        // Boxed: an HTTP exchange is a large future, which would otherwise enlarge the future of
        // every check (a cache hit too), and with it the per-message path of every broker built
        // with these plugins, configured or not.
        Box::pin(self.exchange(url, params)).await
    }

    /// [`Backend::ask`]'s request and answer.
    async fn exchange(&self, url: &Url, params: &Params) -> Result<Option<bool>, AskError> {
        let request = self.client.request(self.method.clone(), url.clone());
        let request = match (self.params_mode, &self.method) {
            (ParamsMode::Json, _) => request.json(params),
            (ParamsMode::Form, &Method::GET) => request.query(&form_fields(params)),
            (ParamsMode::Form, _) => request.form(&form_fields(params)),
        };
        let response = request.send().await?;
        tracing::debug!(%url, status = %response.status(), "HTTP check answered");
        read_answer(self.response_mode, response).await
    }

    /// When `probe_at_start` is on: a HEAD request to `/` of the backend, which must answer
    /// (any status) within `timeout`.
    pub(crate) async fn probe(&self) -> Result<(), String> {
        if !self.probe_at_start {
            return Ok(());
        }
        match self.client.head(self.base.clone()).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let keys = if self.with_tls {
                    "`host`/`port`/`cafile`"
                } else {
                    "`host`/`port`"
                };
                let what = if e.is_timeout() {
                    format!("no answer within {:?}", self.timeout)
                } else {
                    error_chain(&e)
                };
                Err(format!(
                    "{keys}: the backend {} does not answer: {what} (set `probe_at_start: false` \
                     to start without it)",
                    self.base
                ))
            }
        }
    }
}

/// `scheme://host:port/` from `host`, `port` and `with_tls`.
fn base_url(config: &HttpConfig) -> Result<Url, String> {
    let Some(host) = config.host.as_deref().map(str::trim) else {
        return Err("`host`: required: the host name or address of the HTTP backend".to_owned());
    };
    let Some(port) = config.port else {
        return Err("`port`: required: the TCP port of the HTTP backend".to_owned());
    };
    let bad_host = || {
        format!(
            "`host`: expected a host name or address without scheme, port or path, got `{host}`"
        )
    };
    if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad_host());
    }
    if port == 0 {
        return Err("`port`: expected a TCP port from 1 to 65535, got 0".to_owned());
    }
    let host = match host.parse::<Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => host.to_owned(),
    };
    let scheme = if config.with_tls { "https" } else { "http" };
    let url = Url::parse(&format!("{scheme}://{host}:{port}/")).map_err(|_| bad_host())?;
    // A host like `a:1` would make the port part of the host: the URL must keep ours.
    if url.port_or_known_default() != Some(port) || url.path() != "/" {
        return Err(bad_host());
    }
    Ok(url)
}

/// The CA certificates of `cafile`.
fn read_cafile(path: &std::path::Path) -> Result<Vec<Certificate>, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("`cafile`: cannot read {}: {e}", path.display()))?;
    match Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(format!(
            "`cafile`: {} holds no PEM certificate",
            path.display()
        )),
        Err(e) => Err(format!(
            "`cafile`: {}: not PEM certificates: {}",
            path.display(),
            error_chain(&e)
        )),
    }
}

/// The parameters as form fields: strings as they are, numbers in decimal, null as empty.
fn form_fields(params: &Params) -> Vec<(&str, String)> {
    params
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (name.as_str(), text)
        })
        .collect()
}

/// Reads a response as `mode` says (aMQTT's `_send_request`).
async fn read_answer(mode: ResponseMode, response: Response) -> Result<Option<bool>, AskError> {
    let status = response.status();
    match mode {
        ResponseMode::Status if status.is_success() => Ok(Some(true)),
        ResponseMode::Status if status.is_client_error() => Ok(Some(false)),
        ResponseMode::Status => Ok(None),
        ResponseMode::Text | ResponseMode::Json if !status.is_success() => Ok(Some(false)),
        ResponseMode::Text => {
            let body = response.text().await?;
            Ok(Some(body.trim().eq_ignore_ascii_case("ok")))
        }
        ResponseMode::Json => {
            let body = response.bytes().await?;
            json_answer(&body)
        }
    }
}

/// The `ok` member of a JSON object, its key in any case: true, false, or absent/null (`None`).
fn json_answer(body: &[u8]) -> Result<Option<bool>, AskError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| AskError::Answer(format!("the answer is not JSON: {e}")))?;
    let Value::Object(members) = value else {
        return Err(AskError::Answer(format!(
            "the answer is not a JSON object: {value}"
        )));
    };
    let ok = members
        .iter()
        .rev()
        .find(|(key, _)| key.eq_ignore_ascii_case("ok"))
        .map(|(_, v)| v);
    match ok {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(yes)) => Ok(Some(*yes)),
        Some(other) => Err(AskError::Answer(format!(
            "`ok` in the answer is {other}, not true or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(host: &str, port: u16) -> HttpConfig {
        HttpConfig {
            host: Some(host.to_owned()),
            port: Some(port),
            ..HttpConfig::default()
        }
    }

    #[test]
    fn hosts_make_urls_and_bad_ones_name_the_key() {
        let url = |host: &str| base_url(&config(host, 8080)).map(|u| u.to_string());
        assert_eq!(url("localhost"), Ok("http://localhost:8080/".to_owned()));
        assert_eq!(url("::1"), Ok("http://[::1]:8080/".to_owned()));
        assert_eq!(url("[::1]"), Ok("http://[::1]:8080/".to_owned()));
        for bad in ["http://x", "x/y", "", "a b", "x:90"] {
            let err = url(bad).expect_err(bad);
            assert!(err.starts_with("`host`:"), "{bad}: {err}");
        }
        let err = base_url(&HttpConfig::default()).expect_err("no host");
        assert!(err.starts_with("`host`: required"), "{err}");
    }

    #[test]
    fn uris_stay_on_the_backend() {
        let backend = Backend::new(&config("127.0.0.1", 80)).expect("backend");
        assert_eq!(
            backend.url("user_uri", "/a/b?x=1").map(|u| u.to_string()),
            Ok("http://127.0.0.1/a/b?x=1".to_owned())
        );
        for bad in ["user", "//evil.example/x", ""] {
            let err = backend.url("user_uri", bad).expect_err(bad);
            assert!(err.starts_with("`user_uri`:"), "{err}");
        }
    }

    #[test]
    fn json_answers() {
        assert_eq!(json_answer(br#"{"ok": true}"#).ok(), Some(Some(true)));
        assert_eq!(json_answer(br#"{"OK": false}"#).ok(), Some(Some(false)));
        assert_eq!(json_answer(br#"{"error": "x"}"#).ok(), Some(None));
        assert_eq!(json_answer(br#"{"ok": null}"#).ok(), Some(None));
        assert!(json_answer(br#"{"ok": 1}"#).is_err());
        assert!(json_answer(b"[true]").is_err());
        assert!(json_answer(b"ok").is_err());
    }

    #[test]
    fn form_fields_are_text() {
        let mut params = Params::new();
        params.insert("username".into(), Value::Null);
        params.insert("topic".into(), "a/b".into());
        params.insert("acc".into(), 4.into());
        let fields = form_fields(&params);
        assert!(fields.contains(&("username", String::new())));
        assert!(fields.contains(&("topic", "a/b".to_owned())));
        assert!(fields.contains(&("acc", "4".to_owned())));
    }
}
