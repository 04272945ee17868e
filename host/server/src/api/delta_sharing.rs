//! The Delta Sharing protocol (read-only, Parquet response format) under `/delta-sharing`:
//! shares, schemas (products) and tables (output ports) a recipient's token may read; a
//! table's version (its published version); its metadata; a query answered with pre-signed,
//! expiring URLs of the host's Parquet renditions; and the change feed between versions. The
//! files themselves are served at `/delta-sharing/files/…` to whoever holds a URL that has not
//! expired, with `Range` support.
//!
//! Every published version of a port is a whole snapshot, so a table version has one file, and
//! the change feed between two versions lists the file each version added.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tessera_store::Version;

use crate::api::outputs::{etag, serve_file};
use crate::api::products::read_body;
use crate::api::query::Params;
use crate::api::standards::base_url;
use crate::auth::Caller;
use crate::encode::{OutputFormat, Selection};
use crate::error::{ServiceError, ServiceResult};
use crate::outputs::{VersionChoice, parquet_rendition};
use crate::sharing::signing::{Refusal, SignedFile, expiry};
use crate::sharing::spark_schema::schema_string;
use crate::sharing::{self, OpenTable};
use crate::state::AppState;

/// The routes, to merge into the application.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    let table = "/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}";
    axum::Router::new()
        .route("/delta-sharing/shares", get(list_shares))
        .route("/delta-sharing/shares/{share}", get(get_share))
        .route("/delta-sharing/shares/{share}/schemas", get(list_schemas))
        .route(
            "/delta-sharing/shares/{share}/schemas/{schema}/tables",
            get(list_tables),
        )
        .route("/delta-sharing/shares/{share}/all-tables", get(all_tables))
        .route(&format!("{table}/version"), get(table_version))
        .route(&format!("{table}/metadata"), get(metadata))
        .route(&format!("{table}/query"), post(query))
        .route(&format!("{table}/changes"), get(changes))
        .route(
            "/delta-sharing/files/{product}/{port}/{version}",
            get(shared_file),
        )
}

/// The most items one page lists.
const MAX_PAGE: usize = 1000;

#[derive(Serialize)]
struct Page<T> {
    items: Vec<T>,
    #[serde(rename = "nextPageToken", skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// One page of `items` as `maxResults` and `pageToken` (an offset this server gave) ask.
fn page<T>(items: Vec<T>, params: &Params) -> ServiceResult<Json<Page<T>>> {
    let size = match params.number("maxResults")? {
        Some(0) => {
            return Err(ServiceError::bad_parameter(
                "maxResults",
                "must be at least 1",
            ));
        }
        Some(n) => usize::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE),
        None => MAX_PAGE,
    };
    let start = match params.text("pageToken") {
        None | Some("") => 0,
        Some(token) => token.parse::<usize>().map_err(|_| {
            ServiceError::bad_parameter("pageToken", "not a page token this server gave")
        })?,
    };
    let total = items.len();
    let end = start.saturating_add(size).min(total);
    let items: Vec<T> = items
        .into_iter()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect();
    Ok(Json(Page {
        items,
        next_page_token: (end < total).then(|| end.to_string()),
    }))
}

#[derive(Serialize)]
struct ShareItem {
    name: String,
    id: String,
}

#[derive(Serialize)]
struct SchemaItem {
    name: String,
    share: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TableItem {
    name: String,
    schema: String,
    share: String,
    share_id: String,
    id: String,
}

/// A table's stable id: a UUID made from the share and the port.
fn table_id(share_id: &str, product: &str, port: &str) -> String {
    crate::ids::uuid_of(&format!("{share_id}\n{product}\n{port}"))
}

async fn list_shares(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ServiceResult<Json<Page<ShareItem>>> {
    params.allow(&["maxResults", "pageToken"])?;
    let shares = sharing::visible(&state, &caller)?;
    page(
        shares
            .into_iter()
            .map(|s| ShareItem {
                name: s.name,
                id: s.id,
            })
            .collect(),
        &params,
    )
}

async fn get_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
) -> ServiceResult<Json<Value>> {
    let share = sharing::open(&state, &caller, &share)?;
    Ok(Json(json!({"share": {"name": share.name, "id": share.id}})))
}

async fn list_schemas(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
    params: Params,
) -> ServiceResult<Json<Page<SchemaItem>>> {
    params.allow(&["maxResults", "pageToken"])?;
    let share = sharing::open(&state, &caller, &share)?;
    let mut products: Vec<String> = share.tables.iter().map(|t| t.product.clone()).collect();
    products.dedup();
    page(
        products
            .into_iter()
            .map(|name| SchemaItem {
                name,
                share: share.name.clone(),
            })
            .collect(),
        &params,
    )
}

fn table_items(share: &tessera_store::ShareRecord, schema: Option<&str>) -> Vec<TableItem> {
    share
        .tables
        .iter()
        .filter(|t| schema.is_none_or(|s| s == t.product))
        .map(|t| TableItem {
            name: t.port.clone(),
            schema: t.product.clone(),
            share: share.name.clone(),
            share_id: share.id.clone(),
            id: table_id(&share.id, &t.product, &t.port),
        })
        .collect()
}

async fn list_tables(
    State(state): State<AppState>,
    caller: Caller,
    Path((share, schema)): Path<(String, String)>,
    params: Params,
) -> ServiceResult<Json<Page<TableItem>>> {
    params.allow(&["maxResults", "pageToken"])?;
    let share = sharing::open(&state, &caller, &share)?;
    if !share.tables.iter().any(|t| t.product == schema) {
        return Err(ServiceError::not_found(
            format!("share `{}` has no schema `{schema}`", share.name),
            &[],
        ));
    }
    page(table_items(&share, Some(&schema)), &params)
}

async fn all_tables(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
    params: Params,
) -> ServiceResult<Json<Page<TableItem>>> {
    params.allow(&["maxResults", "pageToken"])?;
    let share = sharing::open(&state, &caller, &share)?;
    page(table_items(&share, None), &params)
}

/// A timestamp parameter as µs since the epoch.
fn timestamp(name: &str, text: &str) -> ServiceResult<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|e| {
            ServiceError::bad_parameter(name, format!("`{text}` is not an RFC 3339 timestamp: {e}"))
        })
}

/// The newest version published at or before `at_us`.
fn version_at(state: &AppState, table: &OpenTable, at_us: i64) -> ServiceResult<u64> {
    state
        .store()
        .versions(&table.product)?
        .iter()
        .filter(|v| v.published_at_us <= at_us && v.ports.contains_key(&table.port))
        .map(|v| v.number)
        .max()
        .ok_or_else(|| {
            ServiceError::not_found(
                format!(
                    "{}/{} had no version at that time",
                    table.product, table.port
                ),
                &[],
            )
        })
}

fn with_version(version: u64, mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&version.to_string()) {
        response.headers_mut().insert("delta-table-version", value);
    }
    response
}

async fn table_version(
    State(state): State<AppState>,
    caller: Caller,
    Path((share, schema, table)): Path<(String, String, String)>,
    params: Params,
) -> ServiceResult<Response> {
    params.allow(&["startingTimestamp"])?;
    let open = sharing::table(&state, &caller, &share, &schema, &table)?;
    let number = match params.text("startingTimestamp") {
        Some(text) => version_at(&state, &open, timestamp("startingTimestamp", text)?)?,
        None => open.version(&state, VersionChoice::Current)?.number,
    };
    Ok(with_version(number, StatusCode::OK.into_response()))
}

/// The protocol and metadata lines of a table at `version`.
fn preamble(state: &AppState, open: &OpenTable, version: &Version) -> ServiceResult<String> {
    let schema = state
        .store()
        .read(&open.product, version.number, &open.port)?
        .schema();
    let schema = schema_string(&schema).map_err(ServiceError::internal)?;
    let protocol = json!({"protocol": {"minReaderVersion": 1}});
    let metadata = json!({"metaData": {
        "id": table_id(&open.share.id, &open.product, &open.port),
        "name": open.port,
        "description": open
            .manifest
            .output(&open.port)
            .map(|o| o.description.clone())
            .unwrap_or_default(),
        "format": {"provider": "parquet"},
        "schemaString": schema,
        "partitionColumns": [],
        "configuration": {"enableChangeDataFeed": "true"},
        "version": version.number,
        "numFiles": 1,
    }});
    Ok(format!("{protocol}\n{metadata}\n"))
}

fn ndjson(version: u64, body: String) -> Response {
    with_version(
        version,
        (
            [(header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8")],
            body,
        )
            .into_response(),
    )
}

async fn metadata(
    State(state): State<AppState>,
    caller: Caller,
    Path((share, schema, table)): Path<(String, String, String)>,
    params: Params,
) -> ServiceResult<Response> {
    params.allow(&[])?;
    let open = sharing::table(&state, &caller, &share, &schema, &table)?;
    let version = open.version(&state, VersionChoice::Current)?;
    let body = preamble(&state, &open, &version)?;
    Ok(ndjson(version.number, body))
}

/// A query's body. Other fields (predicate and limit hints) are ignored: each version is one
/// file, read whole.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryBody {
    version: Option<u64>,
    timestamp: Option<String>,
    starting_version: Option<u64>,
    ending_version: Option<u64>,
}

/// One file line: `kind` (`file` or `add`) of `version`'s Parquet rendition.
async fn file_line(
    state: &AppState,
    open: &OpenTable,
    version: &Version,
    base: &str,
    kind: &str,
) -> ServiceResult<String> {
    let path = parquet_rendition(state, &open.product, version.number, &open.port).await?;
    let size = std::fs::metadata(&path)
        .map_err(ServiceError::internal)?
        .len();
    let expires = expiry(tessera_store::now_us(), state.config().sharing.url_lifetime);
    let file = SignedFile {
        product: open.product.clone(),
        port: open.port.clone(),
        version: version.number,
        expires,
    };
    let signature = state.signer().sign(&file);
    let url = format!(
        "{base}/delta-sharing/files/{}/{}/{}?expires={expires}&signature={signature}",
        file.product, file.port, file.version
    );
    let rows = version.ports.get(&open.port).map_or(0, |p| p.rows);
    let line = json!({ kind: {
        "url": url,
        "id": format!("{}-{}-v{}", open.product, open.port, version.number),
        "partitionValues": {},
        "size": size,
        "stats": json!({"numRecords": rows}).to_string(),
        "version": version.number,
        "timestamp": version.published_at_us / 1000,
        "expirationTimestamp": expires * 1000,
    }});
    Ok(format!("{line}\n"))
}

async fn query(
    State(state): State<AppState>,
    caller: Caller,
    Path((share, schema, table)): Path<(String, String, String)>,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> ServiceResult<Response> {
    params.allow(&[])?;
    let open = sharing::table(&state, &caller, &share, &schema, &table)?;
    let bytes = read_body(body, 64 * 1024).await?;
    let request: QueryBody = if bytes.is_empty() {
        QueryBody::default()
    } else {
        serde_json::from_slice(&bytes).map_err(|e| {
            ServiceError::bad_request(format!("the body is not a query: {e}"))
                .hint(r#"send JSON like {"version": 3} or {}"#)
        })?
    };
    let base = base_url(&state, &headers);
    let pinned = match (
        &request.version,
        &request.timestamp,
        request.starting_version,
    ) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            return Err(ServiceError::bad_request(
                "a query takes one of version, timestamp and startingVersion",
            ));
        }
        (Some(number), None, None) => Some(VersionChoice::Pinned(*number)),
        (None, Some(text), None) => Some(VersionChoice::Pinned(version_at(
            &state,
            &open,
            timestamp("timestamp", text)?,
        )?)),
        (None, None, Some(_)) => None,
        (None, None, None) => Some(VersionChoice::Current),
    };
    match pinned {
        Some(choice) => {
            let version = open.version(&state, choice)?;
            let mut body = preamble(&state, &open, &version)?;
            body.push_str(&file_line(&state, &open, &version, &base, "file").await?);
            Ok(ndjson(version.number, body))
        }
        None => {
            // Every version from startingVersion on, each with its number and time.
            let start = request.starting_version.unwrap_or(0);
            let versions = open.versions_between(&state, start, request.ending_version)?;
            let newest = versions
                .last()
                .ok_or_else(|| ServiceError::internal("a range of versions came back empty"))?;
            let mut body = preamble(&state, &open, newest)?;
            for version in &versions {
                body.push_str(&file_line(&state, &open, version, &base, "file").await?);
            }
            Ok(ndjson(newest.number, body))
        }
    }
}

async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    Path((share, schema, table)): Path<(String, String, String)>,
    headers: HeaderMap,
    params: Params,
) -> ServiceResult<Response> {
    params.allow(&[
        "startingVersion",
        "endingVersion",
        "startingTimestamp",
        "endingTimestamp",
        "includeHistoricalMetadata",
    ])?;
    let open = sharing::table(&state, &caller, &share, &schema, &table)?;
    let start = match (
        params.number("startingVersion")?,
        params.text("startingTimestamp"),
    ) {
        (Some(_), Some(_)) => {
            return Err(ServiceError::bad_request(
                "give startingVersion or startingTimestamp, not both",
            ));
        }
        (Some(number), None) => number,
        (None, Some(text)) => version_at(&state, &open, timestamp("startingTimestamp", text)?)?,
        (None, None) => {
            return Err(ServiceError::bad_parameter(
                "startingVersion",
                "the change feed needs startingVersion or startingTimestamp",
            ));
        }
    };
    let end = match (
        params.number("endingVersion")?,
        params.text("endingTimestamp"),
    ) {
        (Some(_), Some(_)) => {
            return Err(ServiceError::bad_request(
                "give endingVersion or endingTimestamp, not both",
            ));
        }
        (Some(number), None) => Some(number),
        (None, Some(text)) => Some(version_at(
            &state,
            &open,
            timestamp("endingTimestamp", text)?,
        )?),
        (None, None) => None,
    };
    let versions = open.versions_between(&state, start, end)?;
    let newest = versions
        .last()
        .ok_or_else(|| ServiceError::internal("a range of versions came back empty"))?;
    let base = base_url(&state, &headers);
    let mut body = preamble(&state, &open, newest)?;
    for version in &versions {
        body.push_str(&file_line(&state, &open, version, &base, "add").await?);
    }
    Ok(ndjson(newest.number, body))
}

/// A file a query named, to whoever holds its unexpired URL.
async fn shared_file(
    State(state): State<AppState>,
    Path((product, port, version)): Path<(String, String, u64)>,
    params: Params,
    headers: HeaderMap,
) -> ServiceResult<Response> {
    params.allow(&["expires", "signature"])?;
    let expires = params
        .number("expires")?
        .and_then(|e| i64::try_from(e).ok())
        .ok_or_else(|| ServiceError::bad_parameter("expires", "a signed URL carries its expiry"))?;
    let signature = params.text("signature").unwrap_or("");
    let file = SignedFile {
        product: product.clone(),
        port: port.clone(),
        version,
        expires,
    };
    let now = tessera_store::now_us() / 1_000_000;
    match state.signer().check(&file, signature, now) {
        Ok(()) => {}
        Err(Refusal::BadSignature) => {
            return Err(ServiceError::forbidden(
                "this URL's signature does not match the file it names",
            )
            .hint("use the URL exactly as a query answered it"));
        }
        Err(Refusal::Expired) => {
            return Err(ServiceError::forbidden("this URL has expired")
                .hint("query the table again for a fresh URL"));
        }
    }
    // A version retention dropped is gone, whatever the URL says.
    if state.store().version(&product, version)?.is_none() {
        return Err(ServiceError::not_found(
            format!("{product} no longer keeps data version {version}"),
            &[],
        ));
    }
    let path = parquet_rendition(&state, &product, version, &port).await?;
    let etag = etag(
        &product,
        version,
        &port,
        OutputFormat::Parquet,
        &Selection::default(),
    );
    let mut response_headers = HeaderMap::new();
    for (name, value) in [
        (header::CONTENT_TYPE, "application/vnd.apache.parquet"),
        (header::ACCEPT_RANGES, "bytes"),
        (header::CACHE_CONTROL, "private, no-store"),
    ] {
        response_headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    serve_file(
        state.clone(),
        product,
        path,
        &etag,
        headers.get(header::RANGE),
        response_headers,
    )
    .await
}
