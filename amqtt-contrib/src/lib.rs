//! amqtt-contrib: the plugins aMQTT ships under `amqtt.contrib`, each answering to its aMQTT
//! dotted class path, so an aMQTT configuration that names one runs unchanged.
//!
//! | plugin | aMQTT class path |
//! |---|---|
//! | [`cert::UserAuthCert`] (`auth_cert`) | `amqtt.contrib.cert.UserAuthCertPlugin` |
//! | [`ldap::UserAuthLdap`] (`auth_ldap`) | `amqtt.contrib.ldap.UserAuthLdapPlugin` |
//! | [`ldap::TopicAuthLdap`] (`topic_ldap`) | `amqtt.contrib.ldap.TopicAuthLdapPlugin` |

pub mod answer_cache;
pub mod cert;
pub mod db;
pub mod ldap;

/// Every contributed plugin, each on only when its section is present: the stock broker has them
/// beside the packaged ones.
pub type ContribPlugins = (
    Option<cert::UserAuthCert>,
    Option<ldap::UserAuthLdap>,
    Option<ldap::TopicAuthLdap>,
);
