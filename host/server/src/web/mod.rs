//! The web UI, served by the host itself at `/`: the catalog, product, run, domain and mesh
//! pages and the charts products declare. Pages are rendered on the server from the same
//! services the API uses, under the same access rules, and work without script; the style
//! sheet is embedded in the binary, so nothing is fetched from elsewhere.

pub mod catalog;
pub mod layout;
pub mod mesh;
pub mod product;
pub mod run;
pub mod session;
pub mod sign_in;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::AppState;

/// The pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(catalog::index))
        .route("/domains/{domain}", get(catalog::domain))
        .route("/products/{product}", get(product::show))
        .route("/products/{product}/run", post(product::trigger))
        .route("/runs/{run}", get(run::show))
        .route("/mesh", get(mesh::show))
        .route("/sign-in", get(sign_in::form).post(sign_in::sign_in))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/assets/style.css", get(style))
        .layer(axum::middleware::map_response(harden))
}

/// What a page may load and do: its own style sheet and inline styles (the charts' SVG carries
/// some), images from itself, no script at all, no framing by other pages, forms posted only
/// to this host.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; script-src 'none'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Adds the pages' security headers.
async fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        layout::STYLE,
    )
}
