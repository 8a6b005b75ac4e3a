//! amqtt-macros: the `#[plugin]` attribute, which turns an `impl Plugin for Type` into a plugin
//! the broker can configure.
//!
//! The expansion is a pipeline, as in serde and thiserror: `attr` reads the arguments, `ast`
//! models the impl, `validate` checks it against the table of hooks, `expand` writes the
//! impls. Every error is kept and reported at its token, and the impls are still emitted.
//!
//! The list of hooks is written once, in `hook_table`; amqtt-core generates the `Hooks`
//! constants, the trait's hook methods and the `Option`/tuple forwarding from it through the
//! hidden `__*` macros below, which are for amqtt-core only.

use proc_macro::TokenStream;

mod ast;
mod attr;
mod expand;
mod hook_items;
mod hook_table;
mod validate;

/// Makes an `impl Plugin for Type` a configurable broker plugin.
///
/// `#[plugin]` sets `Plugin::HOOKS` to exactly the hooks the impl defines, so the broker skips
/// every other hook at compile time, and generates the `FromConfig` impl from its arguments:
///
/// - `name = "..."` (required): the key of the plugin's section under `plugins:`;
/// - `alias = "..."` (optional, repeatable): another key it answers to, such as aMQTT's dotted
///   class path;
/// - `config = Type` (optional): the section's type, which must implement `serde::Deserialize`
///   and `Default`. The impl then defines
///   `fn build(config: Type, ctx: &BrokerContext) -> Result<Self, PluginError>`, which moves to
///   the `FromConfig` impl. Without `config`, the config is `()` and the plugin is built with
///   `Default::default()` unless the impl defines `fn build(_: (), ctx: &BrokerContext)`.
///
/// Every other function of the impl must be a hook of `Plugin`, with its signature; an unknown
/// name (`on_conect`) or a wrong shape (a sync `authenticate`) is an error at that function.
/// The impl must not have generic parameters: implement `Plugin` and `FromConfig` by hand then.
///
/// # Examples
///
/// ```
/// use amqtt_core::plugin::{BrokerContext, FromConfig, Hooks, Plugin, PluginError};
/// use amqtt_core::plugin::{SessionInfo, Verdict, plugin};
///
/// #[derive(serde::Deserialize, serde::Serialize, Default)]
/// struct GreeterConfig {
///     greeting: String,
///     #[serde(default)]
///     loud: bool,
/// }
///
/// struct Greeter {
///     greeting: String,
/// }
///
/// #[plugin(name = "greeter", alias = "my.module.GreeterPlugin", config = GreeterConfig)]
/// impl Plugin for Greeter {
///     fn build(config: GreeterConfig, _ctx: &BrokerContext) -> Result<Self, PluginError> {
///         let mut greeting = config.greeting;
///         if config.loud {
///             greeting.make_ascii_uppercase();
///         }
///         Ok(Greeter { greeting })
///     }
///
///     async fn on_broker_client_connected(&self, client_id: &str, _session: &SessionInfo) {
///         println!("{} {client_id}", self.greeting);
///     }
///
///     async fn authenticate(&self, _session: &SessionInfo) -> Verdict {
///         Verdict::Abstain
///     }
/// }
///
/// assert_eq!(<Greeter as FromConfig>::NAME, "greeter");
/// assert_eq!(<Greeter as FromConfig>::ALIASES, ["my.module.GreeterPlugin"]);
/// assert_eq!(Greeter::HOOKS, Hooks::CLIENT_CONNECTED.union(Hooks::AUTHENTICATE));
///
/// // No config: built with `Default::default()`, and no hook at all.
/// #[derive(Default)]
/// struct Quiet;
///
/// #[plugin(name = "quiet")]
/// impl Plugin for Quiet {}
///
/// assert!(Quiet::HOOKS.is_empty());
/// ```
#[proc_macro_attribute]
pub fn plugin(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(attr.into(), item.into()).into()
}

/// `impl Hooks { ... }`: a constant per hook, `ALL`, `NAMES` and `from_name`. For amqtt-core.
#[doc(hidden)]
#[proc_macro]
pub fn __hook_constants(_input: TokenStream) -> TokenStream {
    hook_items::hook_constants().into()
}

/// The hook methods of the `Plugin` trait, with their defaults. For amqtt-core.
#[doc(hidden)]
#[proc_macro]
pub fn __plugin_trait_hooks(_input: TokenStream) -> TokenStream {
    hook_items::trait_methods().into()
}

/// The hook methods of `Plugin for Option<P>`. For amqtt-core.
#[doc(hidden)]
#[proc_macro]
pub fn __option_hooks(_input: TokenStream) -> TokenStream {
    hook_items::option_methods().into()
}

/// The hook methods of `Plugin` for a tuple whose members are `A 0, B 1, ...`. For amqtt-core.
#[doc(hidden)]
#[proc_macro]
pub fn __tuple_hooks(input: TokenStream) -> TokenStream {
    hook_items::tuple_methods(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The errors of one expansion, combined so the compiler reports them all.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    /// Adds an error.
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// A `compile_error!` for each error; nothing when there were none.
    fn into_compile_errors(self) -> proc_macro2::TokenStream {
        self.0.map(|e| e.into_compile_error()).unwrap_or_default()
    }
}
