//! amqtt-plugins: the plugins aMQTT ships in its core package, each answering to its aMQTT
//! dotted class path as well as its short name, so an aMQTT broker config file runs unchanged.
//!
//! | plugin | name | aMQTT class path |
//! |---|---|---|
//! | [`EventLogger`] | `event_logger` | `amqtt.plugins.logging_amqtt.EventLoggerPlugin` |
//! | [`PacketLogger`] | `packet_logger` | `amqtt.plugins.logging_amqtt.PacketLoggerPlugin` |
//! | [`AnonymousAuth`] | `auth_anonymous` | `amqtt.plugins.authentication.AnonymousAuthPlugin` |
//! | [`FileAuth`] | `auth_file` | `amqtt.plugins.authentication.FileAuthPlugin` |
//! | [`ScramAuth`] | `auth_scram` | (none: MQTT 5.0 enhanced authentication, SCRAM-SHA-256) |
//! | [`BrokerSys`] | `broker_sys` | `amqtt.plugins.sys.broker.BrokerSysPlugin` |
//! | [`TopicTaboo`] | `topic_taboo` | `amqtt.plugins.topic_checking.TopicTabooPlugin` |
//! | [`TopicAcl`] | `topic_acl` | `amqtt.plugins.topic_checking.TopicAccessControlListPlugin` |
//! | [`Metrics`] | `metrics` | (none: Prometheus `/metrics` and `/health` over HTTP; cargo feature `metrics`, on by default) |

mod authentication;
pub mod file_auth;
mod logging;
#[cfg(feature = "metrics")]
mod metrics;
pub mod scram;
mod sys;
pub mod topic_checking;
mod users_file;

pub use authentication::{AnonymousAuth, AnonymousAuthConfig};
pub use file_auth::{FileAuth, FileAuthConfig};
pub use logging::{EventLogger, PacketLogger};
#[cfg(feature = "metrics")]
pub use metrics::{Metrics, MetricsConfig};
pub use scram::{ScramAuth, ScramAuthConfig, ScramClient};
pub use sys::{BrokerSys, BrokerSysConfig};
pub use topic_checking::{TopicAcl, TopicAclConfig, TopicTaboo};

/// Every packaged plugin, each on only when its section is present: the stock broker's plugin set.
pub type PackagedPlugins = (
    Option<EventLogger>,
    Option<PacketLogger>,
    Option<AnonymousAuth>,
    Option<FileAuth>,
    Option<BrokerSys>,
    Option<TopicTaboo>,
    Option<TopicAcl>,
    Option<ScramAuth>,
    MetricsPlugin,
);

/// The `metrics` plugin, on when its section is present (`()` without the `metrics` feature).
#[cfg(feature = "metrics")]
pub type MetricsPlugin = Option<Metrics>;
/// The `metrics` plugin, on when its section is present (`()` without the `metrics` feature).
#[cfg(not(feature = "metrics"))]
pub type MetricsPlugin = ();

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
