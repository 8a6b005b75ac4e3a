//! Hot reload of the plugins' files and sections: on a real SIGHUP to the stock `amqtt`
//! binary (the password file and the topic ACL put in force together or not at all, plugin
//! sections added, removed or unknown refused, SCRAM users), and through
//! `BrokerHandle::reload` in process (files read off the connections' threads).
//!
//! The TLS files' reload (certificates, keys, CA files) is in the `transports` tests.

// A test crate's root resolves modules beside it; these live in `hot_reload/`.
#[path = "hot_reload/blocking.rs"]
mod blocking;
#[path = "hot_reload/files.rs"]
mod files;
#[path = "hot_reload/scram.rs"]
mod scram;
