//! amqtt-core: everything an MQTT broker or client needs, without concrete plugins.
//!
//! - [`codec`]: the MQTT 3.1, 3.1.1 and 5.0 packets, decoded zero-copy and encoded.
//! - [`topic`]: topic name and filter rules and the subscription trie.
//! - [`config`]: the aMQTT YAML configuration.
//! - [`broker`]: the broker, generic over its plugins.
//! - [`plugin`]: the plugin trait the broker calls, and `#[plugin]`.
//! - [`store`]: the persistent store's interface (backends live in `amqtt-store`).
//! - [`cluster`]: the cluster's interface (the NATS JetStream cluster lives in `amqtt-cluster`).
//! - [`transport`]: TCP, TLS, WebSocket and secure WebSocket, for the broker and the client.
//! - [`client`]: the async MQTT client.

// `#[plugin]` expands to `::amqtt_core::...` paths; this makes them resolve inside this crate too.
extern crate self as amqtt_core;

pub mod broker;
pub mod client;
pub mod cluster;
pub mod codec;
pub mod config;
pub mod plugin;
pub mod store;
pub mod topic;
pub mod transport;
