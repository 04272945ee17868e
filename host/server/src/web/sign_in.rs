//! Signing in and out: a form that takes a token, checks it and keeps it in the session
//! cookie ([`super::session`]).

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use crate::auth::authenticate;
use crate::state::AppState;
use crate::web::layout::{PageResult, page};
use crate::web::session::{self, Visitor};

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    /// The token's secret.
    #[serde(default)]
    token: String,
    /// Where to go next: a path on this host.
    #[serde(default)]
    next: String,
}

/// The sign-out form's fields.
#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    /// The visitor's form token.
    #[serde(default)]
    form_token: String,
}

fn render(visitor: &Visitor, message: Option<&str>, next: &str) -> Html<String> {
    page(
        "Sign in",
        visitor,
        None,
        html! {
            h1 { "Sign in" }
            p.meta { "Paste an API token (" code { "tsr_…" } "). An admin issues tokens with " code { "tessera token create" } "." }
            @if let Some(message) = message { p.error role="alert" { (message) } }
            form.card method="post" action="/sign-in" {
                input type="hidden" name="next" value=(next);
                p {
                    label for="token" { "Token" } br;
                    input id="token" name="token" type="password" autocomplete="off" required size="72";
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /sign-in`.
pub async fn form(visitor: Visitor) -> Html<String> {
    render(&visitor, None, "/")
}

/// A local path to go to after signing in; anything else is the catalog.
fn local(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control());
    if local { next } else { "/" }
}

/// `POST /sign-in`: keeps a valid token in the cookie; a wrong one shows the form again.
pub async fn sign_in(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> PageResult<Response> {
    session::same_origin(&headers)?;
    let secret = form.token.trim();
    let valid = !secret.is_empty()
        && secret.bytes().all(|b| b.is_ascii_graphic())
        && authenticate(state.store(), Some(format!("Bearer {secret}").as_bytes())).is_ok();
    if !valid {
        let mut answer = render(
            &visitor,
            Some("That token is not known to this server, or it has expired."),
            local(&form.next),
        )
        .into_response();
        *answer.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(answer);
    }
    let mut answer = Redirect::to(local(&form.next)).into_response();
    if let Ok(cookie) = session::keep(secret).parse() {
        answer.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(answer)
}

/// `POST /sign-out`: forgets the cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(form): Form<SignOutForm>,
) -> PageResult<Response> {
    session::same_origin(&headers)?;
    if visitor.signed_in() {
        visitor.check_form(&state, &form.form_token)?;
    }
    let mut answer = Redirect::to("/").into_response();
    if let Ok(cookie) = session::forget().parse() {
        answer.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::local;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(local("/products/x"), "/products/x");
        for outside in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:x",
            "",
        ] {
            assert_eq!(local(outside), "/", "{outside}");
        }
    }
}
