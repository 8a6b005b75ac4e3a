//! What `amqtt_pub` and `amqtt_sub` share: the connection flags, turning them (and an aMQTT
//! client YAML file) into [`ClientOptions`], logging setup, and one-line error messages that
//! name the CONNACK code in words and never show the URL's password.

use std::path::PathBuf;

use amqtt_core::client::{ClientConfig, ClientError, ClientOptions};
use amqtt_core::codec::{ConnectReturnCode, ProtocolVersion, QoS};
use amqtt_core::config::mask_url_password;
use amqtt_core::transport::client::BrokerUrl;
use amqtt_plugins::ScramClient;
use clap::Args;

use crate::properties_cli::{PacketProperties, parse_protocol_version};
use tracing_subscriber::EnvFilter;

/// The broker URL used when neither `--url` nor the `-c` file gives one.
pub const DEFAULT_URL: &str = "mqtt://127.0.0.1:1883";

/// The MQTT 5.0 enhanced authentication method `--auth-method` takes.
const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// The connection flags both tools accept, as aMQTT's scripts have them.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Broker URL: `[mqtt(s)|ws(s)]://[user:password@]host[:port]` (default: the `-c` file's
    /// `connection.uri`, else mqtt://127.0.0.1:1883).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// aMQTT client configuration file (YAML).
    #[arg(short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Client identifier (default: the tool's name, process id and host name).
    #[arg(short = 'i', long = "client-id", value_name = "CLIENT_ID")]
    pub client_id: Option<String>,
    /// Keep-alive interval in seconds.
    #[arg(short = 'k', value_name = "KEEP_ALIVE")]
    pub keep_alive: Option<u16>,
    /// Start a clean session (default: resume the stored one, as aMQTT).
    #[arg(long)]
    pub clean_session: bool,
    /// User name, as mosquitto's clients take it (the URL's `user@`, if any, takes precedence).
    #[arg(short = 'u', long = "username", value_name = "USER")]
    pub username: Option<String>,
    /// Password for `-u` (the URL's `:password@`, if any, takes precedence).
    #[arg(
        short = 'P',
        long = "pw",
        value_name = "PASSWORD",
        requires = "username"
    )]
    pub password: Option<String>,
    /// Log in by this MQTT 5.0 enhanced authentication method with the URL's `user:password@`
    /// (or `-u` and `-P`) instead of sending them in the CONNECT: SCRAM-SHA-256 (the broker's
    /// `auth_scram`) proves the password without sending it, and checks the broker's proof.
    /// Needs `-V mqttv5`.
    #[arg(long = "auth-method", value_name = "METHOD", value_parser = [SCRAM_SHA_256])]
    pub auth_method: Option<String>,
    /// PEM file of trusted CA certificates.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Directory of PEM CA certificates.
    #[arg(long, value_name = "DIR")]
    pub ca_path: Option<PathBuf>,
    /// Trusted CA certificates as PEM text.
    #[arg(long, value_name = "PEM")]
    pub ca_data: Option<String>,
    /// Topic of the will, sent if the client disconnects unexpectedly.
    #[arg(long, value_name = "TOPIC", requires = "will_message")]
    pub will_topic: Option<String>,
    /// Payload of the will.
    #[arg(long, value_name = "MESSAGE", requires = "will_topic")]
    pub will_message: Option<String>,
    /// QoS of the will (0, 1 or 2).
    #[arg(long, value_name = "QOS", default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..=2), requires = "will_topic")]
    pub will_qos: u8,
    /// Retain the will.
    #[arg(long, requires = "will_topic")]
    pub will_retain: bool,
    /// Extra WebSocket headers as a JSON object, e.g. '{"Authorization": "Bearer x"}'.
    #[arg(long = "extra-headers", value_name = "JSON")]
    pub extra_headers: Option<String>,
    /// Turn on debug logging on stderr (RUST_LOG, if set, takes precedence).
    #[arg(short = 'd')]
    pub debug: bool,
    /// Print the version.
    #[arg(long = "version", action = clap::ArgAction::Version)]
    pub print_version: Option<bool>,
    /// MQTT version, as mosquitto's clients name it: mqttv5, mqttv311 (default) or mqttv31.
    #[arg(short = 'V', long = "protocol-version", value_name = "VERSION",
          value_parser = parse_protocol_version)]
    pub protocol_version: Option<ProtocolVersion>,
    /// An MQTT 5.0 property, as mosquitto's clients take it: `-D <connect|publish|subscribe>
    /// <property> <value>`, or `-D publish user-property <name> <value>`; repeat for several.
    #[arg(short = 'D', long = "property", num_args = 3..=4, action = clap::ArgAction::Append,
          value_names = ["COMMAND", "PROPERTY", "VALUE"])]
    pub properties: Vec<String>,
}

/// Parses a QoS flag value: 0, 1 or 2.
pub fn parse_qos(value: &str) -> Result<QoS, String> {
    value
        .parse::<u8>()
        .ok()
        .and_then(QoS::from_u8)
        .ok_or_else(|| format!("QoS must be 0, 1 or 2, not `{value}`"))
}

/// Starts logging to stderr: warnings, or everything from debug up with `-d`.
pub fn init_logging(debug: bool) {
    let default_level = if debug { "debug" } else { "warn" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .init();
}

impl ConnectArgs {
    /// The broker URL, client options and MQTT 5.0 properties the flags (over the `-c` file)
    /// describe. `tool` names the generated client identifier. Fails with a one-line message.
    pub fn resolve(&self, tool: &str) -> Result<(String, ClientOptions, PacketProperties), String> {
        let (file_url, mut options) = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let config = ClientConfig::from_yaml(&text)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let options = config
                    .options()
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                (config.uri().map(str::to_owned), options)
            }
            None => (None, ClientOptions::new()),
        };
        let mut url = self
            .url
            .clone()
            .or(file_url)
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        options.client_id = match &self.client_id {
            Some(id) => id.clone(),
            None if !options.client_id.is_empty() => options.client_id.clone(),
            None => generated_client_id(tool),
        };
        options.clean_session = self.clean_session;
        if let Some(keep_alive) = self.keep_alive {
            options.keep_alive = keep_alive;
        }
        if self.ca_file.is_some() {
            options.connection.ca_file = self.ca_file.clone();
        }
        if self.ca_path.is_some() {
            options.connection.ca_path = self.ca_path.clone();
        }
        if self.ca_data.is_some() {
            options.connection.ca_data = self.ca_data.clone();
        }
        if let (Some(topic), Some(message)) = (&self.will_topic, &self.will_message) {
            let qos = QoS::from_u8(self.will_qos).unwrap_or(QoS::AtMostOnce);
            options = options.will(
                topic.clone(),
                message.clone().into_bytes(),
                qos,
                self.will_retain,
            );
        }
        if let Some(json) = &self.extra_headers {
            options.connection.extra_headers = parse_extra_headers(json)?;
        }
        if let Some(version) = self.protocol_version {
            options.protocol = version;
        }
        if let Some(method) = &self.auth_method {
            options = self.log_in_by_method(method, options, &url)?;
            // The method proves the password: the CONNECT carries none.
            url = without_userinfo(&url);
        } else if let (Some(username), Some(password)) = (&self.username, &self.password) {
            options = options.credentials(username, password);
        } else if let Some(username) = &self.username {
            options.username = Some(username.clone());
        }
        let properties = PacketProperties::parse(&self.properties, options.protocol)?;
        options.connect_properties = properties.connect.clone();
        Ok((url, options, properties))
    }

    /// `options` logging in by `--auth-method` `method` with the user name and password of
    /// `url`, else of `-u` and `-P` (the URL's take precedence, as for a CONNECT's).
    fn log_in_by_method(
        &self,
        method: &str,
        options: ClientOptions,
        url: &str,
    ) -> Result<ClientOptions, String> {
        if !options.protocol.is_v5() {
            return Err(format!(
                "--auth-method {method} needs MQTT 5.0 (-V mqttv5), not MQTT {}",
                options.protocol
            ));
        }
        // A URL that does not parse fails the connection later, with its own message.
        let (url_user, url_password) =
            BrokerUrl::parse(url).map_or((None, None), |url| (url.username, url.password));
        let username = url_user.or_else(|| self.username.clone());
        let password = url_password.or_else(|| self.password.clone());
        let (Some(username), Some(password)) = (username, password) else {
            return Err(format!(
                "--auth-method {method} needs a user name and password: the URL's \
                 user:password@, or -u and -P"
            ));
        };
        Ok(options.authenticator(ScramClient::new(username, password)))
    }
}

/// Parses `--extra-headers`: a JSON object whose values are strings (other values are written
/// as JSON).
pub fn parse_extra_headers(json: &str) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| format!("--extra-headers is not valid JSON: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("--extra-headers must be a JSON object".to_owned());
    };
    Ok(map
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (name, value)
        })
        .collect())
}

/// aMQTT's default client identifier: `<tool>/<pid>-<host name>`.
fn generated_client_id(tool: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{tool}/{}-{host}", std::process::id())
}

/// `url` split around its user information: `scheme://`, the user information, and what
/// follows its `@` (`host[:port][/path...]`); `None` when it has none.
fn split_userinfo(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (userinfo, _) = rest[..authority_end].rsplit_once('@')?;
    let start = &url[..scheme.len() + "://".len()];
    Some((start, userinfo, &rest[userinfo.len() + 1..]))
}

/// `url` without its user information (`user:password@`).
fn without_userinfo(url: &str) -> String {
    match split_userinfo(url) {
        Some((start, _, rest)) => format!("{start}{rest}"),
        None => url.to_owned(),
    }
}

/// A CONNACK refusal code in words.
pub fn refusal_words(code: ConnectReturnCode) -> &'static str {
    match code {
        ConnectReturnCode::Accepted => "accepted",
        ConnectReturnCode::UnacceptableProtocolVersion => "unacceptable protocol version",
        ConnectReturnCode::IdentifierRejected => "identifier rejected",
        ConnectReturnCode::ServerUnavailable => "server unavailable",
        ConnectReturnCode::BadUserNameOrPassword => "bad user name or password",
        ConnectReturnCode::NotAuthorized => "not authorized",
    }
}

/// The one-line message for a failed connection to `url`.
pub fn connect_error(url: &str, error: &ClientError) -> String {
    let url = mask_url_password(url);
    match error {
        ClientError::Refused(code) => {
            // The tools speak 3.1.1: the broker answered with one of its six codes.
            let code = ConnectReturnCode::from(*code);
            format!(
                "connection to {url} refused by the broker: {} (CONNACK code {})",
                refusal_words(code),
                code as u8
            )
        }
        other => format!("cannot connect to {url}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_userinfo_removed() {
        for (url, masked, without) in [
            (
                "mqtt://u:secret@h:1883/x",
                "mqtt://u:****@h:1883/x",
                "mqtt://h:1883/x",
            ),
            ("mqtt://u:p@ss@h/x@y", "mqtt://u:****@h/x@y", "mqtt://h/x@y"),
            ("ws://u@h/", "ws://u@h/", "ws://h/"),
            ("mqtt://h:1883", "mqtt://h:1883", "mqtt://h:1883"),
        ] {
            assert_eq!(mask_url_password(url), masked);
            assert_eq!(without_userinfo(url), without);
        }
    }

    #[test]
    fn extra_headers_parse() {
        let headers = parse_extra_headers(r#"{"A": "b", "N": 1}"#).expect("object");
        assert!(headers.contains(&("A".to_owned(), "b".to_owned())));
        assert!(headers.contains(&("N".to_owned(), "1".to_owned())));
        assert!(parse_extra_headers("[1]").is_err());
        assert!(parse_extra_headers("{").is_err());
    }
}
