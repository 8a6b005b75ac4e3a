//! aMQTT's LDAP plugins: [`UserAuthLdap`] checks a client's user name and password against an
//! LDAP directory, [`TopicAuthLdap`] allows each user the topic filters listed in attributes of
//! its entry.
//!
//! ```yaml
//! plugins:
//!   amqtt.contrib.ldap.UserAuthLdapPlugin:        # or auth_ldap
//!     server: ldap://localhost:389                # ldaps:// for TLS
//!     base_dn: ou=users,dc=amqtt,dc=io
//!     user_attribute: uid
//!     bind_dn: cn=reader,dc=amqtt,dc=io           # leave both out to bind as
//!     bind_password: secret                       #   uid=<user>,<base_dn> directly
//!   amqtt.contrib.ldap.TopicAuthLdapPlugin:       # or topic_ldap
//!     server: ldap://localhost:389
//!     base_dn: ou=users,dc=amqtt,dc=io
//!     user_attribute: uid
//!     bind_dn: cn=reader,dc=amqtt,dc=io
//!     bind_password: secret
//!     publish_attribute: mqttPublishTopic
//!     subscribe_attribute: mqttSubscribeTopic
//!     receive_attribute: mqttReceiveTopic
//! ```
//!
//! With `bind_dn` set (aMQTT's way), the user's entry is searched with that account under
//! `base_dn` by `(<user_attribute>=<user name>)`, and the client is admitted when exactly one
//! entry matches and a bind as that entry with the client's password succeeds. Without it, the
//! client binds directly as `<user_attribute>=<user name>,<base_dn>`. User names are escaped in
//! every filter and DN, so `*` or `x)(uid=*` match no one. The server must answer when the broker
//! starts (and, with `bind_dn`, accept that account and have `base_dn`), or the broker stops.

mod auth;
mod directory;
mod topic;

use std::time::Duration;

use amqtt_core::plugin::PluginError;

pub use auth::{UserAuthLdap, UserAuthLdapConfig};
pub use topic::{TopicAuthLdap, TopicAuthLdapConfig};

use directory::{DirectoryKeys, ServiceAccount};

/// Default of the `timeout` key, in seconds.
pub const DEFAULT_TIMEOUT: f64 = 5.0;

/// The keys both plugins share, as configured.
struct CommonKeys<'a> {
    server: &'a Option<String>,
    base_dn: &'a Option<String>,
    user_attribute: &'a Option<String>,
    bind_dn: &'a Option<String>,
    bind_password: &'a Option<String>,
    timeout: f64,
}

impl CommonKeys<'_> {
    /// Checks the keys; the error names the one at fault.
    fn directory_keys(&self) -> Result<DirectoryKeys, PluginError> {
        let required = |key: &str, value: &Option<String>, example: &str| match value {
            Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
            _ => Err(PluginError::new(format!(
                "`{key}`: required, e.g. `{key}: {example}`"
            ))),
        };
        let server = required("server", self.server, "ldap://localhost:389")?;
        if !["ldap://", "ldaps://", "ldapi://"]
            .iter()
            .any(|scheme| server.to_ascii_lowercase().starts_with(scheme))
        {
            return Err(PluginError::new(format!(
                "`server`: expected an ldap://, ldaps:// or ldapi:// URL, got `{server}`"
            )));
        }
        let base_dn = required("base_dn", self.base_dn, "ou=users,dc=example,dc=com")?;
        let user_attribute = required("user_attribute", self.user_attribute, "uid")?;
        if !user_attribute
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ';' || c == '.')
        {
            return Err(PluginError::new(format!(
                "`user_attribute`: `{user_attribute}` is not an LDAP attribute name"
            )));
        }
        let service = match (self.bind_dn, self.bind_password) {
            (Some(dn), _) if dn.trim().is_empty() => {
                return Err(PluginError::new(
                    "`bind_dn`: empty; leave `bind_dn` and `bind_password` out to bind as the user",
                ));
            }
            (Some(dn), Some(password)) => Some(ServiceAccount {
                dn: dn.trim().to_owned(),
                password: password.clone(),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(PluginError::new(
                    "`bind_password`: required with `bind_dn` (the service account's password)",
                ));
            }
            (None, Some(_)) => {
                return Err(PluginError::new(
                    "`bind_dn`: required with `bind_password` (the service account's DN)",
                ));
            }
        };
        if !self.timeout.is_finite() || self.timeout <= 0.0 {
            return Err(PluginError::new(format!(
                "`timeout`: expected a number of seconds > 0, got {}",
                self.timeout
            )));
        }
        Ok(DirectoryKeys {
            server,
            base_dn,
            user_attribute,
            service,
            timeout: Duration::from_secs_f64(self.timeout),
        })
    }
}
