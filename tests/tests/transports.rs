//! End-to-end tests of the transports: MQTT over TLS (with and without client certificates,
//! including `mosquitto_pub`/`mosquitto_sub` with `--cafile`), over WebSocket and secure
//! WebSocket (packets split across and packed into frames), `max_connections` on TLS and
//! WebSocket listeners, startup errors for bad certificate files, and streams handed to the
//! broker by the application (`BrokerHandle::serve_stream`), certificates rotated by a hot
//! reload, and aMQTT's reference listener layout with `ssl: on`.
//!
//! Every certificate is made at run time with rcgen: a CA, a server certificate for
//! `localhost` and `127.0.0.1`, a client certificate from that CA and one from another CA.

// A test crate's root resolves modules beside it; these live in `transports/`.
#[path = "transports/amqtt_reference.rs"]
mod amqtt_reference;
#[path = "transports/common.rs"]
mod common;
#[path = "transports/embedded.rs"]
mod embedded;
#[path = "transports/reload.rs"]
mod reload;
#[path = "transports/tls.rs"]
mod tls;
#[path = "transports/ws.rs"]
mod ws;
