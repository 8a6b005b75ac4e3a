//! amqtt-contrib: the plugins aMQTT ships under `amqtt.contrib`, each answering to its aMQTT
//! dotted class path, so an aMQTT configuration that names one runs unchanged.
//!
//! | plugin | short name | aMQTT class path |
//! |---|---|---|
//! | [`auth_db::UserAuthDb`] | `user_auth_db` | `amqtt.contrib.auth_db.UserAuthDBPlugin` |
//! | [`auth_db::TopicAuthDb`] | `topic_auth_db` | `amqtt.contrib.auth_db.TopicAuthDBPlugin` |
//! | [`http::UserAuthHttp`] | `auth_http` | `amqtt.contrib.http.UserAuthHttpPlugin` |
//! | [`http::TopicAuthHttp`] | `topic_http` | `amqtt.contrib.http.TopicAuthHttpPlugin` |
//! | [`jwt::UserAuthJwt`] | `auth_jwt` | `amqtt.contrib.jwt.UserAuthJwtPlugin` |
//! | [`jwt::TopicAuthJwt`] | `topic_jwt` | `amqtt.contrib.jwt.TopicAuthJwtPlugin` |
//! | [`ldap::UserAuthLdap`] | `auth_ldap` | `amqtt.contrib.ldap.UserAuthLdapPlugin` |
//! | [`ldap::TopicAuthLdap`] | `topic_ldap` | `amqtt.contrib.ldap.TopicAuthLdapPlugin` |
//! | [`cert::UserAuthCert`] | `auth_cert` | `amqtt.contrib.cert.UserAuthCertPlugin` |
//! | [`shadows::ShadowPlugin`] | `shadows` | `amqtt.contrib.shadows.ShadowPlugin` |
//! | [`shadows::ShadowTopicAuthPlugin`] | `shadow_topic_auth` | `amqtt.contrib.shadows.ShadowTopicAuthPlugin` |
//!
//! Each plugin's keys, behaviour and differences from aMQTT are in `amqtt-contrib/docs/`.
//! `amqtt.contrib.persistence.SessionDBPlugin` is the session store of crate `amqtt-store`.

pub mod answer_cache;
pub mod auth_db;
pub mod cert;
pub mod db;
pub mod http;
pub mod jwt;
pub mod ldap;
pub mod shadows;

/// Every contributed plugin, each on only when its section is present: the stock broker has them
/// beside the packaged ones.
pub type ContribPlugins = (
    Option<auth_db::UserAuthDb>,
    Option<auth_db::TopicAuthDb>,
    Option<http::UserAuthHttp>,
    Option<http::TopicAuthHttp>,
    Option<jwt::UserAuthJwt>,
    Option<jwt::TopicAuthJwt>,
    Option<ldap::UserAuthLdap>,
    Option<ldap::TopicAuthLdap>,
    Option<cert::UserAuthCert>,
    Option<shadows::ShadowPlugin>,
    Option<shadows::ShadowTopicAuthPlugin>,
);

#[cfg(test)]
mod tests {
    use amqtt_core::plugin::known_plugin_names;

    #[test]
    fn every_plugin_answers_to_its_amqtt_class_path() {
        let names = known_plugin_names::<super::ContribPlugins>();
        for class_path in [
            "amqtt.contrib.auth_db.UserAuthDBPlugin",
            "amqtt.contrib.auth_db.TopicAuthDBPlugin",
            "amqtt.contrib.http.UserAuthHttpPlugin",
            "amqtt.contrib.http.TopicAuthHttpPlugin",
            "amqtt.contrib.jwt.UserAuthJwtPlugin",
            "amqtt.contrib.jwt.TopicAuthJwtPlugin",
            "amqtt.contrib.ldap.UserAuthLdapPlugin",
            "amqtt.contrib.ldap.TopicAuthLdapPlugin",
            "amqtt.contrib.cert.UserAuthCertPlugin",
            "amqtt.contrib.shadows.ShadowPlugin",
            "amqtt.contrib.shadows.ShadowTopicAuthPlugin",
        ] {
            assert!(
                names.contains(&class_path),
                "{class_path} missing: {names:?}"
            );
        }
    }
}
