//! The federation's policies, waivers and decision records over the API. Policies are the
//! mesh's public rules: any caller who may read the catalog reads them. The governance role
//! writes global policies and waivers; a domain's owners write their domain's policies.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tessera_governance::policy::PolicyDraft;
use tessera_store::{DecisionRecord, Effect, PolicyEvent, PolicyRecord, PolicyScope, Waiver};
use utoipa::ToSchema;

use crate::api::error_shape::ErrorBody;
use crate::api::products::read_body;
use crate::api::query::Params;
use crate::auth::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::governance::{self, NewWaiver};
use crate::schedule::clock::rfc3339;
use crate::state::AppState;

/// A policy to add (the next version of `id`, or its first).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRequest {
    /// Its id, kebab-case.
    pub id: String,
    /// What it asks for.
    #[serde(default)]
    pub description: String,
    /// The domain it applies to; global when left out.
    pub domain: Option<String>,
    /// deploy, activate, publish, grant, ingest.
    pub events: Vec<String>,
    /// deny (refuses) or warn (reports).
    pub effect: String,
    /// The Rego module; its `violation` rule is a set of messages.
    pub rego: String,
    /// `false` retires the policy (this version is kept and applies nowhere).
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// One version of a policy.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyInfo {
    /// Its id.
    pub id: String,
    /// This version.
    pub version: u32,
    /// Every version of the id, oldest first (listings only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<u32>,
    /// What it asks for.
    pub description: String,
    /// `global` or `domain`.
    pub scope: String,
    /// The domain, for a domain policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The events it applies to.
    pub events: Vec<String>,
    /// deny or warn.
    pub effect: String,
    /// Whether this version is in force.
    pub enabled: bool,
    /// The Rego module.
    pub rego: String,
    /// When it was added (RFC 3339).
    pub created_at: String,
    /// Who added it.
    pub created_by: String,
}

impl PolicyInfo {
    fn new(p: &PolicyRecord, versions: Vec<u32>) -> PolicyInfo {
        let (scope, domain) = match &p.scope {
            PolicyScope::Global => ("global", None),
            PolicyScope::Domain(d) => ("domain", Some(d.clone())),
        };
        PolicyInfo {
            id: p.id.clone(),
            version: p.version,
            versions,
            description: p.description.clone(),
            scope: scope.into(),
            domain,
            events: p.events.iter().map(|e| e.name().to_string()).collect(),
            effect: p.effect.name().into(),
            enabled: p.enabled,
            rego: p.rego.clone(),
            created_at: rfc3339(p.created_at_us),
            created_by: p.created_by.clone(),
        }
    }
}

fn parse_request(bytes: &[u8]) -> ServiceResult<PolicyDraft> {
    let request: PolicyRequest = serde_json::from_slice(bytes).map_err(|e| {
        ServiceError::bad_request(format!("the body is not a policy: {e}")).hint(
            r#"send JSON like {"id": "phi-restricted", "events": ["deploy"], "effect": "deny", "rego": "package ..."}"#,
        )
    })?;
    let events = request
        .events
        .iter()
        .map(|name| {
            PolicyEvent::parse(name).ok_or_else(|| {
                ServiceError::bad_request(format!(
                    "`{name}` is not an event; use {}",
                    PolicyEvent::ALL.map(PolicyEvent::name).join(", ")
                ))
            })
        })
        .collect::<ServiceResult<Vec<_>>>()?;
    let effect = match request.effect.as_str() {
        "deny" => Effect::Deny,
        "warn" => Effect::Warn,
        other => {
            return Err(ServiceError::bad_request(format!(
                "`{other}` is not an effect; use deny or warn"
            )));
        }
    };
    Ok(PolicyDraft {
        id: request.id,
        description: request.description,
        scope: governance::scope_of(request.domain),
        events,
        effect,
        rego: request.rego,
        enabled: request.enabled,
    })
}

/// Adds a policy version.
#[utoipa::path(
    post, path = "/v1/policies", tag = "governance",
    request_body = PolicyRequest,
    responses(
        (status = 201, description = "Added", body = PolicyInfo),
        (status = 400, description = "Not a policy Tessera can evaluate", body = ErrorBody),
        (status = 403, description = "Not the governance role (global) or an owner of the domain", body = ErrorBody),
        (status = 409, description = "The id belongs to another scope", body = ErrorBody),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> ServiceResult<(StatusCode, Json<PolicyInfo>)> {
    let bytes = read_body(
        body,
        u64::try_from(tessera_governance::evaluate::MAX_POLICY_BYTES * 2).unwrap_or(u64::MAX),
    )
    .await?;
    let draft = parse_request(&bytes)?;
    let (worker, who) = (state.clone(), caller.clone());
    let record = tokio::task::spawn_blocking(move || governance::add_policy(&worker, &who, draft))
        .await
        .map_err(|e| ServiceError::internal(format!("adding the policy stopped: {e}")))??;
    Ok((
        StatusCode::CREATED,
        Json(PolicyInfo::new(&record, Vec::new())),
    ))
}

/// Lists the policies: the newest version of each id, with the numbers of all its versions.
#[utoipa::path(
    get, path = "/v1/policies", tag = "governance",
    responses((status = 200, description = "The policies", body = Vec<PolicyInfo>))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ServiceResult<Json<Vec<PolicyInfo>>> {
    caller.require_reader(state.config().public_reads)?;
    let all = state.store().governance().policies()?;
    let mut out: Vec<PolicyInfo> = Vec::new();
    for policy in &all {
        let versions: Vec<u32> = all
            .iter()
            .filter(|p| p.id == policy.id)
            .map(|p| p.version)
            .collect();
        if versions.last() == Some(&policy.version) {
            out.push(PolicyInfo::new(policy, versions));
        }
    }
    Ok(Json(out))
}

/// Every version of one policy, oldest first.
#[utoipa::path(
    get, path = "/v1/policies/{id}", tag = "governance",
    params(("id" = String, Path, description = "Policy id")),
    responses(
        (status = 200, description = "Its versions", body = Vec<PolicyInfo>),
        (status = 404, description = "No such policy", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ServiceResult<Json<Vec<PolicyInfo>>> {
    caller.require_reader(state.config().public_reads)?;
    let all = state.store().governance().policies()?;
    let versions: Vec<PolicyInfo> = all
        .iter()
        .filter(|p| p.id == id)
        .map(|p| PolicyInfo::new(p, Vec::new()))
        .collect();
    if versions.is_empty() {
        let mut ids: Vec<String> = all.into_iter().map(|p| p.id).collect();
        ids.dedup();
        return Err(ServiceError::not_found(format!("no policy `{id}`"), &ids));
    }
    Ok(Json(versions))
}

/// A decision record.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionInfo {
    /// Its id.
    pub id: String,
    /// When (RFC 3339).
    pub at: String,
    /// The event.
    pub event: String,
    /// The product.
    pub product: String,
    /// Its domain.
    pub domain: String,
    /// What the event was about (a version, a run, a grant, a port).
    pub subject: String,
    /// Who acted.
    pub actor: String,
    /// allowed, warned or denied.
    pub outcome: String,
    /// Each policy evaluated.
    pub verdicts: Vec<VerdictInfo>,
    /// How long the evaluation took, in milliseconds.
    pub evaluation_ms: f64,
}

/// One policy's verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerdictInfo {
    /// The policy.
    pub policy: String,
    /// Its version.
    pub version: u32,
    /// deny or warn.
    pub effect: String,
    /// passed, violated, waived or failed.
    pub result: String,
    /// Its messages.
    pub messages: Vec<String>,
    /// The waiver used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiver: Option<String>,
}

impl From<&DecisionRecord> for DecisionInfo {
    fn from(d: &DecisionRecord) -> DecisionInfo {
        DecisionInfo {
            id: d.id.clone(),
            at: rfc3339(d.at_us),
            event: d.event.name().into(),
            product: d.product.clone(),
            domain: d.domain.clone(),
            subject: d.subject.clone(),
            actor: d.actor.clone(),
            outcome: governance::outcome_name(d.outcome).into(),
            verdicts: d
                .verdicts
                .iter()
                .map(|v| VerdictInfo {
                    policy: v.policy.clone(),
                    version: v.version,
                    effect: v.effect.name().into(),
                    result: serde_json::to_value(v.result)
                        .ok()
                        .and_then(|r| r.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    messages: v.messages.clone(),
                    waiver: v.waiver.clone(),
                })
                .collect(),
            evaluation_ms: d.evaluation_us as f64 / 1000.0,
        }
    }
}

const DEFAULT_DECISIONS: u64 = 100;
const MAX_DECISIONS: u64 = 1000;

fn decisions_for(
    state: &AppState,
    caller: &Caller,
    product: Option<&str>,
    params: &Params,
) -> ServiceResult<Vec<DecisionInfo>> {
    let limit = params
        .number("limit")?
        .unwrap_or(DEFAULT_DECISIONS)
        .clamp(1, MAX_DECISIONS);
    let limit = usize::try_from(limit).unwrap_or(100);
    let found = state.store().governance().decisions(product, limit)?;
    Ok(found
        .iter()
        .filter(|d| governance::may_read_decision(state, caller, d))
        .map(DecisionInfo::from)
        .collect())
}

/// Decision records mesh-wide, newest first: the governance role and admins see all, others
/// those of products whose runs they may read.
#[utoipa::path(
    get, path = "/v1/decisions", tag = "governance",
    params(
        ("product" = Option<String>, Query, description = "Only this product's"),
        ("limit" = Option<u64>, Query, description = "At most this many (default 100, at most 1000)"),
    ),
    responses((status = 200, description = "Decisions", body = Vec<DecisionInfo>))
)]
pub async fn decisions(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ServiceResult<Json<Vec<DecisionInfo>>> {
    let params = params.allow(&["product", "limit"])?;
    caller.require_reader(state.config().public_reads)?;
    Ok(Json(decisions_for(
        &state,
        &caller,
        params.text("product"),
        params,
    )?))
}

/// One product's decision records, newest first.
#[utoipa::path(
    get, path = "/v1/products/{product}/decisions", tag = "governance",
    params(
        ("product" = String, Path, description = "Product name"),
        ("limit" = Option<u64>, Query, description = "At most this many (default 100, at most 1000)"),
    ),
    responses(
        (status = 200, description = "Decisions", body = Vec<DecisionInfo>),
        (status = 403, description = "The caller may not read this product's runs", body = ErrorBody),
    )
)]
pub async fn product_decisions(
    State(state): State<AppState>,
    caller: Caller,
    Path(product): Path<String>,
    params: Params,
) -> ServiceResult<Json<Vec<DecisionInfo>>> {
    let params = params.allow(&["limit"])?;
    let manifest = crate::registry::deployed_manifest(&state, &product)?;
    if caller.require_governance("").is_err() {
        caller.require_product(state.config().public_reads, &manifest)?;
    }
    Ok(Json(decisions_for(
        &state,
        &caller,
        Some(&product),
        params,
    )?))
}

/// A waiver to grant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaiverRequest {
    /// The policy waived.
    pub policy: String,
    /// The product it is waived for.
    pub product: String,
    /// Why; part of every decision that uses it.
    pub reason: String,
    /// For how long, as `30d`, `12h`; at most 366 days.
    pub expires_in: String,
}

/// A waiver.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaiverInfo {
    /// Its id.
    pub id: String,
    /// The policy waived.
    pub policy: String,
    /// The product.
    pub product: String,
    /// Why.
    pub reason: String,
    /// When it stops applying (RFC 3339).
    pub expires_at: String,
    /// Whether it has expired.
    pub expired: bool,
    /// Who granted it.
    pub created_by: String,
}

impl From<&Waiver> for WaiverInfo {
    fn from(w: &Waiver) -> WaiverInfo {
        WaiverInfo {
            id: w.id.clone(),
            policy: w.policy.clone(),
            product: w.product.clone(),
            reason: w.reason.clone(),
            expires_at: rfc3339(w.expires_at_us),
            expired: w.expires_at_us <= tessera_store::now_us(),
            created_by: w.created_by.clone(),
        }
    }
}

/// Grants a waiver (the governance role).
#[utoipa::path(
    post, path = "/v1/waivers", tag = "governance",
    request_body = WaiverRequest,
    responses(
        (status = 201, description = "Granted", body = WaiverInfo),
        (status = 403, description = "Not the governance role", body = ErrorBody),
        (status = 404, description = "No such policy", body = ErrorBody),
    )
)]
pub async fn grant_waiver(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> ServiceResult<(StatusCode, Json<WaiverInfo>)> {
    caller.require_governance("grant waivers")?;
    let bytes = read_body(body, 16 * 1024).await?;
    let request: WaiverRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ServiceError::bad_request(format!("the body is not a waiver: {e}")).hint(
            r#"send JSON like {"policy": "gpu-domains", "product": "x", "reason": "...", "expires_in": "30d"}"#,
        )
    })?;
    let expires_in = tessera_core::manifest::Span::parse(&request.expires_in)
        .map_err(|e| ServiceError::bad_request(format!("expires_in: {e}")))?
        .duration();
    let waiver = governance::grant_waiver(
        &state,
        &caller,
        NewWaiver {
            policy: request.policy,
            product: request.product,
            reason: request.reason,
            expires_in,
        },
    )?;
    Ok((StatusCode::CREATED, Json(WaiverInfo::from(&waiver))))
}

/// Lists waivers, expired ones included.
#[utoipa::path(
    get, path = "/v1/waivers", tag = "governance",
    responses((status = 200, description = "Waivers", body = Vec<WaiverInfo>))
)]
pub async fn waivers(
    State(state): State<AppState>,
    caller: Caller,
) -> ServiceResult<Json<Vec<WaiverInfo>>> {
    caller.require_reader(state.config().public_reads)?;
    Ok(Json(
        state
            .store()
            .governance()
            .waivers()?
            .iter()
            .map(WaiverInfo::from)
            .collect(),
    ))
}
