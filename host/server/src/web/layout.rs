//! The frame of every page (navigation, sign-in state, the style sheet), the badges pages
//! share, and the HTML answer to an error.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::api::error_shape::status;
use crate::auth::Caller;
use crate::error::ServiceError;
use crate::freshness::{Freshness, FreshnessState};
use crate::web::session::Visitor;

/// The style sheet, embedded in the binary.
pub const STYLE: &str = include_str!("assets/style.css");

/// A whole page: `title`, the site's frame for `visitor`, and `body`.
pub fn page(
    title: &str,
    visitor: &Visitor,
    form_token: Option<&str>,
    body: Markup,
) -> Html<String> {
    framed(title, visitor, form_token, None, body)
}

/// A page that reloads itself every `seconds` (a run that has not finished).
pub fn refreshing(
    title: &str,
    visitor: &Visitor,
    form_token: Option<&str>,
    seconds: u32,
    body: Markup,
) -> Html<String> {
    framed(title, visitor, form_token, Some(seconds), body)
}

fn framed(
    title: &str,
    visitor: &Visitor,
    form_token: Option<&str>,
    refresh: Option<u32>,
    body: Markup,
) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(seconds) = refresh { meta http-equiv="refresh" content=(seconds); }
                title { (title) " · Tessera" }
                link rel="stylesheet" href="/assets/style.css";
                link rel="icon" href="data:,";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.site {
                    a href="/" { "Tessera" }
                    nav aria-label="Site" {
                        a href="/" { "Catalog" }
                        a href="/mesh" { "Mesh" }
                        a href="/v1/openapi.json" { "API" }
                    }
                    @match &visitor.caller {
                        Caller::Token(token) => {
                            span { (token.id) " · " (token.role.name()) }
                            @if let Some(form) = form_token {
                                form method="post" action="/sign-out" {
                                    input type="hidden" name="form_token" value=(form);
                                    button.quiet type="submit" { "Sign out" }
                                }
                            }
                        }
                        Caller::Anonymous => a href="/sign-in" { "Sign in" },
                    }
                }
                main id="main" {
                    @if let Some(lapsed) = &visitor.lapsed {
                        p.notice role="status" { "You were signed out: " (lapsed) ". " a href="/sign-in" { "Sign in again" } }
                    }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string())
}

/// A run state as a coloured badge.
pub fn run_badge(state: &str) -> Markup {
    let class = match state {
        "succeeded" => "ok",
        "queued" | "running" | "waiting" => "warn",
        "never-run" => "none",
        _ => "bad",
    };
    html! { span class={"badge " (class)} title="last run" { (state) } }
}

/// Freshness as a coloured badge with the data's age.
pub fn freshness_badge(freshness: &Freshness) -> Markup {
    let (class, words) = match freshness.state {
        FreshnessState::Fresh => ("ok", "fresh"),
        FreshnessState::Stale => ("bad", "stale"),
        FreshnessState::NeverRun => ("none", "no data yet"),
    };
    let age = freshness.age_seconds.map(duration);
    let slo = freshness.slo_seconds.map(duration);
    html! {
        span class={"badge " (class)} title="freshness against the SLO" {
            (words)
            @if let Some(age) = age { " · " (age) " old" }
            @if let Some(slo) = slo { " (SLO " (slo) ")" }
        }
    }
}

/// Seconds in the largest unit that keeps them readable: `45 s`, `12 min`, `3.5 h`, `2.0 d`.
pub fn duration(seconds: f64) -> String {
    if seconds < 90.0 {
        format!("{seconds:.0} s")
    } else if seconds < 90.0 * 60.0 {
        format!("{:.0} min", seconds / 60.0)
    } else if seconds < 48.0 * 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{:.1} d", seconds / 86400.0)
    }
}

/// Bytes in binary units.
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{n:.0} B")
    } else if n < 1024.0 * 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", n / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", n / 1024.0 / 1024.0 / 1024.0)
    }
}

/// An error as a page: its status, what went wrong and what to do.
pub struct PageError(pub ServiceError);

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        PageError(e)
    }
}

impl From<tessera_store::StoreError> for PageError {
    fn from(e: tessera_store::StoreError) -> Self {
        PageError(ServiceError::from(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let error = self.0;
        let code = status(error.kind);
        if code == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %error.message, "a page failed");
        }
        let signed_out = matches!(error.kind, crate::error::ErrorKind::Unauthenticated);
        let body = html! {
            h1 { (code.canonical_reason().unwrap_or("Error")) }
            p.error role="alert" { (error.message) }
            @if let Some(hint) = &error.hint { p { (hint) } }
            @if signed_out { p { a href="/sign-in" { "Sign in" } } }
        };
        let Html(page) = framed(
            &code.as_u16().to_string(),
            &Visitor::anonymous(),
            None,
            None,
            body,
        );
        (
            code,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page,
        )
            .into_response()
    }
}

/// What a page handler answers.
pub type PageResult<T> = Result<T, PageError>;
