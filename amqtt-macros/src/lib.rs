//! amqtt-macros: the `#[plugin]` attribute that binds a plugin's configuration and hooks.
//!
//! The attribute is delivered with the plugin framework; this crate holds its place in the workspace.
