//! The HTTP API: routes under `/v1`, health probes, and the OpenAPI document generated from the
//! handlers' annotations.

pub mod body_limits;
pub mod caller;
pub mod delta_sharing;
pub mod docs;
pub mod error_shape;
pub mod events;
pub mod ingest;
pub mod lineage;
pub mod metrics;
pub mod model;
pub mod observe;
pub mod outputs;
pub mod policies;
pub mod products;
pub mod query;
pub mod runs;
pub mod shares;
pub mod standards;
pub mod tokens;
pub mod views;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ServiceError;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera",
        description = "Deploy data products, run them in the sandbox, and read their outputs.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "products", description = "Deploy and find data products"),
        (name = "outputs", description = "Read published data"),
        (name = "ingest", description = "Push data into ingest ports"),
        (name = "runs", description = "Run and replay products and follow their runs"),
        (name = "lineage", description = "Published versions and where they came from"),
        (name = "quality", description = "Freshness, checks, statistics and run health"),
        (name = "events", description = "Server-Sent Events"),
        (name = "tokens", description = "API tokens (admins)"),
        (name = "governance", description = "The federation's policies, waivers and decision records"),
        (name = "sharing", description = "Shares of output ports for Delta Sharing recipients (admins); the protocol is under /delta-sharing"),
    )
)]
struct ApiDoc;

/// The application: every route, with `state`.
pub fn router(state: AppState) -> Router {
    let (router, document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(products::deploy, products::catalog))
        .routes(routes!(products::descriptor))
        .routes(routes!(products::versions))
        .routes(routes!(docs::page))
        .routes(routes!(products::activate))
        .routes(routes!(outputs::read_output))
        .routes(routes!(lineage::output_versions))
        .routes(routes!(lineage::version_lineage))
        .routes(routes!(lineage::mesh))
        .routes(routes!(metrics::product))
        .routes(routes!(views::view))
        .routes(routes!(ingest::push))
        .routes(routes!(ingest::versions))
        .routes(routes!(runs::trigger, runs::list))
        .routes(routes!(runs::get))
        .routes(routes!(events::all))
        .routes(routes!(events::product))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(policies::add, policies::list))
        .routes(routes!(policies::show))
        .routes(routes!(policies::decisions))
        .routes(routes!(policies::product_decisions))
        .routes(routes!(policies::grant_waiver, policies::waivers))
        .routes(routes!(standards::product_odps))
        .routes(routes!(standards::port_contract))
        .routes(routes!(shares::create, shares::list))
        .routes(routes!(shares::delete))
        .routes(routes!(shares::grant))
        .routes(routes!(shares::recipient))
        .split_for_parts();
    let document = std::sync::Arc::new(document);
    router
        .route("/v1/openapi.json", get(move || openapi(document.clone())))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(observe::render))
        .merge(delta_sharing::routes())
        .merge(crate::web::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_limits::limit_bodies,
        ))
        .layer(axum::middleware::from_fn(error_shape::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::track,
        ))
        .with_state(state)
}

async fn openapi(document: std::sync::Arc<OpenApiDocument>) -> Json<OpenApiDocument> {
    Json(document.as_ref().clone())
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// Liveness: the process answers.
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the store answers.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    match state.store().products() {
        Ok(_) => (StatusCode::OK, Json(Health { status: "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "store unavailable",
                }),
            )
        }
    }
}

async fn not_found(uri: axum::http::Uri) -> ServiceError {
    ServiceError::not_found(format!("no route for `{}`", uri.path()), &[])
        .hint("the API is described at /v1/openapi.json")
}
