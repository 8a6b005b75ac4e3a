//! amqtt-contrib: the plugins aMQTT ships under `amqtt.contrib`, each answering to its aMQTT
//! dotted class path, so an aMQTT configuration that names one runs unchanged.
//!
//! | plugin | aMQTT class path |
//! |---|---|
//! | [`auth_db::UserAuthDb`] (`user_auth_db`) | `amqtt.contrib.auth_db.UserAuthDBPlugin` |
//! | [`auth_db::TopicAuthDb`] (`topic_auth_db`) | `amqtt.contrib.auth_db.TopicAuthDBPlugin` |

pub mod answer_cache;
pub mod auth_db;
pub mod db;

/// Every contributed plugin, each on only when its section is present: the stock broker has them
/// beside the packaged ones.
pub type ContribPlugins = (Option<auth_db::UserAuthDb>, Option<auth_db::TopicAuthDb>);
