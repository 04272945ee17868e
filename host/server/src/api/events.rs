//! Server-Sent Events: deploys, activations, run state changes and new published versions, for
//! the whole mesh or one product.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;

use crate::api::error_shape::ErrorBody;
use crate::auth::Caller;
use crate::error::ServiceResult;
use crate::events::{Event, Next};
use crate::state::AppState;

/// Every event the caller may see, as it happens: the events of products whose every output
/// port the caller may read. The stream ends when the server shuts down.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    responses(
        (status = 200, description = "text/event-stream; each event's data is JSON", body = Event, content_type = "text/event-stream"),
        (status = 401, description = "No token, where the server needs one", body = ErrorBody),
    )
)]
pub async fn all(
    State(state): State<AppState>,
    caller: Caller,
) -> ServiceResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    caller.require_reader(state.config().public_reads)?;
    Ok(Sse::new(follow(state, caller, None))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The events of one product, as they happen; for callers who may read every output port.
#[utoipa::path(
    get, path = "/v1/products/{product}/events", tag = "events",
    params(("product" = String, Path, description = "Product name")),
    responses(
        (status = 200, description = "text/event-stream; each event's data is JSON", body = Event, content_type = "text/event-stream"),
        (status = 401, description = "No token, where the server needs one", body = ErrorBody),
        (status = 403, description = "The caller may not read every output port of the product", body = ErrorBody),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
pub async fn product(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ServiceResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let public_reads = state.config().public_reads;
    caller.require_reader(public_reads)?;
    let manifest = crate::registry::deployed_manifest(&state, &name)?;
    caller.require_product(public_reads, &manifest)?;
    Ok(Sse::new(follow(state, caller, Some(name)))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Which products' events one caller may see, decided once per product and again after each
/// of its deploys and activations (they can change its ports' access).
struct Visibility {
    caller: Caller,
    decided: HashMap<String, bool>,
    /// When the caller's token was last found valid in the store; `None`: look it up before
    /// sending anything more.
    checked: Option<std::time::Instant>,
}

/// How often a follower's token is looked up again even when nothing was revoked on this
/// host (another host may have revoked it; a stream with no events still notices).
const TOKEN_RECHECK: Duration = Duration::from_secs(10);

impl Visibility {
    /// Whether the caller's token is still accepted: not revoked, not expired. Looked up in
    /// the store at most every [`TOKEN_RECHECK`], or at once after [`Visibility::recheck_now`].
    fn still_accepted(&mut self, state: &AppState) -> bool {
        let Caller::Token(token) = &self.caller else {
            return true;
        };
        if token.expired(tessera_store::now_us()) {
            return false;
        }
        if self
            .checked
            .is_some_and(|checked| checked.elapsed() < TOKEN_RECHECK)
        {
            return true;
        }
        self.checked = Some(std::time::Instant::now());
        matches!(state.store().token(&token.hash), Ok(Some(t)) if !t.expired(tessera_store::now_us()))
    }

    /// Makes the next [`Visibility::still_accepted`] look the token up in the store.
    fn recheck_now(&mut self) {
        self.checked = None;
    }

    /// How long a quiet stream may wait before the token must be looked at again: the next
    /// periodic lookup, or the token's expiry if that comes first.
    fn until_recheck(&self) -> Duration {
        let periodic = self.checked.map_or(Duration::ZERO, |checked| {
            TOKEN_RECHECK.saturating_sub(checked.elapsed())
        });
        let Caller::Token(token) = &self.caller else {
            return periodic;
        };
        match token.expires_at_us {
            Some(at) => {
                let left = at.saturating_sub(tessera_store::now_us()).max(0);
                periodic.min(Duration::from_micros(u64::try_from(left).unwrap_or(0)))
            }
            None => periodic,
        }
    }

    fn allows(&mut self, state: &AppState, event: &Event) -> bool {
        let product = event.product();
        if matches!(event, Event::Deployed { .. } | Event::Activated { .. }) {
            self.decided.remove(product);
        }
        if let Some(&allowed) = self.decided.get(product) {
            return allowed;
        }
        let public_reads = state.config().public_reads;
        let allowed = match crate::registry::active_manifest(state, product) {
            Ok(Some((manifest, _))) => self.caller.may_read_product(public_reads, &manifest),
            _ => false,
        };
        self.decided.insert(product.to_string(), allowed);
        allowed
    }
}

/// Resolves when a token is revoked on this host; never, once the bus is gone (the
/// subscription then ends on its own).
async fn revoked(revocations: &mut tokio::sync::watch::Receiver<u64>) {
    if revocations.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn follow(
    state: AppState,
    caller: Caller,
    product: Option<String>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let subscription = state.events().subscribe();
    let visibility = Visibility {
        caller,
        decided: HashMap::new(),
        checked: Some(std::time::Instant::now()),
    };
    let revocations = state.events().revocations();
    futures_util::stream::unfold(
        (subscription, revocations, visibility, product, state),
        |(mut subscription, mut revocations, mut visibility, product, state)| async move {
            loop {
                // A quiet stream still wakes to look at its token: when one is revoked on this
                // host, when it expires, and every TOKEN_RECHECK.
                let next = tokio::select! {
                    next = subscription.next() => Some(next),
                    () = revoked(&mut revocations) => {
                        visibility.recheck_now();
                        None
                    }
                    () = tokio::time::sleep(visibility.until_recheck()) => None,
                };
                if !visibility.still_accepted(&state) {
                    // The token was revoked or expired while the stream was open.
                    return None;
                }
                let Some(next) = next else { continue };
                match next {
                    Next::Event(id, event) => {
                        if product.as_deref().is_some_and(|p| p != event.product())
                            || !visibility.allows(&state, &event)
                        {
                            continue;
                        }
                        let data = serde_json::to_string(&event).unwrap_or_default();
                        let sse = SseEvent::default()
                            .id(id.to_string())
                            .event(event.name())
                            .data(data);
                        return Some((
                            Ok(sse),
                            (subscription, revocations, visibility, product, state),
                        ));
                    }
                    Next::Lagged(missed) => {
                        let sse = SseEvent::default()
                            .event("lagged")
                            .data(format!("{{\"missed\":{missed}}}"));
                        return Some((
                            Ok(sse),
                            (subscription, revocations, visibility, product, state),
                        ));
                    }
                    Next::Closed => return None,
                }
            }
        },
    )
}
