//! The configuration of the HTTP plugins: aMQTT's `HttpConfig` keys, plus ours.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::answer_cache::DEFAULT_CACHE_SIZE;

/// The HTTP method of the requests (`request_method`; aMQTT's `RequestMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(try_from = "String", rename_all = "lowercase")]
pub enum RequestMethod {
    /// `get` (the default).
    #[default]
    Get,
    /// `post`.
    Post,
    /// `put`.
    Put,
}

/// How the parameters travel (`params_mode`; aMQTT's `ParamsMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(try_from = "String", rename_all = "lowercase")]
pub enum ParamsMode {
    /// `json`: a JSON object as the body, for every method (the default).
    #[default]
    Json,
    /// `form`: the query string of a GET, a urlencoded body of a POST or PUT.
    Form,
}

/// How the backend answers (`response_mode`; aMQTT's `ResponseMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(try_from = "String", rename_all = "lowercase")]
pub enum ResponseMode {
    /// `status`: 2xx allows, 4xx denies, any other status gives no answer.
    Status,
    /// `json`: a 2xx with `{"ok": true}` allows, `{"ok": false}` or another status denies, no
    /// `ok` gives no answer (the default).
    #[default]
    Json,
    /// `text`: a 2xx whose body is `ok` allows, anything else denies.
    Text,
}

/// Reads one of `choices` (`(name, value)`), ignoring ASCII case as aMQTT's enums take either.
fn choose<T: Copy>(value: &str, choices: &[(&str, T)]) -> Result<T, String> {
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value.trim()))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
            format!("expected one of {}, got `{value}`", names.join(", "))
        })
}

impl TryFrom<String> for RequestMethod {
    type Error = String;

    fn try_from(value: String) -> Result<RequestMethod, String> {
        use RequestMethod::{Get, Post, Put};
        choose(&value, &[("get", Get), ("post", Post), ("put", Put)])
    }
}

impl TryFrom<String> for ParamsMode {
    type Error = String;

    fn try_from(value: String) -> Result<ParamsMode, String> {
        choose(
            &value,
            &[("json", ParamsMode::Json), ("form", ParamsMode::Form)],
        )
    }
}

impl TryFrom<String> for ResponseMode {
    type Error = String;

    fn try_from(value: String) -> Result<ResponseMode, String> {
        use ResponseMode::{Json, Status, Text};
        choose(
            &value,
            &[("status", Status), ("json", Json), ("text", Text)],
        )
    }
}

/// The configuration of both HTTP plugins: aMQTT's `HttpConfig` and the URI of each plugin's
/// check, plus `cafile`, `probe_at_start` and the answer cache.
///
/// `user_uri` belongs to [`UserAuthHttp`](super::UserAuthHttp) and `topic_uri` to
/// [`TopicAuthHttp`](super::TopicAuthHttp); each plugin refuses the other's key.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Host name or address of the backend (no scheme, no path). Required.
    pub host: Option<String>,
    /// TCP port of the backend. Required.
    pub port: Option<u16>,
    /// Path of the login check (user plugin; default `/user`).
    pub user_uri: Option<String>,
    /// Path of the topic check (topic plugin; default `/acl`).
    pub topic_uri: Option<String>,
    /// Path of the superuser check (topic plugin): a superuser may use every topic.
    pub superuser_uri: Option<String>,
    /// `get`, `post` or `put`.
    pub request_method: RequestMethod,
    /// `json` or `form`.
    pub params_mode: ParamsMode,
    /// `status`, `json` or `text`.
    pub response_mode: ResponseMode,
    /// `https` instead of `http`.
    pub with_tls: bool,
    /// PEM file of CA certificates trusted for the backend, besides the system's (ours).
    pub cafile: Option<PathBuf>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Seconds a request may take, connection included.
    pub timeout: f64,
    /// Whether `Broker::bind` fails when the backend does not answer (ours; default true).
    pub probe_at_start: bool,
    /// Seconds an answer is reused; 0 turns the cache off (the default).
    pub cache_ttl: f64,
    /// Answers held at most by the cache.
    pub cache_size: usize,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            host: None,
            port: None,
            user_uri: None,
            topic_uri: None,
            superuser_uri: None,
            request_method: RequestMethod::default(),
            params_mode: ParamsMode::default(),
            response_mode: ResponseMode::default(),
            with_tls: false,
            cafile: None,
            user_agent: "amqtt".to_owned(),
            timeout: 5.0,
            probe_at_start: true,
            cache_ttl: 0.0,
            cache_size: DEFAULT_CACHE_SIZE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_ignore_case_and_name_the_choices() {
        assert_eq!(
            RequestMethod::try_from("POST".to_owned()),
            Ok(RequestMethod::Post)
        );
        assert_eq!(
            ParamsMode::try_from("form".to_owned()),
            Ok(ParamsMode::Form)
        );
        assert_eq!(
            ResponseMode::try_from("Status".to_owned()),
            Ok(ResponseMode::Status)
        );
        let err = RequestMethod::try_from("patch".to_owned()).expect_err("patch is refused");
        assert_eq!(err, "expected one of get, post, put, got `patch`");
    }
}
