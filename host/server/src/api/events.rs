//! Server-Sent Events: deploys, activations, run state changes and new published versions, for
//! the whole mesh or one product.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::events::Event;
use crate::state::AppState;

/// Every event on the server, as it happens.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    responses((status = 200, description = "text/event-stream; each event's data is JSON", body = Event, content_type = "text/event-stream"))
)]
pub async fn all(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    Sse::new(follow(state, None)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The events of one product, as they happen.
#[utoipa::path(
    get, path = "/v1/products/{product}/events", tag = "events",
    params(("product" = String, Path, description = "Product name")),
    responses(
        (status = 200, description = "text/event-stream; each event's data is JSON", body = Event, content_type = "text/event-stream"),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
pub async fn product(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    caller.require_reader(state.config().public_reads)?;
    state.deployments(&name)?;
    Ok(Sse::new(follow(state, Some(name)))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn follow(
    state: AppState,
    product: Option<String>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let receiver = state.events().subscribe();
    futures_util::stream::unfold((receiver, product), |(mut receiver, product)| async move {
        loop {
            match receiver.recv().await {
                Ok((id, event)) => {
                    if product.as_deref().is_some_and(|p| p != event.product()) {
                        continue;
                    }
                    let data = serde_json::to_string(&event).unwrap_or_default();
                    let sse = SseEvent::default()
                        .id(id.to_string())
                        .event(event.name())
                        .data(data);
                    return Some((Ok(sse), (receiver, product)));
                }
                Err(RecvError::Lagged(missed)) => {
                    let sse = SseEvent::default()
                        .event("lagged")
                        .data(format!("{{\"missed\":{missed}}}"));
                    return Some((Ok(sse), (receiver, product)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
