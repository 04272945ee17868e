//! Creating tokens over the API (admins only). `tessera token create --data DIR` does the same
//! offline, for the first admin token.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tessera_store::Role;
use utoipa::ToSchema;

use crate::api::products::read_body;
use crate::auth::{self, Caller, NewToken, TokenError};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// admin, owner or reader.
    pub role: String,
    /// The domain (required for owners).
    pub domain: Option<String>,
    /// Restricted ports the token may read, as `product/port`.
    #[serde(default)]
    pub grants: Vec<String>,
    /// What the token is for.
    #[serde(default)]
    pub description: String,
}

/// A created token. The secret is shown here once; the server keeps only its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// The secret, for `Authorization: Bearer ...`.
    pub token: String,
    /// Its public id.
    pub id: String,
    /// Its role.
    pub role: String,
    /// Its domain.
    pub domain: Option<String>,
    /// Its grants.
    pub grants: Vec<String>,
}

/// Creates a token.
#[utoipa::path(
    post, path = "/v1/tokens", tag = "tokens",
    request_body = TokenRequest,
    responses(
        (status = 201, body = CreatedToken),
        (status = 400, description = "A bad request body", body = ErrorBody),
        (status = 401, description = "No token or an unknown one", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    caller.require_admin()?;
    let bytes = read_body(body, 64 * 1024).await?;
    let request: TokenRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!("the body is not a token request: {e}")).hint(
            r#"send JSON like {"role": "reader", "domain": "labeling", "grants": ["labeled-studies/consensus"]}"#,
        )
    })?;
    let role = match request.role.as_str() {
        "admin" => Role::Admin,
        "owner" => Role::Owner,
        "reader" => Role::Reader,
        other => {
            return Err(ApiError::bad_request(format!(
                "`{other}` is not a role; use admin, owner or reader"
            )));
        }
    };
    let (secret, record) = auth::issue(
        state.store(),
        NewToken {
            role,
            domain: request.domain,
            grants: request.grants,
            description: request.description,
        },
    )
    .map_err(|e| match e {
        TokenError::Invalid(message) => ApiError::bad_request(message),
        TokenError::Store(e) => e.into(),
    })?;
    tracing::info!(token = %record.id, role = %request.role, "token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: secret,
            id: record.id,
            role: request.role,
            domain: record.domain,
            grants: record.grants,
        }),
    ))
}
