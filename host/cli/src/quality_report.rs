//! Check results and column statistics as the CLI prints them (`tessera run`, `tessera status`).

use std::fmt::Write;

use tessera_quality::{CheckResult, ColumnStats, PortStats};

use crate::style::{BAD, DIM, GOOD, NAME, WARN};

/// One line per check (✓ passed, ✗ failed error, ! failed warning), with the failing rows.
pub fn checks(results: &[CheckResult], skipped: &[String]) -> String {
    let mut out = String::new();
    if results.is_empty() && skipped.is_empty() {
        return out;
    }
    let _ = writeln!(out, "checks:");
    for result in results {
        let (style, mark) = match (result.passed, result.severity) {
            (true, _) => (GOOD, "✓"),
            (false, tessera_core::manifest::Severity::Warn) => (WARN, "!"),
            (false, tessera_core::manifest::Severity::Error) => (BAD, "✗"),
        };
        let _ = writeln!(
            out,
            "  {}{mark}{} {}{}{} {} [{}]: {}",
            style.render(),
            style.render_reset(),
            NAME.render(),
            result.port,
            NAME.render_reset(),
            result.check,
            result.severity,
            result.message
        );
        for row in &result.sample {
            let values = serde_json::Value::Object(row.values.clone());
            let _ = writeln!(
                out,
                "      {}row {}{}: {values}",
                DIM.render(),
                row.row,
                DIM.render_reset()
            );
        }
    }
    for check in skipped {
        let _ = writeln!(
            out,
            "  {}-{} {check}: needs the other product's published data; checked on a server",
            DIM.render(),
            DIM.render_reset()
        );
    }
    out
}

/// Whether any failed check would stop publication on a server.
pub fn blocking(results: &[CheckResult]) -> bool {
    tessera_quality::blocking(results)
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else if value.abs() >= 1e-3 && value.abs() < 1e6 {
        format!("{value:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        format!("{value:.3e}")
    }
}

fn json_text(value: &Option<serde_json::Value>) -> String {
    match value {
        None => "-".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.as_f64().map_or(n.to_string(), number),
        Some(other) => other.to_string(),
    }
}

fn column_line(column: &ColumnStats) -> String {
    let mut parts = vec![format!(
        "{} values, {} null, {}{} distinct",
        column.count,
        column.nulls,
        if column.sampled { "~" } else { "" },
        column.distinct
    )];
    if column.min.is_some() {
        parts.push(format!(
            "min {}, max {}",
            json_text(&column.min),
            json_text(&column.max)
        ));
    }
    if let (Some(mean), Some(q)) = (column.mean, column.quantiles) {
        parts.push(format!(
            "mean {}{}, p50 {}",
            number(mean),
            column
                .stddev
                .map_or(String::new(), |sd| format!(" ± {}", number(sd))),
            number(q.p50)
        ));
    }
    if !column.top.is_empty() {
        let top: Vec<String> = column
            .top
            .iter()
            .take(3)
            .map(|t| format!("{} ({})", t.value, t.count))
            .collect();
        parts.push(format!("top {}", top.join(", ")));
    }
    parts.join("; ")
}

/// The statistics of one port, a line per column.
pub fn stats(port: &str, stats: &PortStats) -> String {
    let mut out = format!(
        "{}{port}{} statistics ({} rows):\n",
        NAME.render(),
        NAME.render_reset(),
        stats.rows
    );
    for column in &stats.columns {
        let _ = writeln!(
            out,
            "  {:<18} {}{:<9}{} {}",
            column.name,
            DIM.render(),
            column.data_type,
            DIM.render_reset(),
            column_line(column)
        );
    }
    out
}
