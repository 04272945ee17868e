//! From policies and an input to a decision: which policies apply to an event, what each
//! said, which waivers set violations aside, and the outcome.
//!
//! Policies only ever add refusals: every applicable policy of the global scope and of the
//! product's domain is evaluated, and one `deny` violation refuses the action whatever the
//! others say. A domain policy therefore cannot relax a global one; the only way past a
//! global policy is a waiver, which the federation grants, for one product, until it expires.

use std::collections::BTreeMap;

use tessera_store::{
    DecisionOutcome, DecisionRecord, Effect, PolicyEvent, PolicyRecord, PolicyVerdict,
    VerdictResult, Waiver,
};

use crate::evaluate::{EvalLimits, Evaluated, PolicySource, evaluate};
use crate::input::PolicyInput;

/// The largest input document, in bytes; a larger one fails every policy rather than being
/// cut.
pub const MAX_INPUT_BYTES: usize = 4 << 20;

/// The policies in force for `event` on a product of `domain`: the newest version of each id,
/// unless that version retired it, whose scope covers the domain and whose events include
/// this one. Ordered by id.
pub fn applicable(
    policies: &[PolicyRecord],
    event: PolicyEvent,
    domain: &str,
) -> Vec<PolicyRecord> {
    let mut newest: BTreeMap<&str, &PolicyRecord> = BTreeMap::new();
    for policy in policies {
        let slot = newest.entry(policy.id.as_str()).or_insert(policy);
        if policy.version > slot.version {
            *slot = policy;
        }
    }
    newest
        .into_values()
        .filter(|p| p.enabled && p.events.contains(&event) && p.scope.covers(domain))
        .cloned()
        .collect()
}

/// What the event is, for the record.
#[derive(Debug, Clone)]
pub struct Occasion {
    /// Its id (`dec_…`).
    pub id: String,
    /// When (µs since the epoch).
    pub at_us: i64,
    /// What it is about (a version, a run, a token, a port).
    pub subject: String,
}

/// Evaluates `policies` (already [`applicable`]) on `input` and makes the decision record,
/// setting aside the violations a live waiver covers.
pub fn decide(
    policies: &[PolicyRecord],
    waivers: &[Waiver],
    input: &PolicyInput,
    occasion: Occasion,
    limits: EvalLimits,
) -> DecisionRecord {
    let evaluated = match serde_json::to_string(input) {
        Ok(json) if json.len() <= MAX_INPUT_BYTES => {
            let sources: Vec<PolicySource> = policies
                .iter()
                .map(|p| PolicySource {
                    id: p.id.clone(),
                    rego: p.rego.clone(),
                })
                .collect();
            evaluate(&sources, &json, limits)
        }
        Ok(json) => vec![
            Evaluated::Failed(format!(
                "the input document is {} bytes; the limit is {MAX_INPUT_BYTES}",
                json.len()
            ));
            policies.len()
        ],
        Err(e) => vec![Evaluated::Failed(format!("the input is not JSON: {e}")); policies.len()],
    };
    let product = input.product.name.as_str();
    let verdicts: Vec<PolicyVerdict> = policies
        .iter()
        .zip(evaluated)
        .map(|(policy, evaluated)| {
            let (result, messages) = match evaluated {
                Evaluated::Violations(m) if m.is_empty() => (VerdictResult::Passed, m),
                Evaluated::Violations(m) => (VerdictResult::Violated, m),
                Evaluated::Failed(why) => (VerdictResult::Failed, vec![why]),
            };
            let waiver = (result != VerdictResult::Passed)
                .then(|| {
                    waivers
                        .iter()
                        .find(|w| w.applies(&policy.id, product, occasion.at_us))
                })
                .flatten();
            PolicyVerdict {
                policy: policy.id.clone(),
                version: policy.version,
                effect: policy.effect,
                result: if waiver.is_some() {
                    VerdictResult::Waived
                } else {
                    result
                },
                messages,
                waiver: waiver.map(|w| w.id.clone()),
            }
        })
        .collect();
    let outcome = if verdicts.iter().any(PolicyVerdict::blocks) {
        DecisionOutcome::Denied
    } else if verdicts.iter().any(PolicyVerdict::warns) {
        DecisionOutcome::Warned
    } else {
        DecisionOutcome::Allowed
    };
    DecisionRecord {
        id: occasion.id,
        at_us: occasion.at_us,
        event: input.event,
        product: product.to_string(),
        domain: input.product.domain.clone(),
        subject: occasion.subject,
        actor: input.actor.id.clone(),
        outcome,
        verdicts,
        evaluation_us: 0,
    }
}

/// The refusals of a denied decision, one line each: `policy@version: message`.
pub fn refusals(decision: &DecisionRecord) -> Vec<(String, u32, String)> {
    decision
        .verdicts
        .iter()
        .filter(|v| v.blocks())
        .flat_map(|v| {
            v.messages
                .iter()
                .map(move |m| (v.policy.clone(), v.version, m.clone()))
        })
        .collect()
}

/// Whether any verdict of `decision` was a warning (`warn` policies that found violations).
pub fn warnings(decision: &DecisionRecord) -> Vec<(String, u32, String)> {
    decision
        .verdicts
        .iter()
        .filter(|v| v.effect == Effect::Warn && v.warns())
        .flat_map(|v| {
            v.messages
                .iter()
                .map(move |m| (v.policy.clone(), v.version, m.clone()))
        })
        .collect()
}
