//! Evaluating Rego policies: each policy is its own module with a `violation` rule, a set of
//! messages; it is parsed and evaluated in a child process ([`crate::sandbox`]) under the
//! interpreter's execution timer, an address-space limit and a deadline, so a policy that loops,
//! hoards memory, nests without end or errors is a failed verdict with its reason, and the host
//! carries on.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sandbox::{ChildEnd, ChildLimits};

/// The rule every policy defines: a set of violation messages (strings, or objects whose `msg`
/// is the message).
pub const VIOLATION_RULE: &str = "violation";

/// The largest policy accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// Messages kept per policy and evaluation; the rest are counted.
pub const MAX_MESSAGES: usize = 20;

/// Bytes kept of one message.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// Limits of evaluation.
#[derive(Debug, Clone, Copy)]
pub struct EvalLimits {
    /// Interpreter time one policy may take.
    pub per_policy: Duration,
    /// Memory one evaluation may add.
    pub memory: u64,
    /// Time all the policies of one evaluation may take together; the policies left when it
    /// is spent fail without running.
    pub total: Duration,
}

impl Default for EvalLimits {
    fn default() -> Self {
        EvalLimits {
            per_policy: Duration::from_secs(1),
            memory: 256 << 20,
            total: Duration::from_secs(5),
        }
    }
}

/// A policy to evaluate: a name for messages and its Rego module.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicySource {
    /// The policy's id (its module's file name in messages).
    pub id: String,
    /// The Rego module.
    pub rego: String,
}

/// What evaluating one policy gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Evaluated {
    /// The violation messages (empty: the policy passed).
    Violations(Vec<String>),
    /// The policy could not be evaluated, and why.
    Failed(String),
}

/// One line of a child's output: the index of the policy and what it gave.
#[derive(Serialize, Deserialize)]
struct Line {
    index: usize,
    evaluated: Evaluated,
}

/// Evaluates each policy against `input` (a JSON document), in order. Every policy gets a
/// result: one that crashes or outlives its limits is [`Evaluated::Failed`] with the reason,
/// and those after it are evaluated in a fresh child.
pub fn evaluate(policies: &[PolicySource], input: &str, limits: EvalLimits) -> Vec<Evaluated> {
    let mut results: Vec<Option<Evaluated>> = vec![None; policies.len()];
    let started = std::time::Instant::now();
    let mut next = 0;
    while next < policies.len() {
        let left = limits.total.saturating_sub(started.elapsed());
        if left.is_zero() {
            for slot in results.iter_mut().skip(next) {
                *slot = Some(Evaluated::Failed(format!(
                    "not evaluated: the evaluation's budget of {} ms for all policies ran out",
                    limits.total.as_millis()
                )));
            }
            break;
        }
        let batch = policies.get(next..).unwrap_or_default();
        let deadline = limits
            .per_policy
            .saturating_mul(u32::try_from(batch.len()).unwrap_or(u32::MAX))
            .saturating_add(Duration::from_secs(2))
            .min(left);
        let child = crate::zygote::run(
            ChildLimits {
                memory: limits.memory,
                deadline,
                max_output: 4 << 20,
            },
            &Job::Evaluate {
                policies: batch.to_vec(),
                first_index: next,
                input: input.to_string(),
                per_policy: limits.per_policy,
            },
        );
        for text in child.output.split(|&b| b == b'\n') {
            if let Ok(line) = serde_json::from_slice::<Line>(text)
                && let Some(slot) = results.get_mut(line.index)
            {
                *slot = Some(line.evaluated);
            }
        }
        let first_missing = results
            .iter()
            .position(Option::is_none)
            .unwrap_or(policies.len());
        if first_missing < policies.len() {
            let why = match &child.end {
                ChildEnd::Finished => "its evaluation gave no result".to_string(),
                ChildEnd::TimedOut => format!(
                    "it did not finish within {} ms",
                    limits.per_policy.as_millis()
                ),
                ChildEnd::TooMuchOutput => "it produced too much output".to_string(),
                ChildEnd::Crashed(why) => format!(
                    "its evaluation died: {why} (the limit is {} MiB)",
                    limits.memory >> 20
                ),
                ChildEnd::NotStarted(why) => format!("it could not be evaluated: {why}"),
            };
            if let Some(slot) = results.get_mut(first_missing) {
                *slot = Some(Evaluated::Failed(why));
            }
        }
        next = results
            .iter()
            .position(Option::is_none)
            .unwrap_or(policies.len());
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Evaluated::Failed("not evaluated".into())))
        .collect()
}

/// Checks that `rego` is a policy Tessera can evaluate: it parses, within the size limit, and
/// declares a `violation` rule. Runs in a child like an evaluation.
pub fn check_policy(id: &str, rego: &str, limits: EvalLimits) -> Result<(), String> {
    if rego.len() > MAX_POLICY_BYTES {
        return Err(format!(
            "the policy is {} bytes; the limit is {MAX_POLICY_BYTES}",
            rego.len()
        ));
    }
    let source = PolicySource {
        id: id.to_string(),
        rego: rego.to_string(),
    };
    let child = crate::zygote::run(
        ChildLimits {
            memory: limits.memory,
            deadline: limits.per_policy.saturating_add(Duration::from_secs(2)),
            max_output: 64 * 1024,
        },
        &Job::Check {
            policy: source,
            per_policy: limits.per_policy,
        },
    );
    match child.end {
        ChildEnd::Finished if child.output.is_empty() => Ok(()),
        ChildEnd::Finished => Err(String::from_utf8_lossy(&child.output).into_owned()),
        ChildEnd::TimedOut => Err("parsing the policy took too long".into()),
        ChildEnd::TooMuchOutput => Err("parsing the policy produced too much output".into()),
        ChildEnd::Crashed(why) => Err(format!("parsing the policy died: {why}")),
        ChildEnd::NotStarted(why) => Err(format!("the policy could not be checked: {why}")),
    }
}

/// A job for a child: what it runs, as data, so a zygote can be handed it over a pipe.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Job {
    /// Evaluate `policies` (the ones from `first_index` on) against `input`, one [`Line`] each.
    Evaluate {
        /// The policies.
        policies: Vec<PolicySource>,
        /// The index of the first, in the whole evaluation.
        first_index: usize,
        /// The input document, JSON.
        input: String,
        /// Interpreter time per policy.
        per_policy: Duration,
    },
    /// Parse a policy: nothing written when it is fine, the reason otherwise.
    Check {
        /// The policy.
        policy: PolicySource,
        /// Interpreter time.
        per_policy: Duration,
    },
}

/// Runs `job` (in the child), writing its results to `out`; `parsed` holds policies parsed
/// before.
pub(crate) fn perform(job: &Job, parsed: &Parsed, out: &mut dyn FnMut(&[u8])) {
    quiet_panics();
    match job {
        Job::Evaluate {
            policies,
            first_index,
            input,
            per_policy,
        } => {
            let input = regorus::Value::from_json_str(input);
            for (offset, policy) in policies.iter().enumerate() {
                let evaluated = match &input {
                    Ok(input) => evaluate_one(policy, input, *per_policy, parsed),
                    Err(e) => Evaluated::Failed(format!("the input is not JSON: {e}")),
                };
                let line = Line {
                    index: first_index + offset,
                    evaluated,
                };
                if let Ok(mut bytes) = serde_json::to_vec(&line) {
                    bytes.push(b'\n');
                    out(&bytes);
                }
            }
        }
        Job::Check { policy, per_policy } => {
            if let Err(e) = load(policy, *per_policy) {
                out(e.as_bytes());
            }
        }
    }
}

/// Parses a policy into an engine and returns it with the path of its `violation` rule.
fn load(policy: &PolicySource, per_policy: Duration) -> Result<(regorus::Engine, String), String> {
    let mut engine = regorus::Engine::new();
    engine.set_execution_timer_config(timer(per_policy));
    let path = format!("{}.rego", policy.id);
    let package = engine
        .add_policy(path.clone(), policy.rego.clone())
        .map_err(|e| format!("the policy does not parse: {e}"))?;
    let is_plain = package
        .strip_prefix("data.")
        .is_some_and(|p| !p.is_empty() && p.split('.').all(is_identifier));
    if !is_plain {
        return Err(format!(
            "package `{package}` is not a plain dotted name; write `package tessera.{}`",
            policy.id.replace('-', "_")
        ));
    }
    match engine.has_declared_rule_rooted_at(&path, VIOLATION_RULE) {
        Ok(true) => {}
        _ => {
            return Err(format!(
                "the policy declares no `{VIOLATION_RULE}` rule; write \
                 `{VIOLATION_RULE} contains msg if {{ ... }}` with a message for each violation"
            ));
        }
    }
    Ok((engine, format!("{package}.{VIOLATION_RULE}")))
}

fn is_identifier(part: &str) -> bool {
    let mut chars = part.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Policies already parsed, by id and text. A zygote keeps the ones its children parsed
/// without trouble (parsing is deterministic, so they parse the same in the zygote), and its
/// children then only evaluate.
#[derive(Default)]
pub(crate) struct Parsed {
    engines: std::collections::HashMap<(String, String), (regorus::Engine, String)>,
}

/// Policies a zygote keeps parsed.
const PARSED_KEPT: usize = 512;

impl Parsed {
    /// Parses and keeps the policies of `job`, which a child has just evaluated whole.
    pub(crate) fn learn(&mut self, job: &Job) {
        let Job::Evaluate {
            policies,
            per_policy,
            ..
        } = job
        else {
            return;
        };
        for policy in policies {
            let key = (policy.id.clone(), policy.rego.clone());
            if self.engines.contains_key(&key) {
                continue;
            }
            if self.engines.len() >= PARSED_KEPT {
                self.engines.clear();
            }
            if let Ok(loaded) = load(policy, *per_policy) {
                self.engines.insert(key, loaded);
            }
        }
    }

    fn engine(
        &self,
        policy: &PolicySource,
        per_policy: Duration,
    ) -> Result<(regorus::Engine, String), String> {
        match self.engines.get(&(policy.id.clone(), policy.rego.clone())) {
            Some((engine, rule)) => {
                let mut engine = engine.clone();
                engine.set_execution_timer_config(timer(per_policy));
                Ok((engine, rule.clone()))
            }
            None => load(policy, per_policy),
        }
    }
}

fn timer(per_policy: Duration) -> regorus::utils::limits::ExecutionTimerConfig {
    regorus::utils::limits::ExecutionTimerConfig {
        limit: per_policy,
        check_interval: NonZeroU32::MIN,
    }
}

fn evaluate_one(
    policy: &PolicySource,
    input: &regorus::Value,
    per_policy: Duration,
    parsed: &Parsed,
) -> Evaluated {
    let (mut engine, rule) = match parsed.engine(policy, per_policy) {
        Ok(loaded) => loaded,
        Err(e) => return Evaluated::Failed(e),
    };
    engine.set_input(input.clone());
    let value = match engine.eval_rule(rule) {
        Ok(value) => value,
        Err(e) => return Evaluated::Failed(shorten(format!("evaluation failed: {e}"))),
    };
    match messages(&value) {
        Ok(messages) => Evaluated::Violations(messages),
        Err(e) => Evaluated::Failed(e),
    }
}

/// The messages of a `violation` value: a set (or array) of strings or of objects with `msg`.
fn messages(value: &regorus::Value) -> Result<Vec<String>, String> {
    if *value == regorus::Value::Undefined {
        return Ok(Vec::new());
    }
    let json = value
        .to_json_str()
        .map_err(|e| format!("the violations are not data: {e}"))?;
    let parsed: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("the violations are not data: {e}"))?;
    let items = match parsed {
        serde_json::Value::Array(items) => items,
        other => {
            return Err(format!(
                "`{VIOLATION_RULE}` must be a set of messages; it is {}",
                shorten(other.to_string())
            ));
        }
    };
    let total = items.len();
    let mut out: Vec<String> = items
        .into_iter()
        .take(MAX_MESSAGES)
        .map(|item| match item {
            serde_json::Value::String(s) => shorten(s),
            serde_json::Value::Object(ref o) => match o.get("msg") {
                Some(serde_json::Value::String(s)) => shorten(s.clone()),
                _ => shorten(item.to_string()),
            },
            other => shorten(other.to_string()),
        })
        .collect();
    if total > MAX_MESSAGES {
        out.push(format!("… and {} more", total - MAX_MESSAGES));
    }
    Ok(out)
}

fn shorten(mut text: String) -> String {
    if text.len() > MAX_MESSAGE_BYTES {
        let mut cut = MAX_MESSAGE_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// A panic in a child is reported by its exit status; its message would only reach the
/// host's stderr.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}
