//! The broker binary as a library, [`BrokerMain`], which the stock `amqtt` and custom brokers
//! run; and code shared by the `amqtt-bin` tools: [`creds`] makes the keys and certificates of
//! `ca_creds`, `server_creds` and `device_creds`; [`auth_db_cli`] is `amqtt_user_mgr` and
//! `amqtt_topic_mgr`.

pub mod auth_db_cli;
mod broker_main;
pub mod client_cli;
pub mod creds;
pub mod hangup;
pub mod properties_cli;

pub use broker_main::BrokerMain;
