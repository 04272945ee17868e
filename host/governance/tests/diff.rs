//! The contract diff: each kind of change between two versions of a port, classified as the
//! table in `diff.rs` says, and the semantic-versioning rule built on it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tessera_core::manifest::Manifest;
use tessera_governance::diff::{ChangeClass, ChangeKind, Release, diff, release};
use tessera_governance::input::Consumer;
use tessera_governance::semver_rule::check_release;

const BASE: &str = r#"
[product]
name = "scores"
domain = "ml"
version = "1.0.0"
owner = "ml@example.org"
description = "Scores"
kind = "aggregate"

[resources]
memory = "64MiB"
timeout = "10s"

[[inputs]]
name = "rows"
ingest = { id = "text" }

[[outputs]]
name = "scores"
access = "public"
schema = { id = { type = "text", required = true, unique = true }, score = { type = "float64", required = true }, label = "text", note = "text" }
checks = [
  { kind = "range", column = "score", min = 0.0, max = 1.0 },
  { kind = "accepted_values", column = "label", values = ["a", "b"] },
]

[[outputs]]
name = "summary"
schema = { n = "int64" }
checks = [{ kind = "row_count", min = 1 }]
"#;

fn manifest(text: &str) -> Manifest {
    Manifest::parse(text, "product.toml").unwrap()
}

/// The changes from BASE to BASE edited, as (kind, class, column).
fn changes(from: &str, to: &str) -> Vec<(ChangeKind, ChangeClass, Option<String>)> {
    assert!(BASE.contains(from), "BASE has no `{from}`");
    let old = manifest(BASE);
    let new = manifest(&BASE.replacen(from, to, 1).replace("1.0.0", "2.0.0"));
    diff(Some(&old), &new)
        .changes
        .into_iter()
        .map(|c| (c.kind, c.class, c.column))
        .collect()
}

#[test]
fn each_change_is_classified() {
    use ChangeClass::*;
    use ChangeKind::*;
    let col = |c: &str| Some(c.to_string());
    let cases = [
        (
            ", note = \"text\" }",
            " }",
            vec![(ColumnRemoved, Breaking, col("note"))],
        ),
        (
            "score = { type = \"float64\", required = true }",
            "score = { type = \"int64\", required = true }",
            vec![(TypeChanged, Breaking, col("score"))],
        ),
        (
            "score = { type = \"float64\", required = true }",
            "score = \"float64\"",
            vec![(MadeNullable, Breaking, col("score"))],
        ),
        (
            "id = { type = \"text\", required = true, unique = true }",
            "id = { type = \"text\", required = true }",
            vec![(UniqueDropped, Breaking, col("id"))],
        ),
        (
            "access = \"public\"",
            "access = \"restricted\"",
            vec![(AccessNarrowed, Breaking, None)],
        ),
        (
            "values = [\"a\", \"b\"]",
            "values = [\"a\", \"b\", \"c\"]",
            vec![(AcceptedValuesWidened, Breaking, None)],
        ),
        (
            "values = [\"a\", \"b\"]",
            "values = [\"a\"]",
            vec![(AcceptedValuesNarrowed, Warning, None)],
        ),
        (
            "min = 0.0, max = 1.0",
            "min = 0.0, max = 2.0",
            vec![(CheckLoosened, Warning, None)],
        ),
        (
            "min = 0.0, max = 1.0 }",
            "min = 0.0, max = 1.0, severity = \"warn\" }",
            vec![(CheckLoosened, Warning, None)],
        ),
        (
            "  { kind = \"range\", column = \"score\", min = 0.0, max = 1.0 },\n",
            "",
            vec![(CheckRemoved, Warning, None)],
        ),
        (
            "label = \"text\",",
            "label = { type = \"text\", classification = \"pii\" },",
            vec![(ClassificationChanged, Warning, col("label"))],
        ),
        (
            ", note = \"text\" }",
            ", note = \"text\", extra = \"int64\" }",
            vec![(ColumnAdded, Compatible, col("extra"))],
        ),
        (
            "label = \"text\",",
            "label = { type = \"text\", required = true },",
            vec![(MadeRequired, Compatible, col("label"))],
        ),
        (
            "min = 0.0, max = 1.0",
            "min = 0.1, max = 0.9",
            vec![(CheckTightened, Compatible, None)],
        ),
    ];
    for (from, to, expected) in cases {
        assert_eq!(changes(from, to), expected, "{from} -> {to}");
    }
    // A removed port.
    let old = manifest(BASE);
    let cut = BASE.find("[[outputs]]\nname = \"summary\"").unwrap();
    let new = manifest(&BASE[..cut].replace("1.0.0", "2.0.0"));
    let d = diff(Some(&old), &new);
    assert_eq!(d.changes.len(), 1);
    assert_eq!(d.changes[0].kind, ChangeKind::PortRemoved);
    assert!(d.breaking);
    // The same manifest: nothing.
    assert!(diff(Some(&old), &old).changes.is_empty());
}

#[test]
fn releases_follow_semantic_versioning_with_zero_majors_as_cargo_reads_them() {
    let v = |s: &str| semver::Version::parse(s).unwrap();
    assert_eq!(release(&v("1.2.3"), &v("2.0.0")), Release::Major);
    assert_eq!(release(&v("1.2.3"), &v("1.3.0")), Release::Minor);
    assert_eq!(release(&v("1.2.3"), &v("1.2.4")), Release::Patch);
    assert_eq!(release(&v("1.2.3"), &v("1.2.3")), Release::NotNewer);
    assert_eq!(release(&v("1.2.3"), &v("1.0.0")), Release::NotNewer);
    assert_eq!(release(&v("0.1.0"), &v("0.2.0")), Release::Major);
    assert_eq!(release(&v("0.1.0"), &v("0.1.1")), Release::Patch);
}

#[test]
fn a_breaking_minor_release_is_refused_naming_the_readers_of_the_broken_port_only() {
    let old = manifest(BASE);
    let edited = BASE.replacen(", note = \"text\" }", " }", 1);
    let consumers = [
        Consumer {
            product: "dashboard".into(),
            domain: "bi".into(),
            owner: "bi@example.org".into(),
            port: "scores".into(),
            input: "scores".into(),
            major: Some(1),
        },
        Consumer {
            product: "report".into(),
            domain: "bi".into(),
            owner: "bi@example.org".into(),
            port: "summary".into(),
            input: "summary".into(),
            major: None,
        },
    ];
    let minor = manifest(&edited.replace("1.0.0", "1.1.0"));
    let refusal = check_release(&diff(Some(&old), &minor), &consumers).unwrap_err();
    assert!(
        refusal.message.contains("column `scores.note` is removed"),
        "{}",
        refusal.message
    );
    assert!(
        refusal
            .message
            .contains("dashboard (owner bi@example.org, input `scores`)")
    );
    assert!(!refusal.message.contains("report"), "{}", refusal.message);
    let major = manifest(&edited.replace("1.0.0", "2.0.0"));
    assert!(check_release(&diff(Some(&old), &major), &consumers).is_ok());
    // A compatible minor release passes.
    let compatible = manifest(
        &BASE
            .replacen(
                ", note = \"text\" }",
                ", note = \"text\", extra = \"int64\" }",
                1,
            )
            .replace("1.0.0", "1.1.0"),
    );
    assert!(check_release(&diff(Some(&old), &compatible), &consumers).is_ok());
}
