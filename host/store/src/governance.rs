//! The records of federated governance: policies (every version kept), waivers, and the
//! decision record of every evaluation, behind [`GovernanceCatalog`]. The rules that evaluate
//! them live in `tessera-governance`; this module only says what is kept and how it is found.

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// A lifecycle event a policy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyEvent {
    /// A new version is uploaded.
    Deploy,
    /// A deployed version becomes the one runs use.
    Activate,
    /// A run's checked outputs are about to become the product's next version.
    Publish,
    /// A token is given access to a restricted port.
    Grant,
    /// Data is pushed into an ingest port.
    Ingest,
}

impl PolicyEvent {
    /// Every event, in lifecycle order.
    pub const ALL: [PolicyEvent; 5] = [
        PolicyEvent::Deploy,
        PolicyEvent::Activate,
        PolicyEvent::Publish,
        PolicyEvent::Grant,
        PolicyEvent::Ingest,
    ];

    /// The event's name, as the API and policies write it.
    pub fn name(self) -> &'static str {
        match self {
            PolicyEvent::Deploy => "deploy",
            PolicyEvent::Activate => "activate",
            PolicyEvent::Publish => "publish",
            PolicyEvent::Grant => "grant",
            PolicyEvent::Ingest => "ingest",
        }
    }

    /// The event called `name`.
    pub fn parse(name: &str) -> Option<PolicyEvent> {
        PolicyEvent::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// What a policy's violation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// The action is refused.
    Deny,
    /// The action goes ahead; the violation is reported.
    Warn,
}

impl Effect {
    /// The effect's name, as the API writes it.
    pub fn name(self) -> &'static str {
        match self {
            Effect::Deny => "deny",
            Effect::Warn => "warn",
        }
    }
}

/// Where a policy applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "scope", content = "domain")]
pub enum PolicyScope {
    /// Every product of the mesh; set by the federation (the governance role).
    Global,
    /// The products of one domain; set by that domain's owners.
    Domain(String),
}

impl PolicyScope {
    /// Whether a product of `domain` is in scope.
    pub fn covers(&self, domain: &str) -> bool {
        match self {
            PolicyScope::Global => true,
            PolicyScope::Domain(d) => d == domain,
        }
    }

    /// Words for messages: `global` or `domain labeling`.
    pub fn describe(&self) -> String {
        match self {
            PolicyScope::Global => "global".into(),
            PolicyScope::Domain(d) => format!("domain `{d}`"),
        }
    }
}

/// One version of a policy. Versions are numbered from 1 per id; none is ever changed or
/// removed, so a decision record can always name what it evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// The policy's id (kebab-case, unique in the mesh whatever its scope).
    pub id: String,
    /// Its version, from 1.
    pub version: u32,
    /// What it asks for, in words.
    pub description: String,
    /// Where it applies.
    #[serde(flatten)]
    pub scope: PolicyScope,
    /// The events it is evaluated at.
    pub events: Vec<PolicyEvent>,
    /// What a violation does.
    pub effect: Effect,
    /// The Rego module: a `violation` set of messages (strings, or objects with a `msg`).
    pub rego: String,
    /// Whether this version is in force; a version that retires the policy keeps it listed.
    #[serde(default = "in_force")]
    pub enabled: bool,
    /// When it was added (µs since the epoch).
    pub created_at_us: i64,
    /// Who added it (a token id, or `host` for the shipped library).
    pub created_by: String,
}

fn in_force() -> bool {
    true
}

/// A recorded exception to one policy for one product, until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiver {
    /// Its id (`wvr_` and a time-ordered UUID).
    pub id: String,
    /// The policy it waives (every version).
    pub policy: String,
    /// The product it applies to.
    pub product: String,
    /// Why, in words; part of every decision that uses it.
    pub reason: String,
    /// When it stops applying (µs since the epoch).
    pub expires_at_us: i64,
    /// When it was granted (µs since the epoch).
    pub created_at_us: i64,
    /// Who granted it (a token id).
    pub created_by: String,
}

impl Waiver {
    /// Whether it waives `policy` for `product` at `now_us`.
    pub fn applies(&self, policy: &str, product: &str, now_us: i64) -> bool {
        self.policy == policy && self.product == product && now_us < self.expires_at_us
    }
}

/// What one policy said in one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictResult {
    /// No violation.
    Passed,
    /// At least one violation.
    Violated,
    /// Violations a waiver set aside.
    Waived,
    /// The policy could not be evaluated (an error, or past its time or size limit); for a
    /// `deny` policy this refuses the action.
    Failed,
}

/// One policy's part in a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyVerdict {
    /// The policy.
    pub policy: String,
    /// The version evaluated.
    pub version: u32,
    /// Its effect.
    pub effect: Effect,
    /// What it said.
    pub result: VerdictResult,
    /// Its violation messages, or why it failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
    /// The waiver that set its violations aside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<String>,
}

impl PolicyVerdict {
    /// Whether this verdict refuses the action.
    pub fn blocks(&self) -> bool {
        self.effect == Effect::Deny
            && matches!(self.result, VerdictResult::Violated | VerdictResult::Failed)
    }

    /// Whether this verdict is reported without refusing.
    pub fn warns(&self) -> bool {
        self.effect == Effect::Warn
            && matches!(self.result, VerdictResult::Violated | VerdictResult::Failed)
    }
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionOutcome {
    /// Every policy passed (or was waived).
    Allowed,
    /// Allowed, with advisory violations.
    Warned,
    /// Refused by at least one `deny` policy.
    Denied,
}

/// The record of one evaluation of the policies at one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// Its id (`dec_` and a time-ordered UUID).
    pub id: String,
    /// When (µs since the epoch).
    pub at_us: i64,
    /// The event.
    pub event: PolicyEvent,
    /// The product concerned.
    pub product: String,
    /// Its domain.
    pub domain: String,
    /// What the event is about: the version deployed or activated, the run publishing, the
    /// token granted, the port ingested into.
    pub subject: String,
    /// Who acted (a token id, or `host` for scheduled runs).
    pub actor: String,
    /// The outcome.
    pub outcome: DecisionOutcome,
    /// Each policy evaluated, with its version and what it said.
    pub verdicts: Vec<PolicyVerdict>,
    /// How long the evaluation took, in microseconds.
    #[serde(default)]
    pub evaluation_us: u64,
}

/// How many decision records the catalog keeps, mesh-wide; the oldest go first.
pub const DECISIONS_KEPT: usize = 20_000;

/// The governance records of a host.
pub trait GovernanceCatalog: Send + Sync {
    /// Adds a policy version. Its version must be one past the newest of its id (or 1), and a
    /// new version keeps its id's scope: otherwise a conflict that says why, changing nothing.
    fn add_policy(&self, policy: &PolicyRecord) -> Result<(), StoreError>;

    /// Every version of every policy, by id then version.
    fn policies(&self) -> Result<Vec<PolicyRecord>, StoreError>;

    /// Stores a waiver.
    fn put_waiver(&self, waiver: &Waiver) -> Result<(), StoreError>;

    /// Every waiver, expired ones included, oldest first.
    fn waivers(&self) -> Result<Vec<Waiver>, StoreError>;

    /// Records a decision (dropping the oldest beyond [`DECISIONS_KEPT`]).
    fn record_decision(&self, decision: &DecisionRecord) -> Result<(), StoreError>;

    /// At most `limit` decisions, newest first, of one product or of the whole mesh.
    fn decisions(
        &self,
        product: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DecisionRecord>, StoreError>;
}
