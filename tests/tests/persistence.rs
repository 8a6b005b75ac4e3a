//! Persistence end-to-end suite: the `amqtt` binary with a persistent store (SQLite, and
//! PostgreSQL when one is reachable), run as a child process that the tests stop cleanly
//! (SIGTERM, SIGINT), kill with SIGKILL mid-exchange, and start again on the same store. Asserts
//! what a restart keeps for persistent sessions (the session, its subscriptions, its offline
//! queue, messages in flight both ways, QoS 2 ids awaiting PUBREL) and the retained messages;
//! that acknowledged messages survive `kill -9` in `sync: always` (QoS 2 exactly once with a
//! conforming publisher); session expiry across a restart; damaged store files; clearing at a
//! clean stop; the configuration forms aMQTT accepts; `max_queued` applied to restored queues;
//! shared subscriptions restored as group memberships; and MQTT 5.0 subscription options and
//! identifiers restored with their subscriptions.

#[path = "persistence/config_forms.rs"]
mod config_forms;
#[path = "persistence/damaged.rs"]
mod damaged;
#[path = "persistence/expiry.rs"]
mod expiry;
#[path = "persistence/flood.rs"]
mod flood;
#[path = "persistence/inflight.rs"]
mod inflight;
#[path = "persistence/limits.rs"]
mod limits;
#[path = "persistence/postgres.rs"]
mod postgres;
#[path = "persistence/restart.rs"]
mod restart;
#[path = "persistence/scenario.rs"]
mod scenario;
#[path = "persistence/shared.rs"]
mod shared;
#[path = "persistence/shutdown.rs"]
mod shutdown;
#[path = "persistence/subscription_options.rs"]
mod subscription_options;
#[path = "persistence/support.rs"]
mod support;
