//! End-to-end tests of MQTT 5.0 subscription options and Subscription Identifiers over real
//! sockets: No Local, Retain As Published, Retain Handling 0/1/2, identifiers on delivered and
//! retained messages (all of a session's matching subscriptions in its one copy), the protocol
//! errors around them, and 3.1.1 subscribers beside them.

#[path = "v5_subscriptions/identifiers.rs"]
mod identifiers;
#[path = "v5_subscriptions/options.rs"]
mod options;
