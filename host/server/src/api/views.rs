//! `GET /v1/products/{p}/views/{view}`: a view a product declares, drawn from its current
//! published data, as SVG (the default) or as a Vega-Lite specification
//! (`?format=vega-lite`); the rules are in [`crate::views`].

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::api::error_shape::ErrorBody;
use crate::api::query::Params;
use crate::auth::Caller;
use crate::error::ServiceResult;
use crate::state::AppState;
use crate::views::{self, ViewFormat};

/// One view of a product.
#[utoipa::path(
    get, path = "/v1/products/{product}/views/{view}", tag = "quality",
    params(
        ("product" = String, Path, description = "Product name"),
        ("view" = String, Path, description = "View name, as the product page and the descriptor list them"),
        ("format" = Option<String>, Query, description = "`svg` (default) or `vega-lite`"),
    ),
    responses(
        (status = 200, description = "The chart", content_type = "image/svg+xml"),
        (status = 403, description = "The caller may not read the view's port", body = ErrorBody),
        (status = 404, description = "No such product or view, or nothing published", body = ErrorBody),
    )
)]
pub async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path((product, name)): Path<(String, String)>,
    params: Params,
) -> ServiceResult<Response> {
    caller.require_reader(state.config().public_reads)?;
    let format = match params.allow(&["format"])?.text("format") {
        Some(name) => ViewFormat::parse(name)?,
        None => ViewFormat::Svg,
    };
    let rendered = views::render(&state, &caller, &product, &name, format).await?;
    Ok((
        [
            (header::CONTENT_TYPE, rendered.media_type.to_string()),
            (
                header::HeaderName::from_static("tessera-data-version"),
                rendered.version.to_string(),
            ),
            (header::CACHE_CONTROL, "private, max-age=0".to_string()),
        ],
        rendered.body,
    )
        .into_response())
}
