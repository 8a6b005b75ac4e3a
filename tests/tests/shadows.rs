//! Device shadows end to end ([`ShadowPlugin`](amqtt_contrib::shadows::ShadowPlugin) and
//! [`ShadowTopicAuthPlugin`](amqtt_contrib::shadows::ShadowTopicAuthPlugin)), over real sockets:
//! update and get requests and their replies (accepted, rejected, delta, iota, documents),
//! versions and metadata, `null` deletes, malformed requests, shadows surviving a restart on
//! SQLite and PostgreSQL, aMQTT's rows read back, `$` topics still closed to clients apart from
//! `$shadow/`, who may use which shadow topics, and bad configurations.

#[path = "shadows/auth.rs"]
mod auth;
#[path = "shadows/config.rs"]
mod config;
#[path = "shadows/dollar.rs"]
mod dollar;
#[path = "shadows/requests.rs"]
mod requests;
#[path = "shadows/stock.rs"]
mod stock;
#[path = "shadows/storage.rs"]
mod storage;
#[path = "shadows/support.rs"]
mod support;
