//! The output of `#[plugin]`: the `Plugin` impl with its `HOOKS` constant, and a `FromConfig`
//! impl with the name, aliases, config type and `build`.
//!
//! Both impls are emitted even after an error, with the offending items moved to an inherent
//! impl, so the only errors the user sees are the ones `#[plugin]` reports.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{ImplItem, parse_quote};

use crate::Errors;
use crate::ast::PluginImpl;
use crate::validate::{self, Build, Plugin};

/// Expands `#[plugin(attr)] item`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let attr = crate::attr::parse(attr, &mut errors);
    let imp = match PluginImpl::parse(item.clone()) {
        Ok(imp) => imp,
        Err(error) => {
            // Not something `#[plugin]` can work on: leave it as it was.
            errors.push(error);
            let errors = errors.into_compile_errors();
            return quote!(#item #errors);
        }
    };
    let plugin = validate::validate(attr, imp, &mut errors);
    let plugin_impl = plugin_impl(&plugin);
    let from_config = from_config_impl(&plugin);
    let rejected = rejected_impl(&plugin);
    let errors = errors.into_compile_errors();
    quote! {
        #plugin_impl
        #from_config
        #rejected
        #errors
    }
}

/// The impl as written, `fn build` taken out and `const HOOKS` put in.
fn plugin_impl(plugin: &Plugin) -> TokenStream {
    let hooks_ty = quote!(::amqtt_core::plugin::Hooks);
    let bits = plugin.hooks.iter().map(|(f, spec)| {
        let constant = format_ident!("{}", spec.constant);
        let cfgs: Vec<&TokenStream> = f
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("cfg"))
            .filter_map(|a| a.meta.require_list().ok().map(|l| &l.tokens))
            .collect();
        if cfgs.is_empty() {
            quote!(#hooks_ty::#constant)
        } else {
            // A hook compiled out by `#[cfg]` is not in `HOOKS` either.
            quote!({
                #[cfg(all(#(#cfgs),*))]
                let bit = #hooks_ty::#constant;
                #[cfg(not(all(#(#cfgs),*)))]
                let bit = #hooks_ty::NONE;
                bit
            })
        }
    });
    let hooks_const: ImplItem = parse_quote! {
        const HOOKS: #hooks_ty = #hooks_ty::NONE #(.union(#bits))*;
    };
    let mut item = plugin.item.clone();
    item.items = std::iter::once(hooks_const)
        .chain(plugin.hooks.iter().map(|(f, _)| ImplItem::Fn(f.clone())))
        .chain(plugin.rest.iter().cloned())
        .collect();
    item.into_token_stream()
}

/// `impl FromConfig for Type`: the plugin's name, aliases, config and `build`.
fn from_config_impl(plugin: &Plugin) -> TokenStream {
    let self_ty = &plugin.item.self_ty;
    let name = plugin
        .name
        .as_ref()
        .map_or_else(|| quote!(""), ToTokens::to_token_stream);
    let aliases = &plugin.aliases;
    let config = plugin
        .config
        .as_ref()
        .map_or_else(|| quote!(()), ToTokens::to_token_stream);
    let build = match &plugin.build {
        Build::User(f) => f.to_token_stream(),
        Build::Default => {
            // Spanned on the type, so a missing `Default` is reported there.
            let default = quote_spanned!(self_ty.span()=>
                <#self_ty as ::core::default::Default>::default()
            );
            build_fn(&config, quote!(::core::result::Result::Ok(#default)))
        }
        Build::Stub => build_fn(
            &config,
            quote!(::core::unimplemented!("#[plugin] reported an error")),
        ),
    };
    quote! {
        impl ::amqtt_core::plugin::FromConfig for #self_ty {
            const NAME: &'static str = #name;
            const ALIASES: &'static [&'static str] = &[#(#aliases),*];
            type Config = #config;
            #build
        }
    }
}

/// The items an error was reported for, in an inherent impl: their bodies are still checked,
/// and what they use is not reported as unused.
fn rejected_impl(plugin: &Plugin) -> TokenStream {
    if plugin.rejected.is_empty() {
        return TokenStream::new();
    }
    let self_ty = &plugin.item.self_ty;
    let rejected = &plugin.rejected;
    quote! {
        #[allow(dead_code)]
        impl #self_ty {
            #(#rejected)*
        }
    }
}

fn build_fn(config: &TokenStream, body: TokenStream) -> TokenStream {
    quote! {
        fn build(
            _config: #config,
            _ctx: &::amqtt_core::plugin::BrokerContext,
        ) -> ::core::result::Result<Self, ::amqtt_core::plugin::PluginError> {
            #body
        }
    }
}
