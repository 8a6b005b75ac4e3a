//! YAML 1.1 scalars (aMQTT's reading) in the broker configuration: listener, plugin and legacy
//! broker keys, numbers, the errors for values that are neither, and for a repeated key.

use std::time::Duration;

use super::yaml11::tests::SPELLINGS;
use super::*;

/// A plugin's configuration as a plugin author writes it, with no attribute on its booleans.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct PluginFlags {
    enabled: bool,
    verbose: Option<bool>,
    label: String,
}

/// The section `name` of the plugins in `yaml`, deserialized.
fn plugin_section<C: serde::de::DeserializeOwned + Default>(yaml: &str, name: &str) -> C {
    let mut config = BrokerConfig::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}: {yaml}"));
    match config.plugins.take(name) {
        Ok(Some(section)) => section,
        Ok(None) => panic!("no section `{name}` in {yaml}"),
        Err(e) => panic!("{e}"),
    }
}

/// The error `yaml` is refused with.
fn error_of(yaml: &str) -> String {
    match BrokerConfig::from_yaml(yaml) {
        Ok(_) => panic!("accepted: {yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_spelling_is_a_boolean_on_listener_keys() {
    for (spelling, value) in SPELLINGS {
        let yaml = format!(
            "listeners:\n  default:\n    bind: 127.0.0.1:1883\n    require-certificate: {spelling}\n\
             \x20 secure:\n    bind: 127.0.0.1:8883\n    ssl: {spelling}\n"
        );
        let config = BrokerConfig::from_yaml(&yaml).expect(spelling);
        let secure = &config.listeners["secure"];
        assert_eq!(secure.ssl, value, "{spelling}");
        // Inherited from `default`, so read there as well.
        assert_eq!(secure.require_certificate, value, "{spelling}");
        assert_eq!(config.listeners["default"].require_certificate, value);
    }
}

#[test]
fn every_spelling_is_a_boolean_on_plugin_keys_and_strings_stay_strings() {
    for (spelling, value) in SPELLINGS {
        let yaml = format!(
            "plugins:\n  flags:\n    enabled: {spelling}\n    verbose: {spelling}\n    label: '{spelling}'\n"
        );
        let flags: PluginFlags = plugin_section(&yaml, "flags");
        assert_eq!((flags.enabled, flags.verbose), (value, Some(value)));
        assert_eq!(flags.label, spelling);
    }
    // A string field holding a YAML 1.1 boolean stays the string written.
    let flags: PluginFlags = plugin_section("plugins:\n  flags:\n    label: on\n", "flags");
    assert_eq!(flags.label, "on");
}

#[test]
fn every_spelling_is_a_boolean_on_legacy_broker_sections() {
    for (spelling, value) in SPELLINGS {
        let yaml = format!(
            "auth:\n  plugins: [auth_anonymous]\n  allow-anonymous: {spelling}\n\
             topic-check:\n  enabled: {spelling}\n  plugins: [topic_taboo]\n"
        );
        let config = BrokerConfig::from_yaml(&yaml).expect(spelling);
        let expected: &[&str] = if value {
            &["auth_anonymous", "topic_taboo"]
        } else {
            &["auth_anonymous"]
        };
        assert_eq!(config.plugins.names().collect::<Vec<_>>(), expected);
        #[derive(Default, serde::Deserialize)]
        struct Anonymous {
            allow_anonymous: bool,
        }
        let anonymous: Anonymous = plugin_section(&yaml, "auth_anonymous");
        assert_eq!(anonymous.allow_anonymous, value, "{spelling}");
    }
}

#[test]
fn yaml_1_1_numbers_on_broker_and_listener_keys() {
    let config = BrokerConfig::from_yaml(
        "timeout-disconnect-delay: 1:30\nmax-queued-bytes: 1_048_576\n\
         listeners:\n  default:\n    max-connections: 1_000\n",
    )
    .expect("valid");
    assert_eq!(config.timeout_disconnect_delay, Duration::from_secs(90));
    assert_eq!(config.max_queued_bytes, Some(1_048_576));
    assert_eq!(config.listeners["default"].max_connections, 1000);
}

#[test]
fn a_non_boolean_names_the_file_the_key_and_the_spellings() {
    let dir = std::env::temp_dir().join(format!("amqtt-yaml11-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("broker.yaml");
    std::fs::write(
        &file,
        "listeners:\n  default:\n    bind: 1883\n  my-tcp-ssl-1:\n    ssl: maybe\n",
    )
    .expect("write");
    let text = BrokerConfig::from_file(&file)
        .expect_err("not a boolean")
        .to_string();
    assert_eq!(
        text,
        format!(
            "config file {}: key `listeners.my-tcp-ssl-1.ssl`: invalid type: string \"maybe\", \
             expected a boolean: true/false, yes/no, on/off or y/n at line 5 column 10",
            file.display()
        )
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
    let plugin = BrokerConfig::from_yaml("plugins:\n  flags:\n    enabled: 2\n")
        .expect("valid")
        .plugins
        .take::<PluginFlags>("flags")
        .expect_err("not a boolean")
        .to_string();
    assert_eq!(
        plugin,
        "config: key `plugins.flags.enabled`: invalid type: integer `2`, \
         expected a boolean: true/false, yes/no, on/off or y/n"
    );
    let legacy = error_of("topic-check:\n  enabled: sometimes\n");
    assert!(legacy.contains("key `topic-check.enabled`"), "{legacy}");
    assert!(legacy.contains("expected a boolean"), "{legacy}");
}

#[test]
fn a_leading_zero_says_what_to_write() {
    let text = error_of("listeners:\n  default:\n    max-connections: 0100\n");
    assert!(
        text.starts_with(
            "config: key `listeners.default.max-connections`: `0100` has a leading zero"
        ),
        "{text}"
    );
    assert!(text.contains("write 64 (or 0o100)"), "{text}");
    assert!(text.contains("or 100 for the decimal one"), "{text}");
}

#[test]
fn a_repeated_key_says_to_keep_one() {
    // aMQTT's own reference example repeats `capath`; PyYAML keeps the last one silently.
    let listener = error_of(
        "listeners:\n  default:\n    capath: /some/folder\n    capath: certificate data\n",
    );
    assert_eq!(
        listener,
        "config: key `listeners.default`: duplicate field `capath`: keep one of them \
         (aMQTT silently used the last) at line 3 column 5"
    );
    let plugin = error_of("plugins:\n  flags:\n    enabled: yes\n    enabled: no\n");
    assert_eq!(
        plugin,
        "config: key `plugins.flags`: duplicate entry with key \"enabled\": keep one of them \
         (aMQTT silently used the last) at line 3 column 5"
    );
}
