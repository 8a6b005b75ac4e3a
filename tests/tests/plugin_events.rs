//! End-to-end tests of the plugin events: a recording plugin writes down every hook call with its
//! arguments, and each step of a client session (start, connect, subscribe, publish at QoS 0, 1
//! and 2, retained messages, a message queued for an offline session, unsubscribe, disconnect,
//! shutdown) must produce exactly the expected events, in the expected order.
//!
//! Order rules the checks apply (see [`checker::check_step`]): hooks that run in a connection's reader
//! task (and the broker's own task) are totally ordered by the test's sequencing; a
//! `packet_sent` event runs in the receiving client's writer task, so it is only ordered after
//! the event that queued its packet and among the packets sent to the same client; the
//! `Receive` checks of one fan-out may come in any order.

#[path = "plugin_events/checker.rs"]
mod checker;
#[path = "plugin_events/edge_cases.rs"]
mod edge_cases;
#[path = "plugin_events/recorder.rs"]
mod recorder;
#[path = "plugin_events/session_events.rs"]
mod session_events;
