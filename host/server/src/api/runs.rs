//! Runs: trigger one now, list a product's runs, read one with its captured log.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::error_shape::ErrorBody;
use crate::api::model::RunInfo;
use crate::api::query::Params;
use crate::auth::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::registry::product_domain;
use crate::replay;
use crate::schedule::Cause;
use crate::state::AppState;

/// The optional body of a run request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequestBody {
    /// Re-run the code of this published version on the exact input versions it read, and
    /// compare every output by content hash. Publishes nothing.
    pub replay_of: Option<ReplayOf>,
}

/// A published version to replay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayOf {
    /// An output port of the version.
    pub port: String,
    /// The data version.
    pub version: u64,
}

/// Queues a run of the product's active version, or (with `replay_of`) a replay of a
/// published version. A run request while one is already queued joins it.
#[utoipa::path(
    post, path = "/v1/products/{product}/runs", tag = "runs",
    params(("product" = String, Path, description = "Product name")),
    request_body(content = Option<RunRequestBody>, content_type = "application/json"),
    responses(
        (status = 202, description = "Queued; poll its URL", body = RunInfo),
        (status = 400, description = "A body that is not a run request", body = ErrorBody),
        (status = 404, description = "No such product, or no such version to replay", body = ErrorBody),
        (status = 409, description = "No active version, or the version cannot be replayed", body = ErrorBody),
    )
)]
pub async fn trigger(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    params: Params,
    body: Body,
) -> ServiceResult<(StatusCode, Json<RunInfo>)> {
    params.allow(&[])?;
    state.deployments(&name)?;
    caller.require_owner(&product_domain(&state, &name)?, &format!("run {name}"))?;
    let bytes = crate::api::products::read_body(body, 64 << 10).await?;
    let request: RunRequestBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        RunRequestBody::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| {
            ServiceError::bad_request(format!("the run request is not valid: {e}"))
                .hint(r#"send no body for a run, or {"replay_of": {"port": "...", "version": N}}"#)
        })?
    };
    let run = match request.replay_of {
        Some(of) => replay::request(&state, &name, &of.port, of.version)?,
        None => state.scheduler().request(&state, &name, Cause::Manual)?,
    };
    Ok((StatusCode::ACCEPTED, Json(RunInfo::new(&run, false))))
}

/// The runs of a product, newest first.
#[utoipa::path(
    get, path = "/v1/products/{product}/runs", tag = "runs",
    params(
        ("product" = String, Path, description = "Product name"),
        ("limit" = Option<u64>, Query, description = "Most runs to list, 1 to 1000 (default 50)"),
        ("before" = Option<String>, Query, description = "List the runs older than this run id (the last id of the previous page)"),
    ),
    responses(
        (status = 200, body = Vec<RunInfo>),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    params: Params,
) -> ServiceResult<Json<Vec<RunInfo>>> {
    let public_reads = state.config().public_reads;
    caller.require_reader(public_reads)?;
    let params = params.allow(&["limit", "before"])?;
    let limit = params.number("limit")?.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ServiceError::bad_parameter(
            "limit",
            format!("{limit} is not between 1 and {MAX_PAGE}"),
        ));
    }
    let before = params.text("before");
    state.deployments(&name)?;
    // Failure reasons and check results say what the data held: the same rule as one run.
    let manifest = crate::registry::deployed_manifest(&state, &name)?;
    caller.require_product(public_reads, &manifest)?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let runs = match state.store().runs_page(&name, before, page) {
        Err(tessera_store::StoreError::NotFound(message)) => {
            return Err(ServiceError::bad_parameter("before", message)
                .hint("pass the id of the last run of the previous page"));
        }
        other => other?,
    };
    Ok(Json(runs.iter().map(|r| RunInfo::new(r, false)).collect()))
}

/// One run: state, timings, peak memory, the reason of a failure and the captured log.
#[utoipa::path(
    get, path = "/v1/runs/{run}", tag = "runs",
    params(("run" = String, Path, description = "Run id")),
    responses(
        (status = 200, body = RunInfo),
        (status = 401, description = "No token, where the server needs one", body = ErrorBody),
        (status = 403, description = "The caller may not read every output port of the run's product", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ServiceResult<Json<RunInfo>> {
    let public_reads = state.config().public_reads;
    // Who may not read the catalog learns nothing, not even whether the run exists.
    caller.require_reader(public_reads)?;
    let not_found = || {
        ServiceError::not_found(format!("no run with id `{id}`"), &[])
            .hint("list a product's runs with GET /v1/products/{product}/runs")
    };
    let Some(run) = state.store().run(&id)? else {
        return Err(not_found());
    };
    // The run's own version and the active one: a caller must pass both.
    let current = crate::registry::deployed_manifest(&state, &run.product)?;
    caller.require_product(public_reads, &current)?;
    if let Some(then) = state.version_manifest(&run.product, &run.product_version)? {
        caller.require_product(public_reads, &then)?;
    }
    Ok(Json(RunInfo::new(&run, true)))
}

/// The most runs one page of a product's history lists.
const MAX_PAGE: u64 = 1000;
