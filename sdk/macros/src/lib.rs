//! The `#[tessera_sdk::product]` attribute: turns `fn run(ctx: &mut Context) -> Result<()>`
//! into the component's exported `run` (and an optional `checks = NAME` function into its
//! `check` export), and rejects any other signature with a clear error. And
//! `tessera_sdk::ports!()`: typed ports generated from `product.toml` ([`ports`]).

mod ports;

use proc_macro::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType, Type, parse_macro_input};

const EXPECTED: &str =
    "a Tessera product is `fn run(ctx: &mut tessera_sdk::Context) -> tessera_sdk::Result<()>`";

/// Exports a function as the product's `run` (and, with `checks = NAME`, a function as its
/// custom checks); see the `tessera_sdk` docs.
#[proc_macro_attribute]
pub fn product(args: TokenStream, item: TokenStream) -> TokenStream {
    let checks = match parse_checks(proc_macro2::TokenStream::from(args)) {
        Ok(checks) => checks,
        Err(e) => {
            let error = e.to_compile_error();
            let item = proc_macro2::TokenStream::from(item);
            return quote! { #error #item }.into();
        }
    };
    let function = parse_macro_input!(item as ItemFn);
    if let Err(e) = check_signature(&function) {
        // Keep the function, so the only error is ours (no cascade of unused-import warnings).
        let error = e.to_compile_error();
        return quote! { #error #function }.into();
    }
    let name = &function.sig.ident;
    let output = &function.sig.output;
    let typed = quote_spanned! {output.span()=>
        let product: fn(&mut ::tessera_sdk::Context) -> ::tessera_sdk::Result<()> = #name;
    };
    let typed_checks = match &checks {
        Some(path) => quote_spanned! {path.span()=>
            let checks: fn(&mut ::tessera_sdk::Context) -> ::tessera_sdk::Result<::std::vec::Vec<::tessera_sdk::Check>> = #path;
        },
        None => quote! {
            let checks: fn(&mut ::tessera_sdk::Context) -> ::tessera_sdk::Result<::std::vec::Vec<::tessera_sdk::Check>> = ::tessera_sdk::__private::no_checks;
        },
    };
    quote! {
        #function

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct TesseraProduct;
            impl ::tessera_sdk::__private::Guest for TesseraProduct {
                fn run(
                    info: ::tessera_sdk::__private::WitRunInfo,
                ) -> ::core::result::Result<(), ::tessera_sdk::__private::WitError> {
                    #typed
                    ::tessera_sdk::__private::run(info, product)
                }

                fn check(
                    info: ::tessera_sdk::__private::WitRunInfo,
                ) -> ::core::result::Result<
                    ::std::vec::Vec<::tessera_sdk::__private::WitCheckResult>,
                    ::tessera_sdk::__private::WitError,
                > {
                    #typed_checks
                    ::tessera_sdk::__private::check(info, checks)
                }
            }
            ::tessera_sdk::__private::export!(TesseraProduct with_types_in ::tessera_sdk::__private::bindings);
        };

        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            #[allow(dead_code)]
            fn tessera_product_signature() {
                #typed
                let _ = ::tessera_sdk::__private::native(product);
                #typed_checks
                let _ = ::tessera_sdk::__private::native_checks(checks);
            }
        };
    }
    .into()
}

/// The attribute's arguments: nothing, or `checks = PATH`.
fn parse_checks(args: proc_macro2::TokenStream) -> syn::Result<Option<syn::Path>> {
    if args.is_empty() {
        return Ok(None);
    }
    let span = args.span();
    let pair: syn::MetaNameValue = syn::parse2(args).map_err(|_| {
        syn::Error::new(
            span,
            "#[tessera_sdk::product] takes nothing or `checks = FUNCTION`, e.g. #[tessera_sdk::product(checks = checks)]",
        )
    })?;
    if !pair.path.is_ident("checks") {
        return Err(syn::Error::new(
            pair.path.span(),
            "unknown argument; #[tessera_sdk::product] takes `checks = FUNCTION`",
        ));
    }
    match pair.value {
        syn::Expr::Path(p) => Ok(Some(p.path)),
        other => Err(syn::Error::new(
            other.span(),
            "`checks` names a function: `fn NAME(ctx: &mut Context) -> Result<Vec<Check>>`",
        )),
    }
}

fn check_signature(function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    if let Some(asyncness) = &sig.asyncness {
        return Err(syn::Error::new_spanned(
            asyncness,
            format!("a product function cannot be async; {EXPECTED}"),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("a product function cannot be generic; {EXPECTED}"),
        ));
    }
    if sig.inputs.len() != 1 {
        return Err(syn::Error::new(
            if sig.inputs.is_empty() {
                sig.ident.span()
            } else {
                sig.inputs.span()
            },
            format!("a product function takes exactly one argument, the context; {EXPECTED}"),
        ));
    }
    let arg = &sig.inputs[0];
    let FnArg::Typed(arg) = arg else {
        return Err(syn::Error::new(
            arg.span(),
            format!("a product function cannot take `self`; {EXPECTED}"),
        ));
    };
    let is_mut_context = match &*arg.ty {
        Type::Reference(r) => {
            r.mutability.is_some()
                && matches!(&*r.elem, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Context"))
        }
        _ => false,
    };
    if !is_mut_context {
        return Err(syn::Error::new_spanned(
            &arg.ty,
            format!("the argument must be `&mut Context`; {EXPECTED}"),
        ));
    }
    if matches!(sig.output, ReturnType::Default) {
        return Err(syn::Error::new(
            sig.ident.span(),
            format!("a product function returns `tessera_sdk::Result<()>`; {EXPECTED}"),
        ));
    }
    Ok(())
}

/// Typed ports generated from `product.toml`; see the `tessera_sdk::ports` docs.
#[proc_macro]
pub fn ports(args: TokenStream) -> TokenStream {
    let args = parse_macro_input!(args as ports::Args);
    // The calling file, relative to the compiler's working directory or absolute.
    let calling_file = proc_macro::Span::call_site().local_file();
    match ports::expand(args, calling_file) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}
