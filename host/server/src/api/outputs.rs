//! Serving published outputs to consumers in five formats.
//!
//! Published versions are immutable, so every answer carries a strong `ETag` (and
//! `If-None-Match` gets a 304); a request pinned to `?version=N` may be cached for a year, while
//! the unpinned URL is revalidated. The whole port as Parquet is written once per version into
//! a cache and served with `Range` support, so remote readers (DuckDB, Polars, pyarrow) fetch only
//! the footer and the column chunks they need. Everything else streams batch by batch.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path as FsPath, PathBuf};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::api::error_shape::ErrorBody;
use crate::api::query::Params;
use crate::auth::Caller;
use crate::encode::{ChunkWriter, OutputFormat, Selection, encode};
use crate::error::{ServiceError, ServiceResult};
use crate::outputs::{
    VersionChoice, parquet_rendition, projection, readable_output, readable_version,
};
use crate::state::AppState;

/// Reads one output port of a product's published data.
#[utoipa::path(
    get, path = "/v1/products/{product}/outputs/{port}", tag = "outputs",
    params(
        ("product" = String, Path, description = "Product name"),
        ("port" = String, Path, description = "Output port name"),
        ("format" = Option<String>, Query, description = "json, ndjson, csv, arrow or parquet; overrides Accept"),
        ("columns" = Option<String>, Query, description = "Comma-separated columns to keep, in this order"),
        ("limit" = Option<u64>, Query, description = "Most rows to return"),
        ("offset" = Option<u64>, Query, description = "Rows to skip first"),
        ("version" = Option<u64>, Query, description = "A published data version (default: the current one)"),
        ("major" = Option<u64>, Query, description = "The newest version published by code of this major: the active one, or an earlier major retained for pinned consumers"),
        ("run" = Option<String>, Query, description = "A quarantined run: its unpublished outputs (owners and admins)"),
    ),
    responses(
        (status = 200, description = "The rows, in the negotiated format"),
        (status = 206, description = "A byte range of the Parquet file"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 307, description = "A byte range of the unpinned URL: the same range of the current version's URL"),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 404, description = "No such product, port, version or run; the hint lists what exists", body = ErrorBody),
        (status = 409, description = "`run` names a run that is not quarantined", body = ErrorBody),
        (status = 406, description = "No acceptable format; the hint lists the formats", body = ErrorBody),
        (status = 416, description = "The byte range is outside the file", body = ErrorBody),
    )
)]
pub async fn read_output(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, port)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
) -> ServiceResult<Response> {
    params.allow(&[
        "format", "columns", "limit", "offset", "version", "major", "run",
    ])?;
    let manifest = readable_output(&state, &caller, &name, &port)?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = OutputFormat::negotiate(params.text("format"), accept)?;

    // Published files have exactly the declared columns, in the declared order.
    let columns = match params.text("columns") {
        None => None,
        Some(list) => {
            let names: Vec<&str> = list.split(',').map(str::trim).collect();
            Some(projection(&manifest, &port, &names, "columns")?)
        }
    };
    let selection = Selection {
        columns,
        offset: params.number("offset")?.unwrap_or(0),
        limit: params.number("limit")?,
    };

    if let Some(run_id) = params.text("run") {
        caller.require_owner(
            &manifest.product.domain,
            &format!("read the quarantined outputs of {name}"),
        )?;
        let run = state
            .store()
            .run(run_id)?
            .filter(|r| r.product == name)
            .ok_or_else(|| {
                ServiceError::not_found(format!("{name} has no run `{run_id}`"), &[])
                    .hint(format!("list its runs with GET /v1/products/{name}/runs"))
            })?;
        if run.state != tessera_store::RunState::Quarantined {
            return Err(ServiceError::conflict(format!(
                "run {run_id} is {}; only quarantined runs keep unpublished outputs",
                crate::api::model::state_name(run.state)
            ))
            .hint("read published data with ?version=N"));
        }
        let source = state.store().read_quarantined(run_id, &port)?;
        let mut response_headers = HeaderMap::new();
        insert(&mut response_headers, header::CACHE_CONTROL, "no-store");
        insert(
            &mut response_headers,
            header::CONTENT_TYPE,
            format.media_type(),
        );
        return Ok(stream_encoded(
            state,
            name,
            source,
            selection,
            format,
            response_headers,
        ));
    }
    let store = state.store();
    let pinned = params.number("version")?;
    let choice = match (pinned, params.number("major")?) {
        (Some(number), _) => VersionChoice::Pinned(number),
        (None, Some(major)) => VersionChoice::Major(major),
        (None, None) => VersionChoice::Current,
    };
    let version = readable_version(&state, &caller, &manifest, &port, choice)?;
    let etag = etag(&name, version.number, &port, format, &selection);
    let mut response_headers = HeaderMap::new();
    insert(&mut response_headers, header::ETAG, &etag);
    insert(
        &mut response_headers,
        header::CACHE_CONTROL,
        if pinned.is_some() {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        },
    );
    insert(
        &mut response_headers,
        header::HeaderName::from_static("tessera-data-version"),
        &version.number.to_string(),
    );
    insert(&mut response_headers, header::VARY, "accept");
    if if_none_match(&headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }
    insert(
        &mut response_headers,
        header::CONTENT_TYPE,
        format.media_type(),
    );
    insert(
        &mut response_headers,
        header::CONTENT_DISPOSITION,
        &format!(
            "inline; filename=\"{name}-{port}-v{}.{}\"",
            version.number,
            format.extension()
        ),
    );

    if format == OutputFormat::Parquet && selection.is_everything() {
        // A range is of one version's file: with an `If-Range` that names another version the
        // whole current file is sent, and a range of the unpinned URL is redirected to the
        // version it would be cut from, so a reader that fetches the footer and then column
        // chunks never mixes two files.
        let range = headers.get(header::RANGE).filter(|_| {
            headers
                .get(header::IF_RANGE)
                .is_none_or(|v| v.to_str().is_ok_and(|v| v.trim() == etag))
        });
        if range.is_some() && pinned.is_none() {
            let location = format!(
                "/v1/products/{name}/outputs/{port}?format=parquet&version={}",
                version.number
            );
            insert(&mut response_headers, header::LOCATION, &location);
            insert(&mut response_headers, header::CACHE_CONTROL, "no-cache");
            return Ok((StatusCode::TEMPORARY_REDIRECT, response_headers).into_response());
        }
        let file = parquet_rendition(&state, &name, version.number, &port).await?;
        insert(&mut response_headers, header::ACCEPT_RANGES, "bytes");
        return serve_file(state.clone(), name, file, &etag, range, response_headers).await;
    }

    // Small outputs are encoded right here (a thread hand-off costs more than the work), and
    // kept: a published version never changes, so neither does its rendition.
    if version
        .ports
        .get(&port)
        .is_some_and(|p| p.bytes <= INLINE_BYTES)
    {
        let body = match state.rendered(&etag) {
            Some(body) => body,
            None => {
                let source = store.read(&name, version.number, &port)?;
                let body = Bytes::from(
                    encode(source, selection, format, Vec::new())
                        .map_err(ServiceError::internal)?,
                );
                state.keep_rendered(&etag, body.clone());
                body
            }
        };
        state
            .metrics()
            .served(&name, format.name(), body.len() as u64);
        return Ok((response_headers, body).into_response());
    }
    let source = store.read(&name, version.number, &port)?;
    Ok(stream_encoded(
        state.clone(),
        name,
        source,
        selection,
        format,
        response_headers,
    ))
}

/// Encodes `source` on a blocking thread and streams it as the response body.
fn stream_encoded(
    state: AppState,
    name: String,
    source: Box<dyn tessera_core::io::BatchSource>,
    selection: Selection,
    format: OutputFormat,
    response_headers: HeaderMap,
) -> Response {
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter::new(sender);
        match encode(source, selection, format, &mut out) {
            Ok(_) => {
                let _ = std::io::Write::flush(&mut out);
            }
            Err(e) => {
                tracing::warn!(error = %e, "an output stream stopped early");
                out.fail(e.to_string());
                return;
            }
        }
        state.metrics().served(&name, format.name(), out.sent());
    });
    (response_headers, Body::from_stream(stream(receiver))).into_response()
}

/// Outputs (as stored) up to this size are encoded on the request's task; larger ones stream
/// from a blocking thread.
const INLINE_BYTES: u64 = 1 << 20;

fn stream(
    receiver: mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// A strong validator: the same product, data version, port, format and selection always
/// produce the same bytes.
/// The strong `ETag` of `port` at `version` in `format` with selection `s`.
pub(crate) fn etag(
    name: &str,
    version: u64,
    port: &str,
    format: OutputFormat,
    s: &Selection,
) -> String {
    let key = format!(
        "{name}\0{version}\0{port}\0{}\0{:?}\0{}\0{:?}",
        format.name(),
        s.columns,
        s.offset,
        s.limit
    );
    format!("\"{}\"", &hex::encode(Sha256::digest(key.as_bytes()))[..32])
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

/// A single byte range: `bytes=a-b`, `bytes=a-` or `bytes=-n`. `None` means "send it all"
/// (no header, or a form this server does not serve, such as several ranges).
fn parse_range(value: &str, length: u64) -> Result<Option<(u64, u64)>, ServiceError> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = || {
        ServiceError::range_not_satisfiable(format!(
            "the range `{value}` is outside the file of {length} bytes"
        ))
    };
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| unsatisfiable())?;
            if n == 0 {
                return Err(unsatisfiable());
            }
            (length.saturating_sub(n), length.saturating_sub(1))
        }
        (start, "") => (
            start.parse().map_err(|_| unsatisfiable())?,
            length.saturating_sub(1),
        ),
        (start, end) => {
            let start: u64 = start.parse().map_err(|_| unsatisfiable())?;
            let end: u64 = end.parse().map_err(|_| unsatisfiable())?;
            (start, end.min(length.saturating_sub(1)))
        }
    };
    if length == 0 || start >= length || end < start {
        return Err(unsatisfiable());
    }
    Ok(Some((start, end)))
}

/// Serves the file at `path` (whole, or the byte range a `Range` header asks for) as the
/// response body, streamed from a blocking thread when large.
pub(crate) async fn serve_file(
    state: AppState,
    product: String,
    path: PathBuf,
    etag: &str,
    range: Option<&HeaderValue>,
    mut headers: HeaderMap,
) -> ServiceResult<Response> {
    let length = std::fs::metadata(&path)
        .map_err(ServiceError::internal)?
        .len();
    let range = match range.and_then(|r| r.to_str().ok()) {
        Some(value) => match parse_range(value, length) {
            Ok(range) => range,
            Err(err) => {
                let mut response = err.into_response();
                insert(
                    response.headers_mut(),
                    header::CONTENT_RANGE,
                    &format!("bytes */{length}"),
                );
                return Ok(response);
            }
        },
        None => None,
    };
    let (status, start, count) = match range {
        Some((start, end)) => {
            insert(
                &mut headers,
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{length}"),
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        None => (StatusCode::OK, 0, length),
    };
    insert(&mut headers, header::CONTENT_LENGTH, &count.to_string());
    if length <= INLINE_BYTES {
        let bytes = match state.rendered(etag) {
            Some(bytes) => bytes,
            None => {
                let bytes = Bytes::from(std::fs::read(&path).map_err(ServiceError::internal)?);
                state.keep_rendered(etag, bytes.clone());
                bytes
            }
        };
        let slice = bytes
            .get(start as usize..(start + count) as usize)
            .map(|_| bytes.slice(start as usize..(start + count) as usize))
            .ok_or_else(|| ServiceError::internal("the Parquet rendition changed size"))?;
        state
            .metrics()
            .served(&product, "parquet", slice.len() as u64);
        return Ok((status, headers, slice).into_response());
    }
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter::new(sender);
        if let Err(e) = copy_range(&path, start, count, &mut out) {
            out.fail(e.to_string());
            return;
        }
        state.metrics().served(&product, "parquet", out.sent());
    });
    Ok((status, headers, Body::from_stream(stream(receiver))).into_response())
}

fn copy_range(path: &FsPath, start: u64, count: u64, out: &mut ChunkWriter) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    std::io::copy(&mut file.take(count), out)?;
    std::io::Write::flush(out)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 99)));
        assert_eq!(parse_range("bytes=-8", 100).unwrap(), Some((92, 99)));
        assert_eq!(parse_range("bytes=50-500", 100).unwrap(), Some((50, 99)));
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None);
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=9-3", 100).is_err());
    }
}
