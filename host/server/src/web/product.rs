//! A product's page: who owns it, its versions (with what changed in their output schemas),
//! its dashboards, its output ports with schemas, statistics and ready-to-paste snippets, its
//! freshness, its checks over the recent runs, its last runs, its lineage neighbourhood and
//! its README. A port the visitor may not read shows that it exists, never its data.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;
use tessera_core::manifest::{Access, InputSource, Manifest, ViewKind};
use tessera_core::package;
use tessera_core::quality::CheckResult;
use tessera_store::RunRecord;

use crate::api::docs::{markdown, snippets};
use crate::auth::Caller;
use crate::error::ServiceError;
use crate::registry::{active_manifest, product_domain};
use crate::schedule::Cause;
use crate::state::AppState;
use crate::views::data::{Series, ViewData};
use crate::views::{self, ViewFormat};
use crate::web::layout::{PageResult, bytes, duration, freshness_badge, page, run_badge};
use crate::web::session::{self, Visitor};

/// Runs the page looks back over for check history.
const HISTORY: usize = 50;

/// Runs listed.
const LISTED_RUNS: usize = 10;

fn access_name(access: Access) -> &'static str {
    match access {
        Access::Public => "public",
        Access::Domain => "domain",
        Access::Restricted => "restricted",
    }
}

fn may_read(state: &AppState, caller: &Caller, manifest: &Manifest, port: &str) -> bool {
    manifest.output(port).is_some_and(|o| {
        caller
            .require_port(
                state.config().public_reads,
                &manifest.product.name,
                &manifest.product.domain,
                port,
                o.access,
            )
            .is_ok()
    })
}

/// `GET /products/{product}`.
pub async fn show(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> PageResult<Html<String>> {
    let caller = &visitor.caller;
    caller.require_reader(state.config().public_reads)?;
    let deployments = state.deployments(&name)?;
    let Some((manifest, active)) = active_manifest(&state, &name)? else {
        return Err(ServiceError::not_found(format!("no product named `{name}`"), &[]).into());
    };
    let info = &manifest.product;
    let store = state.store();
    let freshness = crate::freshness::of(&state, &name, &manifest)?;
    let current = store.current_version(&name)?;
    let stats = match &current {
        Some(v) => store.stats(&name, v.number)?,
        None => Default::default(),
    };
    let may_read_product = caller.may_read_product(state.config().public_reads, &manifest);
    let runs = if may_read_product {
        store.runs_page(&name, None, HISTORY)?
    } else {
        Vec::new()
    };
    let last_state = store
        .last_run(&name)?
        .map_or("never-run", |r| r.state.name());
    let may_run = caller
        .require_owner(&info.domain, &format!("run {name}"))
        .is_ok();
    let form = visitor.form_token(&state);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:8080");

    // Dashboards: every view of a port the visitor may read, drawn now (or from the cache).
    let mut dashboards = Vec::new();
    for port in &manifest.outputs {
        for view in &port.views {
            let drawn = if !may_read(&state, caller, &manifest, &port.name) {
                Err(format!(
                    "{} port `{}`: you may not read it, so its chart is not shown",
                    access_name(port.access),
                    port.name
                ))
            } else {
                match views::render(&state, caller, &name, &view.name, ViewFormat::Svg).await {
                    Ok(rendered) => Ok(String::from_utf8_lossy(&rendered.body).into_owned()),
                    Err(e) if e.kind == crate::error::ErrorKind::NotFound => {
                        Err("nothing published yet".to_string())
                    }
                    Err(e) => Err(e.message),
                }
            };
            dashboards.push((port.name.clone(), view.clone(), drawn));
        }
    }
    let history = check_history(&runs, |port| may_read(&state, caller, &manifest, port));
    let latest_checks: Vec<&CheckResult> = runs
        .iter()
        .find(|r| !r.checks.is_empty())
        .map(|r| {
            r.checks
                .iter()
                .filter(|c| may_read(&state, caller, &manifest, &c.port))
                .collect()
        })
        .unwrap_or_default();
    let readme = match store.component(&name, active.as_deref().unwrap_or_default()) {
        Ok(component) => package::read_embedded(&component)
            .ok()
            .and_then(|e| e.readme),
        Err(_) => None,
    };
    let (upstream, downstream) = neighbours(&state, &manifest)?;
    let mut changes = Vec::new();
    let mut previous: Option<std::sync::Arc<Manifest>> = None;
    for deployment in &deployments {
        let this = state.version_manifest(&name, &deployment.version)?;
        let diff = match (&previous, &this) {
            (Some(before), Some(after)) => schema_changes(before, after),
            _ => Vec::new(),
        };
        changes.push((deployment, diff));
        previous = this;
    }

    let body = html! {
        h1 { (info.name) }
        p { (info.description) }
        p.meta {
            a href={"/domains/" (info.domain)} { (info.domain) } " · "
            (info.kind.name()) " · owner " (info.owner)
            " · version " (active.as_deref().unwrap_or("none"))
        }
        p {
            (freshness_badge(&freshness)) " "
            (run_badge(last_state))
            @if let Some(v) = &current { " " span.badge.none { "data version " (v.number) } }
        }
        @if may_run {
            @if let Some(form) = &form {
                form method="post" action={"/products/" (name) "/run"} {
                    input type="hidden" name="form_token" value=(form);
                    button type="submit" { "Run now" }
                }
            }
        }

        h2 id="views" { "Dashboards" }
        @if dashboards.is_empty() { p.meta { "This product declares no views." } }
        div.views {
            @for (port, view, drawn) in &dashboards {
                figure.card.chart id={"view-" (view.name)} {
                    @match drawn {
                        Ok(svg) => (PreEscaped(svg.as_str())),
                        Err(why) => p.notice { (view.title) ": " (why) },
                    }
                    figcaption.meta {
                        (view.kind.name()) " of " code { (port) } " · "
                        a href={"/v1/products/" (name) "/views/" (view.name)} { "SVG" } " · "
                        a href={"/v1/products/" (name) "/views/" (view.name) "?format=vega-lite"} { "Vega-Lite" }
                    }
                }
            }
        }

        h2 id="outputs" { "Output ports" }
        @for port in &manifest.outputs {
            @let readable = may_read(&state, caller, &manifest, &port.name);
            section.card id={"port-" (port.name)} {
                h3 { code { (port.name) } " " span.badge.none { (access_name(port.access)) } }
                p { (port.description) }
                @if let Some(v) = current.as_ref().and_then(|v| v.ports.get(&port.name)) {
                    @if readable { p.meta { (v.rows) " rows · " (bytes(v.bytes)) } }
                }
                @if !readable {
                    p.notice { "You may not read this port; its data and statistics are not shown." }
                }
                div.scroll {
                    table {
                        caption.meta { "Schema" }
                        thead { tr { th scope="col" { "Column" } th scope="col" { "Type" } th scope="col" { "Required" } th scope="col" { "Meaning" } } }
                        tbody {
                            @for column in &port.schema.columns {
                                tr {
                                    td { code { (column.name) } }
                                    td { (column.data_type.name()) }
                                    td { @if column.required { "yes" } @else { "no" } }
                                    td { (column.description) }
                                }
                            }
                        }
                    }
                }
                @if readable {
                    @if let Some(port_stats) = stats.get(&port.name) {
                        details {
                            summary { "Column statistics" }
                            div.scroll {
                                table {
                                    thead { tr { th scope="col" { "Column" } th scope="col" { "Non-null" } th scope="col" { "Nulls" } th scope="col" { "Distinct" } th scope="col" { "Min" } th scope="col" { "Max" } th scope="col" { "Mean" } th scope="col" { "Distribution" } } }
                                    tbody {
                                        @for c in &port_stats.columns {
                                            tr {
                                                td { code { (c.name) } }
                                                td { (c.count) } td { (c.nulls) } td { (c.distinct) }
                                                td { (c.min.as_ref().map(short_json).unwrap_or_default()) }
                                                td { (c.max.as_ref().map(short_json).unwrap_or_default()) }
                                                td { (c.mean.map(crate::views::data::short_number).unwrap_or_default()) }
                                                td { (distribution(c)) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                details {
                    summary { "Read it" }
                    @for (tool, code) in snippets(&name, port, host) {
                        p.meta { (tool) }
                        pre { code { (code) } }
                    }
                }
            }
        }

        h2 id="quality" { "Checks" }
        @if !may_read_product {
            p.meta { "Checks and runs are shown to those who may read every port of this product." }
        } @else if latest_checks.is_empty() {
            p.meta { "No run has checked its outputs yet." }
        } @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Port" } th scope="col" { "Check" } th scope="col" { "Last result" } th scope="col" { "Failed rows" } th scope="col" { "Passed over recent runs" } } }
                    tbody {
                        @for check in &latest_checks {
                            @let (runs_seen, passed) = pass_rate(&runs, &check.port, &check.check);
                            tr {
                                td { code { (check.port) } }
                                td { (check.check) }
                                td { @if check.passed { span.badge.ok { "passed" } } @else { span.badge.bad { "failed" } } " " (check.message) }
                                td { (check.failed) }
                                td { (passed) " of " (runs_seen) }
                            }
                        }
                    }
                }
            }
            @if !history.is_empty() {
                div.views id="check-history" {
                    @for svg in &history { figure.card.chart { (PreEscaped(svg.as_str())) } }
                }
            }
        }

        h2 id="runs" { "Recent runs" }
        @if runs.is_empty() { p.meta { "No runs to show." } } @else {
            div.scroll {
                table {
                    thead { tr { th scope="col" { "Run" } th scope="col" { "State" } th scope="col" { "Cause" } th scope="col" { "Version" } th scope="col" { "Duration" } th scope="col" { "CPU" } th scope="col" { "Memory" } th scope="col" { "GPU" } } }
                    tbody {
                        @for run in runs.iter().take(LISTED_RUNS) {
                            tr {
                                td { a href={"/runs/" (run.id)} { code { (short_id(&run.id)) } } }
                                td { (run_badge(run.state.name())) }
                                td { (run.cause.name()) }
                                td { (run.product_version) }
                                td { (run_duration(run).unwrap_or_default()) }
                                td { (run.cpu_ms.map(|ms| format!("{ms} ms")).unwrap_or_default()) }
                                td { (bytes(run.peak_memory)) }
                                td { (run.gpu.as_ref().map(|g| format!("{:.1} ms", g.gpu_ms)).unwrap_or_else(|| "-".into())) }
                            }
                        }
                    }
                }
            }
        }

        h2 id="lineage" { "Lineage" }
        div.cards {
            div.card {
                h3 { "Reads" }
                ul {
                    @for input in &manifest.inputs {
                        li {
                            code { (input.name) } " ← "
                            @match &input.source {
                                InputSource::Ingest(_) => "pushed data (ingest)",
                                InputSource::Upstream(up) => a href={"/products/" (up.product)} { (up.product) "/" (up.port) },
                            }
                        }
                    }
                    @if manifest.inputs.is_empty() { li.meta { "nothing" } }
                }
            }
            div.card {
                h3 { "Read by" }
                ul {
                    @for (product, port) in &downstream { li { a href={"/products/" (product)} { (product) } " reads " code { (port) } } }
                    @if downstream.is_empty() { li.meta { "no product yet" } }
                }
            }
        }
        p { a href="/mesh" { "The whole mesh" } @if !upstream.is_empty() { " · upstream: " (upstream.join(", ")) } }

        h2 id="versions" { "Versions" }
        div.scroll {
            table {
                thead { tr { th scope="col" { "Version" } th scope="col" { "Deployed" } th scope="col" { "Changes to the outputs" } } }
                tbody {
                    @for (deployment, diff) in changes.iter().rev() {
                        tr {
                            td { (deployment.version) @if Some(deployment.version.as_str()) == active.as_deref() { " " span.badge.ok { "active" } } }
                            td { (crate::schedule::clock::rfc3339(deployment.deployed_at_us)) }
                            td { @if diff.is_empty() { span.meta { "none" } } @else { ul { @for change in diff { li { (change) } } } } }
                        }
                    }
                }
            }
        }

        h2 id="readme" { "README" }
        @match &readme {
            Some(text) => article.card { (PreEscaped(markdown(text))) },
            None => p.meta { "This product was built without a README." },
        }
    };
    Ok(page(&name, &visitor, form.as_deref(), body))
}

/// A statistics value, short.
fn short_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) => n
            .as_f64()
            .map(crate::views::data::short_number)
            .unwrap_or_default(),
        serde_json::Value::String(s) => s.chars().take(32).collect(),
        other => other.to_string(),
    }
}

/// A column's histogram (numbers) or top values (text), as a small bar chart.
fn distribution(column: &tessera_core::quality::ColumnStats) -> Markup {
    let (labels, counts): (Vec<String>, Vec<f64>) = match &column.histogram {
        Some(h) => h
            .edges
            .iter()
            .zip(&h.counts)
            .map(|(edge, count)| (crate::views::data::short_number(*edge), *count as f64))
            .unzip(),
        None => column
            .top
            .iter()
            .map(|t| (t.value.clone(), t.count as f64))
            .unzip(),
    };
    if counts.is_empty() {
        return html! {};
    }
    let top = counts.iter().copied().fold(0.0f64, f64::max).max(1.0);
    let width = 120.0 / counts.len() as f64;
    html! {
        svg.spark viewBox="0 0 120 28" role="img" aria-label={"distribution of " (column.name)} {
            @for (i, (label, count)) in labels.iter().zip(&counts).enumerate() {
                rect x=(format!("{:.2}", i as f64 * width)) y=(format!("{:.2}", 28.0 - 26.0 * count / top))
                    width=(format!("{:.2}", (width - 1.0).max(0.5))) height=(format!("{:.2}", 26.0 * count / top))
                    fill="#1f77b4" { title { (label) ": " (count) } }
            }
        }
    }
}

/// How many of `runs` evaluated the check and how many passed it.
fn pass_rate(runs: &[RunRecord], port: &str, check: &str) -> (usize, usize) {
    let results: Vec<bool> = runs
        .iter()
        .filter_map(|r| {
            r.checks
                .iter()
                .find(|c| c.port == port && c.check == check)
                .map(|c| c.passed)
        })
        .collect();
    (results.len(), results.iter().filter(|p| **p).count())
}

/// Two line charts over the runs that ran checks, oldest first, counting only the ports
/// `readable` allows: the share of checks that passed, and the rows that failed them. Empty with
/// fewer than two such runs.
fn check_history(runs: &[RunRecord], readable: impl Fn(&str) -> bool) -> Vec<String> {
    let per_run: Vec<(f64, f64)> = runs
        .iter()
        .rev()
        .filter_map(|r| {
            let checks: Vec<&CheckResult> = r.checks.iter().filter(|c| readable(&c.port)).collect();
            (!checks.is_empty()).then(|| {
                let passed = checks.iter().filter(|c| c.passed).count() as f64;
                let failed_rows: u64 = checks.iter().map(|c| c.failed).sum();
                (passed / checks.len() as f64, failed_rows as f64)
            })
        })
        .collect();
    if per_run.len() < 2 {
        return Vec::new();
    }
    let runs = Series::Numbers((1..=per_run.len()).map(|i| Some(i as f64)).collect());
    let chart = |name: &str, y: &str, title: &str, values: Vec<Option<f64>>| {
        let view = tessera_core::manifest::View {
            name: name.into(),
            kind: ViewKind::Line,
            x: "run".into(),
            y: Some(y.into()),
            color: None,
            title: title.into(),
        };
        let data = ViewData {
            x: runs.clone(),
            y: Some(Series::Numbers(values)),
            color: None,
            truncated: false,
        };
        views::svg::render(&view, &data).ok()
    };
    [
        chart(
            "check-pass-rate",
            "share passed",
            "Checks passed per run (oldest first)",
            per_run.iter().map(|r| Some(r.0)).collect(),
        ),
        chart(
            "check-failed-rows",
            "failed rows",
            "Rows failing checks per run (oldest first)",
            per_run.iter().map(|r| Some(r.1)).collect(),
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A run's wall time, if it finished.
fn run_duration(run: &RunRecord) -> Option<String> {
    let start = run.started_at_us?;
    let end = run.finished_at_us?;
    let ms = (end - start).max(0) as f64 / 1000.0;
    Some(if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        duration(ms / 1000.0)
    })
}

/// The first part of a run id, enough to tell runs apart in a table.
pub fn short_id(id: &str) -> &str {
    id.get(..13).unwrap_or(id)
}

/// The products a product reads from, and the (product, port) pairs that read it.
type Neighbours = (Vec<String>, Vec<(String, String)>);

/// The products `manifest` reads from, and the (product, port) pairs that read it.
fn neighbours(state: &AppState, manifest: &Manifest) -> Result<Neighbours, ServiceError> {
    let name = &manifest.product.name;
    let upstream = manifest
        .inputs
        .iter()
        .filter_map(|i| match &i.source {
            InputSource::Upstream(up) => Some(up.product.clone()),
            InputSource::Ingest(_) => None,
        })
        .collect();
    let mut downstream = Vec::new();
    for other in state.store().products()? {
        if let Some((theirs, _)) = active_manifest(state, &other)? {
            for input in &theirs.inputs {
                if let InputSource::Upstream(up) = &input.source
                    && &up.product == name
                {
                    downstream.push((other.clone(), up.port.clone()));
                }
            }
        }
    }
    Ok((upstream, downstream))
}

/// What changed in the output ports from `before` to `after`, in words.
pub fn schema_changes(before: &Manifest, after: &Manifest) -> Vec<String> {
    let mut changes = Vec::new();
    for port in &after.outputs {
        let Some(old) = before.output(&port.name) else {
            changes.push(format!("new port `{}`", port.name));
            continue;
        };
        if old.access != port.access {
            changes.push(format!(
                "`{}` is now {} (was {})",
                port.name,
                access_name(port.access),
                access_name(old.access)
            ));
        }
        for column in &port.schema.columns {
            match old.schema.column(&column.name) {
                None => changes.push(format!(
                    "`{}`: new column `{}` ({})",
                    port.name,
                    column.name,
                    column.data_type.name()
                )),
                Some(was) if was.data_type != column.data_type => changes.push(format!(
                    "`{}`: `{}` is {} (was {})",
                    port.name,
                    column.name,
                    column.data_type.name(),
                    was.data_type.name()
                )),
                Some(was) if was.required != column.required => changes.push(format!(
                    "`{}`: `{}` is {}",
                    port.name,
                    column.name,
                    if column.required {
                        "now required"
                    } else {
                        "now optional"
                    }
                )),
                Some(_) => {}
            }
        }
        for column in &old.schema.columns {
            if port.schema.column(&column.name).is_none() {
                changes.push(format!("`{}`: column `{}` removed", port.name, column.name));
            }
        }
    }
    for port in &before.outputs {
        if after.output(&port.name).is_none() {
            changes.push(format!("port `{}` removed", port.name));
        }
    }
    changes
}

/// The run form's fields.
#[derive(Debug, Deserialize)]
pub struct RunForm {
    /// The visitor's form token.
    #[serde(default)]
    form_token: String,
}

/// `POST /products/{product}/run`: queues a run for an owner of the product's domain, then
/// shows it.
pub async fn trigger(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<RunForm>,
) -> PageResult<Response> {
    session::same_origin(&headers)?;
    visitor.check_form(&state, &form.form_token)?;
    state.deployments(&name)?;
    visitor
        .caller
        .require_owner(&product_domain(&state, &name)?, &format!("run {name}"))?;
    let run = state.scheduler().request(&state, &name, Cause::Manual)?;
    Ok(Redirect::to(&format!("/runs/{}", run.id)).into_response())
}
