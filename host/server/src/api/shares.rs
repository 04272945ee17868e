//! Shares for Delta Sharing, managed by admins: create a share of output ports, grant it to
//! tokens, and issue a recipient's profile (a new reader token granted the share, with the
//! endpoint a client needs). The protocol itself is served by [`crate::api::delta_sharing`].

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use tessera_store::ShareRecord;
use utoipa::ToSchema;

use crate::api::error_shape::ErrorBody;
use crate::api::products::read_body;
use crate::api::query::Params;
use crate::api::standards::base_url;
use crate::api::tokens::parse_expires_in;
use crate::auth::Caller;
use crate::error::{ServiceError, ServiceResult};
use crate::sharing::{self, NewShare};
use crate::state::AppState;

/// A share to create (or whose tables to replace).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// Its name: lower-case letters, digits, `-` and `_`.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// The output ports it holds, as `product/port`.
    pub tables: Vec<String>,
}

/// A grant of a share to a token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// The token's public id (`tok_…`).
    pub token: String,
}

/// A recipient to issue a token and profile for.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientRequest {
    /// How long the recipient's token is accepted (`90d`, `12h`); for ever if left out.
    pub expires_in: Option<String>,
}

/// A share.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareInfo {
    /// Its name.
    pub name: String,
    /// Its id.
    pub id: String,
    /// What it is for.
    pub description: String,
    /// Its tables, as `product/port` (schema `product`, table `port`).
    pub tables: Vec<String>,
    /// The public ids of the tokens it is granted to.
    pub grants: Vec<String>,
}

impl From<ShareRecord> for ShareInfo {
    fn from(share: ShareRecord) -> Self {
        ShareInfo {
            tables: sharing::table_names(&share),
            name: share.name,
            id: share.id,
            description: share.description,
            grants: share.grants,
        }
    }
}

/// The Delta Sharing profile file a recipient's client reads.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Always 1.
    pub share_credentials_version: u32,
    /// The protocol's endpoint on this server.
    pub endpoint: String,
    /// The recipient's token.
    pub bearer_token: String,
    /// When the token stops being accepted (RFC 3339), if ever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
}

/// A recipient's new token, as a profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedRecipient {
    /// The token's public id.
    pub token_id: String,
    /// The profile: write it to a `.share` file for the client.
    pub profile: Profile,
}

/// The federation's grant policies on `token` reading `tables` through a share.
async fn judge(
    state: &AppState,
    caller: &Caller,
    token: &tessera_store::TokenRecord,
    tables: &[String],
) -> ServiceResult<()> {
    let expires_in = token.expires_at_us.map(|at| {
        std::time::Duration::from_micros(
            u64::try_from(at.saturating_sub(tessera_store::now_us())).unwrap_or(0),
        )
    });
    crate::governance::judge_grants(
        state,
        caller,
        token.role,
        token.domain.as_deref(),
        tables,
        expires_in,
    )
    .await
}

fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8], example: &str) -> ServiceResult<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        ServiceError::bad_request(format!("the body is not what this route takes: {e}"))
            .hint(format!("send JSON like {example}"))
    })
}

/// Creates a share, or replaces the tables of the share of that name (its grants stay).
#[utoipa::path(
    post, path = "/v1/shares", tag = "sharing",
    request_body = ShareRequest,
    responses(
        (status = 201, body = ShareInfo),
        (status = 400, description = "A bad request body or share name", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "A table that is no product's output port", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> ServiceResult<(StatusCode, Json<ShareInfo>)> {
    caller.require_admin()?;
    let bytes = read_body(body, 256 * 1024).await?;
    let request: ShareRequest = parse(
        &bytes,
        r#"{"name": "imaging", "tables": ["labeled-studies/consensus"]}"#,
    )?;
    // Existing recipients gain the new tables: the federation's grant policies judge that.
    for (token, tables) in
        sharing::grants_to_judge(&state, &caller, &request.name, None, Some(&request.tables))?
    {
        judge(&state, &caller, &token, &tables).await?;
    }
    let share = sharing::create(
        &state,
        &caller,
        NewShare {
            name: request.name,
            description: request.description,
            tables: request.tables,
        },
    )?;
    Ok((StatusCode::CREATED, Json(share.into())))
}

/// Every share.
#[utoipa::path(
    get, path = "/v1/shares", tag = "sharing",
    responses(
        (status = 200, body = Vec<ShareInfo>),
        (status = 403, description = "Not an admin token", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ServiceResult<Json<Vec<ShareInfo>>> {
    params.allow(&[])?;
    let shares = sharing::all(&state, &caller)?;
    Ok(Json(shares.into_iter().map(ShareInfo::from).collect()))
}

/// Deletes a share: its recipients lose access at once.
#[utoipa::path(
    delete, path = "/v1/shares/{share}", tag = "sharing",
    params(("share" = String, Path, description = "The share")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such share", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
) -> ServiceResult<StatusCode> {
    sharing::delete(&state, &caller, &share)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Grants a share to an existing token.
#[utoipa::path(
    post, path = "/v1/shares/{share}/grants", tag = "sharing",
    params(("share" = String, Path, description = "The share")),
    request_body = GrantRequest,
    responses(
        (status = 200, body = ShareInfo),
        (status = 403, description = "Not an admin token", body = ErrorBody),
        (status = 404, description = "No such share or token", body = ErrorBody),
    )
)]
pub async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
    body: Body,
) -> ServiceResult<Json<ShareInfo>> {
    caller.require_admin()?;
    let bytes = read_body(body, 64 * 1024).await?;
    let request: GrantRequest = parse(&bytes, r#"{"token": "tok_5f0c9a1e2b3d4c6f"}"#)?;
    let judged = sharing::grants_to_judge(&state, &caller, &share, Some(&request.token), None)?;
    for (token, tables) in judged.iter().filter(|(t, _)| t.id == request.token) {
        judge(&state, &caller, token, tables).await?;
    }
    Ok(Json(
        sharing::grant(&state, &caller, &share, &request.token)?.into(),
    ))
}

/// Issues a recipient of a share: a new reader token granted the share, as the profile file
/// a Delta Sharing client reads. The token is shown here once.
#[utoipa::path(
    post, path = "/v1/shares/{share}/recipients", tag = "sharing",
    params(("share" = String, Path, description = "The share")),
    request_body = RecipientRequest,
    responses(
        (status = 201, body = CreatedRecipient),
        (status = 400, description = "A bad request body", body = ErrorBody),
        (status = 403, description = "Not an admin token, or the federation's policies refuse", body = ErrorBody),
        (status = 404, description = "No such share", body = ErrorBody),
    )
)]
pub async fn recipient(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ServiceResult<(StatusCode, Json<CreatedRecipient>)> {
    caller.require_admin()?;
    let bytes = read_body(body, 64 * 1024).await?;
    let request: RecipientRequest = if bytes.is_empty() {
        RecipientRequest::default()
    } else {
        parse(&bytes, r#"{"expires_in": "90d"}"#)?
    };
    let expires_in = parse_expires_in(request.expires_in.as_deref())?;
    // A recipient may read the share's tables: the federation's policies judge that as they
    // judge any grant.
    let tables = sharing::tables_of(&state, &caller, &share)?;
    crate::governance::judge_grants(
        &state,
        &caller,
        tessera_store::Role::Reader,
        None,
        &tables,
        expires_in,
    )
    .await?;
    let (secret, record) = sharing::recipient(&state, &caller, &share, expires_in)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedRecipient {
            token_id: record.id.clone(),
            profile: Profile {
                share_credentials_version: 1,
                endpoint: format!("{}/delta-sharing", base_url(&state, &headers)),
                bearer_token: secret,
                expiration_time: record
                    .expires_at_us
                    .and_then(chrono::DateTime::from_timestamp_micros)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            },
        }),
    ))
}
