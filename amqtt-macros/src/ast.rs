//! The item under `#[plugin]`, as a typed model: an `impl Plugin for Type` whose functions are
//! sorted into `build` and hook candidates.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::{ImplItem, ImplItemConst, ImplItemFn, Item, ItemImpl};

/// Where `#[plugin]` belongs, for the error on any other item.
const PLACEMENT: &str = "#[plugin] goes on `impl Plugin for YourType { ... }`";

/// The name of the associated function that builds a plugin from its config.
pub(crate) const BUILD: &str = "build";
/// The constant `#[plugin]` computes, which the impl must not write itself.
pub(crate) const HOOKS: &str = "HOOKS";

/// An `impl Plugin for Type` without generic parameters.
pub(crate) struct PluginImpl {
    /// The impl as written, its items taken out into the fields below.
    pub(crate) item: ItemImpl,
    /// `fn build`, which moves to the `FromConfig` impl.
    pub(crate) build: Option<ImplItemFn>,
    /// Every other function: each must be a hook.
    pub(crate) fns: Vec<ImplItemFn>,
    /// A `const HOOKS` written by hand.
    pub(crate) hooks_const: Option<ImplItemConst>,
    /// Everything else, passed through unchanged.
    pub(crate) rest: Vec<ImplItem>,
}

impl PluginImpl {
    /// Reads `item` as an `impl Plugin for Type`; on anything else, the error to report.
    pub(crate) fn parse(item: TokenStream) -> syn::Result<PluginImpl> {
        let mut item = match syn::parse2::<Item>(item)? {
            Item::Impl(item) => item,
            other => return Err(not_an_impl(&other)),
        };
        match &item.trait_ {
            None => {
                let mut head = item.impl_token.to_token_stream();
                item.self_ty.to_tokens(&mut head);
                let message = format!("{PLACEMENT}, not on an inherent impl");
                return Err(syn::Error::new_spanned(head, message));
            }
            Some((bang, path, _)) => {
                let is_plugin = path.segments.last().is_some_and(|s| s.ident == "Plugin");
                if bang.is_some() || !is_plugin {
                    let trait_ = path.to_token_stream().to_string().replace(' ', "");
                    let message = format!("{PLACEMENT}, not on an impl of `{trait_}`");
                    return Err(syn::Error::new_spanned(path, message));
                }
            }
        }
        if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
            return Err(syn::Error::new_spanned(
                &item.generics,
                "plugins with generic parameters are not supported by #[plugin]; \
                 implement Plugin and FromConfig by hand",
            ));
        }
        let mut model = PluginImpl {
            item: ItemImpl {
                items: Vec::new(),
                ..item.clone()
            },
            build: None,
            fns: Vec::new(),
            hooks_const: None,
            rest: Vec::new(),
        };
        for member in std::mem::take(&mut item.items) {
            match member {
                ImplItem::Fn(f) if f.sig.ident == BUILD && model.build.is_none() => {
                    model.build = Some(f);
                }
                ImplItem::Fn(f) => model.fns.push(f),
                ImplItem::Const(c) if c.ident == HOOKS => model.hooks_const = Some(c),
                other => model.rest.push(other),
            }
        }
        Ok(model)
    }
}

/// The error for `#[plugin]` on an item that is not an impl, spanned on the item's keyword and
/// name rather than its whole body.
fn not_an_impl(item: &Item) -> syn::Error {
    fn head(keyword: &impl ToTokens, name: &impl ToTokens) -> TokenStream {
        let mut tokens = keyword.to_token_stream();
        name.to_tokens(&mut tokens);
        tokens
    }
    let head = match item {
        Item::Struct(s) => head(&s.struct_token, &s.ident),
        Item::Enum(e) => head(&e.enum_token, &e.ident),
        Item::Union(u) => head(&u.union_token, &u.ident),
        Item::Trait(t) => head(&t.trait_token, &t.ident),
        Item::Fn(f) => head(&f.sig.fn_token, &f.sig.ident),
        Item::Mod(m) => head(&m.mod_token, &m.ident),
        _ => return syn::Error::new(Span::call_site(), PLACEMENT),
    };
    syn::Error::new_spanned(head, PLACEMENT)
}
