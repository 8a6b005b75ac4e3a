//! aMQTT's deprecated `auth:` and `topic-check:` sections, translated to the `plugins:` form.
//!
//! aMQTT still loads them through entry points; here they become the same packaged plugins
//! (`auth_anonymous`, `auth_file`, `topic_taboo`, `topic_acl`, and `broker_sys` when the
//! top-level `sys_interval` is set), and the broker logs the equivalent `plugins:` section.

use serde_yaml::{Mapping, Value};

use super::PluginsSection;
use super::broker::{ResolveError, section_of};

/// Builds the plugin section an aMQTT legacy configuration stands for.
pub(super) fn translate(
    auth: Option<&Value>,
    topic_check: Option<&Value>,
    sys_interval: Option<u64>,
) -> Result<PluginsSection, ResolveError> {
    let mut entries: Vec<(String, Value)> = Vec::new();
    if let Some(auth) = auth {
        let auth = as_map(auth, "auth")?;
        let listed = plugin_list(auth, "auth")?;
        let enabled = |name: &str| listed.as_ref().is_none_or(|l| l.iter().any(|n| n == name));
        if enabled("auth_anonymous") {
            let allow = get(auth, "allow-anonymous")
                .cloned()
                .unwrap_or(Value::Bool(true));
            entries.push(("auth_anonymous".into(), map([("allow_anonymous", allow)])));
        }
        if let Some(file) = get(auth, "password-file").filter(|_| enabled("auth_file")) {
            entries.push(("auth_file".into(), map([("password_file", file.clone())])));
        }
    }
    if let Some(check) = topic_check {
        let check = as_map(check, "topic-check")?;
        if enabled_flag(check)? {
            let listed = plugin_list(check, "topic-check")?;
            let enabled = |name: &str| listed.as_ref().is_none_or(|l| l.iter().any(|n| n == name));
            if enabled("topic_taboo") {
                entries.push(("topic_taboo".into(), Value::Null));
            }
            if enabled("topic_acl") {
                let mut acl = Mapping::new();
                for (key, field) in [
                    ("acl", "acl"),
                    ("subscribe-acl", "subscribe_acl"),
                    ("publish-acl", "publish_acl"),
                    ("receive-acl", "receive_acl"),
                ] {
                    if let Some(value) = get(check, key) {
                        acl.insert(Value::String(field.into()), value.clone());
                    }
                }
                entries.push(("topic_acl".into(), Value::Mapping(acl)));
            }
        }
    }
    if let Some(interval) = sys_interval {
        entries.push((
            "broker_sys".into(),
            map([("sys_interval", Value::from(interval))]),
        ));
    }
    let equivalent: Mapping = entries
        .iter()
        .map(|(k, v)| (Value::String(k.clone()), v.clone()))
        .collect();
    let shown = serde_yaml::to_string(&Value::Mapping(
        [(Value::String("plugins".into()), Value::Mapping(equivalent))]
            .into_iter()
            .collect(),
    ))
    .unwrap_or_default();
    tracing::warn!("the `auth`/`topic-check` sections are deprecated; they are read as:\n{shown}");
    Ok(section_of(entries))
}

/// `topic-check.enabled`, a YAML 1.1 boolean as everywhere else; absent or empty: false.
fn enabled_flag(check: &Mapping) -> Result<bool, ResolveError> {
    let Some(value) = get(check, "enabled") else {
        return Ok(false);
    };
    super::yaml11::<Option<bool>, _>(value.clone())
        .map(|flag| flag.unwrap_or(false))
        .map_err(|e| {
            let message = super::plain_message("", &e.to_string());
            ("topic-check.enabled".to_owned(), message)
        })
}

fn get<'a>(map: &'a Mapping, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| map.get(key.replace('-', "_")))
}

fn as_map<'a>(value: &'a Value, key: &str) -> Result<&'a Mapping, ResolveError> {
    value
        .as_mapping()
        .ok_or_else(|| (key.to_owned(), "expected a map".to_owned()))
}

/// The section's `plugins` list, or `None` when absent (aMQTT then enables all of them).
fn plugin_list(map: &Mapping, key: &str) -> Result<Option<Vec<String>>, ResolveError> {
    match map.get("plugins") {
        None => Ok(None),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    (
                        format!("{key}.plugins"),
                        "expected a list of plugin names".to_owned(),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err((
            format!("{key}.plugins"),
            "expected a list of plugin names".to_owned(),
        )),
    }
}

fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Mapping(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::String(k.into()), v))
            .collect(),
    )
}
