//! amqtt-contrib: the plugins aMQTT ships under `amqtt.contrib`, each answering to its aMQTT
//! dotted class path, so an aMQTT configuration that names one runs unchanged.
//!
//! | plugin | aMQTT class path |
//! |---|---|
//! | [`UserAuthHttp`](http::UserAuthHttp) (`auth_http`) | `amqtt.contrib.http.UserAuthHttpPlugin` |
//! | [`TopicAuthHttp`](http::TopicAuthHttp) (`topic_http`) | `amqtt.contrib.http.TopicAuthHttpPlugin` |
//! | [`UserAuthJwt`](jwt::UserAuthJwt) (`auth_jwt`) | `amqtt.contrib.jwt.UserAuthJwtPlugin` |
//! | [`TopicAuthJwt`](jwt::TopicAuthJwt) (`topic_jwt`) | `amqtt.contrib.jwt.TopicAuthJwtPlugin` |
//! | [`cert::UserAuthCert`] (`auth_cert`) | `amqtt.contrib.cert.UserAuthCertPlugin` |
//! | [`ldap::UserAuthLdap`] (`auth_ldap`) | `amqtt.contrib.ldap.UserAuthLdapPlugin` |
//! | [`ldap::TopicAuthLdap`] (`topic_ldap`) | `amqtt.contrib.ldap.TopicAuthLdapPlugin` |
//! | [`shadows::ShadowPlugin`] (`shadows`) | `amqtt.contrib.shadows.ShadowPlugin` |
//! | [`shadows::ShadowTopicAuthPlugin`] (`shadow_topic_auth`) | `amqtt.contrib.shadows.ShadowTopicAuthPlugin` |

pub mod answer_cache;
pub mod cert;
pub mod db;
pub mod http;
pub mod jwt;
pub mod ldap;
pub mod shadows;

/// Every contributed plugin, each on only when its section is present: the stock broker has them
/// beside the packaged ones.
pub type ContribPlugins = (
    Option<http::UserAuthHttp>,
    Option<http::TopicAuthHttp>,
    Option<jwt::UserAuthJwt>,
    Option<jwt::TopicAuthJwt>,
    Option<cert::UserAuthCert>,
    Option<ldap::UserAuthLdap>,
    Option<ldap::TopicAuthLdap>,
    Option<shadows::ShadowPlugin>,
    Option<shadows::ShadowTopicAuthPlugin>,
);
