//! The items amqtt-core generates from the hook table: the `Hooks` constants, the trait's hook
//! methods with their defaults, and the forwarding of `Option<P>` and of tuples. The names they
//! use (`Hooks`, `Verdict`, `SessionInfo`, ...) resolve where they are expanded, in
//! `amqtt_core::plugin`.

use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::{Expr, Index, Type};

use crate::hook_table::{Combine, HOOK_TABLE, HookSpec};

/// A type or expression of the table, as tokens.
fn parse<T: syn::parse::Parse>(text: &str) -> T {
    syn::parse_str(text).unwrap_or_else(|e| panic!("hook table entry `{text}`: {e}"))
}

impl HookSpec {
    fn ident(&self) -> Ident {
        format_ident!("{}", self.name)
    }

    fn constant_ident(&self) -> Ident {
        format_ident!("{}", self.constant)
    }

    /// `name: Type, ...`, each name prefixed with `prefix`.
    fn param_decls(&self, prefix: &str) -> Vec<TokenStream> {
        self.params
            .iter()
            .map(|(name, ty)| {
                let name = format_ident!("{prefix}{name}");
                let ty: Type = parse(ty);
                quote!(#name: #ty)
            })
            .collect()
    }

    /// The parameter names, to pass them on.
    fn args(&self) -> Vec<Ident> {
        self.params
            .iter()
            .map(|(name, _)| format_ident!("{name}"))
            .collect()
    }
}

/// `impl Hooks { CONSTANT..., ALL, NAMES, from_name }`.
pub(crate) fn hook_constants() -> TokenStream {
    let constants = HOOK_TABLE.iter().enumerate().map(|(bit, h)| {
        let constant = h.constant_ident();
        let doc = format!("`{}`.", h.name);
        let bit = u32::try_from(bit).expect("fewer than 32 hooks");
        quote!(#[doc = #doc] pub const #constant: Hooks = Hooks(1 << #bit);)
    });
    let all = HOOK_TABLE.iter().map(HookSpec::constant_ident);
    let names = HOOK_TABLE.iter().map(|h| h.name);
    let lookups = HOOK_TABLE.iter().map(|h| {
        let (name, constant) = (h.name, h.constant_ident());
        quote!(if const_str_eq(method, #name) { return Some(Hooks::#constant); })
    });
    quote! {
        impl Hooks {
            #(#constants)*

            /// Every hook.
            pub const ALL: Hooks = Hooks(0 #(| Hooks::#all.0)*);

            /// The hook method names, in bit order: what `#[plugin]` accepts.
            pub const NAMES: &'static [&'static str] = &[#(#names),*];

            /// The hook whose method is called `method`.
            pub const fn from_name(method: &str) -> Option<Hooks> {
                #(#lookups)*
                None
            }
        }
    }
}

/// The hook methods of the `Plugin` trait, each with its documentation and a default that does
/// nothing (and answers Abstain, or Ok).
pub(crate) fn trait_methods() -> TokenStream {
    HOOK_TABLE
        .iter()
        .map(|h| {
            let (doc, name, params) = (h.doc, h.ident(), h.param_decls("_"));
            if !h.is_async {
                return quote!(#[doc = #doc] fn #name(&self, #(#params),*) {});
            }
            let (output, body): (Type, TokenStream) = match h.returns() {
                Some(returns) => {
                    let answer: Expr = parse(h.combine.default_answer());
                    (parse(returns), quote!(#answer))
                }
                None => (parse("()"), TokenStream::new()),
            };
            quote! {
                #[doc = #doc]
                fn #name(&self, #(#params),*)
                    -> impl ::core::future::Future<Output = #output> + Send {
                    async { #body }
                }
            }
        })
        .collect()
}

/// The hook methods of `impl<P: Plugin> Plugin for Option<P>`: `Some` forwards, `None` does
/// nothing.
pub(crate) fn option_methods() -> TokenStream {
    HOOK_TABLE
        .iter()
        .map(|h| {
            let (name, params, args) = (h.ident(), h.param_decls(""), h.args());
            match (h.is_async, h.returns()) {
                (false, _) => quote! {
                    fn #name(&self, #(#params),*) {
                        if let Some(p) = self { p.#name(#(#args),*); }
                    }
                },
                (true, None) => quote! {
                    async fn #name(&self, #(#params),*) {
                        if let Some(p) = self { p.#name(#(#args),*).await; }
                    }
                },
                (true, Some(returns)) => {
                    let returns: Type = parse(returns);
                    let answer: Expr = parse(h.combine.default_answer());
                    quote! {
                        async fn #name(&self, #(#params),*) -> #returns {
                            match self {
                                Some(p) => p.#name(#(#args),*).await,
                                None => #answer,
                            }
                        }
                    }
                }
            }
        })
        .collect()
}

/// The hook methods of a tuple's `Plugin` impl, from its members `A 0, B 1, ...`: each member
/// whose `HOOKS` has the hook is called in order (a test on a constant, so the other calls are
/// compiled out), and the answers are combined as the table says.
pub(crate) fn tuple_methods(members: TokenStream) -> syn::Result<TokenStream> {
    let members = parse_members(members)?;
    let methods = HOOK_TABLE.iter().map(|h| {
        let (name, constant, params, args) =
            (h.ident(), h.constant_ident(), h.param_decls(""), h.args());
        let calls = members.iter().map(|(ty, index)| {
            let await_ = h.is_async.then(|| quote!(.await));
            let call = quote!(self.#index.#name(#(#args),*)#await_);
            let step = match h.combine {
                Combine::Each => quote!(#call;),
                Combine::Verdicts => quote!(verdict = verdict.and(#call);),
                Combine::VerdictsUntilDeny => quote! {
                    if !verdict.permits() {
                        return verdict;
                    }
                    verdict = verdict.and(#call);
                },
                Combine::UntilError => quote!(#call?;),
                Combine::FirstAnswer => quote! {
                    let answer = #call;
                    if !answer.abstains() {
                        return answer;
                    }
                },
                Combine::Staged => quote!(staged = staged.and(#call?);),
            };
            quote!(if #ty::HOOKS.contains(Hooks::#constant) { #step })
        });
        let asyncness = h.is_async.then(|| quote!(async));
        match h.combine {
            Combine::Each => quote! {
                #asyncness fn #name(&self, #(#params),*) { #(#calls)* }
            },
            Combine::Verdicts | Combine::VerdictsUntilDeny => quote! {
                #asyncness fn #name(&self, #(#params),*) -> Verdict {
                    let mut verdict = Verdict::Abstain;
                    #(#calls)*
                    verdict
                }
            },
            Combine::UntilError => quote! {
                #asyncness fn #name(&self, #(#params),*) -> Result<(), PluginError> {
                    #(#calls)*
                    Ok(())
                }
            },
            Combine::FirstAnswer => quote! {
                #asyncness fn #name(&self, #(#params),*) -> AuthAnswer {
                    #(#calls)*
                    AuthAnswer::Abstain
                }
            },
            Combine::Staged => quote! {
                #asyncness fn #name(&self, #(#params),*) -> Result<Reload<'_>, PluginError> {
                    let mut staged = Reload::none();
                    #(#calls)*
                    Ok(staged)
                }
            },
        }
    });
    Ok(methods.collect())
}

/// `A 0, B 1, ...` as (type parameter, field index) pairs.
fn parse_members(members: TokenStream) -> syn::Result<Vec<(Ident, Index)>> {
    let mut pairs = Vec::new();
    let mut tokens = members.into_iter().peekable();
    while let Some(token) = tokens.next() {
        let TokenTree::Ident(ty) = token else {
            return Err(syn::Error::new(token.span(), "expected a type parameter"));
        };
        let index = match tokens.next() {
            Some(TokenTree::Literal(literal)) => syn::parse_str::<Index>(&literal.to_string())?,
            other => {
                let span = other.map_or(ty.span(), |t| t.span());
                return Err(syn::Error::new(span, "expected a field index"));
            }
        };
        pairs.push((ty, index));
        if let Some(TokenTree::Punct(p)) = tokens.peek()
            && p.as_char() == ','
        {
            tokens.next();
        }
    }
    Ok(pairs)
}
