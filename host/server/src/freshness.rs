//! Freshness: how old a product's newest published version is, against its `slo.freshness`.
//!
//! A product is `never-run` until it publishes, then `fresh`, and `stale` once its newest
//! version is older than its SLO (a product without an SLO stays `fresh`). The scheduler's
//! dispatcher calls [`watch`] about once a second: it updates the Prometheus gauges and emits a
//! `freshness` event whenever a product's state changes. Ages use the scheduler's clock, so
//! tests move time instead of waiting.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use tessera_core::manifest::Manifest;
use utoipa::ToSchema;

use crate::error::ServiceResult;
use crate::events::Event;
use crate::registry::active_manifest;
use crate::schedule::clock::rfc3339;
use crate::state::AppState;

/// Where a product stands against its freshness SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FreshnessState {
    /// Nothing published yet.
    NeverRun,
    /// The newest version is within the SLO (or there is no SLO).
    Fresh,
    /// The newest version is older than the SLO.
    Stale,
}

impl FreshnessState {
    /// The kebab-case name (`fresh`, `stale`, `never-run`).
    pub fn name(self) -> &'static str {
        match self {
            FreshnessState::NeverRun => "never-run",
            FreshnessState::Fresh => "fresh",
            FreshnessState::Stale => "stale",
        }
    }
}

/// A product's freshness.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Freshness {
    /// `fresh`, `stale` or `never-run`.
    pub state: FreshnessState,
    /// Seconds since the newest version was published.
    pub age_seconds: Option<f64>,
    /// The SLO, in seconds, if the product declares one.
    pub slo_seconds: Option<f64>,
    /// When the newest version was published.
    pub last_publish: Option<String>,
}

/// The freshness of `name` now, by the scheduler's clock.
pub fn of(state: &AppState, name: &str, manifest: &Manifest) -> ServiceResult<Freshness> {
    let now = state.scheduler().clock().now_us();
    let slo_seconds = manifest.slo.freshness.map(|s| s.duration().as_secs_f64());
    let Some(current) = state.store().current_version(name)? else {
        return Ok(Freshness {
            state: FreshnessState::NeverRun,
            age_seconds: None,
            slo_seconds,
            last_publish: None,
        });
    };
    let age = (now - current.published_at_us).max(0) as f64 / 1e6;
    Ok(Freshness {
        state: if slo_seconds.is_some_and(|slo| age > slo) {
            FreshnessState::Stale
        } else {
            FreshnessState::Fresh
        },
        age_seconds: Some(age),
        slo_seconds,
        last_publish: Some(rfc3339(current.published_at_us)),
    })
}

/// The last state seen per product, to report changes once.
#[derive(Default)]
pub struct Watcher {
    last: Mutex<HashMap<String, FreshnessState>>,
}

/// Updates the freshness gauges and emits an event for every product whose state changed.
pub fn watch(state: &AppState) {
    let Ok(products) = state.store().products() else {
        return;
    };
    for name in products {
        let Ok(Some((manifest, Some(_)))) = active_manifest(state, &name) else {
            continue;
        };
        let Ok(freshness) = of(state, &name, &manifest) else {
            continue;
        };
        state.metrics().freshness(&name, &freshness);
        let changed = state
            .freshness_watcher()
            .last
            .lock()
            .map(|mut last| last.insert(name.clone(), freshness.state) != Some(freshness.state))
            .unwrap_or(false);
        if changed && freshness.state != FreshnessState::NeverRun {
            state.events().emit(Event::Freshness {
                product: name.clone(),
                state: freshness.state.name().to_string(),
                age_seconds: freshness.age_seconds.unwrap_or(0.0),
            });
        }
    }
}
