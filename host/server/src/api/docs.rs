//! A product's documentation page: its README (embedded at build), its output ports with their
//! schemas, and ready-to-paste snippets for curl, pandas, Polars and DuckDB for each port.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Html;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};
use tessera_core::manifest::{Access, Manifest, OutputPort};
use tessera_core::package;

use crate::api::error_shape::ErrorBody;
use crate::api::model::serde_name;
use crate::auth::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::registry::active_manifest;
use crate::state::AppState;

/// The product's documentation as HTML.
#[utoipa::path(
    get, path = "/v1/products/{product}/docs", tag = "products",
    params(("product" = String, Path, description = "Product name")),
    responses(
        (status = 200, description = "An HTML page", content_type = "text/html"),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
pub async fn page(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ServiceResult<Html<String>> {
    caller.require_reader(state.config().public_reads)?;
    state.deployments(&name)?;
    let Some((manifest, active)) = active_manifest(&state, &name)? else {
        return Err(ServiceError::not_found(
            format!("no product named `{name}`"),
            &[],
        ));
    };
    let version = active.unwrap_or_else(|| manifest.product.version.to_string());
    let component = state.store().component(&name, &version)?;
    let readme = package::read_embedded(&component)
        .ok()
        .and_then(|e| e.readme);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:8080");
    Ok(Html(render(&manifest, &version, readme.as_deref(), host)))
}

/// The page for `manifest`, with snippets addressed to `host`.
pub fn render(manifest: &Manifest, version: &str, readme: Option<&str>, host: &str) -> String {
    let info = &manifest.product;
    let mut html = String::with_capacity(16 * 1024);
    html.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str(&format!(
        "<title>{} · Tessera</title><style>{STYLE}</style></head><body><main>",
        escape(&info.name)
    ));
    html.push_str(&format!(
        "<header><h1>{}</h1><p class=\"meta\">{} · domain <b>{}</b> · version {} · owner {}</p><p>{}</p></header>",
        escape(&info.name),
        escape(&serde_name(&info.kind)),
        escape(&info.domain),
        escape(version),
        escape(&info.owner),
        escape(&info.description)
    ));
    html.push_str("<h2>Outputs</h2>");
    for port in &manifest.outputs {
        html.push_str(&port_section(&info.name, port, host));
    }
    html.push_str("<h2>README</h2><article>");
    match readme {
        Some(text) => html.push_str(&markdown(text)),
        None => html.push_str("<p class=\"meta\">This product was built without a README.</p>"),
    }
    html.push_str("</article></main></body></html>");
    html
}

fn port_section(product: &str, port: &OutputPort, host: &str) -> String {
    let mut html = format!(
        "<section><h3>{}</h3><p>{} <span class=\"tag\">{}</span></p><table><tr><th>column</th><th>type</th><th>required</th><th>meaning</th></tr>",
        escape(&port.name),
        escape(&port.description),
        match port.access {
            Access::Public => "public",
            Access::Domain => "domain",
            Access::Restricted => "restricted",
        }
    );
    for column in &port.schema.columns {
        html.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&column.name),
            escape(column.data_type.name()),
            if column.required { "yes" } else { "no" },
            escape(&column.description)
        ));
    }
    html.push_str("</table>");
    let snippets = snippets(product, port, host);
    for (tool, code) in snippets {
        html.push_str(&format!(
            "<p class=\"tool\">{tool}</p><pre><code>{}</code></pre>",
            escape(&code)
        ));
    }
    html.push_str("</section>");
    html
}

/// Ready-to-paste code that reads `port` of `product` from the server at `host`: curl,
/// pandas, Polars and DuckDB.
pub fn snippets(product: &str, port: &OutputPort, host: &str) -> [(&'static str, String); 4] {
    let url = format!("http://{host}/v1/products/{product}/outputs/{}", port.name);
    let auth = if port.access == Access::Public {
        String::new()
    } else {
        " -H \"Authorization: Bearer $TESSERA_TOKEN\"".to_string()
    };
    [
        ("curl", format!("curl{auth} '{url}?format=csv'")),
        (
            "pandas",
            format!("import pandas as pd\ndf = pd.read_parquet(\"{url}?format=parquet\")"),
        ),
        (
            "Polars",
            format!("import polars as pl\ndf = pl.read_parquet(\"{url}?format=parquet\")"),
        ),
        (
            "DuckDB",
            format!(
                "INSTALL httpfs; LOAD httpfs;\nSELECT * FROM read_parquet('{url}?format=parquet');"
            ),
        ),
    ]
}

/// Markdown to HTML. Raw HTML in the README is shown as text, never passed through, and links
/// and images keep only destinations that cannot run script ([`safe_destination`]): the page
/// is read by people other than the product's authors.
pub fn markdown(text: &str) -> String {
    let parser = Parser::new_ext(text, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_destination(dest_url, &["http", "https", "mailto"]),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_destination(dest_url, &["http", "https"]),
            title,
            id,
        }),
        other => other,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    html
}

/// `url` if it is relative or uses one of `schemes`; otherwise `#`. The scheme is read as a
/// browser reads it: ASCII whitespace and control characters inside it are ignored, case too,
/// so `JaVa\tScript:` is `javascript:`.
fn safe_destination<'a>(url: CowStr<'a>, schemes: &[&str]) -> CowStr<'a> {
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
        .collect();
    let scheme_end = cleaned.find(':');
    let path_start = cleaned.find(['/', '?', '#']);
    let scheme = match (scheme_end, path_start) {
        (Some(colon), Some(path)) if path < colon => None,
        (Some(colon), _) => Some(cleaned[..colon].to_ascii_lowercase()),
        (None, _) => None,
    };
    match scheme {
        None => url,
        Some(scheme) if schemes.contains(&scheme.as_str()) => url,
        Some(_) => CowStr::Borrowed("#"),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#fafafa;color:#222}\
main{max-width:860px;margin:0 auto;padding:2rem}\
.meta{color:#666}table{border-collapse:collapse;margin:.5rem 0}\
td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}\
pre{background:#f0f0f0;padding:.6rem;overflow-x:auto}\
.tag{background:#e8eefc;border-radius:4px;padding:0 .4rem;font-size:.85em}\
.tool{margin:.6rem 0 0;font-weight:600}section{margin-bottom:1.5rem}";

#[cfg(test)]
mod tests {
    use super::markdown;

    #[test]
    fn raw_html_in_a_readme_is_shown_as_text() {
        let html = markdown("# Title\n\n<script>alert(1)</script>\n\nText with <b>bold</b>.");
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn links_that_could_run_script_lose_their_destination() {
        let readme = "[a](javascript:alert(1)) [b](JaVaScRiPt:alert(2)) [c](java\u{0009}script:x) \
                      [d]( vbscript:msgbox) [e](data:text/html,<script>) <javascript:alert(3)> \
                      ![i](javascript:alert(4)) ![j](data:image/svg+xml,<svg onload=alert(5)>)";
        let html = markdown(readme);
        for bad in ["javascript:", "JaVaScRiPt:", "vbscript:", "data:"] {
            assert!(!html.contains(&format!("=\"{bad}")), "{bad} in {html}");
        }
        assert!(!html.to_ascii_lowercase().contains("href=\"java"), "{html}");
        assert!(!html.contains("src=\"data:"), "{html}");
    }

    #[test]
    fn ordinary_links_are_kept() {
        let html = markdown(
            "[site](https://example.org/a?b=c:d) [mail](mailto:team@example.org) \
             [rel](docs/usage.md) [anchor](#outputs) [colon](./a:b) ![img](https://example.org/x.png)",
        );
        for good in [
            "href=\"https://example.org/a?b=c:d\"",
            "href=\"mailto:team@example.org\"",
            "href=\"docs/usage.md\"",
            "href=\"#outputs\"",
            "href=\"./a:b\"",
            "src=\"https://example.org/x.png\"",
        ] {
            assert!(html.contains(good), "{good} in {html}");
        }
    }
}
