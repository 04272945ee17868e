//! The `#[tessera_sdk::product]` attribute: turns `fn run(ctx: &mut Context) -> Result<()>`
//! into the component's exported `run`, and rejects any other signature with a clear error.

use proc_macro::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType, Type, parse_macro_input};

const EXPECTED: &str =
    "a Tessera product is `fn run(ctx: &mut tessera_sdk::Context) -> tessera_sdk::Result<()>`";

/// Exports a function as the product's `run`; see the `tessera_sdk` docs.
#[proc_macro_attribute]
pub fn product(args: TokenStream, item: TokenStream) -> TokenStream {
    if !args.is_empty() {
        let args = proc_macro2::TokenStream::from(args);
        return syn::Error::new(args.span(), "#[tessera_sdk::product] takes no arguments")
            .to_compile_error()
            .into();
    }
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
            }
            ::tessera_sdk::__private::export!(TesseraProduct with_types_in ::tessera_sdk::__private::bindings);
        };

        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            #[allow(dead_code)]
            fn tessera_product_signature() {
                #typed
                let _ = ::tessera_sdk::__private::native(product);
            }
        };
    }
    .into()
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
