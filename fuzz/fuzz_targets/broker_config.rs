//! Fuzz target: the broker's YAML configuration loader, `BrokerConfig::from_yaml`.
//!
//! Any UTF-8 text must give a configuration or a `ConfigError`, never a panic, a hang or
//! unbounded memory. Both results are also formatted, as the broker prints them.
#![no_main]

use amqtt_core::config::BrokerConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match BrokerConfig::from_yaml(text) {
        Ok(config) => {
            let _ = format!("{config:?}");
            let _ = config.plugins.names().count();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
