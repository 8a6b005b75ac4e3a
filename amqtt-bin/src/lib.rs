//! Code shared by the `amqtt-bin` tools: [`creds`] makes the keys and certificates of
//! `ca_creds`, `server_creds` and `device_creds`.

pub mod client_cli;
pub mod creds;
