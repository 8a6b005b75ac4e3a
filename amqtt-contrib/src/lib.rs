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
    use amqtt_core::plugin::{FromConfig, known_plugin_names};
    use serde_yaml::{Mapping, Value};

    /// Deserializes the section of `P` in `plugins` (under its name or an alias) into its config
    /// type; returns whether `P` has a section there.
    fn section_is_valid<P: FromConfig>(plugins: &Mapping) -> bool {
        let keys = std::iter::once(P::NAME).chain(P::ALIASES.iter().copied());
        let mut found = false;
        for key in keys {
            if let Some(section) = plugins.get(key) {
                let parsed = amqtt_core::config::yaml11::<P::Config, _>(section.clone());
                assert!(parsed.is_ok(), "README section `{key}`: {:?}", parsed.err());
                found = true;
            }
        }
        found
    }

    #[test]
    fn the_readmes_yaml_names_every_plugin_with_valid_keys() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split_once("## Contributed plugins")
            .expect("README has the section")
            .1;
        let yaml = section
            .split_once("```yaml\n")
            .and_then(|(_, rest)| rest.split_once("```"))
            .expect("a yaml block")
            .0;
        let config: Value = serde_yaml::from_str(yaml).expect("valid YAML");
        let plugins = config["plugins"].as_mapping().expect("a plugins mapping");
        let present = [
            section_is_valid::<super::auth_db::UserAuthDb>(plugins),
            section_is_valid::<super::auth_db::TopicAuthDb>(plugins),
            section_is_valid::<super::http::UserAuthHttp>(plugins),
            section_is_valid::<super::http::TopicAuthHttp>(plugins),
            section_is_valid::<super::jwt::UserAuthJwt>(plugins),
            section_is_valid::<super::jwt::TopicAuthJwt>(plugins),
            section_is_valid::<super::ldap::UserAuthLdap>(plugins),
            section_is_valid::<super::ldap::TopicAuthLdap>(plugins),
            section_is_valid::<super::cert::UserAuthCert>(plugins),
            section_is_valid::<super::shadows::ShadowPlugin>(plugins),
            section_is_valid::<super::shadows::ShadowTopicAuthPlugin>(plugins),
        ];
        assert_eq!(present, [true; 11], "a plugin is missing from the README");
        assert_eq!(plugins.len(), 11, "a README key names no plugin");
    }

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
