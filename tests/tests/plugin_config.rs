//! End-to-end tests of binding a plugin set to the `plugins:` section of a configuration
//! (`BrokerConfig::from_yaml` then `Broker::<P>::bind`): unknown keys, aliases, empty sections,
//! type errors, failing builds and starts, and a plugin configured twice.

use std::collections::BTreeMap;

use amqtt_core::broker::{Broker, BrokerError};
use amqtt_core::config::BrokerConfig;
use amqtt_core::plugin::{
    BrokerContext, BuildPlugins, FromConfig, Hooks, Plugin, PluginError, known_plugin_names,
};

/// `Configured`'s configuration: named limits.
type Limits = BTreeMap<String, u32>;

/// Keeps its configuration; answers to its name and two aliases.
struct Configured {
    config: Limits,
    /// `limit`, or 10 when the section does not set it.
    limit: u32,
}
impl Plugin for Configured {
    const HOOKS: Hooks = Hooks::NONE;
}
impl FromConfig for Configured {
    const NAME: &'static str = "configured";
    const ALIASES: &'static [&'static str] =
        &["tests.plugins.ConfiguredPlugin", "configured-alias"];
    type Config = Limits;
    fn build(config: Limits, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        let limit = config.get("limit").copied().unwrap_or(10);
        Ok(Configured { config, limit })
    }
}

/// Its build always fails.
struct Failing;
impl Plugin for Failing {
    const HOOKS: Hooks = Hooks::NONE;
}
impl FromConfig for Failing {
    const NAME: &'static str = "failing";
    type Config = Limits;
    fn build(_config: Limits, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Err(PluginError::new("boom"))
    }
}

/// Builds, then fails to start (as a plugin whose backend does not answer).
struct FailingStart;
impl Plugin for FailingStart {
    const HOOKS: Hooks = Hooks::START;
    async fn start(&self) -> Result<(), PluginError> {
        Err(PluginError::named(
            "failing_start",
            "`host`: nothing answers",
        ))
    }
}
impl FromConfig for FailingStart {
    const NAME: &'static str = "failing_start";
    type Config = Limits;
    fn build(_config: Limits, _ctx: &BrokerContext) -> Result<Self, PluginError> {
        Ok(FailingStart)
    }
}

/// The plugin set under test: one always-on plugin and one that is on with its section.
type Set = (Configured, Option<Failing>);

/// Binds a broker over `P` on 127.0.0.1:0 with `plugins` as the YAML `plugins:` section.
async fn bind<P: BuildPlugins>(plugins: &str) -> Result<Broker<P>, BrokerError> {
    let yaml = format!("listeners:\n  default:\n    bind: 127.0.0.1:0\nplugins:{plugins}");
    let config = BrokerConfig::from_yaml(&yaml).expect("the YAML itself is valid");
    Broker::<P>::bind(config).await
}

/// The error binding `plugins` gives; fails the test if it binds.
async fn bind_error(plugins: &str) -> BrokerError {
    match bind::<Set>(plugins).await {
        Ok(_) => panic!("`plugins:{plugins}` must not bind"),
        Err(e) => e,
    }
}

/// The `Configured` plugin bound from `plugins`.
async fn configured(plugins: &str) -> (Limits, u32) {
    let broker = bind::<Set>(plugins)
        .await
        .unwrap_or_else(|e| panic!("`plugins:{plugins}` must bind: {e}"));
    let handle = broker.handle();
    let (configured, failing) = handle.plugins();
    assert!(failing.is_none(), "`failing` is on without its section");
    (configured.config.clone(), configured.limit)
}

#[tokio::test]
async fn an_unknown_key_is_an_error_listing_every_known_name() {
    assert_eq!(
        known_plugin_names::<Set>(),
        [
            "configured",
            "tests.plugins.ConfiguredPlugin",
            "configured-alias",
            "failing"
        ]
    );
    let error = bind_error("\n  configurd:\n    limit: 1\n").await;
    let message = error.to_string();
    assert!(
        matches!(&error, BrokerError::Plugin(PluginError::Unknown { name, .. }) if name == "configurd"),
        "{error:?}"
    );
    assert!(message.contains("`configurd`"), "{message}");
    for name in known_plugin_names::<Set>() {
        assert!(message.contains(name), "`{name}` missing from: {message}");
    }
    // Also next to a valid key, and for a broker without plugins.
    let message = bind_error("\n  configured:\n  extra:\n").await.to_string();
    assert!(message.contains("`extra`"), "{message}");
    let Err(error) = bind::<()>("\n  configured:\n").await else {
        panic!("a broker without plugins accepted a plugin section");
    };
    assert!(error.to_string().contains("`configured`"), "{error}");
}

#[tokio::test]
async fn a_key_matching_an_alias_builds_the_plugin() {
    for alias in ["tests.plugins.ConfiguredPlugin", "configured-alias"] {
        let (config, limit) = configured(&format!("\n  {alias}:\n    limit: 7\n")).await;
        assert_eq!(
            config,
            Limits::from([("limit".to_owned(), 7)]),
            "via {alias}"
        );
        assert_eq!(limit, 7, "via {alias}");
    }
    // aMQTT's legacy list form, by alias.
    let (config, limit) = configured("\n  - configured-alias:\n      limit: 3\n").await;
    assert_eq!((config.len(), limit), (1, 3));
}

#[tokio::test]
async fn an_empty_or_absent_section_gives_the_default_config() {
    for plugins in [
        "\n  configured:\n",
        "\n  configured: ~\n",
        " {}\n",
        "\n  - configured\n",
    ] {
        let (config, limit) = configured(plugins).await;
        assert_eq!(config, Limits::default(), "`plugins:{plugins}`");
        assert_eq!(limit, 10, "`plugins:{plugins}`");
    }
}

#[tokio::test]
async fn a_type_error_names_the_plugin_the_field_path_and_what_was_expected() {
    let error = bind_error("\n  configured:\n    limit: many\n").await;
    assert!(
        matches!(
            &error,
            BrokerError::Plugin(PluginError::Config {
                plugin: "configured",
                ..
            })
        ),
        "{error:?}"
    );
    let message = error.to_string();
    for part in [
        "`configured`",
        "plugins.configured.limit",
        "expected a non-negative integer",
    ] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    // Under an alias, the path names the key as written.
    let message = bind_error("\n  configured-alias:\n    limit: -1\n")
        .await
        .to_string();
    for part in [
        "`configured`",
        "plugins.configured-alias.limit",
        "expected a non-negative integer",
    ] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    // The whole section of the wrong shape.
    let message = bind_error("\n  configured: 5\n").await.to_string();
    for part in ["`configured`", "plugins.configured", "expected a map"] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
}

#[tokio::test]
async fn a_failing_build_fails_bind_with_the_plugins_name() {
    let error = bind_error("\n  failing:\n").await;
    assert!(
        matches!(&error, BrokerError::Plugin(PluginError::Build { plugin: "failing", message }) if message == "boom"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("failing") && message.contains("boom"),
        "{message}"
    );
    // An always-on plugin fails even without a section.
    let Err(error) = bind::<Failing>(" {}\n").await else {
        panic!("a failing plugin bound");
    };
    assert!(error.to_string().contains("boom"), "{error}");
}

#[tokio::test]
async fn a_failing_start_fails_bind_with_the_plugins_name() {
    let Err(error) = bind::<(Configured, Option<FailingStart>)>("\n  failing_start:\n").await
    else {
        panic!("a plugin that failed to start bound");
    };
    assert_eq!(
        error.to_string(),
        "plugin `failing_start`: `host`: nothing answers"
    );
    // Off when its section is absent: nothing to start.
    assert!(
        bind::<(Configured, Option<FailingStart>)>(" {}\n")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn the_same_plugin_configured_twice_is_an_error() {
    let error =
        bind_error("\n  configured:\n    limit: 1\n  configured-alias:\n    limit: 2\n").await;
    assert!(
        matches!(
            &error,
            BrokerError::Plugin(PluginError::Duplicate {
                plugin: "configured",
                ..
            })
        ),
        "{error:?}"
    );
    let message = error.to_string();
    for part in ["`configured`", "`configured-alias`", "twice"] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    let message = bind_error("\n  tests.plugins.ConfiguredPlugin:\n  configured-alias:\n")
        .await
        .to_string();
    assert!(
        message.contains("tests.plugins.ConfiguredPlugin") && message.contains("configured-alias"),
        "{message}"
    );
}
