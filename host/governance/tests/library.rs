//! The shipped policy library: a manifest that follows every rule passes all of them, and a
//! manifest that breaks one rule is refused by that policy alone, with its message.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use tessera_core::manifest::Manifest;
use tessera_governance::evaluate::{EvalLimits, Evaluated, PolicySource, evaluate};
use tessera_governance::input::{Actor, ManifestFacts, PolicyInput, ProductFacts};
use tessera_governance::library::LIBRARY;
use tessera_store::PolicyEvent;

/// A product that follows every rule of the library; each case edits one line of it.
const COMPLIANT: &str = r#"
[product]
name = "scan-stats"
domain = "imaging"
version = "1.0.0"
owner = "imaging-team@example.org"
description = "Statistics of every scan"
kind = "source-aligned"
tags = ["clinical"]

[resources]
memory = "64MiB"
timeout = "10s"
gpu = "optional"

[[inputs]]
name = "scans"
ingest = { scan_id = { type = "text", required = true } }

[[outputs]]
name = "stats"
access = "restricted"
schema = { scan_id = { type = "text", required = true, classification = "phi" } }
checks = [{ kind = "not_null", column = "scan_id" }]

[slo]
freshness = "24h"

[retention]
max_age = "90d"
"#;

fn input_for(manifest: &Manifest) -> String {
    let input = PolicyInput {
        event: PolicyEvent::Deploy,
        at: "2026-12-02T00:00:00Z".into(),
        actor: Actor {
            id: "local".into(),
            role: None,
            domain: None,
        },
        product: ProductFacts::of(manifest),
        proposed: Some(manifest.clone()),
        current: None,
        facts: Some(ManifestFacts::of(manifest)),
        diff: None,
        consumers: Vec::new(),
        deprecation: None,
        run: None,
        grant: None,
        ingest: None,
    };
    serde_json::to_string(&input).unwrap()
}

fn judge(toml: &str) -> Vec<(String, Evaluated)> {
    let manifest = Manifest::parse(toml, "product.toml").unwrap();
    let sources: Vec<PolicySource> = LIBRARY
        .iter()
        .map(|p| PolicySource {
            id: p.id.into(),
            rego: p.rego.into(),
        })
        .collect();
    let results = evaluate(&sources, &input_for(&manifest), EvalLimits::default());
    LIBRARY
        .iter()
        .map(|p| p.id.to_string())
        .zip(results)
        .collect()
}

/// The policies that found violations, with their messages; failures fail the test.
fn violations(toml: &str) -> Vec<(String, Vec<String>)> {
    judge(toml)
        .into_iter()
        .filter_map(|(id, evaluated)| match evaluated {
            Evaluated::Violations(m) if m.is_empty() => None,
            Evaluated::Violations(m) => Some((id, m)),
            Evaluated::Failed(why) => panic!("policy {id} failed: {why}"),
        })
        .collect()
}

fn edited(from: &str, to: &str) -> String {
    assert!(
        COMPLIANT.contains(from),
        "the compliant manifest has no `{from}`"
    );
    COMPLIANT.replacen(from, to, 1)
}

#[test]
fn a_compliant_product_passes_every_policy() {
    assert_eq!(violations(COMPLIANT), Vec::<(String, Vec<String>)>::new());
}

#[test]
fn each_policy_refuses_the_product_that_breaks_it_and_no_other() {
    let cases = [
        (
            edited(r#"owner = "imaging-team@example.org""#, r#"owner = " ""#),
            "owner-and-description",
            "names no owner",
        ),
        (
            edited(
                r#"checks = [{ kind = "not_null", column = "scan_id" }]"#,
                r#"checks = [{ kind = "not_null", column = "scan_id", severity = "warn" }]"#,
            ),
            "error-check-per-port",
            "output port `stats` of scan-stats has no `error` check",
        ),
        (
            edited(r#"access = "restricted""#, r#"access = "domain""#),
            "sensitive-columns-restricted",
            "column `stats.scan_id` is classified phi but port `stats` is domain",
        ),
        (
            edited("[slo]\nfreshness = \"24h\"", "[slo]"),
            "source-aligned-freshness",
            "is source-aligned but declares no freshness",
        ),
        (
            edited(r#"domain = "imaging""#, r#"domain = "billing""#),
            "gpu-domains",
            "domain `billing` is not among the domains allowed GPUs (imaging, ml-platform)",
        ),
        (
            edited(r#"max_age = "90d""#, r#"max_age = "7d""#),
            "clinical-retention",
            "keeps versions 7 days",
        ),
        (
            edited(r#"max_age = "90d""#, "keep_versions = 3"),
            "clinical-retention",
            "bounds retention by count",
        ),
    ];
    for (toml, policy, message) in cases {
        let found = violations(&toml);
        assert_eq!(
            found.len(),
            1,
            "{policy}: expected only it to refuse, got {found:?}"
        );
        let (id, messages) = &found[0];
        assert_eq!(id, policy);
        assert!(
            messages.iter().any(|m| m.contains(message)),
            "{policy}: no message with `{message}` in {messages:?}"
        );
    }
}
