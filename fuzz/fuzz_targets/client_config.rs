//! Fuzz target: the client's YAML configuration loader, `ClientConfig::from_yaml`, and its
//! mapping to `ClientOptions` (`ClientConfig::options`).
//!
//! Any UTF-8 text must give options or a `ClientConfigError`, never a panic.
#![no_main]

use amqtt_core::client::ClientConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match ClientConfig::from_yaml(text) {
        Ok(config) => config,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = config.uri();
    match config.options() {
        Ok(options) => {
            let _ = format!("{options:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
