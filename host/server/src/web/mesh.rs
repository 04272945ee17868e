//! The mesh page: every product and the data flowing between them, laid out as a graph
//! (coloured by freshness and last run, each product a link to its page), with the same as a
//! table for screen readers and small screens.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Html;
use maud::{PreEscaped, html};
use sha2::{Digest, Sha256};

use crate::api::query::Params;
use crate::mesh::{MAX_DRAWN, MeshInfo, NodeLook, around_domain, info, svg};
use crate::registry::active_manifest;
use crate::state::AppState;
use crate::web::layout::{PageResult, freshness_badge, page, run_badge};
use crate::web::session::Visitor;

/// `GET /mesh`.
pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    params: Params,
) -> PageResult<Html<String>> {
    visitor.caller.require_reader(state.config().public_reads)?;
    let domain = params
        .allow(&["domain"])?
        .text("domain")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let whole = info(&state)?;
    let domains: std::collections::BTreeSet<String> =
        whole.products.iter().map(|p| p.domain.clone()).collect();
    let mesh = match &domain {
        Some(d) => around_domain(&whole, d),
        None => whole,
    };
    let mut looks = BTreeMap::new();
    let mut rows = Vec::new();
    for product in &mesh.products {
        let Some((manifest, _)) = active_manifest(&state, &product.name)? else {
            continue;
        };
        let freshness = crate::freshness::of(&state, &product.name, &manifest)?;
        let last_run = state
            .store()
            .last_run(&product.name)?
            .map_or("never-run", |r| r.state.name())
            .to_string();
        looks.insert(
            product.name.clone(),
            NodeLook {
                freshness: freshness.state,
                last_run: last_run.clone(),
            },
        );
        rows.push((product, freshness, last_run));
    }
    let drawn = drawing(&state, &mesh, &looks).await;
    let form = visitor.form_token(&state);
    Ok(page(
        "Mesh",
        &visitor,
        form.as_deref(),
        html! {
            h1 { "The mesh" @if let Some(d) = &domain { " around " (d) } }
            nav aria-label="Domains" {
                "Domains: "
                a href="/mesh" { "all" }
                @for d in &domains { " · " a href={"/mesh?domain=" (crate::web::catalog::encode(d))} { (d) } }
            }
            p.meta { (mesh.products.len()) " products. Fill: green fresh, red stale, grey no data. Border: green last run succeeded, amber running, red failed." }
            @match &drawn {
                Some(svg) => figure.card.mesh role="group" aria-label="Lineage graph of the mesh" { (PreEscaped(svg.as_str())) },
                None if mesh.products.len() > MAX_DRAWN => p.notice {
                    "The graph is drawn for up to " (MAX_DRAWN) " products; pick a domain above to draw the part around it. The table below lists every product."
                },
                None => p.error { "The graph could not be laid out; the table below lists the same." },
            }
            h2 { "Products and their inputs" }
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Product" } th scope="col" { "Domain" } th scope="col" { "Reads" } th scope="col" { "Freshness" } th scope="col" { "Last run" } } }
                    tbody {
                        @for (product, freshness, last_run) in &rows {
                            tr {
                                td { a href={"/products/" (product.name)} { (product.name) } }
                                td { a href={"/domains/" (product.domain)} { (product.domain) } }
                                td {
                                    @for edge in mesh.edges.iter().filter(|e| e.to.split('/').next() == Some(product.name.as_str())) {
                                        code { (edge.from) } " → " code { (edge.to) } br;
                                    }
                                }
                                td { (freshness_badge(freshness)) }
                                td { (run_badge(last_run)) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// The drawing of `mesh` as `looks` colour it, laid out once per distinct mesh and look (kept
/// with the host's other renditions) on a blocking thread.
async fn drawing(
    state: &AppState,
    mesh: &MeshInfo,
    looks: &BTreeMap<String, NodeLook>,
) -> Option<String> {
    if mesh.products.len() > MAX_DRAWN {
        return None;
    }
    let mut key = Sha256::new();
    for p in &mesh.products {
        key.update(format!(
            "{}|{}|{}|{:?}|{}\n",
            p.name,
            p.domain,
            p.version,
            p.ingest,
            p.outputs.join(",")
        ));
        if let Some(look) = looks.get(&p.name) {
            key.update(format!("{}|{}\n", look.freshness.name(), look.last_run));
        }
    }
    for e in &mesh.edges {
        key.update(format!("{}>{}\n", e.from, e.to));
    }
    let key = format!("mesh\n{}", hex::encode(key.finalize()));
    if let Some(kept) = state.rendered(&key) {
        return Some(String::from_utf8_lossy(&kept).into_owned());
    }
    let (mesh, looks) = (mesh.clone(), looks.clone());
    let drawn = tokio::task::spawn_blocking(move || svg(&mesh, &looks))
        .await
        .ok()
        .flatten()?;
    state.keep_rendered(&key, bytes::Bytes::from(drawn.clone()));
    Some(drawn)
}
