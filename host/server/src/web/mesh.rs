//! The mesh page: every product and the data flowing between them, laid out as a graph
//! (coloured by freshness and last run, each product a link to its page), with the same as a
//! table for screen readers and small screens.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Html;
use maud::{PreEscaped, html};

use crate::mesh::{NodeLook, info, svg};
use crate::registry::active_manifest;
use crate::state::AppState;
use crate::web::layout::{PageResult, freshness_badge, page, run_badge};
use crate::web::session::Visitor;

/// `GET /mesh`.
pub async fn show(State(state): State<AppState>, visitor: Visitor) -> PageResult<Html<String>> {
    visitor.caller.require_reader(state.config().public_reads)?;
    let mesh = info(&state)?;
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
    let drawn = svg(&mesh, &looks);
    let form = visitor.form_token(&state);
    Ok(page(
        "Mesh",
        &visitor,
        form.as_deref(),
        html! {
            h1 { "The mesh" }
            p.meta { (mesh.products.len()) " products. Fill: green fresh, red stale, grey no data. Border: green last run succeeded, amber running, red failed." }
            @match &drawn {
                Some(svg) => figure.card.mesh role="group" aria-label="Lineage graph of the mesh" { (PreEscaped(svg.as_str())) },
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
