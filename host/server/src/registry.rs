//! The product registry: deployments, activation, ownership and the manifest views.
//!
//! [`deploy`] and [`activate`] are each one step under
//! [`AppState::registry_lock`](crate::state::AppState::registry_lock): ownership (a product
//! stays in its domain unless an admin moves it), the DAG check of the manifest about to become
//! active, the store write and the activation happen with no other deploy or activation in
//! between, so the mesh checked is the mesh changed. This is the one place a policy decision
//! about a deployment is made: the contract diff against the active version, the semantic
//! versioning rule, and the federation's policies ([`crate::governance`]) at `deploy` and
//! `activate`. Everything else (the DAG, the scheduler, the runner, the API)
//! reads the registry through [`active_manifest`] and its neighbours.
//!
//! An activation that replaces a major version some consumers pin (`from =
//! "product/port@MAJOR"`) keeps that major running beside the new one for them, until the
//! deprecation date the owner gives (`deprecate_after`); without one it is refused, naming
//! them. Unpinned consumers move with the active version. Activating a retained major again
//! (a rollback) ends its retention; a retained major past its date no longer runs or serves.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tessera_core::manifest::Manifest;
use tessera_core::package;
use tessera_store::{Deployment, RetainedMajor, major_of, now_us};

use crate::auth::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::events::Event;
use crate::state::AppState;

/// An uploaded component, compiled and checked against the server's limits.
pub struct Upload<'a> {
    /// The component's bytes (with its manifest embedded).
    pub bytes: &'a [u8],
    /// The compiled product.
    pub product: tessera_runtime::Product,
    /// Its manifest.
    pub manifest: &'a Manifest,
    /// Make the version the one runs use.
    pub activate: bool,
    /// An admin moves the product to the upload's domain.
    pub move_domain: bool,
    /// When the active major, if this activation replaces it and consumers pin it, stops
    /// running for them (µs since the epoch).
    pub deprecation_us: Option<i64>,
}

/// Whether a deploy stored anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployOutcome {
    /// A new version was stored.
    Created,
    /// This exact version (same code) was deployed already.
    Unchanged,
}

/// What a deploy did.
pub struct Deployed {
    /// Stored or unchanged.
    pub outcome: DeployOutcome,
    /// The deployment as stored.
    pub deployment: Deployment,
    /// The product's active version afterwards.
    pub active: Option<String>,
    /// The policy decision of the deploy, when policies applied (allowed or warned).
    pub decision: Option<tessera_store::DecisionRecord>,
}

/// Deploys (and by default activates) an upload as one step: ownership, the DAG check, the
/// store write and the activation under the registry lock.
pub async fn deploy(
    state: &AppState,
    caller: &Caller,
    upload: Upload<'_>,
) -> ServiceResult<Deployed> {
    let manifest = upload.manifest;
    caller.require_owner(
        &manifest.product.domain,
        &format!("deploy products of domain `{}`", manifest.product.domain),
    )?;
    let name = manifest.product.name.clone();
    let version = manifest.product.version.to_string();
    let _registry = state.registry_lock().await;
    require_same_domain(state, caller, manifest, upload.move_domain)?;
    let retained = if upload.activate {
        let mesh = crate::dag::Mesh::load(state)?;
        let retained = plan_retained(state, &mesh, manifest, upload.deprecation_us)?;
        mesh.check(manifest, &majors(&retained))?;
        Some(retained)
    } else {
        None
    };
    let hash = hex::encode(Sha256::digest(upload.bytes));
    let deployment = Deployment {
        product: name.clone(),
        version: version.clone(),
        domain: manifest.product.domain.clone(),
        hash: hash.clone(),
        bytes: upload.bytes.len() as u64,
        deployed_at_us: now_us(),
        manifest: package::read_embedded(upload.bytes)
            .ok()
            .and_then(|e| e.manifest)
            .unwrap_or_default(),
    };
    let existing = state.store().deployments(&name)?;
    let decision = if existing.iter().any(|d| d.version == version) {
        None
    } else {
        let current = active_manifest(state, &name)?.and_then(|(m, active)| active.map(|_| m));
        let mut input = crate::governance::manifest_change_input(
            state,
            tessera_store::PolicyEvent::Deploy,
            caller,
            manifest,
            current.as_deref(),
        )?;
        input.deprecation = upload.deprecation_us.map(deprecation_facts);
        let decision = crate::governance::judge(state, input.clone(), version.clone()).await?;
        if upload.activate {
            // Deploying with activation is an activation too.
            let mut activation = input;
            activation.event = tessera_store::PolicyEvent::Activate;
            crate::governance::judge(state, activation, version.clone()).await?;
        }
        decision
    };
    let outcome = match existing.iter().find(|d| d.version == version) {
        Some(d) if d.hash == hash => DeployOutcome::Unchanged,
        Some(_) => {
            return Err(ServiceError::conflict(format!(
                "{name} {version} is already deployed with different code"
            ))
            .hint("deployed versions are immutable; raise product.version in product.toml and build again"));
        }
        None => {
            state.store().deploy(&deployment, upload.bytes)?;
            state.events().emit(Event::Deployed {
                product: name.clone(),
                version: version.clone(),
            });
            DeployOutcome::Created
        }
    };
    state.remember(upload.product);
    state.forget_view(&name);
    if let Some(retained) = retained
        && state.store().active(&name)?.as_deref() != Some(version.as_str())
    {
        state.store().activate(&name, &version, &retained)?;
        state.forget_view(&name);
        state.events().emit(Event::Activated {
            product: name.clone(),
            version: version.clone(),
        });
    }
    state.scheduler().refresh_schedules(state)?;
    tracing::info!(product = %name, %version, %hash, "deployed");
    let active = state.store().active(&name)?;
    let deployment = state
        .store()
        .deployments(&name)?
        .into_iter()
        .find(|d| d.version == version)
        .unwrap_or(deployment);
    Ok(Deployed {
        outcome,
        deployment,
        active,
        decision,
    })
}

/// Makes a deployed version the one runs use, as one step: ownership (a version of another
/// domain moves the product, which only an admin may), the DAG check and the activation under
/// the registry lock.
pub async fn activate(
    state: &AppState,
    caller: &Caller,
    name: &str,
    version: &str,
    deprecation_us: Option<i64>,
) -> ServiceResult<()> {
    let deployments = state.deployments(name)?;
    caller.require_owner(
        &product_domain(state, name)?,
        &format!("activate versions of {name}"),
    )?;
    let Some(deployment) = deployments.iter().find(|d| d.version == version) else {
        return Err(ServiceError::not_found(
            format!("{name} has no deployed version {version}"),
            &deployments
                .iter()
                .map(|d| d.version.clone())
                .collect::<Vec<_>>(),
        ));
    };
    let candidate = Manifest::parse(&deployment.manifest, "<deployed product.toml>")
        .map_err(|e| ServiceError::internal(format!("stored manifest of {name}: {e}")))?;
    let _registry = state.registry_lock().await;
    require_same_domain(state, caller, &candidate, caller.require_admin().is_ok())?;
    let mesh = crate::dag::Mesh::load(state)?;
    let retained = plan_retained(state, &mesh, &candidate, deprecation_us)?;
    mesh.check(&candidate, &majors(&retained))?;
    let current = active_manifest(state, name)?.and_then(|(m, active)| active.map(|_| m));
    if current
        .as_ref()
        .map(|m| m.product.version.to_string())
        .as_deref()
        != Some(version)
    {
        let mut input = crate::governance::manifest_change_input(
            state,
            tessera_store::PolicyEvent::Activate,
            caller,
            &candidate,
            current.as_deref(),
        )?;
        input.deprecation = deprecation_us.map(deprecation_facts);
        crate::governance::judge(state, input, version.to_string()).await?;
    }
    state.store().activate(name, version, &retained)?;
    state.forget_view(name);
    state.events().emit(Event::Activated {
        product: name.to_string(),
        version: version.to_string(),
    });
    state.scheduler().refresh_schedules(state)?;
    tracing::info!(product = %name, %version, "activated");
    Ok(())
}

/// A product belongs to the domain of its deployments: an upload that names another domain
/// is refused (403) unless an admin moves the product on purpose (`move_domain=true`). Owners
/// of the product's domain are the only owners who may deploy it.
fn require_same_domain(
    state: &AppState,
    caller: &Caller,
    upload: &Manifest,
    move_domain: bool,
) -> ServiceResult<()> {
    let name = &upload.product.name;
    let Some((current, _)) = active_manifest(state, name)? else {
        return Ok(());
    };
    let owned_by = &current.product.domain;
    caller.require_owner(
        owned_by,
        &format!("deploy {name}, which belongs to `{owned_by}`"),
    )?;
    if owned_by == &upload.product.domain {
        return Ok(());
    }
    if move_domain && caller.require_admin().is_ok() {
        tracing::warn!(
            product = %name,
            from = %owned_by,
            to = %upload.product.domain,
            by = %caller.describe(),
            "product moved to another domain"
        );
        return Ok(());
    }
    Err(ServiceError::forbidden(format!(
        "{name} belongs to domain `{owned_by}`; this upload says `{}`",
        upload.product.domain
    ))
    .hint(format!(
        "keep domain = \"{owned_by}\" in product.toml; moving a product to another domain is \
         an admin's act (deploy with ?move_domain=true and an admin token)"
    )))
}

/// The manifest of the active version (or of the newest deployment when none is active), and
/// the active version. Cached in memory; deploys and activations refresh the cache.
pub fn active_manifest(
    state: &AppState,
    name: &str,
) -> ServiceResult<Option<(Arc<Manifest>, Option<String>)>> {
    if let Some(view) = state.cached_view(name) {
        return Ok(Some(view));
    }
    let deployments = state.store().deployments(name)?;
    let active = state.store().active(name)?;
    let chosen = active
        .as_ref()
        .and_then(|v| deployments.iter().find(|d| &d.version == v))
        .or(deployments.last());
    let Some(deployment) = chosen else {
        return Ok(None);
    };
    let manifest = Manifest::parse(&deployment.manifest, "<deployed product.toml>")
        .map_err(|e| ServiceError::internal(format!("stored manifest of {name}: {e}")))?;
    let view = (Arc::new(manifest), active);
    state.cache_view(name, view.clone());
    Ok(Some(view))
}

/// The active (or newest) manifest of a deployed product, or a 404 that lists the products.
pub fn deployed_manifest(state: &AppState, name: &str) -> ServiceResult<Arc<Manifest>> {
    match active_manifest(state, name)? {
        Some((manifest, _)) => Ok(manifest),
        None => Err(ServiceError::not_found(
            format!("no product named `{name}` is deployed"),
            &state.store().products()?,
        )),
    }
}

/// The domain that owns a product (from its active, or newest, manifest).
pub fn product_domain(state: &AppState, name: &str) -> ServiceResult<String> {
    Ok(deployed_manifest(state, name)?.product.domain.clone())
}

/// The majors of `product` that keep running beside `candidate` once it is active: the live
/// retained ones other than the candidate's own, and the active major when the candidate
/// replaces it and consumers pin it — which needs a deprecation date in the future (a 422
/// naming the consumers otherwise).
fn plan_retained(
    state: &AppState,
    mesh: &crate::dag::Mesh,
    candidate: &Manifest,
    deprecation_us: Option<i64>,
) -> ServiceResult<Vec<RetainedMajor>> {
    let name = &candidate.product.name;
    let new_major = candidate.product.version.major;
    let now = now_us();
    let mut kept: Vec<RetainedMajor> = state
        .store()
        .retained_majors(name)?
        .into_iter()
        .filter(|line| !line.retired(now) && line.major != new_major)
        .collect();
    let active = state.store().active(name)?;
    let Some((active, old_major)) = active.and_then(|v| major_of(&v).map(|m| (v, m))) else {
        return Ok(kept);
    };
    if old_major == new_major {
        return Ok(kept);
    }
    let readers = mesh.pinned_readers(name, old_major);
    if readers.is_empty() {
        return Ok(kept);
    }
    let named: Vec<String> = readers
        .iter()
        .map(|(reader, input)| format!("{reader} (input `{input}`)"))
        .collect();
    match deprecation_us {
        Some(_) if kept.len() >= MAX_RETAINED_MAJORS => Err(ServiceError::unprocessable(
            "too_many_majors",
            format!(
                "{name} keeps {} running beside its active version already; this server keeps \
                 at most {MAX_RETAINED_MAJORS}, and replacing {old_major}.x would need one more",
                kept.iter()
                    .map(|line| format!("{}.x", line.major))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .hint(format!(
            "move {} to a newer major (or wait for the retained majors' deprecation dates) first",
            named.join(", ")
        ))),
        Some(at) if at > now => {
            kept.retain(|line| line.major != old_major);
            kept.push(RetainedMajor {
                major: old_major,
                version: active,
                deprecation_us: at,
                retained_at_us: now,
            });
            kept.sort_by_key(|line| line.major);
            tracing::info!(
                product = %name,
                major = old_major,
                consumers = ?named,
                "major version retained for pinned consumers"
            );
            Ok(kept)
        }
        Some(_) => Err(ServiceError::bad_request(
            "deprecate_after must lie in the future".to_string(),
        )),
        None => Err(ServiceError::unprocessable(
            "pinned_consumers",
            format!(
                "{name} {} would replace major {old_major}, which {} read pinned to \
                 `{name}/…@{old_major}`",
                candidate.product.version,
                named.join(", ")
            ),
        )
        .hint(format!(
            "give a deprecation (deploy or activate with ?deprecate_after=90d, or `tessera \
             deploy --deprecate-after 90d`) to keep {old_major}.x running for them until then, or \
             move them to @{new_major} first"
        ))),
    }
}

/// The most earlier majors a product keeps running beside its active version: each one runs
/// on every trigger, so they multiply the product's work.
pub const MAX_RETAINED_MAJORS: usize = 3;

/// The major numbers of retained lines.
fn majors(retained: &[RetainedMajor]) -> Vec<u64> {
    retained.iter().map(|line| line.major).collect()
}

/// The retained majors of `product` that still run (their deprecation date has not come).
pub fn live_majors(state: &AppState, product: &str) -> ServiceResult<Vec<RetainedMajor>> {
    let now = now_us();
    Ok(state
        .store()
        .retained_majors(product)?
        .into_iter()
        .filter(|line| !line.retired(now))
        .collect())
}

/// The manifests of `product`'s live retained majors, by major.
pub fn retained_manifests(
    state: &AppState,
    product: &str,
) -> ServiceResult<std::collections::BTreeMap<u64, Arc<Manifest>>> {
    let mut found = std::collections::BTreeMap::new();
    let lines = live_majors(state, product)?;
    if lines.is_empty() {
        return Ok(found);
    }
    let deployments = state.store().deployments(product)?;
    for line in lines {
        let Some(deployment) = deployments.iter().find(|d| d.version == line.version) else {
            continue;
        };
        let manifest = Manifest::parse(&deployment.manifest, "<deployed product.toml>")
            .map_err(|e| ServiceError::internal(format!("stored manifest of {product}: {e}")))?;
        found.insert(line.major, Arc::new(manifest));
    }
    Ok(found)
}

/// The policy input's view of a deprecation date.
fn deprecation_facts(at_us: i64) -> tessera_governance::input::Deprecation {
    const DAY_US: i64 = 24 * 3600 * 1_000_000;
    tessera_governance::input::Deprecation {
        until: crate::schedule::clock::rfc3339(at_us),
        days: u64::try_from(at_us.saturating_sub(now_us()) / DAY_US).unwrap_or(0),
    }
}
