//! aMQTT's device shadows (`amqtt.contrib.shadows`): [`ShadowPlugin`] keeps a JSON state
//! document per device and shadow name, AWS IoT style, answering requests clients publish to
//! `$shadow/<device>/<name>/get` and `.../update`; [`ShadowTopicAuthPlugin`] lets each device
//! use only its own shadow topics.
//!
//! ```yaml
//! plugins:
//!   amqtt.contrib.shadows.ShadowPlugin:
//!     connection: sqlite+aiosqlite:///shadows.db
//!   amqtt.contrib.shadows.ShadowTopicAuthPlugin:
//!     superusers: [app]
//! ```
//!
//! Files: [`topics`] (topic layout), [`state`] (documents and merging), [`messages`] (reply
//! payloads), [`storage`] (aMQTT's table), `plugin.rs` and `auth.rs` (the plugins).

mod auth;
pub mod messages;
mod plugin;
pub mod state;
pub mod storage;
pub mod topics;

pub use auth::{ShadowTopicAuthConfig, ShadowTopicAuthPlugin};
pub use plugin::{ShadowConfig, ShadowPlugin};
