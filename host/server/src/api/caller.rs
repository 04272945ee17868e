//! Who is calling: the `Authorization` header, extracted for every handler that names a
//! [`Caller`]; [`crate::auth::authenticate`] holds the rules.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::auth::{Caller, authenticate};
use crate::error::ServiceError;
use crate::state::AppState;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ServiceError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        authenticate(state.store(), header)
    }
}
