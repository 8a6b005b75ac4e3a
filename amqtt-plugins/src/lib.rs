//! amqtt-plugins: the plugins aMQTT ships in its core package, each answering to its aMQTT
//! dotted class path as well as its short name, so an aMQTT broker config file runs unchanged.
//!
//! | plugin | name | aMQTT class path |
//! |---|---|---|
//! | [`EventLogger`] | `event_logger` | `amqtt.plugins.logging_amqtt.EventLoggerPlugin` |
//! | [`PacketLogger`] | `packet_logger` | `amqtt.plugins.logging_amqtt.PacketLoggerPlugin` |
//! | [`AnonymousAuth`] | `auth_anonymous` | `amqtt.plugins.authentication.AnonymousAuthPlugin` |
//! | [`BrokerSys`] | `broker_sys` | `amqtt.plugins.sys.broker.BrokerSysPlugin` |

mod authentication;
pub mod file_auth;
mod logging;
mod sys;
pub mod topic_checking;

pub use authentication::{AnonymousAuth, AnonymousAuthConfig};
pub use logging::{EventLogger, PacketLogger};
pub use sys::{BrokerSys, BrokerSysConfig};

/// Every packaged plugin, each on only when its section is present: the stock broker's plugin set.
pub type PackagedPlugins = (
    Option<EventLogger>,
    Option<PacketLogger>,
    Option<AnonymousAuth>,
    Option<BrokerSys>,
);

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
