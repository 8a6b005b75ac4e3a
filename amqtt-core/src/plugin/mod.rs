//! The plugin trait the broker is generic over.
//!
//! The broker is written as `Broker<P: Plugin>` from the start so that plugins compose at compile
//! time; the hooks (events, authentication, topic filtering) are declared by the plugin framework.
//! `()` is the empty plugin set: no hooks, every client admitted.

/// A plugin, or a composition of plugins, that the broker calls.
pub trait Plugin: Send + Sync + 'static {}

impl Plugin for () {}
