//! Checking a policy before it is added: a kebab-case id, at least one event, and Rego that
//! parses (in a child, like every evaluation) and declares a `violation` rule.

use tessera_store::{Effect, PolicyEvent, PolicyScope};

use crate::evaluate::{EvalLimits, check_policy};

/// A policy someone wants to add (the next version of its id, or its first).
#[derive(Debug, Clone)]
pub struct PolicyDraft {
    /// Its id.
    pub id: String,
    /// What it asks for.
    pub description: String,
    /// Where it applies.
    pub scope: PolicyScope,
    /// The events it applies to.
    pub events: Vec<PolicyEvent>,
    /// What a violation does.
    pub effect: Effect,
    /// The Rego module.
    pub rego: String,
    /// `false` retires the policy (the version is kept, listed, and applies nowhere).
    pub enabled: bool,
}

/// Why a draft is refused: each problem in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct DraftProblems(pub Vec<String>);

impl PolicyDraft {
    /// Checks the draft; the events come back sorted and without repeats.
    pub fn check(mut self, limits: EvalLimits) -> Result<PolicyDraft, DraftProblems> {
        let mut problems = Vec::new();
        if !tessera_core::manifest::is_kebab_name(&self.id) || self.id.len() > 64 {
            problems.push(format!(
                "policy id `{}` is not a kebab-case name of at most 64 characters (e.g. `phi-restricted`)",
                self.id.chars().take(80).collect::<String>()
            ));
        }
        if let PolicyScope::Domain(domain) = &self.scope
            && !tessera_core::manifest::is_kebab_name(domain)
        {
            problems.push(format!("`{domain}` is not a domain name"));
        }
        self.events.sort();
        self.events.dedup();
        if self.events.is_empty() {
            problems.push(format!(
                "the policy applies to no event; name at least one of {}",
                PolicyEvent::ALL.map(PolicyEvent::name).join(", ")
            ));
        }
        if self.description.len() > 1024 {
            problems.push("the description is longer than 1024 bytes".into());
        }
        if let Err(e) = check_policy(&self.id, &self.rego, limits) {
            problems.push(e);
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(DraftProblems(problems))
        }
    }
}
