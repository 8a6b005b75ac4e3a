//! Test support for amqtt plugins and custom brokers: what amqtt's own end-to-end tests use to
//! run a broker in-process and talk MQTT to it.
//!
//! - [`TestBroker`] starts a `Broker<P, S>` (any plugin tuple, any store) on a free port of
//!   127.0.0.1 in a task of the test's runtime, hands out connected clients, and stops it.
//! - [`RawClient`] (MQTT 3.1.1) and [`v5::V5Client`] (MQTT 5.0) send and receive whole packets,
//!   to assert on exactly what the broker sends; [`packets`] and [`v5`] build the packets.
//! - [`TestBroker::mqtt_client`] connects amqtt-core's own [`MqttClient`] instead, and
//!   [`next_message`] awaits what it receives.
//! - [`BrokerProcess`] runs a broker binary as a child process on a free port.
//! - Every wait fails the test after [`RECV_TIMEOUT`] rather than hanging:
//!   [`wait_until`] for broker state, [`in_time`] for any future,
//!   [`RawClient::connect_refused`] and [`RawClient::expect_closed`] for refusals and closes.
//!
//! # Examples
//!
//! A plugin that keeps clients from publishing under `private/`, tested in a running broker:
//!
//! ```
//! use amqtt_core::codec::QoS;
//! use amqtt_core::plugin::{Action, Plugin, SessionInfo, Verdict, plugin};
//! use amqtt_test::{TestBroker, next_message};
//!
//! /// Denies publishing under `private/`.
//! #[derive(Default)]
//! pub struct NoPrivate;
//!
//! #[plugin(name = "no_private")]
//! impl Plugin for NoPrivate {
//!     async fn topic_filtering(&self, _: &SessionInfo, topic: &str, action: Action) -> Verdict {
//!         if action == Action::Publish && topic.starts_with("private/") {
//!             Verdict::Deny
//!         } else {
//!             Verdict::Abstain
//!         }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let broker = TestBroker::<(NoPrivate,)>::start_with_plugins("plugins:\n  no_private:\n").await;
//! let mut subscriber = broker.mqtt_client("subscriber").await;
//! subscriber.subscribe(&[("#", QoS::AtLeastOnce)]).await.expect("subscribed");
//!
//! let publisher = broker.mqtt_client("publisher").await;
//! // Both are acknowledged; the broker routes a message before it acknowledges it, so had the
//! // first been delivered, the subscriber would receive it first.
//! publisher.publish("private/diary", "secret", QoS::AtLeastOnce, false).await.expect("acked");
//! publisher.publish("public/news", "hello", QoS::AtLeastOnce, false).await.expect("acked");
//!
//! let message = next_message(&mut subscriber).await;
//! assert_eq!(message.topic, "public/news");
//! assert_eq!(message.payload, "hello");
//! broker.stop().await;
//! # }
//! ```

mod broker;
pub mod packets;
mod process;
mod raw;
mod stream;
pub mod v5;
mod wait;

use std::time::Duration;

#[doc(no_inline)]
pub use amqtt_core::client::MqttClient;
pub use broker::TestBroker;
pub use packets::{connect_packet, pid, publish_bytes, publish_packet, will};
pub use process::{BrokerProcess, free_port};
pub use raw::RawClient;
pub use wait::{in_time, next_message, read_until_closed, wait_until};

/// How long a test waits for what it expects (a packet, a message, a close, a condition)
/// before it fails.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);
