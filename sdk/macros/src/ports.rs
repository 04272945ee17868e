//! `tessera_sdk::ports!()`: typed ports generated from `product.toml` at compile time.
//!
//! For every input whose columns the manifest declares (an `ingest` schema, or an upstream
//! output whose manifest is named with `upstream = [...]`) it generates a `Row<'a>` of borrowed
//! values and a `Columns<'a>` of typed column views; for every output, an owned `Row` and
//! `batch`/`write` functions that build the declared columns in declared order. Required
//! columns are plain values, the others `Option`s; text is `&str` (`String` when written),
//! binary `&[u8]` (`Vec<u8>`), timestamps `i64` microseconds. A column the manifest does not
//! declare is not a field, so reading it, or writing a value of the wrong type, fails to
//! compile; the generated items are spanned at the `ports!` call, which names the manifest.

use std::path::{Path, PathBuf};

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token};

/// `ports!()`, `ports!(manifest = "../product.toml")`,
/// `ports!(upstream = ["../../a/product.toml"])`.
pub(crate) struct Args {
    manifest: Option<LitStr>,
    upstream: Vec<LitStr>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args {
            manifest: None,
            upstream: Vec::new(),
        };
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "manifest" => args.manifest = Some(input.parse()?),
                "upstream" => {
                    let content;
                    syn::bracketed!(content in input);
                    let paths = content.parse_terminated(|p| p.parse::<LitStr>(), Token![,])?;
                    args.upstream.extend(paths);
                }
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        "unknown argument; ports! takes `manifest = \"product.toml\"` and `upstream = [\"../other/product.toml\", ...]`",
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// A declared column.
struct DeclaredColumn {
    name: String,
    kind: Kind,
    required: bool,
}

#[derive(Clone, Copy)]
enum Kind {
    Float64,
    Float32,
    Int64,
    Boolean,
    Text,
    Timestamp,
    Binary,
}

impl Kind {
    fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "float64" => Kind::Float64,
            "float32" => Kind::Float32,
            "int64" => Kind::Int64,
            "boolean" => Kind::Boolean,
            "text" => Kind::Text,
            "timestamp" => Kind::Timestamp,
            "binary" => Kind::Binary,
            _ => return None,
        })
    }
}

/// Expands `ports!(...)`. Paths given are relative to `calling_file`'s folder (as with
/// `include_str!`); without `manifest`, it is the crate's `product.toml`.
pub(crate) fn expand(args: Args, calling_file: Option<PathBuf>) -> syn::Result<TokenStream> {
    let span = Span::call_site();
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .map_err(|_| syn::Error::new(span, "ports! needs CARGO_MANIFEST_DIR (build with cargo)"))?;
    // The compiler's working directory is what a relative source path is relative to.
    let cwd = std::env::current_dir().unwrap_or_else(|_| root.clone());
    let here = calling_file
        .map(|file| cwd.join(file))
        .as_deref()
        .and_then(Path::parent)
        .map_or_else(|| root.clone(), Path::to_path_buf);
    let manifest_path = args
        .manifest
        .as_ref()
        .map_or_else(|| root.join("product.toml"), |p| here.join(p.value()));
    let manifest = read_manifest(
        &manifest_path,
        args.manifest.as_ref().map_or(span, LitStr::span),
    )?;
    let mut upstream = Vec::new();
    for path in &args.upstream {
        let full = here.join(path.value());
        upstream.push((read_manifest(&full, path.span())?, full));
    }
    let mut modules = Vec::new();
    let mut tracked = vec![manifest_path.clone()];
    for input in array(&manifest, "inputs") {
        let name = string(input, "name").unwrap_or_default();
        let columns = if let Some(ingest) = input.get("ingest") {
            Some((
                columns(ingest, &manifest_path, &name)?,
                format!("ingested, as `{}` declares", manifest_path.display()),
            ))
        } else if let Some(from) = input.get("from").and_then(toml::Value::as_str) {
            let (product, port) = from
                .split('@')
                .next()
                .unwrap_or(from)
                .split_once('/')
                .unwrap_or((from, ""));
            match upstream.iter().find(|(m, _)| {
                m.get("product").and_then(|p| string(p, "name")).as_deref() == Some(product)
            }) {
                Some((m, path)) => {
                    tracked.push(path.clone());
                    let output = array(m, "outputs")
                        .into_iter()
                        .find(|o| string(o, "name").as_deref() == Some(port))
                        .ok_or_else(|| {
                            syn::Error::new(
                                span,
                                format!(
                                    "input `{name}` reads `{from}`, but `{}` declares no output `{port}`",
                                    path.display()
                                ),
                            )
                        })?;
                    let schema = output.get("schema").ok_or_else(|| {
                        syn::Error::new(
                            span,
                            format!("output `{port}` in `{}` has no schema", path.display()),
                        )
                    })?;
                    Some((
                        columns(schema, path, port)?,
                        format!("`{from}`, as `{}` declares", path.display()),
                    ))
                }
                None => None,
            }
        } else {
            None
        };
        match columns {
            Some((columns, source)) if !columns.is_empty() => {
                modules.push(input_module(&name, &columns, &source)?)
            }
            _ => modules.push(untyped_input_module(&name)?),
        }
    }
    for output in array(&manifest, "outputs") {
        let name = string(output, "name").unwrap_or_default();
        let schema = output.get("schema").ok_or_else(|| {
            syn::Error::new(
                span,
                format!(
                    "output `{name}` in `{}` has no schema",
                    manifest_path.display()
                ),
            )
        })?;
        let columns = columns(schema, &manifest_path, &name)?;
        modules.push(output_module(&name, &columns, &manifest_path)?);
    }
    let tracked = tracked.iter().map(|p| p.display().to_string());
    Ok(quote! {
        /// The product's ports, typed from its manifest by `tessera_sdk::ports!`.
        #[allow(dead_code, clippy::all)]
        pub mod ports {
            // Rebuilt when a manifest changes.
            #(const _: &[u8] = include_bytes!(#tracked);)*
            #(#modules)*
        }
    })
}

fn read_manifest(path: &Path, span: Span) -> syn::Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| syn::Error::new(span, format!("cannot read `{}`: {e}", path.display())))?;
    text.parse::<toml::Table>()
        .map_err(|e| syn::Error::new(span, format!("`{}` does not parse: {e}", path.display())))
}

fn array<'a>(table: &'a toml::Table, key: &str) -> Vec<&'a toml::Value> {
    table
        .get(key)
        .and_then(toml::Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn string(value: &toml::Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(toml::Value::as_str)
        .map(str::to_string)
}

fn columns(schema: &toml::Value, path: &Path, port: &str) -> syn::Result<Vec<DeclaredColumn>> {
    let span = Span::call_site();
    let table = schema.as_table().ok_or_else(|| {
        syn::Error::new(
            span,
            format!(
                "port `{port}` in `{}`: the schema is not a table",
                path.display()
            ),
        )
    })?;
    table
        .iter()
        .map(|(name, spec)| {
            let (type_name, required) = match spec {
                toml::Value::String(t) => (t.as_str(), false),
                toml::Value::Table(t) => (
                    t.get("type").and_then(toml::Value::as_str).unwrap_or(""),
                    t.get("required").and_then(toml::Value::as_bool).unwrap_or(false),
                ),
                _ => ("", false),
            };
            let kind = Kind::parse(type_name).ok_or_else(|| {
                syn::Error::new(
                    span,
                    format!(
                        "port `{port}` in `{}`: column `{name}` has no known type (float64, float32, int64, boolean, text, timestamp, binary)",
                        path.display()
                    ),
                )
            })?;
            Ok(DeclaredColumn {
                name: name.clone(),
                kind,
                required,
            })
        })
        .collect()
}

/// A Rust identifier for a declared name (a raw one for keywords).
fn ident(name: &str) -> syn::Result<Ident> {
    if syn::parse_str::<Ident>(name).is_ok() {
        return Ok(format_ident!("{}", name));
    }
    match name {
        "self" | "Self" | "super" | "crate" | "_" => Err(syn::Error::new(
            Span::call_site(),
            format!("`{name}` cannot name a typed field; rename the column in product.toml"),
        )),
        _ => Ok(Ident::new_raw(name, Span::call_site())),
    }
}

fn input_module(port: &str, columns: &[DeclaredColumn], source: &str) -> syn::Result<TokenStream> {
    let module = ident(port)?;
    let doc = format!("Input `{port}`: {source}.");
    let mut fields = Vec::new();
    let mut views = Vec::new();
    let mut lookups = Vec::new();
    let mut values = Vec::new();
    for column in columns {
        let field = ident(&column.name)?;
        let name = &column.name;
        let (value, view, getter) = match column.kind {
            Kind::Float64 => (
                quote!(f64),
                quote!(::tessera_sdk::Primitive<'a, f64>),
                quote!(f64),
            ),
            Kind::Float32 => (
                quote!(f32),
                quote!(::tessera_sdk::Primitive<'a, f32>),
                quote!(f32),
            ),
            Kind::Int64 => (
                quote!(i64),
                quote!(::tessera_sdk::Primitive<'a, i64>),
                quote!(i64),
            ),
            Kind::Boolean => (
                quote!(bool),
                quote!(::tessera_sdk::Primitive<'a, bool>),
                quote!(boolean),
            ),
            Kind::Timestamp => (
                quote!(i64),
                quote!(::tessera_sdk::Primitive<'a, i64>),
                quote!(timestamp),
            ),
            Kind::Text => (
                quote!(&'a str),
                quote!(::tessera_sdk::Var<'a, str>),
                quote!(text),
            ),
            Kind::Binary => (
                quote!(&'a [u8]),
                quote!(::tessera_sdk::Var<'a, [u8]>),
                quote!(binary),
            ),
        };
        let required = if column.required {
            "required"
        } else {
            "nullable"
        };
        let field_doc = format!("`{name}` ({required}).");
        if column.required {
            fields.push(quote!(#[doc = #field_doc] pub #field: #value));
            values.push(quote! {
                #field: self.#field.get(i).ok_or_else(|| ::tessera_sdk::__private::null_in_required(#port, #name, i))?
            });
        } else {
            fields.push(quote!(#[doc = #field_doc] pub #field: ::core::option::Option<#value>));
            values.push(quote!(#field: self.#field.get(i)));
        }
        views.push(quote!(#[doc = #field_doc] pub #field: #view));
        lookups.push(quote!(#field: batch.#getter(#name)?));
    }
    // `Row` borrows only when a column is text or binary; the row count is the first
    // column's (so no generated field can collide with a column's name).
    let borrowed = columns
        .iter()
        .any(|c| matches!(c.kind, Kind::Text | Kind::Binary));
    let (row, row_anonymous, generics) = if borrowed {
        (quote!(Row<'a>), quote!(Row<'_>), quote!(<'a>))
    } else {
        (quote!(Row), quote!(Row), quote!())
    };
    let first = columns
        .first()
        .map(|c| ident(&c.name))
        .transpose()?
        .ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                format!("input `{port}` declares no columns"),
            )
        })?;
    Ok(quote! {
        #[doc = #doc]
        pub mod #module {
            /// The port's name in the manifest.
            pub const NAME: &str = #port;

            /// One row, as the manifest declares it.
            #[derive(Debug, Clone, Copy, PartialEq)]
            pub struct Row #generics {
                #(#fields,)*
            }

            /// The declared columns of one batch, typed (column-wise access for speed).
            #[derive(Clone, Copy)]
            pub struct Columns<'a> {
                #(#views,)*
            }

            impl<'a> Columns<'a> {
                /// The declared columns of `batch`; a missing one, or one of another type,
                /// is an error that names it.
                pub fn of(batch: &'a ::tessera_sdk::Batch) -> ::tessera_sdk::Result<Self> {
                    Ok(Columns {
                        #(#lookups,)*
                    })
                }

                /// Number of rows.
                pub fn len(&self) -> usize {
                    self.#first.len()
                }

                /// Whether there are no rows.
                pub fn is_empty(&self) -> bool {
                    self.len() == 0
                }

                /// Row `i`; a null in a required column is an error naming it.
                pub fn row(&self, i: usize) -> ::tessera_sdk::Result<#row> {
                    Ok(Row {
                        #(#values,)*
                    })
                }

                /// Every row, in order.
                pub fn rows(self) -> impl Iterator<Item = ::tessera_sdk::Result<#row>> + 'a {
                    (0..self.len()).map(move |i| self.row(i))
                }
            }

            /// Every row of `batch`, typed; stops at the first error.
            pub fn rows(batch: &::tessera_sdk::Batch) -> ::tessera_sdk::Result<::std::vec::Vec<#row_anonymous>> {
                Columns::of(batch)?.rows().collect()
            }

            /// Reads the whole input into one batch.
            pub fn read_all(ctx: &mut ::tessera_sdk::Context) -> ::tessera_sdk::Result<::tessera_sdk::Batch> {
                ctx.input(NAME)?.read_all()
            }

            /// Opens the input, to read it in batches.
            pub fn open(ctx: &mut ::tessera_sdk::Context) -> ::tessera_sdk::Result<::tessera_sdk::Input> {
                ctx.input(NAME)
            }
        }
    })
}

/// An upstream input whose manifest was not named: its name and readers, no typed rows.
fn untyped_input_module(port: &str) -> syn::Result<TokenStream> {
    let module = ident(port)?;
    let doc = format!(
        "Input `{port}`, from another product whose manifest `ports!` was not given: name it in `upstream = [\"...\"]` for typed rows."
    );
    Ok(quote! {
        #[doc = #doc]
        pub mod #module {
            /// The port's name in the manifest.
            pub const NAME: &str = #port;

            /// Reads the whole input into one batch.
            pub fn read_all(ctx: &mut ::tessera_sdk::Context) -> ::tessera_sdk::Result<::tessera_sdk::Batch> {
                ctx.input(NAME)?.read_all()
            }

            /// Opens the input, to read it in batches.
            pub fn open(ctx: &mut ::tessera_sdk::Context) -> ::tessera_sdk::Result<::tessera_sdk::Input> {
                ctx.input(NAME)
            }
        }
    })
}

fn output_module(
    port: &str,
    columns: &[DeclaredColumn],
    manifest: &Path,
) -> syn::Result<TokenStream> {
    let module = ident(port)?;
    let doc = format!("Output `{port}`, as `{}` declares it.", manifest.display());
    let mut fields = Vec::new();
    let mut pushes = Vec::new();
    for column in columns {
        let field = ident(&column.name)?;
        let name = &column.name;
        let required = if column.required {
            "required"
        } else {
            "nullable"
        };
        let field_doc = format!("`{name}` ({required}).");
        let value = match column.kind {
            Kind::Float64 => quote!(f64),
            Kind::Float32 => quote!(f32),
            Kind::Int64 | Kind::Timestamp => quote!(i64),
            Kind::Boolean => quote!(bool),
            Kind::Text => quote!(::std::string::String),
            Kind::Binary => quote!(::std::vec::Vec<u8>),
        };
        let method = match column.kind {
            Kind::Float64 => "f64",
            Kind::Float32 => "f32",
            Kind::Int64 => "i64",
            Kind::Timestamp => "timestamp",
            Kind::Boolean => "boolean",
            Kind::Text => "text",
            Kind::Binary => "binary",
        };
        let by_ref = matches!(column.kind, Kind::Text | Kind::Binary);
        if column.required {
            fields.push(quote!(#[doc = #field_doc] pub #field: #value));
            let method = format_ident!("{}", method);
            pushes.push(if by_ref {
                quote!(.#method(#name, rows.iter().map(|r| &r.#field)))
            } else {
                quote!(.#method(#name, rows.iter().map(|r| r.#field)))
            });
        } else {
            fields.push(quote!(#[doc = #field_doc] pub #field: ::core::option::Option<#value>));
            let method = format_ident!("{}_opt", method);
            pushes.push(if by_ref {
                quote!(.#method(#name, rows.iter().map(|r| r.#field.as_ref())))
            } else {
                quote!(.#method(#name, rows.iter().map(|r| r.#field)))
            });
        }
    }
    Ok(quote! {
        #[doc = #doc]
        pub mod #module {
            /// The port's name in the manifest.
            pub const NAME: &str = #port;

            /// One row, as the manifest declares it.
            #[derive(Debug, Clone, PartialEq, Default)]
            pub struct Row {
                #(#fields,)*
            }

            /// `rows` as a batch of the declared columns, in declared order.
            pub fn batch(rows: impl ::core::iter::IntoIterator<Item = Row>) -> ::tessera_sdk::Result<::tessera_sdk::Batch> {
                let rows: ::std::vec::Vec<Row> = rows.into_iter().collect();
                ::tessera_sdk::Batch::builder()
                    #(#pushes)*
                    .build()
            }

            /// Writes `rows` to the output.
            pub fn write(ctx: &mut ::tessera_sdk::Context, rows: impl ::core::iter::IntoIterator<Item = Row>) -> ::tessera_sdk::Result<()> {
                ctx.output(NAME)?.write(batch(rows)?)
            }
        }
    })
}
