//! Who is looking at a page. A browser signs in with a token through the sign-in form; the
//! token is kept in an `HttpOnly`, `SameSite=Strict` cookie, so page scripts never see it and
//! other sites' pages never send it. A request with an `Authorization` header is read as the
//! API reads it. Every form that changes state carries a token derived from the visitor's
//! secret under the host's key ([`Visitor::form_token`]), and a state-changing request from
//! another origin is refused ([`same_origin`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

use crate::auth::{Caller, authenticate};
use crate::error::{ServiceError, ServiceResult};
use crate::state::AppState;

/// The cookie that holds a signed-in visitor's token.
pub const COOKIE: &str = "tessera_token";

/// How long a sign-in lasts, in seconds (the token's own expiry still applies).
pub const SIGN_IN_SECONDS: u64 = 12 * 3600;

/// Who is looking, and how they proved it.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The caller, as the API's rules see it.
    pub caller: Caller,
    /// The token's secret, when the visitor is signed in.
    secret: Option<String>,
    /// Why a kept sign-in no longer counts (a revoked or expired token).
    pub lapsed: Option<String>,
}

impl Visitor {
    /// Someone without a token.
    pub fn anonymous() -> Visitor {
        Visitor {
            caller: Caller::Anonymous,
            secret: None,
            lapsed: None,
        }
    }

    /// Whether the visitor has a token.
    pub fn signed_in(&self) -> bool {
        matches!(self.caller, Caller::Token(_))
    }

    /// The token that the visitor's state-changing forms must carry; `None` when anonymous.
    pub fn form_token(&self, state: &AppState) -> Option<String> {
        let secret = self.secret.as_deref()?;
        let digest = hex::encode(Sha256::digest(secret.as_bytes()));
        Some(state.signer().tag("web-form", &digest))
    }

    /// Checks a submitted form token in constant time; a 403 when it is missing or wrong.
    pub fn check_form(&self, state: &AppState, submitted: &str) -> ServiceResult<()> {
        let Some(expected) = self.form_token(state) else {
            return Err(ServiceError::unauthorized("sign in first"));
        };
        let same = expected.len() == submitted.len()
            && expected
                .bytes()
                .zip(submitted.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same {
            Ok(())
        } else {
            Err(
                ServiceError::forbidden("this form's token does not match your sign-in")
                    .hint("reload the page and submit the form again"),
            )
        }
    }
}

/// The value of the cookie `name` in `headers`, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// The `Set-Cookie` value that keeps `secret`.
pub fn keep(secret: &str) -> String {
    format!("{COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SIGN_IN_SECONDS}")
}

/// The `Set-Cookie` value that forgets the sign-in.
pub fn forget() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Refuses a state-changing request that a page of another origin sent: its `Origin` (or,
/// without one, its `Referer`) must name this host. Browsers send `Origin` with every form
/// post, so a request without either is not from a browser's cross-site form.
pub fn same_origin(headers: &HeaderMap) -> ServiceResult<()> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok());
    let Some(from) = from else {
        return Ok(());
    };
    let authority = from
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    if !host.is_empty() && authority.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(ServiceError::forbidden(format!(
            "a form from `{from}` may not change anything on this host"
        )))
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ServiceError> {
        if let Some(header) = parts.headers.get(header::AUTHORIZATION) {
            let caller = authenticate(state.store(), Some(header.as_bytes()))?;
            return Ok(Visitor {
                caller,
                secret: None,
                lapsed: None,
            });
        }
        let Some(secret) = cookie(&parts.headers, COOKIE).filter(|s| !s.is_empty()) else {
            return Ok(Visitor::anonymous());
        };
        let bearer = format!("Bearer {secret}");
        match authenticate(state.store(), Some(bearer.as_bytes())) {
            Ok(caller) => Ok(Visitor {
                caller,
                secret: Some(secret.to_string()),
                lapsed: None,
            }),
            Err(e) if e.kind == crate::error::ErrorKind::Unauthenticated => Ok(Visitor {
                lapsed: Some(e.message),
                ..Visitor::anonymous()
            }),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; tessera_token=tsr_abc ; x=1"),
        );
        assert_eq!(cookie(&headers, COOKIE), Some("tsr_abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn a_form_from_another_origin_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(
            same_origin(&headers).is_ok(),
            "no Origin: not a browser form"
        );
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&headers).is_ok());
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(same_origin(&headers).is_err());
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(same_origin(&headers).is_err(), "an opaque origin");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080.evil.example"),
        );
        assert!(same_origin(&headers).is_err());
    }

    #[test]
    fn the_kept_cookie_is_http_only_and_strict() {
        let kept = keep("tsr_1");
        assert!(kept.contains("HttpOnly") && kept.contains("SameSite=Strict"));
        assert!(forget().contains("Max-Age=0"));
    }
}
