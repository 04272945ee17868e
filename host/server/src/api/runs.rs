//! Runs: trigger one now, list a product's runs, read one with its captured log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::api::model::RunInfo;
use crate::api::products::product_domain;
use crate::api::query::Params;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::runner;
use crate::state::AppState;

/// Starts a run of the product's active version now.
#[utoipa::path(
    post, path = "/v1/products/{product}/runs", tag = "runs",
    params(("product" = String, Path, description = "Product name")),
    responses(
        (status = 202, description = "Queued; poll its URL", body = RunInfo),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 409, description = "The product has no active version", body = ErrorBody),
    )
)]
pub async fn trigger(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    params: Params,
) -> ApiResult<(StatusCode, Json<RunInfo>)> {
    params.allow(&[])?;
    state.deployments(&name)?;
    caller.require_owner(&product_domain(&state, &name)?, &format!("run {name}"))?;
    let run = runner::trigger(&state, &name)?;
    Ok((StatusCode::ACCEPTED, Json(RunInfo::new(&run, false))))
}

/// The runs of a product, newest first.
#[utoipa::path(
    get, path = "/v1/products/{product}/runs", tag = "runs",
    params(
        ("product" = String, Path, description = "Product name"),
        ("limit" = Option<u64>, Query, description = "Most runs to list (default 50)"),
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
) -> ApiResult<Json<Vec<RunInfo>>> {
    caller.require_reader(state.config().public_reads)?;
    let limit = params.allow(&["limit"])?.number("limit")?.unwrap_or(50);
    state.deployments(&name)?;
    let runs = state.store().runs(&name)?;
    Ok(Json(
        runs.iter()
            .rev()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|r| RunInfo::new(r, false))
            .collect(),
    ))
}

/// One run: state, timings, peak memory, the reason of a failure and the captured log.
#[utoipa::path(
    get, path = "/v1/runs/{run}", tag = "runs",
    params(("run" = String, Path, description = "Run id")),
    responses(
        (status = 200, body = RunInfo),
        (status = 404, description = "No such run", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<RunInfo>> {
    match state.store().run(&id)? {
        Some(run) => Ok(Json(RunInfo::new(&run, true))),
        None => Err(ApiError::not_found(format!("no run with id `{id}`"), &[])
            .hint("list a product's runs with GET /v1/products/{product}/runs")),
    }
}
