//! The product registry's read side: which manifest and version of each product is active,
//! and who owns it. Deploys and activations change it under [`crate::state::AppState::registry_lock`];
//! everything else (the DAG, the scheduler, the runner, the API) reads it through here.

use std::sync::Arc;

use tessera_core::manifest::Manifest;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The manifest of the active version (or of the newest deployment when none is active), and
/// the active version. Cached in memory; deploys and activations refresh the cache.
pub fn active_manifest(
    state: &AppState,
    name: &str,
) -> ApiResult<Option<(Arc<Manifest>, Option<String>)>> {
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
        .map_err(|e| ApiError::internal(format!("stored manifest of {name}: {e}")))?;
    let view = (Arc::new(manifest), active);
    state.cache_view(name, view.clone());
    Ok(Some(view))
}

/// The active (or newest) manifest of a deployed product, or a 404 that lists the products.
pub fn deployed_manifest(state: &AppState, name: &str) -> ApiResult<Arc<Manifest>> {
    match active_manifest(state, name)? {
        Some((manifest, _)) => Ok(manifest),
        None => Err(ApiError::not_found(
            format!("no product named `{name}` is deployed"),
            &state.store().products()?,
        )),
    }
}

/// The domain that owns a product (from its active, or newest, manifest).
pub fn product_domain(state: &AppState, name: &str) -> ApiResult<String> {
    Ok(deployed_manifest(state, name)?.product.domain.clone())
}
