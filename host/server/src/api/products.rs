//! Deploying products and finding them: upload, catalog, descriptor, code versions, activation.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tessera_core::manifest::{InputSource, Manifest};
use tessera_core::package;
use tessera_runtime::LoadError;

use crate::api::error_shape::ErrorBody;
use crate::api::model::{
    CatalogPage, DataVersionInfo, Descriptor, InputInfo, PortInfo, RetainedMajorInfo, RunInfo,
    VersionInfo, manifest_json, serde_name, state_name,
};
use crate::api::query::Params;
use crate::auth::Caller;
use crate::catalog::CatalogQuery;
use crate::error::{ServiceError, ServiceResult};
use crate::registry::active_manifest;
use crate::state::AppState;

/// Deploys a product: the body is a `.wasm` component with its manifest embedded (as
/// `tessera build` makes it).
#[utoipa::path(
    post, path = "/v1/products", tag = "products",
    params(
        ("activate" = Option<bool>, Query, description = "Make the new version the one runs use (default true)"),
        ("deprecate_after" = Option<String>, Query, description = "When the new version replaces a major that consumers pin (`product/port@MAJOR`), keep that major running for them this long (e.g. `90d`)"),
    ),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses(
        (status = 201, description = "Deployed", body = VersionInfo),
        (status = 200, description = "This exact version was already deployed", body = VersionInfo),
        (status = 400, description = "Not a component, wrong world or bad manifest", body = ErrorBody),
        (status = 401, description = "No token or an unknown one", body = ErrorBody),
        (status = 403, description = "Not an owner of the product's domain", body = ErrorBody),
        (status = 409, description = "The version exists with different code", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit", body = ErrorBody),
        (status = 415, description = "A Content-Type other than application/wasm or application/octet-stream", body = ErrorBody),
        (status = 422, description = "The manifest asks for more than the server allows, a breaking change in a minor or patch release, or a policy refuses it", body = ErrorBody),
    )
)]
pub async fn deploy(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
    headers: axum::http::HeaderMap,
    body: Body,
) -> ServiceResult<(StatusCode, Json<VersionInfo>)> {
    let params = params.allow(&["activate", "move_domain", "deprecate_after"])?;
    let activate = params.boolean("activate")?.unwrap_or(true);
    let deprecation_us = deprecation(params)?;
    let move_domain = params.boolean("move_domain")?.unwrap_or(false);
    // Refuse callers who could deploy nothing before reading and compiling the upload.
    match &caller {
        Caller::Anonymous => return Err(ServiceError::unauthorized("deploying needs a token")),
        Caller::Token(token)
            if matches!(
                token.role,
                tessera_store::Role::Reader | tessera_store::Role::Governance
            ) =>
        {
            return Err(ServiceError::forbidden(format!(
                "{} may not deploy; that needs an owner or admin token",
                caller.describe()
            )));
        }
        Caller::Token(_) => {}
    }
    let limit = state.config().limits.max_upload;
    if let Err(e) = require_component_media_type(&headers) {
        // The client may still be sending: take the body so it can read the answer.
        crate::ingest::body::drain(body, limit).await;
        return Err(e);
    }
    let _slot = match state.upload_slot() {
        Ok(slot) => slot,
        Err(busy) => {
            crate::ingest::body::drain(body, limit).await;
            return Err(busy);
        }
    };
    let bytes = spool_body(&state, body, limit).await?;
    let (product, manifest) = load(&state, bytes.clone()).await?;
    caller.require_owner(
        &manifest.product.domain,
        &format!("deploy products of domain `{}`", manifest.product.domain),
    )?;
    let deployed = crate::registry::deploy(
        &state,
        &caller,
        crate::registry::Upload {
            bytes: &bytes,
            product,
            manifest: &manifest,
            activate,
            move_domain,
            deprecation_us,
        },
    )
    .await?;
    let status = match deployed.outcome {
        crate::registry::DeployOutcome::Created => StatusCode::CREATED,
        crate::registry::DeployOutcome::Unchanged => StatusCode::OK,
    };
    let mut info = VersionInfo::new(&deployed.deployment, deployed.active.as_deref());
    info.decision = deployed
        .decision
        .as_ref()
        .map(crate::api::model::DecisionSummary::from);
    Ok((status, Json(info)))
}

/// The media types a component upload may carry.
const COMPONENT_MEDIA_TYPES: [&str; 2] = ["application/wasm", "application/octet-stream"];

/// A deploy body must say it is a component (or opaque bytes): anything else is a 415.
fn require_component_media_type(headers: &axum::http::HeaderMap) -> ServiceResult<()> {
    let given = headers
        .get(axum::http::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let essence = given
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if COMPONENT_MEDIA_TYPES.contains(&essence.as_str()) {
        return Ok(());
    }
    Err(ServiceError::unsupported_media_type(match given {
        Some(v) => format!("a deploy body is a WebAssembly component, not `{v}`"),
        None => "a deploy body needs a Content-Type".to_string(),
    })
    .hint("send the .wasm file with `Content-Type: application/wasm`"))
}

/// Reads a request body up to `limit` bytes; more is a 413, a body too slow a 408.
pub async fn read_body(body: Body, limit: u64) -> ServiceResult<bytes::Bytes> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ServiceError::too_large(limit as u64)
        } else {
            body_error(&e)
        }
    })
}

/// A body that broke off: a 408 when it was too slow, a 400 otherwise.
fn body_error(e: &(dyn std::error::Error + 'static)) -> ServiceError {
    if crate::api::body_limits::is_body_timeout(e) {
        ServiceError::request_timeout(format!("the request body was not read: {e}"))
    } else {
        ServiceError::bad_request(format!("the request body could not be read: {e}"))
    }
}

/// A spooled upload, removed when dropped.
struct SpoolFile(std::path::PathBuf);

impl Drop for SpoolFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Reads an upload's body into a file in the spool directory as it arrives (so a slow or large
/// upload holds no memory while it is sent), up to `limit` bytes, then reads the whole file.
async fn spool_body(state: &AppState, body: Body, limit: u64) -> ServiceResult<bytes::Bytes> {
    let dir = state.spool_dir().to_path_buf();
    let spool = dir.join(format!("deploy-{}", crate::runner::new_run_id()));
    let (pipe, forward) = crate::ingest::body::pipe(body, limit);
    let (too_large, timed_out) = (pipe.too_large.clone(), pipe.timed_out.clone());
    let copying = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        std::fs::create_dir_all(&dir)?;
        // Removed however this ends, also when the client goes away mid-upload.
        let spooled = SpoolFile(spool);
        let mut reader = pipe.reader;
        let mut file = std::fs::File::create(&spooled.0)?;
        std::io::copy(&mut reader, &mut file)?;
        drop(file);
        std::fs::read(&spooled.0)
    });
    let (_, copied) = tokio::join!(forward, copying);
    let copied = copied.map_err(ServiceError::internal)?;
    if too_large.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ServiceError::too_large(limit));
    }
    if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ServiceError::request_timeout(
            "the upload was not read: the client paused too long or took too long in all",
        ));
    }
    copied
        .map(bytes::Bytes::from)
        .map_err(|e| ServiceError::bad_request(format!("the request body could not be read: {e}")))
}

/// Validates and compiles an upload off the async threads; maps every refusal to a 4xx.
async fn load(
    state: &AppState,
    bytes: bytes::Bytes,
) -> ServiceResult<(tessera_runtime::Product, Manifest)> {
    package::require_component(&bytes).map_err(|e| {
        ServiceError::bad_request(e.0).hint(
            "send the .wasm file that `tessera build` printed (a component with its manifest embedded)",
        )
    })?;
    let runtime = state.runtime().clone();
    let max_timeout = state.config().limits.max_timeout;
    let product = tokio::task::spawn_blocking(move || runtime.load(&bytes))
        .await
        .map_err(ServiceError::internal)?
        .map_err(|e| match e {
            LoadError::Invalid(message) => ServiceError::bad_request(message).hint(
                "the component must target the tessera:product/product world; build it with the Tessera SDK",
            ),
            LoadError::Manifest(message) => {
                let mut err = ServiceError::bad_request(message);
                err.code = "invalid_manifest";
                err
            }
            LoadError::Limits(message) => ServiceError::unprocessable("over_limits", message),
        })?;
    let manifest = product.manifest().clone();
    if manifest.resources.timeout.duration() > max_timeout {
        return Err(ServiceError::unprocessable(
            "over_limits",
            format!(
                "the manifest asks for a timeout of {}; this server allows at most {:?}",
                manifest.resources.timeout, max_timeout
            ),
        ));
    }
    Ok((product, manifest))
}

/// The catalog: every deployed product, filtered and paginated.
#[utoipa::path(
    get, path = "/v1/products", tag = "products",
    params(
        ("domain" = Option<String>, Query, description = "Only products of this domain"),
        ("tag" = Option<String>, Query, description = "Only products with this tag"),
        ("owner" = Option<String>, Query, description = "Only products with this owner"),
        ("kind" = Option<String>, Query, description = "Only products of this kind: source-aligned, aggregate or consumer-aligned"),
        ("q" = Option<String>, Query, description = "Free text, matched against names, descriptions, domain, tags and ports"),
        ("page" = Option<usize>, Query, description = "Page, from 1"),
        ("per_page" = Option<usize>, Query, description = "Products per page, 1 to 200 (default 50)"),
    ),
    responses(
        (status = 200, body = CatalogPage),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
    )
)]
pub async fn catalog(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ServiceResult<Json<CatalogPage>> {
    caller.require_reader(state.config().public_reads)?;
    params.allow(&["domain", "tag", "owner", "kind", "q", "page", "per_page"])?;
    let page = usize::try_from(params.number("page")?.unwrap_or(1)).unwrap_or(usize::MAX);
    let per_page = usize::try_from(params.number("per_page")?.unwrap_or(50)).unwrap_or(usize::MAX);
    let text = |name: &str| params.text(name).map(str::to_string);
    Ok(Json(crate::catalog::search(
        &state,
        &CatalogQuery {
            text: text("q"),
            domain: text("domain"),
            tag: text("tag"),
            owner: text("owner"),
            kind: text("kind"),
            page,
            per_page,
        },
    )?))
}

/// The descriptor of one product: manifest, active version, status, last run, output ports.
#[utoipa::path(
    get, path = "/v1/products/{product}", tag = "products",
    params(("product" = String, Path, description = "Product name")),
    responses(
        (status = 200, body = Descriptor),
        (status = 404, description = "No such product; the hint lists those that exist", body = ErrorBody),
    )
)]
pub async fn descriptor(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ServiceResult<Json<Descriptor>> {
    caller.require_reader(state.config().public_reads)?;
    let deployments = state.deployments(&name)?;
    let Some((manifest, active)) = active_manifest(&state, &name)? else {
        return Err(ServiceError::not_found(
            format!("no product named `{name}` is deployed"),
            &state.store().products()?,
        ));
    };
    let last_run = state.store().last_run(&name)?;
    let current = state.store().current_version(&name)?;
    let outputs = manifest
        .outputs
        .iter()
        .map(|o| PortInfo {
            name: o.name.clone(),
            access: serde_name(&o.access),
            description: o.description.clone(),
            schema: serde_json::to_value(&o.schema).unwrap_or_default(),
            rows: current
                .as_ref()
                .and_then(|v| v.ports.get(&o.name))
                .map(|p| p.rows),
            url: format!("/v1/products/{name}/outputs/{}", o.name),
        })
        .collect();
    let mut inputs = Vec::new();
    for input in &manifest.inputs {
        inputs.push(match &input.source {
            InputSource::Ingest(_) => {
                let current = state.store().current_input(&name, &input.name)?;
                InputInfo {
                    name: input.name.clone(),
                    kind: "ingest",
                    from: None,
                    description: input.description.clone(),
                    version: current.as_ref().map(|v| v.number),
                    rows: current.as_ref().map(|v| v.rows()),
                    ingest_url: Some(format!("/v1/products/{name}/inputs/{}", input.name)),
                }
            }
            InputSource::Upstream(upstream) => {
                let current = match upstream.major {
                    Some(major) => state.store().current_of_major(&upstream.product, major)?,
                    None => state.store().current_version(&upstream.product)?,
                };
                InputInfo {
                    name: input.name.clone(),
                    kind: "upstream",
                    from: Some(match upstream.major {
                        Some(major) => format!("{}/{}@{major}", upstream.product, upstream.port),
                        None => format!("{}/{}", upstream.product, upstream.port),
                    }),
                    description: input.description.clone(),
                    version: current.as_ref().map(|v| v.number),
                    rows: current
                        .as_ref()
                        .and_then(|v| v.ports.get(&upstream.port))
                        .map(|p| p.rows),
                    ingest_url: None,
                }
            }
        });
    }
    Ok(Json(Descriptor {
        freshness: crate::freshness::of(&state, &name, &manifest)?,
        inputs,
        name: name.clone(),
        manifest: manifest_json(&manifest),
        active_version: active.clone(),
        status: last_run
            .as_ref()
            .map_or("never-run", |r| state_name(r.state))
            .into(),
        last_run: last_run.as_ref().map(|r| RunInfo::new(r, false)),
        data_version: current.as_ref().map(DataVersionInfo::from),
        outputs,
        versions: deployments
            .iter()
            .map(|d| VersionInfo::new(d, active.as_deref()))
            .collect(),
        retained_majors: retained_majors(&state, &name)?,
    }))
}

/// The retained majors of a product with the consumers still on each.
fn retained_majors(state: &AppState, name: &str) -> ServiceResult<Vec<RetainedMajorInfo>> {
    let lines = state.store().retained_majors(name)?;
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let mesh = crate::dag::Mesh::load(state)?;
    let now = tessera_store::now_us();
    let mut found = Vec::new();
    for line in lines {
        found.push(RetainedMajorInfo {
            major: line.major,
            deprecation: crate::api::model::rfc3339(line.deprecation_us),
            retired: line.retired(now),
            data_version: state
                .store()
                .current_of_major(name, line.major)?
                .map(|v| v.number),
            consumers: mesh
                .pinned_readers(name, line.major)
                .into_iter()
                .map(|(reader, input)| format!("{reader} (input `{input}`)"))
                .collect(),
            version: line.version,
        });
    }
    Ok(found)
}

/// The deployed code versions of a product, oldest first.
#[utoipa::path(
    get, path = "/v1/products/{product}/versions", tag = "products",
    params(("product" = String, Path, description = "Product name")),
    responses(
        (status = 200, body = Vec<VersionInfo>),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
pub async fn versions(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ServiceResult<Json<Vec<VersionInfo>>> {
    caller.require_reader(state.config().public_reads)?;
    let deployments = state.deployments(&name)?;
    let active = state.store().active(&name)?;
    Ok(Json(
        deployments
            .iter()
            .map(|d| VersionInfo::new(d, active.as_deref()))
            .collect(),
    ))
}

/// Makes a deployed version the one runs use: promotes a new one or rolls back to an old one.
#[utoipa::path(
    post, path = "/v1/products/{product}/versions/{version}/activate", tag = "products",
    params(
        ("product" = String, Path, description = "Product name"),
        ("version" = String, Path, description = "A deployed version, e.g. 0.2.0"),
        ("deprecate_after" = Option<String>, Query, description = "When this version replaces a major that consumers pin, keep that major running for them this long (e.g. `90d`)"),
    ),
    responses(
        (status = 200, description = "The versions, with the new active one", body = Vec<VersionInfo>),
        (status = 422, description = "The DAG or a policy refuses it, or consumers pin the major it replaces and no deprecation was given", body = ErrorBody),
        (status = 404, description = "No such product or version; the hint lists what exists", body = ErrorBody),
    )
)]
pub async fn activate(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
    Path((name, version)): Path<(String, String)>,
) -> ServiceResult<Json<Vec<VersionInfo>>> {
    let deprecation_us = deprecation(params.allow(&["deprecate_after"])?)?;
    crate::registry::activate(&state, &caller, &name, &version, deprecation_us).await?;
    versions(State(state), caller, Path(name)).await
}

/// The deprecation date `?deprecate_after=SPAN` asks for (µs since the epoch).
fn deprecation(params: &Params) -> ServiceResult<Option<i64>> {
    let Some(text) = params.text("deprecate_after") else {
        return Ok(None);
    };
    let span = tessera_core::manifest::Span::parse(text)
        .map_err(|e| ServiceError::bad_request(format!("deprecate_after: {e}")))?;
    let micros = i64::try_from(span.duration().as_micros()).unwrap_or(i64::MAX);
    Ok(Some(tessera_store::now_us().saturating_add(micros)))
}
