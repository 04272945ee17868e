//! A run's page: its state and cause, why it failed, its timings, memory, CPU and GPU use, the
//! rows it wrote, the input versions it read, its checks with their failing rows, and its log.
//! Visible to those who may read every port of the product, as `GET /v1/runs/{id}` is; a run
//! that has not finished reloads itself.

use axum::extract::{Path, State};
use axum::response::Html;
use maud::html;
use tessera_store::RunState;

use crate::error::ServiceError;
use crate::schedule::clock::rfc3339;
use crate::state::AppState;
use crate::web::layout::{PageResult, bytes, page, refreshing, run_badge};
use crate::web::session::Visitor;

/// `GET /runs/{run}`.
pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> PageResult<Html<String>> {
    let public_reads = state.config().public_reads;
    let caller = &visitor.caller;
    caller.require_reader(public_reads)?;
    let Some(run) = state.store().run(&id)? else {
        return Err(ServiceError::not_found(format!("no run with id `{id}`"), &[]).into());
    };
    let current = crate::registry::deployed_manifest(&state, &run.product)?;
    caller.require_product(public_reads, &current)?;
    if let Some(then) = state.version_manifest(&run.product, &run.product_version)? {
        caller.require_product(public_reads, &then)?;
    }
    let at = |us: Option<i64>| us.map(rfc3339).unwrap_or_else(|| "-".into());
    let wall = match (run.started_at_us, run.finished_at_us) {
        (Some(s), Some(f)) => format!("{} ms", (f - s).max(0) / 1000),
        _ => "-".into(),
    };
    let waited = run
        .started_at_us
        .map(|s| format!("{} ms", (s - run.created_at_us).max(0) / 1000))
        .unwrap_or_else(|| "-".into());
    let form = visitor.form_token(&state);
    let body = html! {
        h1 { "Run " code { (crate::web::product::short_id(&run.id)) } }
        p.meta { "of " a href={"/products/" (run.product)} { (run.product) } " " (run.product_version) " · cause " (run.cause.name())
            @if run.attempt > 1 { " · attempt " (run.attempt) } }
        p { (run_badge(run.state.name())) @if let Some(kind) = &run.failure { " " span.badge.bad { (kind.name()) } } }
        @if let Some(reason) = &run.reason { p.error role="alert" { (reason) } }
        @if let Some(version) = run.published_version { p { "Published data version " (version) "." } }
        div.scroll {
            table {
                caption.meta { "Timings and resources" }
                tbody {
                    tr { th scope="row" { "Requested" } td { (rfc3339(run.created_at_us)) } }
                    tr { th scope="row" { "Started" } td { (at(run.started_at_us)) " (waited " (waited) ")" } }
                    tr { th scope="row" { "Finished" } td { (at(run.finished_at_us)) } }
                    tr { th scope="row" { "Wall time" } td { (wall) } }
                    tr { th scope="row" { "CPU time" } td { (run.cpu_ms.map(|ms| format!("{ms} ms")).unwrap_or_else(|| "-".into())) } }
                    tr { th scope="row" { "Peak memory" } td { (bytes(run.peak_memory)) } }
                    tr { th scope="row" { "GPU" } td {
                        @match &run.gpu {
                            Some(gpu) => { (gpu.path) @if let Some(a) = &gpu.adapter { " on " (a) } " · " (format!("{:.1}", gpu.gpu_ms)) " ms · " (gpu.dispatches) " dispatches · " (bytes(gpu.peak_memory)) }
                            None => "not used",
                        }
                    } }
                }
            }
        }
        h2 { "Inputs read" }
        @if run.inputs.is_empty() { p.meta { "none" } }
        ul { @for (input, pin) in &run.inputs {
            li { code { (input) } " ← " (pin.product) "/" (pin.port) " version " (pin.version) @if pin.ingested { " (ingested)" } }
        } }
        h2 { "Rows written" }
        @if run.outputs.is_empty() { p.meta { "none" } }
        ul { @for (port, rows) in &run.outputs { li { code { (port) } ": " (rows) " rows" } } }
        h2 { "Checks" }
        @if run.checks.is_empty() { p.meta { "No checks ran." } }
        @for check in &run.checks {
            section.card {
                h3 { code { (check.port) } " · " (check.check) " "
                    @if check.passed { span.badge.ok { "passed" } } @else { span.badge.bad { "failed" } } }
                p { (check.message) }
                p.meta { (check.evaluated) " rows looked at · " (check.failed) " failed" }
                @if !check.sample.is_empty() {
                    @let columns: Vec<&String> = check.sample.first().map(|r| r.values.keys().collect()).unwrap_or_default();
                    div.scroll {
                        table {
                            caption.meta { "First failing rows" }
                            thead { tr { th scope="col" { "Row" } @for c in &columns { th scope="col" { (c) } } } }
                            tbody { @for row in &check.sample {
                                tr { td { (row.row) } @for c in &columns { td { (row.values.get(c.as_str()).map(|v| v.to_string()).unwrap_or_default()) } } }
                            } }
                        }
                    }
                }
            }
        }
        h2 { "Log" }
        @if run.log.is_empty() { p.meta { "The run logged nothing." } } @else {
            div.scroll.log {
                table {
                    thead { tr { th scope="col" { "ms" } th scope="col" { "Level" } th scope="col" { "Message" } } }
                    tbody { @for line in &run.log { tr { td { (line.at_ms) } td { (line.level) } td { code { (line.message) } } } } }
                }
            }
        }
    };
    let title = format!("Run of {}", run.product);
    Ok(
        if matches!(run.state, RunState::Queued | RunState::Running) {
            refreshing(&title, &visitor, form.as_deref(), 2, body)
        } else {
            page(&title, &visitor, form.as_deref(), body)
        },
    )
}
