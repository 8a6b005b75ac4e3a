//! amqtt-contrib: the plugins aMQTT ships under `amqtt.contrib`, each answering to its aMQTT
//! dotted class path, so an aMQTT configuration that names one runs unchanged.
//!
//! | plugin | aMQTT class path |
//! |---|---|
//! | [`shadows::ShadowPlugin`] (`shadows`) | `amqtt.contrib.shadows.ShadowPlugin` |
//! | [`shadows::ShadowTopicAuthPlugin`] (`shadow_topic_auth`) | `amqtt.contrib.shadows.ShadowTopicAuthPlugin` |

pub mod answer_cache;
pub mod db;
pub mod shadows;

/// Every contributed plugin, each on only when its section is present: the stock broker has them
/// beside the packaged ones.
pub type ContribPlugins = (
    Option<shadows::ShadowPlugin>,
    Option<shadows::ShadowTopicAuthPlugin>,
);
