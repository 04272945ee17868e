//! Ingest routes: push data into a product's ingest port, and list the port's input versions.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_core::formats::Format;
use tessera_core::manifest::{InputSource, Manifest};
use tessera_store::{IngestMode, InputVersion};
use utoipa::ToSchema;

use crate::api::error_shape::ErrorBody;
use crate::api::model::rfc3339;
use crate::api::query::Params;
use crate::auth::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::ingest::{self, IngestRequest};
use crate::registry::{deployed_manifest, product_domain};
use crate::state::AppState;

/// One input version of an ingest port.
#[derive(Debug, Serialize, ToSchema)]
pub struct InputVersionInfo {
    /// Product name.
    pub product: String,
    /// Ingest port.
    pub port: String,
    /// Input version number, from 1.
    pub version: u64,
    /// When it was accepted.
    pub ingested_at: String,
    /// `append` or `replace`.
    pub mode: String,
    /// Rows the ingest added.
    pub rows_added: u64,
    /// Rows in this version.
    pub rows: u64,
    /// Bytes stored for this version (shared with earlier versions for appends).
    pub bytes: u64,
    /// The request's `Idempotency-Key`, if it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The run this ingest queued (or joined), when the product runs on input; follow it at
    /// `/v1/runs/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

impl From<&InputVersion> for InputVersionInfo {
    fn from(v: &InputVersion) -> Self {
        InputVersionInfo {
            product: v.product.clone(),
            port: v.port.clone(),
            version: v.number,
            ingested_at: rfc3339(v.ingested_at_us),
            mode: match v.mode {
                IngestMode::Append => "append".into(),
                IngestMode::Replace => "replace".into(),
                IngestMode::Expire => "expire".into(),
            },
            rows_added: v.added_rows,
            rows: v.rows(),
            bytes: v.bytes(),
            idempotency_key: v.idempotency_key.clone(),
            run: None,
        }
    }
}

/// The format a `Content-Type` names.
fn format_of(headers: &HeaderMap) -> ServiceResult<Format> {
    let supported = "text/csv, application/x-ndjson, application/vnd.apache.arrow.stream (or \
                     .file) and application/vnd.apache.parquet";
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ServiceError::unsupported_media_type(
            "the request has no Content-Type; it names the body's format",
        )
        .hint(format!("send one of: {supported}")));
    };
    let media = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "text/csv" => Ok(Format::Csv),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines" => Ok(Format::Ndjson),
        "application/vnd.apache.arrow.stream" | "application/vnd.apache.arrow.file" => {
            Ok(Format::Arrow)
        }
        "application/vnd.apache.parquet" | "application/x-parquet" => Ok(Format::Parquet),
        other => Err(
            ServiceError::unsupported_media_type(format!("cannot ingest `{other}`"))
                .hint(format!("send one of: {supported}")),
        ),
    }
}

/// The `Idempotency-Key` header, checked.
fn idempotency_key(headers: &HeaderMap) -> ServiceResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ServiceError::bad_request(
            "the Idempotency-Key header must be 1 to 255 visible ASCII characters",
        )
        .hint("a UUID works well"));
    }
    Ok(Some(key.to_string()))
}

/// The manifest of a product and the ingest port named, or the right 4xx.
fn ingest_port(
    state: &AppState,
    name: &str,
    port: &str,
) -> ServiceResult<std::sync::Arc<Manifest>> {
    let manifest = deployed_manifest(state, name)?;
    let ingest_ports: Vec<String> = manifest
        .inputs
        .iter()
        .filter(|i| i.ingest_schema().is_some())
        .map(|i| i.name.clone())
        .collect();
    match manifest.input(port).map(|i| &i.source) {
        None => Err(ServiceError::not_found(
            format!("{name} has no input port `{port}`"),
            &ingest_ports,
        )),
        Some(InputSource::Upstream(upstream)) => Err(ServiceError::conflict(format!(
            "input `{port}` of {name} is fed by {}/{}, not by ingest",
            upstream.product, upstream.port
        ))
        .hint(if ingest_ports.is_empty() {
            format!("{name} has no ingest ports")
        } else {
            format!("{name} ingests into: {}", ingest_ports.join(", "))
        })),
        Some(InputSource::Ingest(_)) => Ok(manifest),
    }
}

/// Pushes rows into an ingest port. The body (CSV with a header, NDJSON, Arrow IPC or Parquet,
/// by `Content-Type`) streams in and is checked row by row; one bad row refuses the whole
/// request with the first problems listed, and nothing is stored. An accepted request makes the
/// port's next input version and, if the product runs on input, queues a run.
#[utoipa::path(
    post, path = "/v1/products/{product}/inputs/{port}", tag = "ingest",
    params(
        ("product" = String, Path, description = "Product name"),
        ("port" = String, Path, description = "An ingest port of the product"),
        ("mode" = Option<String>, Query, description = "`append` (default): add to the current rows; `replace`: the body is the new data"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request a no-op: the same key on the same port returns the first request's version"),
    ),
    request_body(description = "Rows in the port's schema", content(
        (String = "text/csv"), (String = "application/x-ndjson"),
        (Vec<u8> = "application/vnd.apache.arrow.stream"), (Vec<u8> = "application/vnd.apache.parquet"),
    )),
    responses(
        (status = 201, description = "Accepted as a new input version", body = InputVersionInfo),
        (status = 200, description = "A repeat of an earlier request (same Idempotency-Key); nothing changed", body = InputVersionInfo),
        (status = 400, description = "Rows that do not match the schema, listed by row, line and column", body = ErrorBody),
        (status = 404, description = "No such product or port", body = ErrorBody),
        (status = 409, description = "The port is fed by another product", body = ErrorBody),
        (status = 413, description = "The body is over the server's limit", body = ErrorBody),
        (status = 415, description = "A Content-Type the server does not ingest", body = ErrorBody),
    )
)]
pub async fn push(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, port)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> ServiceResult<Response> {
    let limit = state.config().limits.max_upload;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let over_limit = declared.is_some_and(|length| length > limit);
    let checked = check_push(&state, &caller, (&name, &port), &params, &headers);
    let (mode, manifest, format, key) = match checked {
        Ok(checked) => checked,
        Err(e) => {
            // The client may still be sending: take the body (within the limit) so it can
            // read the answer; not for callers without a token, who may not send data here.
            if !over_limit && !matches!(caller, Caller::Anonymous) {
                crate::ingest::body::drain(body, limit).await;
            }
            return Err(e);
        }
    };
    if let Some(key) = &key
        && let Some(version) = state.store().ingested_with_key(&name, &port, key)?
    {
        // A repeat: the body is not needed, but the client is still sending it.
        if !over_limit {
            crate::ingest::body::drain(body, limit).await;
        }
        return Ok(answer(StatusCode::OK, &version, true, None));
    }
    if over_limit {
        return Err(ServiceError::too_large(limit));
    }
    let slot = match state.upload_slot() {
        Ok(slot) => slot,
        Err(busy) => {
            crate::ingest::body::drain(body, limit).await;
            return Err(busy);
        }
    };
    let ingested = ingest::ingest(
        &state,
        IngestRequest {
            manifest: &manifest,
            port: &port,
            format,
            mode,
            key: key.as_deref(),
            actor: crate::governance::actor(&caller),
        },
        body,
    )
    .await;
    drop(slot);
    let ingested = ingested?;
    let outcome = &ingested.outcome;
    let status = if outcome.repeated {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let run = ingested.run.as_ref().map(|r| r.id.clone());
    Ok(answer(status, &outcome.version, outcome.repeated, run))
}

/// The checks a push passes before its body is read: mode, port, permission, format and
/// idempotency key.
fn check_push(
    state: &AppState,
    caller: &Caller,
    (name, port): (&str, &str),
    params: &Params,
    headers: &HeaderMap,
) -> ServiceResult<(IngestMode, std::sync::Arc<Manifest>, Format, Option<String>)> {
    let mode = match params.allow(&["mode"])?.text("mode") {
        None | Some("append") => IngestMode::Append,
        Some("replace") => IngestMode::Replace,
        Some(other) => {
            return Err(ServiceError::bad_parameter(
                "mode",
                format!("`{other}` is not a mode; use append or replace"),
            ));
        }
    };
    let manifest = ingest_port(state, name, port)?;
    caller.require_owner(
        &product_domain(state, name)?,
        &format!("ingest into {name}"),
    )?;
    let format = format_of(headers)?;
    let key = idempotency_key(headers)?;
    Ok((mode, manifest, format, key))
}

fn answer(
    status: StatusCode,
    version: &InputVersion,
    repeated: bool,
    run: Option<String>,
) -> Response {
    let info = InputVersionInfo {
        run,
        ..InputVersionInfo::from(version)
    };
    let mut response = (status, Json(info)).into_response();
    if repeated {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The kept input versions of an ingest port, oldest first.
#[utoipa::path(
    get, path = "/v1/products/{product}/inputs/{port}/versions", tag = "ingest",
    params(
        ("product" = String, Path, description = "Product name"),
        ("port" = String, Path, description = "An ingest port of the product"),
    ),
    responses(
        (status = 200, body = Vec<InputVersionInfo>),
        (status = 404, description = "No such product or port", body = ErrorBody),
        (status = 409, description = "The port is fed by another product", body = ErrorBody),
    )
)]
pub async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, port)): Path<(String, String)>,
) -> ServiceResult<Json<Vec<InputVersionInfo>>> {
    caller.require_reader(state.config().public_reads)?;
    ingest_port(&state, &name, &port)?;
    Ok(Json(
        state
            .store()
            .input_versions(&name, &port)?
            .iter()
            .map(InputVersionInfo::from)
            .collect(),
    ))
}
