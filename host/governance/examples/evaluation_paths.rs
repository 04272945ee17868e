//! Where an evaluation's time goes: 20 policies on a deploy input, through a zygote's evaluator
//! (`decide`, as the server evaluates), and the interpreter alone in this process (parsed engines cloned, input set,
//! rule evaluated), p50 and p90 of 200 rounds each.
//!
//! `cargo run --release -p tessera-governance --example evaluation_paths`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use tessera_core::manifest::Manifest;
use tessera_governance::input::{Actor, ManifestFacts, PolicyInput, ProductFacts};
use tessera_governance::library::LIBRARY;
use tessera_governance::{EvalLimits, Occasion};
use tessera_store::{Effect, PolicyEvent, PolicyRecord, PolicyScope};

const ROUNDS: usize = 200;

fn twenty() -> Vec<PolicyRecord> {
    (0..20)
        .map(|i| {
            let base = &LIBRARY[i % LIBRARY.len()];
            let package = format!("package tessera.p{i}");
            let rego = base
                .rego
                .lines()
                .map(|l| {
                    if l.starts_with("package ") {
                        package.as_str()
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            PolicyRecord {
                id: format!("{}-{i}", base.id),
                version: 1,
                description: base.description.into(),
                scope: PolicyScope::Global,
                events: vec![PolicyEvent::Deploy],
                effect: Effect::Deny,
                rego,
                enabled: true,
                created_at_us: 0,
                created_by: "bench".into(),
            }
        })
        .collect()
}

fn table_row(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at =
        |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    println!("| {name} | {:.3} | {:.3} |", at(0.5), at(0.9));
}

fn main() {
    tessera_governance::zygote::prestart();
    let text = std::fs::read_to_string("examples/hello/product.toml")
        .or_else(|_| std::fs::read_to_string("../../examples/hello/product.toml"))
        .unwrap();
    let manifest = Manifest::parse(&text, "product.toml").unwrap();
    let input = PolicyInput {
        event: PolicyEvent::Deploy,
        at: "2026-12-02T00:00:00Z".into(),
        actor: Actor {
            id: "bench".into(),
            role: None,
            domain: None,
        },
        product: ProductFacts::of(&manifest),
        proposed: Some(manifest.clone()),
        current: Some(manifest.clone()),
        facts: Some(ManifestFacts::of(&manifest)),
        diff: Some(tessera_governance::diff(Some(&manifest), &manifest)),
        consumers: Vec::new(),
        deprecation: None,
        run: None,
        grant: None,
        ingest: None,
    };
    let policies = twenty();
    let json = serde_json::to_string(&input).unwrap();
    println!("input: {} bytes\n", json.len());
    println!("| path | p50 ms | p90 ms |\n|---|---:|---:|");

    let decide = |_| {
        let started = Instant::now();
        let decision = tessera_governance::decide(
            &policies,
            &[],
            &input,
            Occasion {
                id: "dec".into(),
                at_us: 0,
                subject: "bench".into(),
            },
            EvalLimits::default(),
        );
        assert_eq!(decision.verdicts.len(), 20);
        started.elapsed()
    };
    // Warm: the zygote learns the policies.
    (0..5).for_each(|i| {
        decide(i);
    });
    table_row(
        "decide through a zygote's evaluator",
        (0..ROUNDS).map(decide).collect(),
    );

    for interval in [1u32, 64] {
        let engines: Vec<(regorus::Engine, String)> = policies
            .iter()
            .map(|p| {
                let mut engine = regorus::Engine::new();
                engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
                    limit: Duration::from_secs(1),
                    check_interval: NonZeroU32::new(interval).unwrap(),
                });
                let package = engine
                    .add_policy(format!("{}.rego", p.id), p.rego.clone())
                    .unwrap();
                (engine, format!("{package}.violation"))
            })
            .collect();
        let samples = (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                let value = regorus::Value::from_json_str(&json).unwrap();
                for (engine, rule) in &engines {
                    let mut engine = engine.clone();
                    engine.set_input(value.clone());
                    engine.eval_rule(rule.clone()).unwrap();
                }
                started.elapsed()
            })
            .collect();
        table_row(
            &format!("interpreter alone, timer checked every {interval} steps"),
            samples,
        );
    }
}
