//! The catalog page (`/`): free-text search, filters by domain, tag, owner and kind, each
//! product with its freshness and its last run, a page at a time; and a domain's page, the
//! same list for one domain with its owners.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::response::Html;
use maud::{Markup, html};

use crate::api::query::Params;
use crate::catalog::{CatalogEntry, CatalogQuery, search};
use crate::registry::active_manifest;
use crate::state::AppState;
use crate::web::layout::{PageResult, freshness_badge, page, run_badge};
use crate::web::session::Visitor;

/// Products per catalog page.
const PER_PAGE: usize = 24;

/// The values the filters offer: every domain, tag, owner and kind of the deployed products.
#[derive(Default)]
struct Choices {
    domains: BTreeSet<String>,
    tags: BTreeSet<String>,
    owners: BTreeSet<String>,
    kinds: BTreeSet<String>,
}

fn choices(state: &AppState) -> PageResult<Choices> {
    let mut choices = Choices::default();
    for name in state.store().products()? {
        if let Some((manifest, _)) = active_manifest(state, &name)? {
            let info = &manifest.product;
            choices.domains.insert(info.domain.clone());
            choices.owners.insert(info.owner.clone());
            choices.kinds.insert(info.kind.name().to_string());
            choices.tags.extend(info.tags.iter().cloned());
        }
    }
    Ok(choices)
}

fn select(name: &str, label: &str, options: &BTreeSet<String>, chosen: Option<&str>) -> Markup {
    html! {
        label for=(name) {
            (label)
            select id=(name) name=(name) {
                option value="" { "any" }
                @for option in options {
                    option value=(option) selected[chosen == Some(option.as_str())] { (option) }
                }
            }
        }
    }
}

/// One product as a card.
pub fn card(entry: &CatalogEntry) -> Markup {
    html! {
        article.card {
            h3 { a href={"/products/" (entry.name)} { (entry.name) } }
            p { (entry.description) }
            p.meta {
                a href={"/domains/" (entry.domain)} { (entry.domain) } " · " (entry.kind)
                " · " (entry.owner)
                @if let Some(version) = &entry.active_version { " · v" (version) }
            }
            p { (freshness_badge(&entry.freshness)) " " (run_badge(&entry.status)) }
            @if !entry.tags.is_empty() {
                p.meta { @for tag in &entry.tags { a href={"/?tag=" (tag)} { "#" (tag) } " " } }
            }
        }
    }
}

/// `GET /`.
pub async fn index(
    State(state): State<AppState>,
    visitor: Visitor,
    params: Params,
) -> PageResult<Html<String>> {
    let (state, visitor) = (&state, &visitor);
    visitor.caller.require_reader(state.config().public_reads)?;
    params.allow(&["q", "domain", "tag", "owner", "kind", "page"])?;
    let text = |name: &str| {
        params
            .text(name)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let page_number = usize::try_from(params.number("page")?.unwrap_or(1)).unwrap_or(usize::MAX);
    let query = CatalogQuery {
        text: text("q"),
        domain: text("domain"),
        tag: text("tag"),
        owner: text("owner"),
        kind: text("kind"),
        page: page_number,
        per_page: PER_PAGE,
    };
    let found = search(state, &query)?;
    let choices = choices(state)?;
    let pages = found.total.div_ceil(PER_PAGE).max(1);
    let link = |to: usize| {
        let mut parts = vec![format!("page={to}")];
        for (key, value) in [
            ("q", &query.text),
            ("domain", &query.domain),
            ("tag", &query.tag),
            ("owner", &query.owner),
            ("kind", &query.kind),
        ] {
            if let Some(value) = value {
                parts.push(format!("{key}={}", encode(value)));
            }
        }
        format!("/?{}", parts.join("&"))
    };
    let form = visitor.form_token(state);
    Ok(page(
        "Catalog",
        visitor,
        form.as_deref(),
        html! {
            h1 { "Data products" }
            form.filters method="get" action="/" role="search" {
                label for="q" { "Search" input id="q" name="q" type="search" value=[query.text.as_deref()] placeholder="name, description, port…"; }
                (select("domain", "Domain", &choices.domains, query.domain.as_deref()))
                (select("tag", "Tag", &choices.tags, query.tag.as_deref()))
                (select("owner", "Owner", &choices.owners, query.owner.as_deref()))
                (select("kind", "Kind", &choices.kinds, query.kind.as_deref()))
                button type="submit" { "Filter" }
            }
            p.meta role="status" { (found.total) " products" @if pages > 1 { ", page " (query.page) " of " (pages) } }
            div.cards { @for entry in &found.products { (card(entry)) } }
            @if found.products.is_empty() { p { "No product matches. " a href="/" { "Show all" } } }
            nav.pager aria-label="Pages" {
                @if query.page > 1 { a href=(link(query.page - 1)) rel="prev" { "← Previous" } }
                @if query.page < pages { a href=(link(query.page + 1)) rel="next" { "Next →" } }
            }
        },
    ))
}

/// `GET /domains/{domain}`: a domain's products, owners and freshness at a glance.
pub async fn domain(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(domain): Path<String>,
) -> PageResult<Html<String>> {
    visitor.caller.require_reader(state.config().public_reads)?;
    let found = search(
        &state,
        &CatalogQuery {
            domain: Some(domain.clone()),
            page: 1,
            per_page: crate::catalog::MAX_PER_PAGE,
            ..CatalogQuery::default()
        },
    )?;
    if found.total == 0 {
        return Err(crate::error::ServiceError::not_found(
            format!("no product belongs to a domain named `{domain}`"),
            &[],
        )
        .into());
    }
    let owners: BTreeSet<&str> = found.products.iter().map(|p| p.owner.as_str()).collect();
    let stale = found
        .products
        .iter()
        .filter(|p| p.freshness.state == crate::freshness::FreshnessState::Stale)
        .count();
    let form = visitor.form_token(&state);
    Ok(page(
        &format!("Domain {domain}"),
        &visitor,
        form.as_deref(),
        html! {
            h1 { "Domain " (domain) }
            p.meta { (found.total) " products · " (stale) " stale · owners: "
                @for (i, owner) in owners.iter().enumerate() { @if i > 0 { ", " } (owner) } }
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Product" } th scope="col" { "Kind" } th scope="col" { "Owner" } th scope="col" { "Freshness" } th scope="col" { "Last run" } } }
                    tbody {
                        @for p in &found.products {
                            tr {
                                td { a href={"/products/" (p.name)} { (p.name) } }
                                td { (p.kind) }
                                td { (p.owner) }
                                td { (freshness_badge(&p.freshness)) }
                                td { (run_badge(&p.status)) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
