//! Hostile-input end-to-end suite, in bounded time: every test runs a live broker on real
//! sockets, attacks it for a few seconds (mutated packets of every type, slowloris, half-open
//! connections reset mid-exchange, giant and malformed frames, QoS 2 packet-id abuse, a takeover
//! storm on one client id) and asserts that
//!
//! - the broker stays up,
//! - a well-behaved probe client, connected throughout, keeps completing its QoS 1 round trips
//!   within [`support::ROUND_TRIP_BOUND`] each (liveness, not speed),
//! - memory returns near where it started, where the test is about memory (the broker then runs
//!   as a child process and its `VmRSS` is read from `/proc`), and
//! - the broker's internal consistency holds at the end (`BrokerHandle::check_consistency`, and
//!   the subscription index counted against the sessions' own lists).
//!
//! Randomness comes from a seeded xorshift, so a failure replays. `robustness.rs` has the
//! one-packet-at-a-time bad-client cases; this suite runs attacks concurrently with a probe.

#[path = "hostile/frames.rs"]
mod frames;
#[path = "hostile/half_open.rs"]
mod half_open;
#[path = "hostile/mutation.rs"]
mod mutation;
#[path = "hostile/qos2.rs"]
mod qos2;
#[path = "hostile/slowloris.rs"]
mod slowloris;
#[path = "hostile/support.rs"]
mod support;
#[path = "hostile/takeover.rs"]
mod takeover;
