//! Code shared by the `amqtt-bin` tools: [`creds`] makes the keys and certificates of
//! `ca_creds`, `server_creds` and `device_creds`; [`auth_db_cli`] is `amqtt_user_mgr` and
//! `amqtt_topic_mgr`.

pub mod auth_db_cli;
pub mod client_cli;
pub mod creds;
pub mod hangup;
pub mod properties_cli;
