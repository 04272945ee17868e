//! The mesh as its users see it: every product with an active version, its ports, and the
//! edges data flows along; as the API's JSON, as Graphviz DOT, and laid out as SVG for the web
//! UI (by `layout-rs`), each product coloured by its freshness and last run and linked to its
//! page.

use serde::Serialize;
use tessera_core::manifest::InputSource;
use utoipa::ToSchema;

use crate::dag::Mesh;
use crate::error::ServiceResult;
use crate::state::AppState;

/// The mesh: products, their ports and the edges between them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeshInfo {
    /// Every product with an active version.
    pub products: Vec<MeshProduct>,
    /// Data flowing from an output port (or ingest) into an input port.
    pub edges: Vec<MeshEdge>,
}

/// One product of the mesh.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeshProduct {
    /// Name.
    pub name: String,
    /// Owning domain.
    pub domain: String,
    /// Data Mesh kind.
    pub kind: String,
    /// Active code version.
    pub version: String,
    /// Current data version, if it published.
    pub data_version: Option<u64>,
    /// Ingest ports.
    pub ingest: Vec<String>,
    /// Output ports.
    pub outputs: Vec<String>,
}

/// One edge of the mesh.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeshEdge {
    /// `product/port` of the output, or `ingest` for pushed data.
    pub from: String,
    /// `product/port` of the input.
    pub to: String,
}

/// The mesh now.
pub fn info(state: &AppState) -> ServiceResult<MeshInfo> {
    let mesh = Mesh::load(state)?;
    mesh_info(state, &mesh)
}

fn mesh_info(state: &AppState, mesh: &Mesh) -> ServiceResult<MeshInfo> {
    let mut products = Vec::new();
    let mut edges = Vec::new();
    for (name, manifest) in mesh.products() {
        let mut ingest = Vec::new();
        for input in &manifest.inputs {
            let to = format!("{name}/{}", input.name);
            match &input.source {
                InputSource::Ingest(_) => {
                    ingest.push(input.name.clone());
                    edges.push(MeshEdge {
                        from: "ingest".into(),
                        to,
                    });
                }
                InputSource::Upstream(upstream) => edges.push(MeshEdge {
                    from: format!("{}/{}", upstream.product, upstream.port),
                    to,
                }),
            }
        }
        products.push(MeshProduct {
            name: name.clone(),
            domain: manifest.product.domain.clone(),
            kind: manifest.product.kind.name().to_string(),
            version: manifest.product.version.to_string(),
            data_version: state.store().current_version(name)?.map(|v| v.number),
            ingest,
            outputs: manifest.outputs.iter().map(|o| o.name.clone()).collect(),
        });
    }
    Ok(MeshInfo { products, edges })
}

/// Graphviz: one cluster-free node per product, labelled with its ports; edges labelled with
/// the ports they join.
pub fn to_dot(mesh: &MeshInfo) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut out =
        String::from("digraph mesh {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n");
    for product in &mesh.products {
        let label = format!(
            "{}\\n{} · {} · v{}",
            product.name,
            product.domain,
            product.kind,
            product
                .data_version
                .map_or("-".to_string(), |v| v.to_string())
        );
        out.push_str(&format!(
            "  {} [label={}];\n",
            quote(&product.name),
            quote(&label)
        ));
        for port in &product.ingest {
            let node = format!("ingest:{}/{port}", product.name);
            out.push_str(&format!(
                "  {} [label={}, shape=cds];\n  {} -> {};\n",
                quote(&node),
                quote(port),
                quote(&node),
                quote(&product.name)
            ));
        }
    }
    for edge in mesh.edges.iter().filter(|e| e.from != "ingest") {
        let (from_product, from_port) = edge.from.split_once('/').unwrap_or((&edge.from, ""));
        let (to_product, to_port) = edge.to.split_once('/').unwrap_or((&edge.to, ""));
        out.push_str(&format!(
            "  {} -> {} [label={}];\n",
            quote(from_product),
            quote(to_product),
            quote(&format!("{from_port} → {to_port}"))
        ));
    }
    out.push_str("}\n");
    out
}

/// The most products one drawing lays out; a larger mesh is drawn a domain at a time.
pub const MAX_DRAWN: usize = 150;

/// Above this many products, ingest ports are named in their product's box instead of drawn
/// as boxes of their own.
const SEPARATE_INGEST_UP_TO: usize = 40;

/// The part of `mesh` around `domain`: its products, the products they read from and the
/// products that read them, and the edges among those.
pub fn around_domain(mesh: &MeshInfo, domain: &str) -> MeshInfo {
    let owner = |port: &str| port.split('/').next().unwrap_or("").to_string();
    let inside: std::collections::BTreeSet<String> = mesh
        .products
        .iter()
        .filter(|p| p.domain == domain)
        .map(|p| p.name.clone())
        .collect();
    let mut kept = inside.clone();
    for edge in mesh.edges.iter().filter(|e| e.from != "ingest") {
        let (from, to) = (owner(&edge.from), owner(&edge.to));
        if inside.contains(&from) || inside.contains(&to) {
            kept.insert(from);
            kept.insert(to);
        }
    }
    MeshInfo {
        products: mesh
            .products
            .iter()
            .filter(|p| kept.contains(&p.name))
            .cloned()
            .collect(),
        edges: mesh
            .edges
            .iter()
            .filter(|e| {
                kept.contains(&owner(&e.to))
                    && (e.from == "ingest" || kept.contains(&owner(&e.from)))
            })
            .cloned()
            .collect(),
    }
}

/// How one product looks on the mesh: its fill says how fresh its data is, its border how its
/// last run went.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLook {
    /// Freshness (`fresh`, `stale`, `never-run`).
    pub freshness: crate::freshness::FreshnessState,
    /// The last run's state, or `never-run`.
    pub last_run: String,
}

/// The mesh laid out left to right as SVG: a box per product (linked to its page, coloured by
/// `looks`), a small box per ingest port, an arrow per edge labelled with the ports it joins.
/// `None` if the layout failed.
pub fn svg(
    mesh: &MeshInfo,
    looks: &std::collections::BTreeMap<String, NodeLook>,
) -> Option<String> {
    use layout::backends::svg::SVGWriter;
    use layout::core::base::Orientation;
    use layout::core::color::Color;
    use layout::core::style::StyleAttr;
    use layout::std_shapes::render::get_shape_size;
    use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
    use layout::topo::layout::VisualGraph;

    use crate::freshness::FreshnessState;

    if mesh.products.len() > MAX_DRAWN {
        return None;
    }
    let separate_ingest = mesh.products.len() <= SEPARATE_INGEST_UP_TO;
    let orientation = Orientation::LeftToRight;
    let mut graph = VisualGraph::new(orientation);
    let mut nodes = std::collections::BTreeMap::new();
    let boxed = |label: &str, fill: &str, border: &str, width: usize, properties: String| {
        let shape = ShapeKind::new_box(label);
        let size = get_shape_size(orientation.flip(), &shape, 14, false);
        let look = StyleAttr::new(Color::fast(border), width, Some(Color::fast(fill)), 8, 14);
        Element::create_with_properties(shape, look, orientation.flip(), size, properties)
    };
    for product in &mesh.products {
        let look = looks.get(&product.name);
        let fill = match look.map(|l| l.freshness) {
            Some(FreshnessState::Fresh) => "#d9f2df",
            Some(FreshnessState::Stale) => "#fde2e1",
            _ => "#eeeeee",
        };
        let border = match look.map(|l| l.last_run.as_str()) {
            Some("succeeded") => "#1b7f3b",
            Some("queued" | "running" | "waiting") => "#a86400",
            Some("never-run") | None => "#5b6475",
            Some(_) => "#b3261e",
        };
        let label = format!(
            "{}\n{} · v{}",
            product.name, product.domain, product.version
        );
        let node = graph.add_node(boxed(
            &label,
            fill,
            border,
            3,
            format!("data-href=\"/products/{}\"", product.name),
        ));
        nodes.insert(product.name.clone(), node);
        for port in product.ingest.iter().filter(|_| separate_ingest) {
            let ingest = graph.add_node(boxed(
                &format!("ingest: {port}"),
                "#ffffff",
                "#5b6475",
                1,
                String::new(),
            ));
            graph.add_edge(Arrow::simple(""), ingest, node);
        }
    }
    for edge in mesh.edges.iter().filter(|e| e.from != "ingest") {
        let (from_product, from_port) = edge.from.split_once('/').unwrap_or((&edge.from, ""));
        let (to_product, to_port) = edge.to.split_once('/').unwrap_or((&edge.to, ""));
        if let (Some(&from), Some(&to)) = (nodes.get(from_product), nodes.get(to_product)) {
            graph.add_edge(Arrow::simple(&format!("{from_port} → {to_port}")), from, to);
        }
    }
    let mut writer = SVGWriter::new();
    let laid_out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        graph.do_it(false, false, false, &mut writer);
        writer.finalize()
    }))
    .ok()?;
    Some(linked(&laid_out))
}

/// Turns each `<g data-href="URL">…</g>` the layout wrote into a link to URL.
fn linked(svg: &str) -> String {
    const OPEN: &str = "<g data-href=\"";
    let mut out = String::with_capacity(svg.len() + 256);
    let mut rest = svg;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + OPEN.len()..];
        let Some(quote) = after.find('"') else {
            out.push_str(&rest[at..]);
            return out;
        };
        let href = &after[..quote];
        let Some(close) = after.find("</g>") else {
            out.push_str(&rest[at..]);
            return out;
        };
        let inner = &after[quote + 1..close];
        out.push_str(&format!("<a href=\"{href}\"><g{inner}</g></a>"));
        rest = &after[close + "</g>".len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_marked_with_a_link_become_links() {
        let svg = "<svg><g data-href=\"/products/a\">\n<rect/>\n</g><g><rect/></g></svg>";
        assert_eq!(
            linked(svg),
            "<svg><a href=\"/products/a\"><g>\n<rect/>\n</g></a><g><rect/></g></svg>"
        );
    }

    #[test]
    fn the_mesh_around_a_domain_keeps_its_products_and_their_neighbours() {
        let product = |name: &str, domain: &str| MeshProduct {
            name: name.into(),
            domain: domain.into(),
            kind: "aggregate".into(),
            version: "1.0.0".into(),
            data_version: None,
            ingest: vec![],
            outputs: vec!["out".into()],
        };
        let edge = |from: &str, to: &str| MeshEdge {
            from: from.into(),
            to: to.into(),
        };
        let mesh = MeshInfo {
            products: vec![
                product("up", "x"),
                product("mine", "d"),
                product("down", "y"),
                product("far", "z"),
            ],
            edges: vec![
                edge("up/out", "mine/in"),
                edge("mine/out", "down/in"),
                edge("down/out", "far/in"),
                edge("ingest", "far/raw"),
            ],
        };
        let around = around_domain(&mesh, "d");
        let names: Vec<&str> = around.products.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["up", "mine", "down"]);
        assert_eq!(around.edges.len(), 2);
        let big = MeshInfo {
            products: (0..=MAX_DRAWN)
                .map(|i| product(&format!("p{i}"), "d"))
                .collect(),
            edges: vec![],
        };
        assert!(svg(&big, &Default::default()).is_none(), "too many to draw");
    }

    #[test]
    fn a_mesh_is_laid_out_with_a_linked_box_per_product() {
        let product = |name: &str, ingest: Vec<String>| MeshProduct {
            name: name.into(),
            domain: "d".into(),
            kind: "aggregate".into(),
            version: "1.0.0".into(),
            data_version: None,
            ingest,
            outputs: vec!["out".into()],
        };
        let mesh = MeshInfo {
            products: vec![product("a", vec!["raw".into()]), product("b", vec![])],
            edges: vec![
                MeshEdge {
                    from: "ingest".into(),
                    to: "a/raw".into(),
                },
                MeshEdge {
                    from: "a/out".into(),
                    to: "b/in".into(),
                },
            ],
        };
        let svg = svg(&mesh, &Default::default()).unwrap();
        assert!(svg.contains("<a href=\"/products/a\">"), "{svg}");
        assert!(svg.contains("<a href=\"/products/b\">"));
        assert!(svg.contains("ingest: raw"));
        assert!(svg.contains("out → in"));
    }
}
