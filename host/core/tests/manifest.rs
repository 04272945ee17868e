//! `product.toml` parsing: the repository's real manifests parse, and every kind of mistake is
//! reported with the file, line, column and a hint.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tessera_core::manifest::{
    CheckRule, GpuMode, InputSource, Manifest, ManifestError, ProductKind, ViewKind,
};
use tessera_core::schema::DataType;

const GOOD: &str = r#"[product]
name = "labeled-studies"
domain = "labeling"
version = "1.0.0"
owner = "labeling-team@example.org"
description = "Consensus label for every annotated study"
kind = "source-aligned"

[resources]
memory = "256MiB"
timeout = "60s"
gpu = "optional"
gpu_memory = "512MiB"

[[inputs]]
name = "annotations"
ingest = { study_id = "text", annotator_id = "text", label = "text", annotated_at = "timestamp" }

[[inputs]]
name = "features"
from = "pacs/features@2"

[trigger]
on_input = true
schedule = "0 3 * * *"

[[outputs]]
name = "consensus"
access = "public"
schema = { study_id = { type = "text", required = true, unique = true }, label = "text", agreement = "float64" }
checks = [
  { kind = "not_null", column = "label" },
  { kind = "accepted_values", column = "label", values = ["normal", "benign", "malignant"] },
  { kind = "range", column = "agreement", min = 0.0, max = 1.0, severity = "warn", mostly = 0.99 },
  { kind = "row_count", min = 1 },
]
views = [ { kind = "bar", x = "label", y = "agreement", title = "Agreement by label" } ]

[slo]
freshness = "24h"
"#;

#[test]
fn a_complete_manifest_parses_into_its_parts() {
    let m = Manifest::parse(GOOD, "product.toml").unwrap();
    assert_eq!(m.product.name, "labeled-studies");
    assert_eq!(m.product.kind, ProductKind::SourceAligned);
    assert_eq!(m.product.version, semver::Version::new(1, 0, 0));
    assert_eq!(m.resources.memory.bytes(), 256 << 20);
    assert_eq!(m.resources.timeout.duration().as_secs(), 60);
    assert_eq!(m.resources.gpu, GpuMode::Optional);
    let schema = m.input("annotations").unwrap().ingest_schema().unwrap();
    assert_eq!(
        schema.names(),
        ["study_id", "annotator_id", "label", "annotated_at"],
        "document order is kept"
    );
    assert_eq!(
        schema.column("annotated_at").unwrap().data_type,
        DataType::Timestamp
    );
    match &m.input("features").unwrap().source {
        InputSource::Upstream(u) => assert_eq!(
            (u.product.as_str(), u.port.as_str(), u.major),
            ("pacs", "features", Some(2))
        ),
        other => panic!("{other:?}"),
    }
    let consensus = m.output("consensus").unwrap();
    assert!(consensus.schema.column("study_id").unwrap().required);
    // The four declared checks, then `unique = true` on study_id held as a check of its own.
    assert_eq!(consensus.checks.len(), 5);
    assert_eq!(
        consensus.checks[4].rule,
        CheckRule::Unique {
            columns: vec!["study_id".into()]
        }
    );
    assert_eq!(
        consensus.checks[4].severity,
        tessera_core::manifest::Severity::Error
    );
    assert!(matches!(
        consensus.checks[2].rule,
        CheckRule::Range {
            inclusive: true,
            ..
        }
    ));
    assert_eq!(consensus.checks[2].mostly, Some(0.99));
    assert_eq!(m.trigger.schedule.as_deref(), Some("0 3 * * *"));
    assert_eq!(m.slo.freshness.unwrap().duration().as_secs(), 86_400);
}

#[test]
fn a_unique_column_already_checked_gets_no_second_check() {
    let declared = GOOD.replace(
        r#"{ kind = "row_count", min = 1 },"#,
        r#"{ kind = "row_count", min = 1 },
  { kind = "unique", column = "study_id", severity = "warn" },"#,
    );
    let m = Manifest::parse(&declared, "product.toml").unwrap();
    let consensus = m.output("consensus").unwrap();
    let unique: Vec<_> = consensus
        .checks
        .iter()
        .filter(|c| matches!(c.rule, CheckRule::Unique { .. }))
        .collect();
    assert_eq!(
        unique.len(),
        1,
        "the declared check stands, with its severity"
    );
    assert_eq!(unique[0].severity, tessera_core::manifest::Severity::Warn);
}

#[test]
fn every_manifest_in_the_repository_parses() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut found = 0;
    for dir in ["examples", "products", "tests/fixtures"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path().join("product.toml");
            if path.is_file() {
                Manifest::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
                found += 1;
            }
        }
    }
    assert!(found >= 4, "found {found} manifests");
}

/// Replaces `from` with `to` in the good manifest and returns the first error.
fn error_after(from: &str, to: &str) -> ManifestError {
    assert!(GOOD.contains(from), "fixture text `{from}` not found");
    let text = GOOD.replacen(from, to, 1);
    let errors = Manifest::parse(&text, "products/x/product.toml")
        .expect_err("the manifest should be refused");
    errors.first().unwrap().clone()
}

fn line_of(needle: &str, text: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn an_unknown_key_is_located_and_hinted() {
    let e = error_after("owner = ", "ownr = ");
    assert!(e.message.contains("unknown field `ownr`"), "{e}");
    assert_eq!(e.line, line_of("owner = ", GOOD));
    assert_eq!(e.column, 1);
    assert!(e.hint.as_deref().unwrap().contains("spelling"));
    let shown = e.to_string();
    assert!(shown.contains("--> products/x/product.toml:5:1"), "{shown}");
    assert!(
        shown.contains("ownr = \"labeling-team@example.org\""),
        "{shown}"
    );
}

#[test]
fn a_wrong_type_is_located() {
    let e = error_after("on_input = true", "on_input = \"yes\"");
    assert!(e.message.contains("invalid type"), "{e}");
    assert_eq!(e.line, line_of("on_input", GOOD));
    assert_eq!(e.column, 12);
}

#[test]
fn bad_names_are_refused_with_the_rule() {
    let e = error_after("name = \"labeled-studies\"", "name = \"Labeled_Studies\"");
    assert!(
        e.message.contains("invalid product name `Labeled_Studies`"),
        "{e}"
    );
    assert!(e.hint.unwrap().contains("kebab-case"));
    assert_eq!((e.line, e.column), (2, 8));
    let e = error_after("name = \"consensus\"", "name = \"Consensus!\"");
    assert!(e.message.contains("invalid port name"), "{e}");
    let e = error_after("study_id = { type", "9lives = { type");
    assert!(e.message.contains("invalid column name `9lives`"), "{e}");
}

#[test]
fn a_bad_version_is_refused() {
    let e = error_after("version = \"1.0.0\"", "version = \"1.0\"");
    assert!(e.message.contains("invalid version `1.0`"), "{e}");
    assert!(e.hint.unwrap().contains("MAJOR.MINOR.PATCH"));
    assert_eq!(e.line, 4);
}

#[test]
fn bad_sizes_and_durations_are_refused() {
    let e = error_after("memory = \"256MiB\"", "memory = \"256 parsecs\"");
    assert!(e.message.contains("unknown size unit `parsecs`"), "{e}");
    assert_eq!(e.line, line_of("memory =", GOOD));
    let e = error_after("timeout = \"60s\"", "timeout = \"60\"");
    assert!(e.message.contains("has no unit"), "{e}");
    let e = error_after("freshness = \"24h\"", "freshness = \"a day\"");
    assert!(e.message.contains("not a duration"), "{e}");
}

#[test]
fn duplicate_ports_are_refused() {
    let e = error_after("name = \"features\"", "name = \"annotations\"");
    assert!(e.message.contains("duplicate port `annotations`"), "{e}");
    assert_eq!(e.line, line_of("name = \"features\"", GOOD));
}

#[test]
fn references_to_undeclared_columns_are_refused() {
    let e = error_after(
        "{ kind = \"not_null\", column = \"label\" }",
        "{ kind = \"not_null\", column = \"lable\" }",
    );
    assert!(
        e.message
            .contains("refers to column `lable`, which the schema does not declare"),
        "{e}"
    );
    assert!(e.hint.unwrap().contains("study_id, label, agreement"));
    assert_eq!(e.line, line_of("kind = \"not_null\"", GOOD));
    let e = error_after("x = \"label\"", "x = \"colour\"");
    assert!(
        e.message.contains("view `bar` refers to column `colour`"),
        "{e}"
    );
}

#[test]
fn checks_are_validated_per_kind() {
    let e = error_after(
        "{ kind = \"row_count\", min = 1 }",
        "{ kind = \"row_count\" }",
    );
    assert!(e.message.contains("needs `min`, `max` or both"), "{e}");
    let e = error_after(
        "{ kind = \"row_count\", min = 1 }",
        "{ kind = \"row_count\", min = 1, pattern = \"x\" }",
    );
    assert!(
        e.message
            .contains("`pattern` does not apply to check `row_count`"),
        "{e}"
    );
    let e = error_after(
        "{ kind = \"row_count\", min = 1 }",
        "{ kind = \"rows\", min = 1 }",
    );
    assert!(e.message.contains("unknown check kind `rows`"), "{e}");
    let e = error_after("mostly = 0.99", "mostly = 1.5");
    assert!(e.message.contains("`mostly` is 1.5, outside 0..1"), "{e}");
    let e = error_after(
        "{ kind = \"row_count\", min = 1 }",
        "{ kind = \"regex\", column = \"agreement\", pattern = \"x\" }",
    );
    assert!(e.message.contains("needs a text column"), "{e}");
    let e = error_after(
        "{ kind = \"row_count\", min = 1 }",
        "{ kind = \"regex\", column = \"label\", pattern = \"(unclosed\" }",
    );
    assert!(e.message.contains("invalid regular expression"), "{e}");
    assert!(
        e.column > 1 && e.line > 1,
        "located at {}:{}",
        e.line,
        e.column
    );
}

#[test]
fn retention_keeps_at_least_one_version() {
    let text = format!("{GOOD}\n[retention]\nkeep_versions = 0\nmax_age = \"30d\"\n");
    let errors = Manifest::parse(&text, "product.toml").unwrap_err();
    let e = errors.first().unwrap();
    assert!(
        e.message.contains("`keep_versions` must be at least 1"),
        "{e}"
    );
    let text = format!("{GOOD}\n[retention]\nkeep_versions = 30\nmax_age = \"30d\"\n");
    let manifest = Manifest::parse(&text, "product.toml").unwrap();
    assert_eq!(manifest.retention.keep_versions, Some(30));
    assert_eq!(manifest.retention.max_age.unwrap().to_string(), "30d");
}

#[test]
fn inputs_need_exactly_one_source_and_valid_references() {
    let e = error_after("from = \"pacs/features@2\"", "from = \"pacs\"");
    assert!(
        e.message.contains("invalid upstream reference `pacs`"),
        "{e}"
    );
    let e = error_after("from = \"pacs/features@2\"", "description = \"nothing\"");
    assert!(e.message.contains("neither `ingest` nor `from`"), "{e}");
}

#[test]
fn a_bad_cron_expression_is_refused() {
    let e = error_after("schedule = \"0 3 * * *\"", "schedule = \"at three\"");
    assert!(e.message.contains("invalid cron expression"), "{e}");
    assert_eq!(e.line, line_of("schedule", GOOD));
}

#[test]
fn several_mistakes_are_reported_together() {
    let text = GOOD
        .replacen("version = \"1.0.0\"", "version = \"one\"", 1)
        .replacen("domain = \"labeling\"", "domain = \"Labeling\"", 1);
    let errors = Manifest::parse(&text, "product.toml").unwrap_err();
    assert_eq!(errors.0.len(), 2, "{errors}");
}

#[test]
fn syntax_errors_are_located() {
    let errors = Manifest::parse("[product\nname = 1", "p.toml").unwrap_err();
    let e = errors.first().unwrap();
    assert_eq!(e.line, 1);
    assert_eq!(e.file, "p.toml");
}

#[test]
fn retention_takes_an_append_window() {
    let text = format!("{GOOD}\n[retention]\nappend_window = \"7d\"\n");
    let manifest = Manifest::parse(&text, "product.toml").unwrap();
    assert_eq!(manifest.retention.append_window.unwrap().to_string(), "7d");
    let text = format!("{GOOD}\n[retention]\nappend_window = \"soon\"\n");
    assert!(Manifest::parse(&text, "product.toml").is_err());
}

#[test]
fn a_parameter_is_read_from_text_as_the_kind_it_was_declared() {
    use tessera_core::manifest::Parameter;
    assert_eq!(
        Parameter::Integer(20).parse_like("7"),
        Ok(Parameter::Integer(7))
    );
    assert!(
        Parameter::Integer(20)
            .parse_like("7.5")
            .unwrap_err()
            .contains("not a whole number")
    );
    assert_eq!(
        Parameter::Number(0.5).parse_like("3"),
        Ok(Parameter::Number(3.0))
    );
    assert!(Parameter::Number(0.5).parse_like("NaN").is_err());
    assert_eq!(
        Parameter::Boolean(false).parse_like("true"),
        Ok(Parameter::Boolean(true))
    );
    assert!(
        Parameter::Boolean(false)
            .parse_like("yes")
            .unwrap_err()
            .contains("use true or false")
    );
    assert_eq!(
        Parameter::Text("a".into()).parse_like("b,c"),
        Ok(Parameter::Text("b,c".into()))
    );
}

#[test]
fn views_are_named_typed_and_unique() {
    let m = Manifest::parse(GOOD, "product.toml").unwrap();
    let view = &m.outputs[0].views[0];
    assert_eq!(view.name, "agreement-by-label", "named from the title");
    assert_eq!(view.kind, ViewKind::Bar);

    let views = |list: &str| {
        GOOD.replacen(
            "views = [ { kind = \"bar\", x = \"label\", y = \"agreement\", title = \"Agreement by label\" } ]",
            &format!("views = [{list}]"),
            1,
        )
    };
    let named = Manifest::parse(
        &views("{ name = \"agreement-map\", kind = \"heatmap\", x = \"label\", y = \"study_id\", color = \"agreement\" }"),
        "product.toml",
    )
    .unwrap();
    assert_eq!(named.outputs[0].views[0].name, "agreement-map");
    assert_eq!(named.outputs[0].views[0].kind, ViewKind::Heatmap);

    let refused = |list: &str| {
        Manifest::parse(&views(list), "product.toml")
            .unwrap_err()
            .first()
            .unwrap()
            .clone()
    };
    let e = refused("{ kind = \"heatmap\", x = \"label\", y = \"study_id\" }");
    assert!(e.message.contains("needs `color`"), "{e}");
    let e = refused("{ kind = \"bar\", x = \"study_id\", y = \"label\" }");
    assert!(
        e.message
            .contains("plots `label` as a quantity, but it is text"),
        "{e}"
    );
    let e = refused("{ kind = \"histogram\", x = \"label\" }");
    assert!(e.message.contains("as a quantity"), "{e}");
    let e = refused("{ kind = \"bar\", x = \"label\" }");
    assert!(e.message.contains("needs `y`"), "{e}");
    let e = refused(
        "{ kind = \"bar\", x = \"label\", y = \"agreement\", title = \"Same\" }, { kind = \"histogram\", x = \"agreement\", title = \"same\" }",
    );
    assert!(e.message.contains("two views are named `same`"), "{e}");
    let e = refused("{ name = \"Bad Name\", kind = \"histogram\", x = \"agreement\" }");
    assert!(e.message.contains("not a view name"), "{e}");
    let many: Vec<String> = (0..21)
        .map(|i| format!("{{ name = \"v{i}\", kind = \"histogram\", x = \"agreement\" }}"))
        .collect();
    let e = refused(&many.join(", "));
    assert!(e.message.contains("more than 20 views"), "{e}");
    let e = refused("{ kind = \"pie\", x = \"label\" }");
    assert!(e.hint.as_deref().unwrap_or("").contains("heatmap"), "{e}");
}
