//! An evaluation's limits: every policy gets a verdict, and all of them together stay within
//! the evaluation's budget.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use tessera_governance::evaluate::{EvalLimits, Evaluated, PolicySource, evaluate};

const SPIN: &str = "package tessera.spin\nviolation contains msg if {\n    some a in numbers.range(1, 5000)\n    some b in numbers.range(1, 5000)\n    some c in numbers.range(1, 5000)\n    a + b + c < 0\n    msg := \"never\"\n}\n";

#[test]
fn policies_past_the_budget_fail_without_running_and_the_rest_still_get_verdicts() {
    let mut policies: Vec<PolicySource> = (0..5)
        .map(|i| PolicySource {
            id: format!("spin-{i}"),
            rego: SPIN.into(),
        })
        .collect();
    policies.push(PolicySource {
        id: "fine".into(),
        rego: "package tessera.fine\nviolation contains \"always\" if { true }\n".into(),
    });
    let limits = EvalLimits {
        per_policy: Duration::from_millis(200),
        memory: 256 << 20,
        total: Duration::from_millis(500),
    };
    let started = Instant::now();
    let results = evaluate(&policies, "{}", limits);
    let took = started.elapsed();
    assert_eq!(results.len(), 6);
    match &results[0] {
        Evaluated::Failed(why) => assert!(why.contains("time limit"), "{why}"),
        other => panic!("{other:?}"),
    }
    let out_of_budget = results
        .iter()
        .filter(|r| matches!(r, Evaluated::Failed(why) if why.contains("budget")))
        .count();
    assert!(out_of_budget >= 3, "{results:?}");
    // The budget bounds the whole evaluation (with room for the child's start and reaping).
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_policy_that_passes_or_violates_says_so_with_its_messages() {
    let policies = [
        PolicySource {
            id: "quiet".into(),
            rego: "package tessera.quiet\nviolation contains \"x\" if { input.n > 10 }\n".into(),
        },
        PolicySource {
            id: "loud".into(),
            rego: "package tessera.loud\nviolation contains {\"msg\": sprintf(\"n is %d\", [input.n])} if { input.n > 1 }\n".into(),
        },
    ];
    let results = evaluate(&policies, r#"{"n": 3}"#, EvalLimits::default());
    assert_eq!(
        results,
        [
            Evaluated::Violations(vec![]),
            Evaluated::Violations(vec!["n is 3".into()])
        ]
    );
}
