//! The product DAG: which product reads which, checked whenever it could change.
//!
//! Edges come from `from = "product/port[@MAJOR]"` inputs of each product's *active* manifest.
//! A pin to a major resolves against the active version when it is of that major, else against
//! a *retained major*: an earlier major kept running beside the active one, until its
//! deprecation date, for the consumers that pin it ([`crate::registry`] keeps it at an
//! activation). [`Mesh::check`] runs at deploy and activation with the manifest about to become
//! active: every upstream must be deployed and active, export the port, and match a pinned
//! major version; products that read the changing one must still find their ports and majors;
//! and no cycle may form. [`Mesh::downstream`] names the products to wake after a publish.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tessera_core::manifest::{InputSource, Manifest};

use crate::error::{ServiceError, ServiceResult};
use crate::registry::active_manifest;
use crate::state::AppState;

/// The active manifests of every product on a host, and the manifests of their retained
/// majors.
pub struct Mesh {
    products: BTreeMap<String, Arc<Manifest>>,
    /// Per product, the live retained majors' manifests by major.
    retained: BTreeMap<String, BTreeMap<u64, Arc<Manifest>>>,
}

impl Mesh {
    /// The mesh as it is now: every product with an active version.
    pub fn load(state: &AppState) -> ServiceResult<Mesh> {
        let mut products = BTreeMap::new();
        let mut retained = BTreeMap::new();
        for name in state.store().products()? {
            if let Some((manifest, Some(_))) = active_manifest(state, &name)? {
                let lines = crate::registry::retained_manifests(state, &name)?;
                if !lines.is_empty() {
                    retained.insert(name.clone(), lines);
                }
                products.insert(name, manifest);
            }
        }
        Ok(Mesh { products, retained })
    }

    /// A mesh of the given manifests (for tests and tools).
    pub fn of(manifests: impl IntoIterator<Item = Manifest>) -> Mesh {
        Mesh {
            products: manifests
                .into_iter()
                .map(|m| (m.product.name.clone(), Arc::new(m)))
                .collect(),
            retained: BTreeMap::new(),
        }
    }

    /// The active manifests, by product name.
    pub fn products(&self) -> &BTreeMap<String, Arc<Manifest>> {
        &self.products
    }

    /// The products (and their inputs) that read `product` pinned to major `major`.
    pub fn pinned_readers(&self, product: &str, major: u64) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for (reader, manifest) in &self.products {
            for input in &manifest.inputs {
                if let InputSource::Upstream(upstream) = &input.source
                    && upstream.product == product
                    && upstream.major == Some(major)
                {
                    found.push((reader.clone(), input.name.clone()));
                }
            }
        }
        found
    }

    /// The manifest a reader of `product` pinned to `major` reads: the active one when it is
    /// of that major, else a retained major's.
    fn of_major(&self, product: &str, major: u64) -> Option<&Manifest> {
        match self.products.get(product) {
            Some(active) if active.product.version.major == major => Some(active),
            _ => self
                .retained
                .get(product)
                .and_then(|lines| lines.get(&major))
                .map(Arc::as_ref),
        }
    }

    /// Checks that `candidate` can become the active manifest of its product, with the majors
    /// in `kept` retained beside it: its upstreams resolve, its readers still resolve (those
    /// pinned to a kept major against that major), and no cycle forms. Errors are 422s that
    /// list what exists or print the cycle.
    pub fn check(&self, candidate: &Manifest, kept: &[u64]) -> ServiceResult<()> {
        let name = &candidate.product.name;
        for input in &candidate.inputs {
            let InputSource::Upstream(upstream) = &input.source else {
                continue;
            };
            let Some(active) = (if &upstream.product == name {
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
            let target = match upstream.major {
                Some(major) if &upstream.product != name => {
                    self.of_major(&upstream.product, major).unwrap_or(active)
                }
                _ => active,
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
                    if let Some(major) = upstream.major
                        && major != candidate.product.version.major
                        && kept.contains(&major)
                    {
                        // Served by the retained major, which it resolved against before.
                        continue;
                    }
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

    /// The products that read what `product` just published and run when it does: code of
    /// major `major` published it, from a retained major when `retained`. Readers pinned to
    /// that major wake; unpinned readers wake only for the active version's publications.
    pub fn downstream(&self, product: &str, major: u64, retained: bool) -> Vec<String> {
        self.products
            .iter()
            .filter(|(_, m)| m.trigger.on_input)
            .filter(|(_, m)| {
                m.inputs.iter().any(|i| match &i.source {
                    InputSource::Upstream(u) if u.product == product => match u.major {
                        Some(pinned) => pinned == major,
                        None => !retained,
                    },
                    _ => false,
                })
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
