//! The open standards' documents: a product's descriptor as ODPS (`GET /v1/products/{p}/odps`)
//! and an output port's contract as ODCS (`GET /v1/products/{p}/outputs/{port}/contract`), as
//! JSON or YAML (`?format=yaml`, or `Accept: application/yaml`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tessera_governance::standards::{Served, odcs, odps};

use crate::api::error_shape::ErrorBody;
use crate::api::query::Params;
use crate::auth::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::registry::active_manifest;
use crate::state::AppState;

/// The base URL documents name: the request's `Host` when it is a plain host and port, the
/// configured address otherwise.
pub(crate) fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let plain = |h: &str| {
        !h.is_empty()
            && h.len() <= 255
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    };
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if plain(host) => format!("http://{host}"),
        _ => format!("http://{}", state.config().addr),
    }
}

/// What both documents start from, for a caller who may read the catalog: the product's
/// active (or newest) manifest, the base URL, and whether a version is active.
fn described(
    state: &AppState,
    caller: &Caller,
    name: &str,
    headers: &HeaderMap,
) -> ServiceResult<(
    std::sync::Arc<tessera_core::manifest::Manifest>,
    String,
    bool,
)> {
    caller.require_reader(state.config().public_reads)?;
    let manifest = crate::registry::deployed_manifest(state, name)?;
    let active = active_manifest(state, name)?.is_some_and(|(_, active)| active.is_some());
    Ok((manifest, base_url(state, headers), active))
}

/// JSON, or YAML when asked for.
fn render(
    document: serde_json::Value,
    params: &Params,
    headers: &HeaderMap,
) -> ServiceResult<Response> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let yaml = match params.text("format") {
        Some("yaml") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ServiceError::bad_parameter(
                "format",
                format!("`{other}` is not json or yaml"),
            ));
        }
        None => accept.contains("yaml"),
    };
    if yaml {
        let text = yaml_serde::to_string(&document)
            .map_err(|e| ServiceError::internal(format!("cannot write YAML: {e}")))?;
        let mut response = text.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/yaml"),
        );
        return Ok(response);
    }
    Ok(axum::Json(document).into_response())
}

/// The product's descriptor as an ODPS v1.0.0 document.
#[utoipa::path(
    get, path = "/v1/products/{product}/odps", tag = "governance",
    params(
        ("product" = String, Path, description = "Product name"),
        ("format" = Option<String>, Query, description = "json (default) or yaml"),
    ),
    responses(
        (status = 200, description = "The ODPS document"),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
pub async fn product_odps(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> ServiceResult<Response> {
    let params = params.allow(&["format"])?;
    let (manifest, base, active) = described(&state, &caller, &name, &headers)?;
    let served = Served {
        base_url: &base,
        active,
    };
    render(odps(&manifest, &served), params, &headers)
}

/// An output port's contract as an ODCS v3.1.0 document.
#[utoipa::path(
    get, path = "/v1/products/{product}/outputs/{port}/contract", tag = "governance",
    params(
        ("product" = String, Path, description = "Product name"),
        ("port" = String, Path, description = "Output port"),
        ("format" = Option<String>, Query, description = "json (default) or yaml"),
    ),
    responses(
        (status = 200, description = "The ODCS document"),
        (status = 404, description = "No such product or port", body = ErrorBody),
    )
)]
pub async fn port_contract(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, port)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
) -> ServiceResult<Response> {
    let params = params.allow(&["format"])?;
    let (manifest, base, active) = described(&state, &caller, &name, &headers)?;
    let Some(output) = manifest.output(&port) else {
        return Err(crate::outputs::no_such_port(&manifest, &port));
    };
    let served = Served {
        base_url: &base,
        active,
    };
    render(odcs(&manifest, output, &served), params, &headers)
}
