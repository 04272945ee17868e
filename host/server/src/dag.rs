//! The product DAG: which product reads which, checked whenever it could change.
//!
//! Edges come from `from = "product/port[@MAJOR]"` inputs of each product's *active* manifest.
//! [`Mesh::check`] runs at deploy and activation with the manifest about to become active: every
//! upstream must be deployed and active, export the port, and match a pinned major version;
//! products that read the changing one must still find their ports and majors; and no cycle
//! may form. [`Mesh::downstream`] names the products to wake after a publish.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tessera_core::manifest::{InputSource, Manifest};

use crate::error::{ServiceError, ServiceResult};
use crate::registry::active_manifest;
use crate::state::AppState;

/// The active manifests of every product on a host.
pub struct Mesh {
    products: BTreeMap<String, Arc<Manifest>>,
}

impl Mesh {
    /// The mesh as it is now: every product with an active version.
    pub fn load(state: &AppState) -> ServiceResult<Mesh> {
        let mut products = BTreeMap::new();
        for name in state.store().products()? {
            if let Some((manifest, Some(_))) = active_manifest(state, &name)? {
                products.insert(name, manifest);
            }
        }
        Ok(Mesh { products })
    }

    /// A mesh of the given manifests (for tests and tools).
    pub fn of(manifests: impl IntoIterator<Item = Manifest>) -> Mesh {
        Mesh {
            products: manifests
                .into_iter()
                .map(|m| (m.product.name.clone(), Arc::new(m)))
                .collect(),
        }
    }

    /// The active manifests, by product name.
    pub fn products(&self) -> &BTreeMap<String, Arc<Manifest>> {
        &self.products
    }

    /// Checks that `candidate` can become the active manifest of its product: its upstreams
    /// resolve, its readers still resolve, and no cycle forms. Errors are 422s that list what
    /// exists or print the cycle.
    pub fn check(&self, candidate: &Manifest) -> ServiceResult<()> {
        let name = &candidate.product.name;
        for input in &candidate.inputs {
            let InputSource::Upstream(upstream) = &input.source else {
                continue;
            };
            let Some(target) = (if &upstream.product == name {
                Some(candidate)
            } else {
                self.products.get(&upstream.product).map(Arc::as_ref)
            }) else {
                let known: Vec<String> = self
                    .products
                    .keys()
                    .filter(|p| *p != name)
                    .cloned()
                    .collect();
                return Err(ServiceError::unprocessable(
                    "unknown_upstream",
                    format!(
                        "input `{}` of {name} reads `{}/{}`, but no product named `{}` is \
                         deployed and active",
                        input.name, upstream.product, upstream.port, upstream.product
                    ),
                )
                .hint(if known.is_empty() {
                    "no product is deployed yet; deploy the upstream first".to_string()
                } else {
                    format!(
                        "deploy the upstream first; these exist: {}",
                        known.join(", ")
                    )
                }));
            };
            resolve_port(name, &input.name, upstream, target)?;
        }
        for (reader, manifest) in &self.products {
            if reader == name {
                continue;
            }
            for input in &manifest.inputs {
                if let InputSource::Upstream(upstream) = &input.source
                    && &upstream.product == name
                {
                    resolve_port(reader, &input.name, upstream, candidate).map_err(|e| {
                        ServiceError::unprocessable(
                            "breaks_downstream",
                            format!(
                                "{name} {} would break {reader}: {}",
                                candidate.product.version, e.message
                            ),
                        )
                        .hint(format!(
                            "keep the port and major version {reader} reads, or change {reader} first"
                        ))
                    })?;
                }
            }
        }
        if let Some(cycle) = self.cycle_through(candidate) {
            return Err(ServiceError::unprocessable(
                "cycle",
                format!("deploying {name} would make a cycle: {}", cycle.join(" → ")),
            )
            .hint("a product cannot read, directly or through others, what it publishes"));
        }
        Ok(())
    }

    /// The products that read `product`'s outputs and run when it publishes.
    pub fn downstream(&self, product: &str) -> Vec<String> {
        self.products
            .iter()
            .filter(|(_, m)| m.trigger.on_input)
            .filter(|(_, m)| {
                m.inputs
                    .iter()
                    .any(|i| matches!(&i.source, InputSource::Upstream(u) if u.product == product))
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// A path of products, in data-flow order, from `candidate` back to itself, if one exists
    /// with `candidate` replacing its product's current manifest.
    fn cycle_through(&self, candidate: &Manifest) -> Option<Vec<String>> {
        let start = candidate.product.name.clone();
        let upstreams = |product: &str| -> Vec<String> {
            let manifest = if product == start {
                Some(candidate)
            } else {
                self.products.get(product).map(Arc::as_ref)
            };
            let mut found: Vec<String> = manifest
                .map(|m| {
                    m.inputs
                        .iter()
                        .filter_map(|i| match &i.source {
                            InputSource::Upstream(u) => Some(u.product.clone()),
                            InputSource::Ingest(_) => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            found.sort();
            found.dedup();
            found
        };
        // Depth-first search along "reads from" edges; a path back to `start` is a cycle.
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((product, path)) = stack.pop() {
            for upstream in upstreams(&product) {
                if upstream == start {
                    // `path` runs against the data flow; reverse it so arrows mean "feeds".
                    let mut cycle: Vec<String> = path.iter().rev().cloned().collect();
                    cycle.insert(0, start.clone());
                    return Some(cycle);
                }
                if seen.insert(upstream.clone()) {
                    let mut next = path.clone();
                    next.push(upstream.clone());
                    stack.push((upstream, next));
                }
            }
        }
        None
    }
}

/// Checks that `target` (the upstream's manifest) exports the port `reader`'s input reads, at
/// the pinned major version.
fn resolve_port(
    reader: &str,
    input: &str,
    upstream: &tessera_core::manifest::UpstreamRef,
    target: &Manifest,
) -> ServiceResult<()> {
    if target.output(&upstream.port).is_none() {
        let ports: Vec<String> = target.outputs.iter().map(|o| o.name.clone()).collect();
        return Err(ServiceError::unprocessable(
            "unknown_upstream",
            format!(
                "input `{input}` of {reader} reads `{}/{}`, but {} has no output port `{}`",
                upstream.product, upstream.port, upstream.product, upstream.port
            ),
        )
        .hint(format!(
            "{} publishes: {}",
            upstream.product,
            ports.join(", ")
        )));
    }
    if let Some(major) = upstream.major
        && target.product.version.major != major
    {
        return Err(ServiceError::unprocessable(
            "unknown_upstream",
            format!(
                "input `{input}` of {reader} reads `{}/{}@{major}`, but the active version of {} \
                 is {}",
                upstream.product, upstream.port, upstream.product, target.product.version
            ),
        )
        .hint(format!(
            "activate a {major}.x version of {}, or change the pin in {reader}'s product.toml",
            upstream.product
        )));
    }
    Ok(())
}
