//! The broker binary as a library, [`BrokerMain`], which the stock `amqtt` and custom brokers
//! run; and, with the default `tools` feature, code shared by the stock tools: [`creds`] makes
//! the keys and certificates of `ca_creds`, `server_creds` and `device_creds`; [`auth_db_cli`]
//! is `amqtt_user_mgr` and `amqtt_topic_mgr`. A custom broker depends on this crate with
//! `default-features = false` and compiles none of the tools.

#[cfg(feature = "tools")]
pub mod auth_db_cli;
mod broker_main;
#[cfg(feature = "tools")]
pub mod client_cli;
#[cfg(feature = "tools")]
pub mod creds;
pub mod hangup;
#[cfg(feature = "tools")]
pub mod properties_cli;

pub use broker_main::BrokerMain;
