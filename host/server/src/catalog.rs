//! The catalog: every deployed product with an active version, found by free text and
//! filtered by domain, tag, owner and kind, a page at a time. The API's `GET /v1/products`
//! and the web catalog both list through here.

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ServiceError, ServiceResult};
use crate::registry::active_manifest;
use crate::state::AppState;

/// The most products one page lists.
pub const MAX_PER_PAGE: usize = 200;

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct CatalogQuery {
    /// Free text, matched (case-insensitively) against names, descriptions, domain, tags and
    /// ports.
    pub text: Option<String>,
    /// Only this domain.
    pub domain: Option<String>,
    /// Only products with this tag.
    pub tag: Option<String>,
    /// Only products with this owner.
    pub owner: Option<String>,
    /// Only this kind (`source-aligned`, `aggregate`, `consumer-aligned`).
    pub kind: Option<String>,
    /// The page, from 1.
    pub page: usize,
    /// Products per page, 1 to [`MAX_PER_PAGE`].
    pub per_page: usize,
}

/// A product as listed in the catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogEntry {
    /// Product name.
    pub name: String,
    /// Owning domain.
    pub domain: String,
    /// What it is for.
    pub description: String,
    /// source-aligned, aggregate or consumer-aligned.
    pub kind: String,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Who to ask.
    pub owner: String,
    /// The version runs use.
    pub active_version: Option<String>,
    /// State of the last run, or `never-run`.
    pub status: String,
    /// How old its data is against its freshness SLO.
    pub freshness: crate::freshness::Freshness,
    /// Output port names.
    pub outputs: Vec<String>,
    /// The descriptor's URL.
    pub url: String,
}

/// One page of the catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogPage {
    /// The products on this page.
    pub products: Vec<CatalogEntry>,
    /// Products matching the filters, over all pages.
    pub total: usize,
    /// This page, from 1.
    pub page: usize,
    /// Products per page.
    pub per_page: usize,
}

/// The products `query` selects, by name, one page of them.
pub fn search(state: &AppState, query: &CatalogQuery) -> ServiceResult<CatalogPage> {
    if query.page == 0 {
        return Err(ServiceError::bad_parameter("page", "pages start at 1"));
    }
    if !(1..=MAX_PER_PAGE).contains(&query.per_page) {
        return Err(ServiceError::bad_parameter(
            "per_page",
            format!("must be 1 to {MAX_PER_PAGE}"),
        ));
    }
    let text = query
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase);
    let skip = (query.page - 1).saturating_mul(query.per_page);
    let mut total = 0usize;
    let mut products = Vec::new();
    for name in state.store().products()? {
        let Some((manifest, active)) = active_manifest(state, &name)? else {
            continue;
        };
        let info = &manifest.product;
        let kind = info.kind.name().to_string();
        if query.domain.as_deref().is_some_and(|d| info.domain != d)
            || query
                .tag
                .as_deref()
                .is_some_and(|t| !info.tags.iter().any(|x| x == t))
            || query.owner.as_deref().is_some_and(|o| info.owner != o)
            || query.kind.as_deref().is_some_and(|k| kind != k)
        {
            continue;
        }
        if let Some(text) = &text {
            let mut haystack = format!(
                "{} {} {} {}",
                info.name,
                info.description,
                info.domain,
                info.tags.join(" ")
            );
            for output in &manifest.outputs {
                haystack.push(' ');
                haystack.push_str(&output.name);
                haystack.push(' ');
                haystack.push_str(&output.description);
            }
            if !haystack.to_lowercase().contains(text.as_str()) {
                continue;
            }
        }
        total += 1;
        // Only the page's products pay for their status and freshness.
        if total <= skip || products.len() >= query.per_page {
            continue;
        }
        products.push(CatalogEntry {
            name: name.clone(),
            domain: info.domain.clone(),
            description: info.description.clone(),
            kind,
            tags: info.tags.clone(),
            owner: info.owner.clone(),
            active_version: active,
            status: state
                .store()
                .last_run(&name)?
                .map_or("never-run", |r| r.state.name())
                .to_string(),
            freshness: crate::freshness::of(state, &name, &manifest)?,
            outputs: manifest.outputs.iter().map(|o| o.name.clone()).collect(),
            url: format!("/v1/products/{name}"),
        });
    }
    Ok(CatalogPage {
        products,
        total,
        page: query.page,
        per_page: query.per_page,
    })
}
