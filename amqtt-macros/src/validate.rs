//! The checks of `#[plugin]`: every function of the impl is `build` or a known hook with the
//! right shape, and `config = T` comes with a `fn build`.
//!
//! Each check records its error and sets the offending item aside (it is emitted in an inherent
//! impl, where its body is still checked and its imports count as used), so the expansion stays
//! well-formed and the user sees the error at its cause rather than a cascade from the compiler.

use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, LitStr, ReturnType, Type};

use crate::Errors;
use crate::ast::{BUILD, PluginImpl};
use crate::attr::Attr;
use crate::hook_table::{HOOK_TABLE, HookSpec, lookup};

impl HookSpec {
    /// Whether `f` has this hook's receiver, parameter count, async-ness and return shape.
    /// Types are left to the compiler, which checks the impl against the trait.
    fn accepts(&self, f: &ImplItemFn) -> bool {
        let sig = &f.sig;
        let receiver = matches!(
            sig.inputs.first(),
            Some(FnArg::Receiver(r))
                if r.reference.is_some() && r.mutability.is_none() && r.colon_token.is_none()
        );
        let params = sig.inputs.iter().filter(|a| matches!(a, FnArg::Typed(_)));
        let returns_unit = match &sig.output {
            ReturnType::Default => true,
            ReturnType::Type(_, ty) => matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()),
        };
        let shape = match (self.is_async, sig.asyncness.is_some()) {
            (true, true) => returns_unit == self.returns().is_none(),
            // `fn hook(&self) -> impl Future<Output = ...> + Send { async { ... } }`.
            (true, false) => {
                matches!(&sig.output, ReturnType::Type(_, ty) if matches!(**ty, Type::ImplTrait(_)))
            }
            (false, false) => returns_unit,
            (false, true) => false,
        };
        receiver && params.count() == self.params.len() && shape
    }
}

/// How the generated `FromConfig::build` builds the plugin.
pub(crate) enum Build {
    /// The impl's own `fn build`.
    User(Box<ImplItemFn>),
    /// No config and no `fn build`: `Default::default()`.
    Default,
    /// The impl's `fn build` is missing or wrong (an error says so): a body that never runs.
    Stub,
}

/// A checked plugin, ready to expand.
pub(crate) struct Plugin {
    /// The impl without its items.
    pub(crate) item: ItemImpl,
    /// The plugin's name (`None` only after an error).
    pub(crate) name: Option<LitStr>,
    /// Its aliases.
    pub(crate) aliases: Vec<LitStr>,
    /// Its config type, when it has one.
    pub(crate) config: Option<Type>,
    /// The hooks with the right shape, with their table entries.
    pub(crate) hooks: Vec<(ImplItemFn, &'static HookSpec)>,
    /// What builds it.
    pub(crate) build: Build,
    /// The impl's other items.
    pub(crate) rest: Vec<ImplItem>,
    /// The items an error was reported for.
    pub(crate) rejected: Vec<ImplItem>,
}

/// Checks `imp` against the table and `attr`, recording every problem in `errors`.
pub(crate) fn validate(attr: Attr, imp: PluginImpl, errors: &mut Errors) -> Plugin {
    let mut hooks = Vec::new();
    let mut rejected = Vec::new();
    for f in imp.fns {
        match lookup(&f.sig.ident.to_string()) {
            None if f.sig.ident == BUILD => {
                errors.push(syn::Error::new_spanned(
                    &f.sig.ident,
                    "duplicate `fn build`",
                ));
                rejected.push(ImplItem::Fn(f));
            }
            None => {
                let expected = HOOK_TABLE.iter().map(|h| h.name).collect::<Vec<_>>();
                let message = format!(
                    "unknown hook `{}`; expected one of: {}",
                    f.sig.ident,
                    expected.join(", ")
                );
                errors.push(syn::Error::new_spanned(&f.sig.ident, message));
                rejected.push(ImplItem::Fn(f));
            }
            Some(spec) if !spec.accepts(&f) => {
                let mut message = format!("hook `{}` must be `{}`", spec.name, spec.signature());
                if !spec.is_async {
                    message.push_str("; it runs once per packet, so it is not async");
                }
                errors.push(syn::Error::new_spanned(&f.sig, message));
                rejected.push(ImplItem::Fn(f));
            }
            Some(spec) => hooks.push((f, spec)),
        }
    }
    if let Some(c) = imp.hooks_const {
        errors.push(syn::Error::new_spanned(
            &c.ident,
            "`HOOKS` is set by #[plugin] from the hooks this impl defines; remove it",
        ));
        rejected.push(ImplItem::Const(c));
    }
    let config_name = attr
        .config
        .as_ref()
        .map_or_else(|| "()".to_owned(), |c| type_name(&c.ty));
    let build = match imp.build {
        Some(f) if !build_accepts(&f) => {
            let message = format!(
                "`build` must be `fn build(config: {config_name}, ctx: &BrokerContext) \
                 -> Result<Self, PluginError>`"
            );
            errors.push(syn::Error::new_spanned(&f.sig, message));
            rejected.push(ImplItem::Fn(f));
            Build::Stub
        }
        Some(f) => match (&attr.config, first_param_type(&f)) {
            (None, Some(ty)) if !matches!(ty, Type::Tuple(t) if t.elems.is_empty()) => {
                let name = type_name(ty);
                let message = format!(
                    "`fn build` takes a `{name}` but #[plugin] names no config; \
                     add `config = {name}` to #[plugin]"
                );
                errors.push(syn::Error::new_spanned(ty, message));
                rejected.push(ImplItem::Fn(f));
                Build::Stub
            }
            _ => Build::User(Box::new(f)),
        },
        None => match &attr.config {
            None => Build::Default,
            Some(config) => {
                let message = format!(
                    "a plugin with `config = {config_name}` needs `fn build(config: {config_name}, \
                     ctx: &BrokerContext) -> Result<Self, PluginError>` in its impl"
                );
                errors.push(syn::Error::new_spanned(config.tokens(), message));
                Build::Stub
            }
        },
    };
    Plugin {
        item: imp.item,
        name: attr.name,
        aliases: attr.aliases,
        config: attr.config.map(|c| c.ty),
        hooks,
        build,
        rest: imp.rest,
        rejected,
    }
}

/// `fn build(config, ctx)`: an associated function of two parameters, not async.
fn build_accepts(f: &ImplItemFn) -> bool {
    f.sig.asyncness.is_none()
        && f.sig.inputs.len() == 2
        && f.sig.inputs.iter().all(|a| matches!(a, FnArg::Typed(_)))
}

fn first_param_type(f: &ImplItemFn) -> Option<&Type> {
    match f.sig.inputs.first()? {
        FnArg::Typed(p) => Some(&p.ty),
        FnArg::Receiver(_) => None,
    }
}

/// A type as the user would write it (`a::B<C>`, not `a :: B < C >`).
fn type_name(ty: &Type) -> String {
    let mut name = quote::quote!(#ty).to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" < ", "<"),
        (" >", ">"),
        (" ,", ","),
    ] {
        name = name.replace(from, to);
    }
    name.replace("& ", "&")
}

#[cfg(test)]
mod tests {
    use crate::hook_table::{HOOK_TABLE, lookup};
    use amqtt_core::plugin::Hooks;

    #[test]
    fn table_lists_the_hooks_of_the_trait_in_bit_order() {
        let names: Vec<&str> = HOOK_TABLE.iter().map(|h| h.name).collect();
        assert_eq!(names, Hooks::NAMES);
    }

    #[test]
    fn signatures_read_like_the_trait() {
        let spec = lookup("authenticate").expect("a hook");
        assert_eq!(
            spec.signature(),
            "async fn authenticate(&self, session: &SessionInfo) -> Verdict"
        );
        let spec = lookup("on_mqtt_packet_sent").expect("a hook");
        assert_eq!(
            spec.signature(),
            "fn on_mqtt_packet_sent(&self, packet: &Packet, session: Option<&SessionInfo>)"
        );
    }
}
