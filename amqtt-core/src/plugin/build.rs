//! Building a plugin set from the `plugins:` section of the configuration.

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use super::{BrokerContext, Plugin};
use crate::config::{ConfigError, PluginsSection};

/// A type that can configure a plugin: deserializable, with defaults for an empty section, and
/// serializable, so that `amqtt --check-config` shows the configuration in effect.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a plugin config: it must implement `serde::Deserialize`, `serde::Serialize` and `Default`",
    label = "needs `#[derive(serde::Deserialize, serde::Serialize, Default)]` (or hand-written impls)"
)]
pub trait PluginConfig: DeserializeOwned + Serialize + Default + Send + 'static {}

impl<T: DeserializeOwned + Serialize + Default + Send + 'static> PluginConfig for T {}

/// A plugin built from its configuration section. `#[plugin]` generates this impl.
pub trait FromConfig: Plugin + Sized {
    /// The key of the plugin's section under `plugins:`.
    const NAME: &'static str;
    /// Other keys it answers to, such as aMQTT's dotted class path.
    const ALIASES: &'static [&'static str] = &[];
    /// The plugin's configuration; an omitted or empty section is `Config::default()`.
    type Config: PluginConfig;
    /// Builds the plugin. `ctx` acts on the broker and names the plugin in logs.
    fn build(config: Self::Config, ctx: &BrokerContext) -> Result<Self, PluginError>;
}

/// Why a plugin set cannot be built.
#[derive(Debug, Error)]
pub enum PluginError {
    /// A key under `plugins:` that no plugin of this broker answers to.
    #[error("{source_name}: unknown plugin `{name}` under `plugins`; this broker knows: {known}")]
    Unknown {
        /// `config file <path>`, or `config` for YAML given as a string.
        source_name: String,
        /// The key as written.
        name: String,
        /// The names and aliases this broker knows, comma-separated.
        known: String,
    },
    /// Two keys name the same plugin (its name and an alias, say).
    #[error("plugin `{plugin}` is configured twice under `plugins` (as `{first}` and `{second}`)")]
    Duplicate {
        /// The plugin's name.
        plugin: &'static str,
        /// The first key.
        first: String,
        /// The second key.
        second: String,
    },
    /// A plugin's section does not deserialize into its config type.
    #[error("plugin `{plugin}`: {source}")]
    Config {
        /// The plugin's name.
        plugin: &'static str,
        /// The key path and what was expected.
        source: ConfigError,
    },
    /// A plugin's `build` failed.
    #[error("plugin `{plugin}`: {message}")]
    Build {
        /// The plugin's name (filled in by the broker).
        plugin: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl PluginError {
    /// An error for a plugin's `build` to return; the broker adds the plugin's name.
    pub fn new(message: impl Into<String>) -> PluginError {
        PluginError::Build {
            plugin: "",
            message: message.into(),
        }
    }

    /// An error of the plugin `plugin` (its `FromConfig::NAME`, or `BrokerContext::plugin_name`),
    /// for hooks that run after `build`, such as [`Plugin::start`](super::Plugin::start).
    pub fn named(plugin: &'static str, message: impl Into<String>) -> PluginError {
        PluginError::Build {
            plugin,
            message: message.into(),
        }
    }

    /// This error, naming the plugin `name` when it names none yet (an error of
    /// [`PluginError::new`]).
    pub fn for_plugin(self, name: &'static str) -> PluginError {
        match self {
            PluginError::Build {
                plugin: "",
                message,
            } => PluginError::Build {
                plugin: name,
                message,
            },
            other => other,
        }
    }
}

/// A plugin set that can be built from a `plugins:` section: a [`FromConfig`] plugin (always
/// on), `Option<P>` of one (on only when its section is present), `()` and tuples of these.
pub trait BuildPlugins: Plugin + Sized {
    /// Builds the set, taking the sections its members answer to out of `sections`.
    fn build_from(sections: &mut PluginsSection, ctx: &BrokerContext) -> Result<Self, PluginError>;
    /// Adds the names and aliases of every member to `names`.
    fn collect_names(names: &mut Vec<&'static str>);
    /// Adds to `effective` the configuration each member would be built with (its section
    /// deserialized, defaults filled in), under its name, taking its section out of
    /// `sections`; a member that would not run (`Option<P>` without a section) adds nothing.
    fn effective_configs(
        sections: &mut PluginsSection,
        effective: &mut PluginsSection,
    ) -> Result<(), PluginError>;
}

/// Every name and alias the plugin set `P` answers to.
pub fn known_plugin_names<P: BuildPlugins>() -> Vec<&'static str> {
    let mut names = Vec::new();
    P::collect_names(&mut names);
    names
}

/// Builds `P` from the whole `plugins:` section; a key no member answers to is an error.
pub(crate) fn build_plugin_set<P: BuildPlugins>(
    section: &PluginsSection,
    ctx: &BrokerContext,
) -> Result<P, PluginError> {
    let mut sections = section.clone();
    let plugins = P::build_from(&mut sections, ctx)?;
    if let Some(name) = sections.names().next() {
        return Err(PluginError::Unknown {
            source_name: section.file().map_or_else(
                || "config".to_owned(),
                |f| format!("config file {}", f.display()),
            ),
            name: name.to_owned(),
            known: known_plugin_names::<P>().join(", "),
        });
    }
    Ok(plugins)
}

/// Adds to `effective` the configuration every member of `P` would be built with from
/// `section`, under the members' names (`Broker::check`, for `amqtt --check-config`).
pub(crate) fn effective_configs<P: BuildPlugins>(
    section: &PluginsSection,
    effective: &mut PluginsSection,
) -> Result<(), PluginError> {
    P::effective_configs(&mut section.clone(), effective)
}

/// Adds `T`'s `config` to `effective` under its name.
fn show_config<T: FromConfig>(
    config: &T::Config,
    effective: &mut PluginsSection,
) -> Result<(), PluginError> {
    effective
        .insert(T::NAME, config)
        .map_err(|source| PluginError::Config {
            plugin: T::NAME,
            source,
        })
}

/// Takes `T`'s section (by name or alias) and deserializes it; `None` when absent.
fn take_config<T: FromConfig>(
    sections: &mut PluginsSection,
) -> Result<Option<T::Config>, PluginError> {
    let answers = |name: &str| name == T::NAME || T::ALIASES.contains(&name);
    let found: Vec<String> = sections
        .names()
        .filter(|n| answers(n))
        .map(str::to_owned)
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [key] => sections
            .take::<T::Config>(key)
            .map_err(|source| PluginError::Config {
                plugin: T::NAME,
                source,
            }),
        [first, second, ..] => Err(PluginError::Duplicate {
            plugin: T::NAME,
            first: first.clone(),
            second: second.clone(),
        }),
    }
}

impl<T: FromConfig> BuildPlugins for T {
    fn build_from(sections: &mut PluginsSection, ctx: &BrokerContext) -> Result<Self, PluginError> {
        let config = take_config::<T>(sections)?.unwrap_or_default();
        T::build(config, &ctx.for_plugin(T::NAME)).map_err(|e| e.for_plugin(T::NAME))
    }
    fn collect_names(names: &mut Vec<&'static str>) {
        names.push(T::NAME);
        names.extend_from_slice(T::ALIASES);
    }
    fn effective_configs(
        sections: &mut PluginsSection,
        effective: &mut PluginsSection,
    ) -> Result<(), PluginError> {
        let config = take_config::<T>(sections)?.unwrap_or_default();
        show_config::<T>(&config, effective)
    }
}

impl<T: FromConfig> BuildPlugins for Option<T> {
    fn build_from(sections: &mut PluginsSection, ctx: &BrokerContext) -> Result<Self, PluginError> {
        match take_config::<T>(sections)? {
            Some(config) => T::build(config, &ctx.for_plugin(T::NAME))
                .map(Some)
                .map_err(|e| e.for_plugin(T::NAME)),
            None => Ok(None),
        }
    }
    fn collect_names(names: &mut Vec<&'static str>) {
        T::collect_names(names);
    }
    fn effective_configs(
        sections: &mut PluginsSection,
        effective: &mut PluginsSection,
    ) -> Result<(), PluginError> {
        match take_config::<T>(sections)? {
            Some(config) => show_config::<T>(&config, effective),
            None => Ok(()),
        }
    }
}

impl BuildPlugins for () {
    fn build_from(_: &mut PluginsSection, _: &BrokerContext) -> Result<Self, PluginError> {
        Ok(())
    }
    fn collect_names(_: &mut Vec<&'static str>) {}
    fn effective_configs(
        _: &mut PluginsSection,
        _: &mut PluginsSection,
    ) -> Result<(), PluginError> {
        Ok(())
    }
}

macro_rules! impl_build_tuple {
    ($($T:ident $i:tt),+) => {
        #[diagnostic::do_not_recommend]
        impl<$($T: BuildPlugins),+> BuildPlugins for ($($T,)+) {
            fn build_from(sections: &mut PluginsSection, ctx: &BrokerContext) -> Result<Self, PluginError> {
                Ok(($($T::build_from(sections, ctx)?,)+))
            }
            fn collect_names(names: &mut Vec<&'static str>) {
                $($T::collect_names(names);)+
            }
            fn effective_configs(
                sections: &mut PluginsSection,
                effective: &mut PluginsSection,
            ) -> Result<(), PluginError> {
                $($T::effective_configs(sections, effective)?;)+
                Ok(())
            }
        }
    };
}

for_each_arity!(impl_build_tuple; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15);

impl PluginsSection {
    /// `T`'s section of this `plugins:` mapping (found by name or alias), deserialized; `None`
    /// when it is absent. A plugin's [`reload`](super::Plugin::reload) reads its new
    /// configuration with it.
    pub fn config_of<T: FromConfig>(&self) -> Result<Option<T::Config>, PluginError> {
        take_config::<T>(&mut self.clone())
    }
}
