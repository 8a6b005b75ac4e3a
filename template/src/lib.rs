//! my-broker: an MQTT broker built from amqtt's packaged plugins and plugins of your own.
//!
//! The binary (`src/main.rs`) runs a `Broker<MyPlugins>`; the tests (`tests/`) start the same
//! broker in-process. Add a plugin: write it in a module like [`my_plugin`], then add its type
//! to [`MyPlugins`] and its section to `my-broker.yaml`.

pub mod my_plugin;

use amqtt_plugins::PackagedPlugins;

pub use my_plugin::{MyPlugin, MyPluginConfig};

/// The broker's plugin set. Hooks run in tuple order: `MyPlugin` first, then every packaged
/// plugin, each of those on only when `plugins:` lists it.
///
/// Tuples nest (here the packaged set is one member) and `Option<P>` makes a plugin optional:
/// `MyPlugin` is always on (an absent section is its default config), `Option<MyPlugin>` would
/// run only when `plugins:` lists it. Every hook call is resolved at compile time.
pub type MyPlugins = (MyPlugin, PackagedPlugins);

/// The configuration the binary runs when it is started without `-c`: `my-broker.yaml`.
pub const DEFAULT_CONFIG: &str = include_str!("../my-broker.yaml");
