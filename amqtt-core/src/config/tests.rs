//! Tests of configuration loading, defaults, inheritance and error messages.

use std::time::Duration;

use super::*;

#[test]
fn embedded_default_is_amqtt_default() {
    let config = BrokerConfig::embedded_default();
    let default = &config.listeners["default"];
    assert_eq!(
        default.bind,
        Bind {
            host: "0.0.0.0".into(),
            port: 1883
        }
    );
    assert_eq!(default.kind, ListenerType::Tcp);
    assert_eq!(config.timeout_disconnect_delay, Duration::ZERO);
    assert_eq!(config.max_packet_size, 1024 * 1024);
    assert_eq!(config.connect_timeout, Duration::from_secs(10));
    let names: Vec<_> = config.plugins.names().collect();
    assert_eq!(names.len(), 4);
    assert_eq!(names[0], "amqtt.plugins.logging_amqtt.EventLoggerPlugin");
}

#[test]
fn listeners_inherit_from_default() {
    let config = BrokerConfig::from_yaml(
        "listeners:\n  default:\n    max-connections: 50\n    bind: 127.0.0.1:1883\n  ws-1:\n    type: ws\n    bind: :8080\n",
    )
    .expect("valid");
    let ws = &config.listeners["ws-1"];
    assert_eq!(ws.kind, ListenerType::Ws);
    assert_eq!(ws.max_connections, 50);
    assert_eq!(
        ws.bind,
        Bind {
            host: "0.0.0.0".into(),
            port: 8080
        }
    );
}

#[test]
fn require_certificate_inherits_and_takes_both_spellings() {
    let config = BrokerConfig::from_yaml(
        "listeners:\n  default:\n    bind: 1883\n    require-certificate: true\n  tls:\n    bind: 8883\n    ssl: true\n  open:\n    bind: 8884\n    require_certificate: false\n",
    )
    .expect("valid");
    assert!(config.listeners["default"].require_certificate);
    assert!(config.listeners["tls"].require_certificate);
    assert!(config.listeners["tls"].ssl);
    assert!(!config.listeners["open"].require_certificate);
    let plain = BrokerConfig::from_yaml("listeners:\n  default:\n    bind: 1883\n").expect("valid");
    assert!(!plain.listeners["default"].require_certificate);
}

#[test]
fn bind_forms() {
    let parse = |s| Bind::parse(s, 1883).map(|b| b.to_string());
    assert_eq!(parse("1883").as_deref(), Some("0.0.0.0:1883"));
    assert_eq!(parse(":1883").as_deref(), Some("0.0.0.0:1883"));
    assert_eq!(parse("localhost:1884").as_deref(), Some("localhost:1884"));
    assert_eq!(parse("[::]:1883").as_deref(), Some("[::]:1883"));
    assert_eq!(parse("::1883"), None);
    assert_eq!(parse("host:port"), None);
    // Without a port: the listener's default port (aMQTT's `_split_bindaddr_port`).
    assert_eq!(parse("127.0.0.1").as_deref(), Some("127.0.0.1:1883"));
    assert_eq!(parse("localhost:").as_deref(), Some("localhost:1883"));
    assert_eq!(parse("[::1]").as_deref(), Some("[::1]:1883"));
    assert_eq!(parse("").as_deref(), Some("0.0.0.0:1883"));
    assert_eq!(parse("[::1]x"), None);
}

#[test]
fn a_bind_without_port_takes_the_default_port_of_its_transport() {
    let config = BrokerConfig::from_yaml(
        "listeners:
  default: {bind: 127.0.0.1}
  tls: {ssl: true, certfile: c.pem, keyfile: k.pem}
  ws: {type: ws}
  wss: {type: ws, ssl: true, certfile: c.pem, keyfile: k.pem}
  app: {type: external}
",
    )
    .expect("valid");
    let port = |name: &str| config.listeners[name].bind.port;
    assert_eq!(port("default"), 1883);
    assert_eq!(port("tls"), 8883);
    assert_eq!(port("ws"), 8883);
    assert_eq!(port("wss"), 8883);
    assert_eq!(config.listeners["app"].kind, ListenerType::External);
}

#[test]
fn both_spellings_are_accepted() {
    let a = BrokerConfig::from_yaml("timeout-disconnect-delay: 2\nsession-expiry-interval: 60\n")
        .expect("valid");
    let b = BrokerConfig::from_yaml("timeout_disconnect_delay: 2\nsession_expiry_interval: 60\n")
        .expect("valid");
    assert_eq!(a.timeout_disconnect_delay, Duration::from_secs(2));
    assert_eq!(a.timeout_disconnect_delay, b.timeout_disconnect_delay);
    assert_eq!(a.session_expiry_interval, Some(Duration::from_secs(60)));
}

#[test]
fn keep_alive_and_receive_maximum_limits() {
    let a = BrokerConfig::from_yaml("max-keep-alive: 30\nreceive-maximum: 10\n").expect("valid");
    let b = BrokerConfig::from_yaml("max_keep_alive: 30\nreceive_maximum: 10\n").expect("valid");
    assert_eq!((a.max_keep_alive, a.receive_maximum), (Some(30), 10));
    assert_eq!((b.max_keep_alive, b.receive_maximum), (Some(30), 10));
    let default = BrokerConfig::from_yaml("{}\n").expect("valid");
    assert_eq!(
        (default.max_keep_alive, default.receive_maximum),
        (None, 65535)
    );
    for bad in ["max_keep_alive: 0\n", "receive_maximum: 0\n"] {
        let text = BrokerConfig::from_yaml(bad)
            .expect_err("invalid")
            .to_string();
        assert!(
            text.contains(bad.split(':').next().unwrap_or_default()),
            "{text}"
        );
    }
}

#[test]
fn error_names_key_path_and_expectation() {
    let err = BrokerConfig::from_yaml("listeners:\n  default:\n    max_connections: many\n")
        .expect_err("invalid");
    let text = err.to_string();
    assert!(text.contains("listeners.default.max_connections"), "{text}");
    assert!(text.contains("expected"), "{text}");
}

#[test]
fn error_names_file() {
    let dir = std::env::temp_dir().join(format!("amqtt-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("bad.yaml");
    std::fs::write(&file, "listeners:\n  default:\n    bind: nowhere:port\n").expect("write");
    let text = BrokerConfig::from_file(&file)
        .expect_err("invalid")
        .to_string();
    assert!(text.contains("bad.yaml"), "{text}");
    assert!(text.contains("listeners.default.bind"), "{text}");
    let missing = BrokerConfig::from_file(&dir.join("missing.yaml"))
        .expect_err("missing")
        .to_string();
    assert!(missing.contains("missing.yaml"), "{missing}");
}

#[test]
fn unknown_key_is_rejected() {
    let text = BrokerConfig::from_yaml("max_conections: 3\n")
        .expect_err("typo")
        .to_string();
    assert!(text.contains("max_conections"), "{text}");
}

#[test]
fn default_listener_is_required() {
    let text = BrokerConfig::from_yaml("listeners:\n  other:\n    bind: 1883\n")
        .expect_err("no default")
        .to_string();
    assert!(text.contains("default"), "{text}");
}

#[test]
fn max_packet_size_is_bounded_by_protocol() {
    assert!(BrokerConfig::from_yaml("max_packet_size: 300000000\n").is_err());
    assert_eq!(
        BrokerConfig::from_yaml("max_packet_size: 2048\n")
            .expect("valid")
            .max_packet_size,
        2048
    );
}

#[test]
fn legacy_plugin_list_and_auth_sections() {
    let config =
        BrokerConfig::from_yaml("plugins:\n  - a.B\n  - c.D:\n      x: 1\n").expect("valid");
    assert_eq!(config.plugins.names().collect::<Vec<_>>(), ["a.B", "c.D"]);
    let legacy =
        BrokerConfig::from_yaml("auth:\n  allow-anonymous: true\ntopic-check:\n  enabled: false\n")
            .expect("valid");
    assert_eq!(
        legacy.plugins.names().collect::<Vec<_>>(),
        ["auth_anonymous"]
    );
}

#[test]
fn legacy_sections_translate_to_packaged_plugins() {
    let yaml = "auth:\n  plugins: [auth_file]\n  password-file: /etc/pw\n  allow-anonymous: false\n\
                topic-check:\n  enabled: true\n  plugins: [topic_acl]\n  acl:\n    alice: [a/#]\n\
                sys_interval: 5\n";
    let mut config = BrokerConfig::from_yaml(yaml).expect("valid");
    let names: Vec<String> = config.plugins.names().map(str::to_owned).collect();
    assert_eq!(names, ["auth_file", "topic_acl", "broker_sys"]);
    #[derive(serde::Deserialize, Default)]
    struct Acl {
        acl: std::collections::HashMap<String, Vec<String>>,
    }
    let acl: Acl = config
        .plugins
        .take("topic_acl")
        .expect("deserializes")
        .expect("present");
    assert_eq!(acl.acl["alice"], ["a/#"]);
    #[derive(serde::Deserialize, Default)]
    struct File {
        password_file: String,
    }
    let file: File = config
        .plugins
        .take("auth_file")
        .expect("deserializes")
        .expect("present");
    assert_eq!(file.password_file, "/etc/pw");
}

#[test]
fn readme_listeners_example_parses() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split_once("### Listeners")
        .expect("README has a Listeners section")
        .1;
    let yaml = section
        .split_once("```yaml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a yaml block")
        .0;
    let config = BrokerConfig::from_yaml(yaml).expect("README listeners are valid");
    let kind = |name: &str| {
        let l = &config.listeners[name];
        (l.kind, l.ssl, l.max_connections)
    };
    assert_eq!(kind("default"), (ListenerType::Tcp, false, 1000));
    assert_eq!(kind("tls"), (ListenerType::Tcp, true, 1000));
    assert_eq!(kind("ws"), (ListenerType::Ws, false, 1000));
    assert_eq!(kind("wss"), (ListenerType::Ws, true, 1000));
    assert!(config.listeners["tls"].require_certificate);
    assert!(!config.listeners["wss"].require_certificate);
}

/// The message of the error a configuration gives.
fn error_of(yaml: &str) -> String {
    BrokerConfig::from_yaml(yaml)
        .expect_err("the configuration is refused")
        .to_string()
}

#[test]
fn subscription_limit_takes_both_spellings_and_refuses_zero() {
    let a = BrokerConfig::from_yaml("max_subscriptions_per_client: 5\n").expect("valid");
    let b = BrokerConfig::from_yaml("max-subscriptions-per-client: 5\n").expect("valid");
    assert_eq!(a.max_subscriptions_per_client, Some(5));
    assert_eq!(b.max_subscriptions_per_client, Some(5));
    let none = BrokerConfig::from_yaml("{}\n").expect("valid");
    assert_eq!(none.max_subscriptions_per_client, None);
    let text = error_of("max_subscriptions_per_client: 0\n");
    assert!(
        text.contains("key `max_subscriptions_per_client`: expected at least 1"),
        "{text}"
    );
    let text = error_of("max_subscriptions_per_client: many\n");
    assert!(text.contains("max_subscriptions_per_client"), "{text}");
}

#[test]
fn connection_rate_is_a_listener_key_inherited_from_default() {
    let config = BrokerConfig::from_yaml(
        "listeners:\n  default:\n    bind: 1883\n    max-connection-rate: 20\n  ws:\n    type: ws\n    bind: 8080\n  open:\n    bind: 1884\n    max_connection_rate: 100\n",
    )
    .expect("valid");
    let rate = |name: &str| config.listeners[name].max_connection_rate;
    let limit = |n| {
        Some(RateLimit {
            per_second: n,
            burst: n,
        })
    };
    assert_eq!(rate("default"), limit(20));
    assert_eq!(rate("ws"), limit(20));
    assert_eq!(rate("open"), limit(100));
    let text = error_of("listeners:\n  default:\n    max_connection_rate: 0\n");
    assert!(
        text.contains("key `listeners.default.max_connection_rate`: expected at least 1"),
        "{text}"
    );
}

#[test]
fn publish_rates_take_a_burst_that_defaults_to_the_rate() {
    let config = BrokerConfig::from_yaml(
        "max_messages_per_second: 100\nmax-bytes-per-second: 5000\nmax-bytes-per-second-burst: 20000\n",
    )
    .expect("valid");
    let limit = |per_second, burst| Some(RateLimit { per_second, burst });
    assert_eq!(config.max_messages_per_second, limit(100, 100));
    assert_eq!(config.max_bytes_per_second, limit(5000, 20000));
    let text = error_of("max_messages_per_second_burst: 10\n");
    assert!(
        text.contains(
            "key `max_messages_per_second_burst`: expected `max_messages_per_second` beside it"
        ),
        "{text}"
    );
}

#[test]
fn queued_bytes_budget_takes_both_spellings_and_refuses_zero() {
    let config = BrokerConfig::from_yaml("max-queued-bytes: 1048576\n").expect("valid");
    assert_eq!(config.max_queued_bytes, Some(1 << 20));
    let text = error_of("max_queued_bytes: 0\n");
    assert!(
        text.contains("key `max_queued_bytes`: expected at least 1"),
        "{text}"
    );
}
