//! aMQTT's HTTP authentication and topic plugins: [`UserAuthHttp`]
//! (`amqtt.contrib.http.UserAuthHttpPlugin`) and [`TopicAuthHttp`]
//! (`amqtt.contrib.http.TopicAuthHttpPlugin`) ask a web service whether a client may connect
//! and whether it may use a topic.
//!
//! ```yaml
//! plugins:
//!   amqtt.contrib.http.UserAuthHttpPlugin:
//!     host: auth.example.com
//!     port: 8080
//!     user_uri: /user
//!     request_method: post
//!     params_mode: json
//!     response_mode: json
//!   amqtt.contrib.http.TopicAuthHttpPlugin:
//!     host: auth.example.com
//!     port: 8080
//!     topic_uri: /acl
//!     superuser_uri: /superuser
//! ```
//!
//! Requests go out through one pooled HTTP client per plugin, each bounded by `timeout`; a
//! backend that is down, refuses or does not answer in time denies. See `docs/http.md` for the
//! keys, the requests and the answers.

mod backend;
mod config;
mod plugins;

pub use config::{HttpConfig, ParamsMode, RequestMethod, ResponseMode};
pub use plugins::{TopicAuthHttp, UserAuthHttp};
