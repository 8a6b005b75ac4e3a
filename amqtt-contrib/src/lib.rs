//! amqtt-contrib: the plugins aMQTT ships under `amqtt.contrib`, each answering to its aMQTT
//! dotted class path, so an aMQTT configuration that names one runs unchanged.
//!
//! | plugin | aMQTT class path |
//! |---|---|

pub mod answer_cache;
pub mod db;

/// Every contributed plugin, each on only when its section is present: the stock broker has them
/// beside the packaged ones.
pub type ContribPlugins = ();
