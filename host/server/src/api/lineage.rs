//! Versions and lineage: the published versions of an output port, the upstream chain of one
//! version down to ingested data, and the whole mesh as JSON or Graphviz DOT.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tessera_store::{InputPin, Store, Version};
use utoipa::ToSchema;

use crate::api::error_shape::ErrorBody;
use crate::api::model::rfc3339;
use crate::api::query::Params;
use crate::auth::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::mesh::{MeshInfo, to_dot};
use crate::outputs::readable_output;
use crate::state::AppState;

/// One published version of an output port.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputVersionInfo {
    /// Data version number.
    pub version: u64,
    /// When it was published.
    pub published_at: String,
    /// Rows in this port.
    pub rows: u64,
    /// Bytes stored for this port.
    pub bytes: u64,
    /// Content hash of the stored data (`xxh3-128:…`).
    pub hash: String,
    /// The run that produced it.
    pub run: String,
    /// The product code version that produced it.
    pub product_version: String,
    /// Where to read it.
    pub url: String,
    /// Where its lineage is.
    pub lineage_url: String,
}

/// The upstream chain of one published version.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineageNode {
    /// Product name.
    pub product: String,
    /// Output port (for the version asked about; the upstream port for upstream nodes).
    pub port: String,
    /// Data version.
    pub version: u64,
    /// When it was published.
    pub published_at: String,
    /// The run that produced it.
    pub run: String,
    /// The product code version that produced it.
    pub product_version: String,
    /// What the run read, by input port.
    pub inputs: BTreeMap<String, LineageInput>,
}

/// One input of a version's run.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LineageInput {
    /// Data pushed into an ingest port.
    Ingest {
        /// The ingest port.
        port: String,
        /// Its input version.
        version: u64,
        /// When it was accepted (absent if retention dropped it).
        #[serde(skip_serializing_if = "Option::is_none")]
        ingested_at: Option<String>,
        /// Rows in that version.
        #[serde(skip_serializing_if = "Option::is_none")]
        rows: Option<u64>,
    },
    /// Another product's published version, with its own lineage.
    Upstream {
        /// Its lineage (absent if retention dropped it).
        #[schema(no_recursion)]
        lineage: Option<Box<LineageNode>>,
        /// The upstream product.
        product: String,
        /// Its port.
        port: String,
        /// Its version.
        version: u64,
    },
}

/// The kept published versions of an output port, oldest first.
#[utoipa::path(
    get, path = "/v1/products/{product}/outputs/{port}/versions", tag = "lineage",
    params(
        ("product" = String, Path, description = "Product name"),
        ("port" = String, Path, description = "Output port"),
    ),
    responses(
        (status = 200, body = Vec<OutputVersionInfo>),
        (status = 404, description = "No such product or port", body = ErrorBody),
    )
)]
pub async fn output_versions(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, port)): Path<(String, String)>,
) -> ServiceResult<Json<Vec<OutputVersionInfo>>> {
    readable_output(&state, &caller, &name, &port)?;
    Ok(Json(
        state
            .store()
            .versions(&name)?
            .iter()
            .filter_map(|v| {
                v.ports.get(&port).map(|p| OutputVersionInfo {
                    version: v.number,
                    published_at: rfc3339(v.published_at_us),
                    rows: p.rows,
                    bytes: p.bytes,
                    hash: p.hash.clone(),
                    run: v.run_id.clone(),
                    product_version: v.product_version.clone(),
                    url: format!("/v1/products/{name}/outputs/{port}?version={}", v.number),
                    lineage_url: format!(
                        "/v1/products/{name}/outputs/{port}/versions/{}/lineage",
                        v.number
                    ),
                })
            })
            .collect(),
    ))
}

/// Where one published version came from: the input versions its run read and, for upstream
/// products, their lineage in turn, down to ingested data.
#[utoipa::path(
    get, path = "/v1/products/{product}/outputs/{port}/versions/{version}/lineage", tag = "lineage",
    params(
        ("product" = String, Path, description = "Product name"),
        ("port" = String, Path, description = "Output port"),
        ("version" = u64, Path, description = "Data version"),
    ),
    responses(
        (status = 200, body = LineageNode),
        (status = 404, description = "No such product, port or version", body = ErrorBody),
    )
)]
pub async fn version_lineage(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, port, number)): Path<(String, String, u64)>,
) -> ServiceResult<Json<LineageNode>> {
    readable_output(&state, &caller, &name, &port)?;
    let store = state.store();
    let Some(version) = store.version(&name, number)? else {
        return Err(ServiceError::not_found(
            format!("{name} has no published version {number}"),
            &store
                .versions(&name)?
                .iter()
                .map(|v| v.number.to_string())
                .collect::<Vec<_>>(),
        ));
    };
    Ok(Json(lineage_of(store, &version, &port, 0)?))
}

/// The deepest chain followed; a mesh is acyclic, this only bounds corrupt metadata.
const MAX_DEPTH: usize = 64;

fn lineage_of(
    store: &dyn Store,
    version: &Version,
    port: &str,
    depth: usize,
) -> ServiceResult<LineageNode> {
    let mut inputs = BTreeMap::new();
    for (input, pin) in &version.inputs {
        inputs.insert(input.clone(), lineage_input(store, pin, depth)?);
    }
    Ok(LineageNode {
        product: version.product.clone(),
        port: port.to_string(),
        version: version.number,
        published_at: rfc3339(version.published_at_us),
        run: version.run_id.clone(),
        product_version: version.product_version.clone(),
        inputs,
    })
}

fn lineage_input(store: &dyn Store, pin: &InputPin, depth: usize) -> ServiceResult<LineageInput> {
    if pin.ingested {
        let found = store.input_version(&pin.product, &pin.port, pin.version)?;
        return Ok(LineageInput::Ingest {
            port: pin.port.clone(),
            version: pin.version,
            ingested_at: found.as_ref().map(|v| rfc3339(v.ingested_at_us)),
            rows: found.as_ref().map(|v| v.rows()),
        });
    }
    let lineage = match store.version(&pin.product, pin.version)? {
        Some(upstream) if depth < MAX_DEPTH => Some(Box::new(lineage_of(
            store,
            &upstream,
            &pin.port,
            depth + 1,
        )?)),
        _ => None,
    };
    Ok(LineageInput::Upstream {
        lineage,
        product: pin.product.clone(),
        port: pin.port.clone(),
        version: pin.version,
    })
}

/// The whole mesh: every active product, its ports, and the edges data flows along. JSON by
/// default; Graphviz DOT with `?format=dot` or `Accept: text/vnd.graphviz`.
#[utoipa::path(
    get, path = "/v1/lineage", tag = "lineage",
    params(("format" = Option<String>, Query, description = "`json` (default) or `dot`")),
    responses(
        (status = 200, description = "The mesh", content(
            (MeshInfo = "application/json"), (String = "text/vnd.graphviz"),
        )),
        (status = 400, description = "Unknown format", body = ErrorBody),
    )
)]
pub async fn mesh(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
    headers: HeaderMap,
) -> ServiceResult<Response> {
    caller.require_reader(state.config().public_reads)?;
    let wants_dot = match params.allow(&["format"])?.text("format") {
        Some("dot") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ServiceError::bad_parameter(
                "format",
                format!("`{other}` is not a lineage format; use json or dot"),
            ));
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/vnd.graphviz")),
    };
    let info = crate::mesh::info(&state)?;
    if wants_dot {
        Ok((
            [(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")],
            to_dot(&info),
        )
            .into_response())
    } else {
        Ok(Json(info).into_response())
    }
}
