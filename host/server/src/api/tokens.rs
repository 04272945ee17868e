//! Tokens over the API (admins only): create, list, revoke. `tessera token create --data DIR`
//! creates one offline, for the first admin token.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tessera_store::{Role, TokenRecord, now_us};
use utoipa::ToSchema;

use crate::api::error_shape::ErrorBody;
use crate::api::products::read_body;
use crate::api::query::Params;
use crate::auth::{self, Caller, NewToken, TokenError};
use crate::error::{ServiceError, ServiceResult};
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
    /// How long the token is accepted, as `90d`, `12h`, `30m` or `45s`; for ever if left out.
    pub expires_in: Option<String>,
}

/// A token as listed: everything but its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    /// Its public id, for `DELETE /v1/tokens/{id}`.
    pub id: String,
    /// Its role.
    pub role: String,
    /// Its domain.
    pub domain: Option<String>,
    /// Its grants.
    pub grants: Vec<String>,
    /// What it is for.
    pub description: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When it stops being accepted (RFC 3339), if ever.
    pub expires_at: Option<String>,
    /// Whether it has expired.
    pub expired: bool,
}

/// An `expires_in` of a request body (`90d`, `12h`, `30m`, `45s`) as a duration; a 400 that
/// says how to write one otherwise.
pub(crate) fn parse_expires_in(text: Option<&str>) -> ServiceResult<Option<std::time::Duration>> {
    text.map(|text| {
        tessera_core::manifest::units::Span::parse(text)
            .map(|span| span.duration())
            .map_err(|e| {
                ServiceError::bad_request(format!("expires_in `{text}`: {e}"))
                    .hint("write a duration such as 90d, 12h, 30m or 45s")
            })
    })
    .transpose()
}

fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

impl TokenInfo {
    fn new(record: &TokenRecord, now: i64) -> Self {
        TokenInfo {
            id: record.id.clone(),
            role: auth::role_name(record.role).into(),
            domain: record.domain.clone(),
            grants: record.grants.clone(),
            description: record.description.clone(),
            created_at: rfc3339(record.created_at_us),
            expires_at: record.expires_at_us.map(rfc3339),
            expired: record.expired(now),
        }
    }
}

/// Every token, oldest first, without secrets.
#[utoipa::path(
    get, path = "/v1/tokens", tag = "tokens",
    responses(
        (status = 200, body = Vec<TokenInfo>),
        (status = 401, description = "No token or an unknown one", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ServiceResult<Json<Vec<TokenInfo>>> {
    caller.require_admin()?;
    params.allow(&[])?;
    let mut tokens = state.store().tokens()?;
    tokens.sort_by_key(|t| t.created_at_us);
    let now = now_us();
    Ok(Json(
        tokens.iter().map(|t| TokenInfo::new(t, now)).collect(),
    ))
}

/// Revokes a token: it is no longer accepted, from the next request on.
#[utoipa::path(
    delete, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "The token's public id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No token or an unknown one", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No token with this id", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ServiceResult<StatusCode> {
    caller.require_admin()?;
    if state.store().revoke_token(&id)? {
        tracing::info!(token = %id, by = %caller.describe(), "token revoked");
        state.events().token_revoked();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(
            ServiceError::not_found(format!("no token with id `{id}`"), &[])
                .hint("list the tokens with GET /v1/tokens"),
        )
    }
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
    /// When it stops being accepted (RFC 3339), if ever.
    pub expires_at: Option<String>,
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
) -> ServiceResult<(StatusCode, Json<CreatedToken>)> {
    caller.require_admin()?;
    let bytes = read_body(body, 64 * 1024).await?;
    let request: TokenRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ServiceError::bad_request(format!("the body is not a token request: {e}")).hint(
            r#"send JSON like {"role": "reader", "domain": "labeling", "grants": ["labeled-studies/consensus"]}"#,
        )
    })?;
    let role = Role::parse(&request.role).ok_or_else(|| {
        ServiceError::bad_request(format!(
            "`{}` is not a role; use admin, owner, reader or governance",
            request.role
        ))
    })?;
    let expires_in = parse_expires_in(request.expires_in.as_deref())?;
    crate::governance::judge_grants(
        &state,
        &caller,
        role,
        request.domain.as_deref(),
        &request.grants,
        expires_in,
    )
    .await?;
    let (secret, record) = auth::issue(
        state.store(),
        NewToken {
            role,
            domain: request.domain,
            grants: request.grants,
            description: request.description,
            expires_in,
        },
    )
    .map_err(|e| match e {
        TokenError::Invalid(message) => ServiceError::bad_request(message),
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
            expires_at: record.expires_at_us.map(rfc3339),
        }),
    ))
}
