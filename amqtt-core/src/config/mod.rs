//! The aMQTT broker YAML configuration: serde structs, loading, defaults and errors.
//!
//! Every use of `serde_yaml` stays in this module, so a maintained fork can replace it in one place.
//! Broker and listener keys accept both `_` and `-` spellings, as aMQTT's documentation uses both.
//! Every configuration is read through [`yaml11`], so booleans and numbers read as aMQTT's YAML 1.1
//! parser reads them (`ssl: on`, `allow_anonymous: yes`, `max_connections: 1_000`).

mod broker;
mod legacy;
mod listener;
mod masked;
mod yaml11;

use std::path::{Path, PathBuf};

pub use broker::{BrokerConfig, ClusterSection, PluginsSection, RateLimit};
pub use listener::{Bind, ListenerConfig, ListenerType};
pub use masked::mask_url_password;
use thiserror::Error;
pub(crate) use yaml11::Yaml11;
pub use yaml11::yaml11;

/// aMQTT's default broker configuration, which the broker runs when no file is given.
pub const DEFAULT_BROKER_YAML: &str = include_str!("default_broker.yaml");

/// A configuration that cannot be used; the message names the file, the key path and what was expected.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// A key holds a value of the wrong type or shape, or the YAML does not parse.
    #[error("{}: {}{message}", source_name(file), path_prefix(key))]
    Invalid {
        /// The file, or `None` for YAML given as a string.
        file: Option<PathBuf>,
        /// The key path, e.g. `listeners.default.max_connections`; empty at the top level.
        key: String,
        /// What was wrong and what was expected.
        message: String,
    },
}

fn source_name(file: &Option<PathBuf>) -> String {
    match file {
        Some(f) => format!("config file {}", f.display()),
        None => "config".to_owned(),
    }
}

fn path_prefix(key: &str) -> String {
    if key.is_empty() || key == "." {
        String::new()
    } else {
        format!("key `{key}`: ")
    }
}

impl BrokerConfig {
    /// Reads and validates the broker configuration in `file`.
    pub fn from_file(file: &Path) -> Result<BrokerConfig, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_owned(),
            source,
        })?;
        Self::parse(&text, Some(file))
    }

    /// Parses and validates a broker configuration given as YAML text.
    pub fn from_yaml(text: &str) -> Result<BrokerConfig, ConfigError> {
        Self::parse(text, None)
    }

    /// aMQTT's default configuration ([`DEFAULT_BROKER_YAML`]).
    pub fn embedded_default() -> BrokerConfig {
        Self::from_yaml(DEFAULT_BROKER_YAML).expect("the embedded default configuration is valid")
    }

    fn parse(text: &str, file: Option<&Path>) -> Result<BrokerConfig, ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            file: file.map(Path::to_owned),
            key,
            message,
        };
        // An empty file is the all-defaults configuration, as in aMQTT.
        let text = if text.trim().is_empty() { "{}" } else { text };
        let deserializer = serde_yaml::Deserializer::from_str(text);
        let raw: broker::RawBrokerConfig = serde_path_to_error::deserialize(Yaml11(deserializer))
            .map_err(|e| {
            let key = e.path().to_string();
            invalid(
                key.clone(),
                plain_message(&key, &e.into_inner().to_string()),
            )
        })?;
        let mut config = raw
            .resolve()
            .map_err(|(key, message)| invalid(key, message))?;
        config.plugins.file = file.map(Path::to_owned);
        config.cluster.file = file.map(Path::to_owned);
        Ok(config)
    }
}

/// Rewrites a serde_yaml message for a user: drops the key path it repeats, names the
/// expected type in words (`expected i64` -> `expected an integer`) and says what to do about a
/// repeated key.
pub(crate) fn plain_message(key: &str, message: &str) -> String {
    let message = message.strip_prefix(&format!("{key}: ")).unwrap_or(message);
    let mut plain = message.to_owned();
    for (rust, words) in [
        ("expected i64", "expected an integer"),
        ("expected u64", "expected a non-negative integer"),
        ("expected usize", "expected a non-negative integer"),
        ("expected u16", "expected an integer from 0 to 65535"),
        ("expected u8", "expected an integer from 0 to 255"),
        ("expected u32", "expected a non-negative integer"),
        ("expected i32", "expected an integer"),
        ("expected f64", "expected a number"),
        (
            "expected a boolean",
            "expected a boolean: true/false, yes/no, on/off or y/n",
        ),
    ] {
        plain = plain.replace(rust, words);
    }
    // aMQTT's parser keeps the last of two equal keys without a word (its own reference example
    // repeats `capath`); YAML forbids it, so say which to do.
    if plain.starts_with("duplicate field") || plain.starts_with("duplicate entry") {
        let (what, location) = match plain.rsplit_once(" at line ") {
            Some((what, at)) => (what.to_owned(), format!(" at line {at}")),
            None => (plain.clone(), String::new()),
        };
        plain = format!("{what}: keep one of them (aMQTT silently used the last){location}");
    }
    plain
}

#[cfg(test)]
pub(crate) use yaml11::tests::SPELLINGS as YAML11_BOOLEANS;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_yaml11;
