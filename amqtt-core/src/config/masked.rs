//! A `plugins:` section (the effective configuration `Broker::check` gives) as YAML with every
//! secret masked, for `amqtt --check-config`.

use serde_yaml::{Mapping, Value};

use super::PluginsSection;

/// What a secret is shown as.
const MASK: &str = "****";

impl PluginsSection {
    /// The section as YAML (`name: config`, in its order) with its secrets replaced by `****`:
    /// the value of every key that names a password, a secret, a token or a key (but not a key
    /// *file*), at any depth, and the password of every URL (`scheme://user:password@host`).
    pub fn to_masked_yaml(&self) -> String {
        let masked: Mapping = self
            .entries
            .iter()
            .map(|(name, value)| (Value::String(name.clone()), mask(value)))
            .collect();
        if masked.is_empty() {
            return "{}\n".to_owned();
        }
        serde_yaml::to_string(&Value::Mapping(masked)).unwrap_or_default()
    }
}

/// Whether the value under `key` is a secret.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase().replace('-', "_");
    let path_like = ["file", "path", "dir"].iter().any(|p| key.ends_with(p));
    let secret = ["password", "passwd", "secret", "token", "credential"]
        .iter()
        .any(|word| key.contains(word))
        || key == "key"
        || key.ends_with("_key");
    secret && !path_like
}

fn mask(value: &Value) -> Value {
    match value {
        Value::Mapping(map) => Value::Mapping(
            map.iter()
                .map(|(k, v)| {
                    let secret = k.as_str().is_some_and(is_secret_key) && !v.is_null();
                    let v = if secret {
                        Value::String(MASK.to_owned())
                    } else {
                        mask(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Sequence(items) => Value::Sequence(items.iter().map(mask).collect()),
        Value::String(text) => Value::String(mask_url_password(text)),
        Value::Tagged(tagged) => mask(&tagged.value),
        other => other.clone(),
    }
}

/// `scheme://user:password@rest` with the password shown as `****`; any other text unchanged
/// (for URLs in logs and messages).
///
/// ```
/// use amqtt_core::config::mask_url_password;
/// assert_eq!(mask_url_password("mqtt://u:secret@h/x"), "mqtt://u:****@h/x");
/// ```
pub fn mask_url_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return text.to_owned();
    };
    let Some(colon) = rest[..at].find(':') else {
        return text.to_owned();
    };
    format!("{scheme}://{}:{MASK}{}", &rest[..colon], &rest[at..])
}

#[cfg(test)]
mod tests {
    use crate::config::BrokerConfig;

    #[test]
    fn secrets_are_masked_and_the_rest_shown() {
        let config = BrokerConfig::from_yaml(
            "plugins:
  auth_db:
    connection: postgresql://amqtt:hunter2@db:5432/amqtt
    password_file: /etc/amqtt/passwd
  auth_jwt:
    secret_key: s3cret
    nested: {api-token: t0ken, user: bob}
  auth_anonymous:
",
        )
        .expect("valid");
        let shown = config.plugins.to_masked_yaml();
        for secret in ["hunter2", "s3cret", "t0ken"] {
            assert!(!shown.contains(secret), "{secret} shown in:\n{shown}");
        }
        for kept in [
            "postgresql://amqtt:****@db:5432/amqtt",
            "/etc/amqtt/passwd",
            "user: bob",
            "auth_anonymous: null",
        ] {
            assert!(shown.contains(kept), "{kept} missing from:\n{shown}");
        }
    }
}
