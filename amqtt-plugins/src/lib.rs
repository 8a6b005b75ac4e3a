//! amqtt-plugins: the plugins packaged with amqtt (authentication, topic checking, `$SYS`, logging).
//!
//! The plugins are delivered with the plugin framework; this crate holds their place in the workspace.
