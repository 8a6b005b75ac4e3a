//! Building a plugin set from the `plugins:` section of the configuration.

use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use super::{BrokerContext, Plugin};
use crate::config::{ConfigError, PluginsSection};

/// A type that can configure a plugin: deserializable, with defaults for an empty section, and
/// serializable, so that `amqtt --check-config` shows the configuration in effect.
///
/// Its section is read through [`crate::config::yaml11`], so its booleans and numbers read as in
/// aMQTT (`enabled: on`, `limit: 1_000`) with no attribute on any field.
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

/// The keys a member of a plugin set answers to under `plugins:`, and whether its section
/// switches it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginKeys {
    /// The plugin's [`FromConfig::NAME`].
    pub name: &'static str,
    /// Its [`FromConfig::ALIASES`].
    pub aliases: &'static [&'static str],
    /// On only when its section is present (an `Option<P>` member); otherwise always on.
    pub optional: bool,
}

impl PluginKeys {
    /// The keys of the plugin `T`, on only when configured if `optional`.
    pub fn of<T: FromConfig>(optional: bool) -> PluginKeys {
        PluginKeys {
            name: T::NAME,
            aliases: T::ALIASES,
            optional,
        }
    }

    /// Whether `key` names this member.
    pub fn answers(&self, key: &str) -> bool {
        key == self.name || self.aliases.contains(&key)
    }

    /// Whether `section` has a key that names this member.
    pub fn configured_in(&self, section: &PluginsSection) -> bool {
        section.names().any(|key| self.answers(key))
    }
}

/// A plugin set that can be built from a `plugins:` section: a [`FromConfig`] plugin (always
/// on), `Option<P>` of one (on only when its section is present), `()` and tuples of these.
pub trait BuildPlugins: Plugin + Sized {
    /// Builds the set, taking the sections its members answer to out of `sections`.
    fn build_from(sections: &mut PluginsSection, ctx: &BrokerContext) -> Result<Self, PluginError>;
    /// Adds the keys of every member to `members`, in member order.
    fn collect_members(members: &mut Vec<PluginKeys>);
    /// Adds to `effective` the configuration each member would be built with (its section
    /// deserialized, defaults filled in), under its name, taking its section out of
    /// `sections`; a member that would not run (`Option<P>` without a section) adds nothing.
    fn effective_configs(
        sections: &mut PluginsSection,
        effective: &mut PluginsSection,
    ) -> Result<(), PluginError>;
}

/// The keys of every member of the plugin set `P`.
pub fn plugin_members<P: BuildPlugins>() -> Vec<PluginKeys> {
    let mut members = Vec::new();
    P::collect_members(&mut members);
    members
}

/// Every name and alias the plugin set `P` answers to.
pub fn known_plugin_names<P: BuildPlugins>() -> Vec<&'static str> {
    plugin_members::<P>()
        .into_iter()
        .flat_map(|member| std::iter::once(member.name).chain(member.aliases.iter().copied()))
        .collect()
}

/// Checks that every key of `section` names a member of `P` or is one of `others` (the
/// store's keys, which are known names too); the error is the one a start gives, listing the
/// known names.
pub(crate) fn check_known_keys<P: BuildPlugins>(
    section: &PluginsSection,
    others: &[&'static str],
) -> Result<(), PluginError> {
    let members = plugin_members::<P>();
    let known = |key: &str| members.iter().any(|m| m.answers(key)) || others.contains(&key);
    match section.names().find(|key| !known(key)) {
        None => Ok(()),
        Some(name) => Err(PluginError::Unknown {
            source_name: section.file().map_or_else(
                || "config".to_owned(),
                |f| format!("config file {}", f.display()),
            ),
            name: name.to_owned(),
            known: known_plugin_names::<P>()
                .into_iter()
                .chain(others.iter().copied())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Builds `P` from the whole `plugins:` section; a key that is neither a member's nor one of
/// `others` is an error.
pub(crate) fn build_plugin_set<P: BuildPlugins>(
    section: &PluginsSection,
    others: &[&'static str],
    ctx: &BrokerContext,
) -> Result<P, PluginError> {
    check_known_keys::<P>(section, others)?;
    P::build_from(&mut section.clone(), ctx)
}

/// Adds `config`, the configuration in effect of the plugin (or store) `name`, to `effective`
/// under that name (`Broker::check`, for `amqtt --check-config`).
pub(crate) fn insert_effective(
    name: &'static str,
    config: &impl Serialize,
    effective: &mut PluginsSection,
) -> Result<(), PluginError> {
    effective
        .insert(name, config)
        .map_err(|source| PluginError::Config {
            plugin: name,
            source,
        })
}

/// Takes `T`'s section (by name or alias) and deserializes it; `None` when absent.
fn take_config<T: FromConfig>(
    sections: &mut PluginsSection,
) -> Result<Option<T::Config>, PluginError> {
    let keys = PluginKeys::of::<T>(false);
    let found: Vec<String> = sections
        .names()
        .filter(|n| keys.answers(n))
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
    fn collect_members(members: &mut Vec<PluginKeys>) {
        members.push(PluginKeys::of::<T>(false));
    }
    fn effective_configs(
        sections: &mut PluginsSection,
        effective: &mut PluginsSection,
    ) -> Result<(), PluginError> {
        let config = take_config::<T>(sections)?.unwrap_or_default();
        insert_effective(T::NAME, &config, effective)
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
    fn collect_members(members: &mut Vec<PluginKeys>) {
        members.push(PluginKeys::of::<T>(true));
    }
    fn effective_configs(
        sections: &mut PluginsSection,
        effective: &mut PluginsSection,
    ) -> Result<(), PluginError> {
        match take_config::<T>(sections)? {
            Some(config) => insert_effective(T::NAME, &config, effective),
            None => Ok(()),
        }
    }
}

impl BuildPlugins for () {
    fn build_from(_: &mut PluginsSection, _: &BrokerContext) -> Result<Self, PluginError> {
        Ok(())
    }
    fn collect_members(_: &mut Vec<PluginKeys>) {}
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
            fn collect_members(members: &mut Vec<PluginKeys>) {
                $($T::collect_members(members);)+
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
