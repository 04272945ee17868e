//! Evaluation through the zygotes: a policy that kills its child leaves the zygote serving
//! the next evaluation, and a zygote holds none of the host's descriptors open.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;

use tessera_governance::evaluate::{EvalLimits, Evaluated, PolicySource, evaluate};

fn policy(id: &str, rego: &str) -> PolicySource {
    PolicySource {
        id: id.into(),
        rego: rego.into(),
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_zygote_outlives_a_policy_that_kills_its_child_and_holds_no_host_descriptor() {
    // A pipe the host owns before the zygotes start: once the host closes its write end, the
    // read end must see the end, which it would not if a zygote held a copy.
    let (mut reader, writer) = std::io::pipe().unwrap();
    tessera_governance::zygote::prestart();
    let hoard = policy(
        "hoard",
        "package tessera.hoard\nviolation contains \"x\" if {\n    count(numbers.range(1, 100000000000)) > 0\n}\n",
    );
    let fine = policy(
        "fine",
        "package tessera.fine\nviolation contains sprintf(\"n = %d\", [input.n]) if { input.n > 0 }\n",
    );
    for _ in 0..3 {
        let results = evaluate(
            &[hoard.clone(), fine.clone()],
            r#"{"n": 7}"#,
            EvalLimits::default(),
        );
        match &results[0] {
            Evaluated::Failed(why) => assert!(why.contains("ran out of memory"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(results[1], Evaluated::Violations(vec!["n = 7".into()]));
    }
    drop(writer);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[cfg(target_os = "linux")]
#[test]
fn a_policy_kept_parsed_by_a_zygote_still_stops_at_its_time_limit() {
    tessera_governance::zygote::prestart();
    let spin = policy(
        "spin",
        "package tessera.spin\nviolation contains \"x\" if {\n    some a in numbers.range(1, 5000)\n    some b in numbers.range(1, 5000)\n    some c in numbers.range(1, 5000)\n    a + b + c < 0\n}\n",
    );
    let limits = EvalLimits {
        per_policy: std::time::Duration::from_millis(100),
        ..EvalLimits::default()
    };
    let fine = policy(
        "fine",
        "package tessera.fine\nviolation contains sprintf(\"n = %d\", [input.n]) if { input.n > 0 }\n",
    );
    // Both zygotes see it (each keeps it parsed after its first evaluation), then again; each
    // time the evaluator that served it answers the next job too.
    for round in 0..4 {
        let results = evaluate(
            &[spin.clone(), fine.clone()],
            &format!(r#"{{"n": {round}}}"#),
            limits,
        );
        match &results[0] {
            Evaluated::Failed(why) => assert!(why.contains("time limit"), "{why}"),
            other => panic!("{other:?}"),
        }
        let expected = if round > 0 {
            vec![format!("n = {round}")]
        } else {
            Vec::new()
        };
        assert_eq!(results[1], Evaluated::Violations(expected));
    }
}
