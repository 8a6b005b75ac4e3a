//! The arguments of `#[plugin(...)]`: `name = "..."`, `alias = "..."` (repeatable) and
//! `config = Type`.
//!
//! Parsing never stops at the first mistake: every bad argument is recorded, the parser skips to
//! the next comma, and what could be read is kept so the expansion can still emit its impls.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Ident, LitStr, Token, Type};

use crate::Errors;

/// The key of the plugin's section under `plugins:`.
pub(crate) const NAME: &str = "name";
/// Another key the plugin answers to; may be given more than once.
pub(crate) const ALIAS: &str = "alias";
/// The plugin's configuration type.
pub(crate) const CONFIG: &str = "config";

/// What `#[plugin(...)]` said, as far as it could be read.
#[derive(Default)]
pub(crate) struct Attr {
    /// `name = "..."`.
    pub(crate) name: Option<LitStr>,
    /// Whether a `name` key was written, even with a bad value (then its error is enough).
    name_seen: bool,
    /// Every `alias = "..."`, in order.
    pub(crate) aliases: Vec<LitStr>,
    /// `config = Type`.
    pub(crate) config: Option<ConfigArg>,
}

/// `config = Type`, with its tokens kept for error spans.
pub(crate) struct ConfigArg {
    /// The `config` key.
    pub(crate) key: Ident,
    /// The `=` between key and type.
    pub(crate) eq: Token![=],
    /// The configuration type.
    pub(crate) ty: Type,
}

impl ConfigArg {
    /// `config = Type` as tokens, to span an error over the whole argument.
    pub(crate) fn tokens(&self) -> TokenStream {
        let mut tokens = self.key.to_token_stream();
        self.eq.to_tokens(&mut tokens);
        self.ty.to_tokens(&mut tokens);
        tokens
    }
}

/// Parses the attribute's arguments, recording every problem in `errors`.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Attr {
    let mut attr = Attr::default();
    let parser = |input: ParseStream<'_>| parse_args(input, &mut attr, errors);
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    }
    if !attr.name_seen {
        errors.push(syn::Error::new(
            Span::call_site(),
            "#[plugin] needs `name = \"...\"`: the key of the plugin's section under `plugins:`",
        ));
    }
    attr
}

fn parse_args(input: ParseStream<'_>, attr: &mut Attr, errors: &mut Errors) -> syn::Result<()> {
    while !input.is_empty() {
        match parse_arg(input, attr) {
            Ok(()) if input.is_empty() || input.peek(Token![,]) => {}
            Ok(()) => errors.push(input.error("expected `,` between #[plugin] arguments")),
            Err(error) => errors.push(error),
        }
        // After a bad argument, resume at the next one.
        while !input.is_empty() && !input.peek(Token![,]) {
            input.parse::<TokenTree>()?;
        }
        if !input.is_empty() {
            input.parse::<Token![,]>()?;
        }
    }
    Ok(())
}

fn parse_arg(input: ParseStream<'_>, attr: &mut Attr) -> syn::Result<()> {
    if !input.peek(Ident::peek_any) {
        return Err(input.error(
            "expected `name = \"...\"`, `alias = \"...\"` or `config = Type` in #[plugin]",
        ));
    }
    let key = input.call(Ident::parse_any)?;
    let key_name = key.to_string();
    match key_name.as_str() {
        NAME => {
            if attr.name_seen {
                return Err(duplicate(&key));
            }
            attr.name_seen = true;
            let name = string_value(input, NAME)?;
            attr.name = Some(name);
        }
        ALIAS => {
            let alias = string_value(input, ALIAS)?;
            if attr.aliases.iter().any(|a| a.value() == alias.value()) {
                let message = format!("duplicate alias `{}` in #[plugin]", alias.value());
                return Err(syn::Error::new(alias.span(), message));
            }
            attr.aliases.push(alias);
        }
        CONFIG => {
            if attr.config.is_some() {
                return Err(duplicate(&key));
            }
            let eq = input.parse::<Token![=]>()?;
            let ty: Type = input
                .parse()
                .map_err(|e| syn::Error::new(e.span(), "expected `config = Type`"))?;
            attr.config = Some(ConfigArg { key, eq, ty });
        }
        _ => {
            let message = format!(
                "unknown #[plugin] key `{key_name}`; expected `{NAME}`, `{ALIAS}` or `{CONFIG}`"
            );
            return Err(syn::Error::new(key.span(), message));
        }
    }
    Ok(())
}

/// `= "..."`, not empty.
fn string_value(input: ParseStream<'_>, key: &str) -> syn::Result<LitStr> {
    input.parse::<Token![=]>()?;
    let value = input
        .parse::<LitStr>()
        .map_err(|e| syn::Error::new(e.span(), format!("expected `{key} = \"...\"`")))?;
    if value.value().is_empty() {
        let message = format!("`{key}` must not be empty");
        return Err(syn::Error::new(value.span(), message));
    }
    Ok(value)
}

fn duplicate(key: &Ident) -> syn::Error {
    syn::Error::new(key.span(), format!("duplicate `{key}` in #[plugin]"))
}
