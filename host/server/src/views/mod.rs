//! Product views: the charts a product declares on its output ports (`views` in
//! `product.toml`), drawn from the current published version of the port under the port's
//! access rules, as SVG ([`svg`]) or as a Vega-Lite specification ([`vega`]). A rendering is
//! kept per product code version, data version, view and format: a published version never
//! changes, so neither does its chart.

pub mod data;
pub mod svg;
pub mod vega;

use bytes::Bytes;
use tessera_core::manifest::{Manifest, OutputPort, View};

use crate::auth::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::outputs::{VersionChoice, readable_output, readable_version};
use crate::registry::deployed_manifest;
use crate::state::AppState;

/// How a view is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewFormat {
    /// An SVG document.
    Svg,
    /// A Vega-Lite v5 specification with its data, as JSON.
    VegaLite,
}

impl ViewFormat {
    /// The format named by `?format=`.
    pub fn parse(name: &str) -> ServiceResult<ViewFormat> {
        match name {
            "svg" => Ok(ViewFormat::Svg),
            "vega-lite" | "vegalite" => Ok(ViewFormat::VegaLite),
            other => Err(ServiceError::bad_parameter(
                "format",
                format!("`{other}` is not a view format; use svg or vega-lite"),
            )),
        }
    }

    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            ViewFormat::Svg => "image/svg+xml",
            ViewFormat::VegaLite => "application/vnd.vegalite.v5+json",
        }
    }

    fn name(self) -> &'static str {
        match self {
            ViewFormat::Svg => "svg",
            ViewFormat::VegaLite => "vega-lite",
        }
    }
}

/// A rendered view.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The document.
    pub body: Bytes,
    /// Its media type.
    pub media_type: &'static str,
    /// The data version it shows.
    pub version: u64,
}

/// The view named `name` and the port it belongs to; a 404 lists the product's views.
pub fn find<'a>(manifest: &'a Manifest, name: &str) -> ServiceResult<(&'a OutputPort, &'a View)> {
    manifest
        .outputs
        .iter()
        .flat_map(|port| port.views.iter().map(move |view| (port, view)))
        .find(|(_, view)| view.name == name)
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("{} has no view named `{name}`", manifest.product.name),
                &manifest
                    .outputs
                    .iter()
                    .flat_map(|p| p.views.iter().map(|v| v.name.clone()))
                    .collect::<Vec<_>>(),
            )
        })
}

/// The view `name` of `product`, drawn from its current published data, once `caller` may
/// read the view's port.
pub async fn render(
    state: &AppState,
    caller: &Caller,
    product: &str,
    name: &str,
    format: ViewFormat,
) -> ServiceResult<Rendered> {
    let deployed = deployed_manifest(state, product)?;
    let (port, view) = find(&deployed, name)?;
    let port = port.name.clone();
    let view = view.clone();
    let manifest = readable_output(state, caller, product, &port)?;
    let version = readable_version(state, caller, &manifest, &port, VersionChoice::Current)?;
    let key = format!(
        "view\n{product}\n{}\n{}\n{name}\n{}",
        manifest.product.version,
        version.number,
        format.name()
    );
    if let Some(body) = state.rendered(&key) {
        return Ok(Rendered {
            body,
            media_type: format.media_type(),
            version: version.number,
        });
    }
    let number = version.number;
    let product = product.to_string();
    let drawing = state.clone();
    let body = tokio::task::spawn_blocking(move || -> ServiceResult<Bytes> {
        let mut source = drawing.store().read(&product, number, &port)?;
        let data = data::read(source.as_mut(), &view)?;
        match format {
            ViewFormat::Svg => svg::render(&view, &data)
                .map(Bytes::from)
                .map_err(|e| ServiceError::internal(format!("view `{}`: {e}", view.name))),
            ViewFormat::VegaLite => serde_json::to_vec(&vega::spec(&view, &data))
                .map(Bytes::from)
                .map_err(ServiceError::internal),
        }
    })
    .await
    .map_err(ServiceError::internal)??;
    state.keep_rendered(&key, body.clone());
    Ok(Rendered {
        body,
        media_type: format.media_type(),
        version: number,
    })
}
