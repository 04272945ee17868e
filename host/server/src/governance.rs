//! Federated governance as a service: the policies in force are evaluated where decisions are
//! made (the registry at deploy and activate, the runner at publish, tokens at grant, ingest
//! before a commit), each evaluation is recorded, counted and announced, and a `deny`
//! violation refuses the action with every policy's id, version and message.
//!
//! Managing policies and waivers (who may add what) is here too; the HTTP layer only extracts
//! and maps.

use std::sync::Arc;

use tessera_core::manifest::Manifest;
use tessera_governance::decide::{refusals, warnings};
use tessera_governance::input::{Actor, Consumer, ManifestFacts, PolicyInput, ProductFacts};
use tessera_governance::policy::PolicyDraft;
use tessera_governance::{EvalLimits, Occasion, applicable, decide};
use tessera_store::{
    DecisionOutcome, DecisionRecord, PolicyEvent, PolicyRecord, PolicyScope, Waiver, now_us,
};

use crate::auth::Caller;
use crate::error::{PolicyViolation, ServiceError, ServiceResult};
use crate::events::Event;
use crate::state::AppState;

/// The evaluation limits the server is configured with.
pub fn limits(state: &AppState) -> EvalLimits {
    let g = &state.config().governance;
    EvalLimits {
        per_policy: g.policy_timeout,
        memory: g.policy_memory,
        total: g.evaluation_budget,
    }
}

/// The actor of a request.
pub fn actor(caller: &Caller) -> Actor {
    match caller {
        Caller::Anonymous => Actor {
            id: "anonymous".into(),
            role: None,
            domain: None,
        },
        Caller::Token(t) => Actor {
            id: t.id.clone(),
            role: Some(t.role.name().to_string()),
            domain: t.domain.clone(),
        },
    }
}

/// The actor of what the host does by itself (scheduled and triggered runs).
pub fn host_actor() -> Actor {
    Actor {
        id: tessera_governance::library::HOST_ACTOR.into(),
        role: None,
        domain: None,
    }
}

/// Every active product that reads a port of `product`.
pub fn consumers(state: &AppState, product: &str) -> ServiceResult<Vec<Consumer>> {
    let mut manifests: Vec<Arc<Manifest>> = Vec::new();
    for name in state.store().products()? {
        if name == product {
            continue;
        }
        if let Some((manifest, Some(_))) = crate::registry::active_manifest(state, &name)? {
            manifests.push(manifest);
        }
    }
    Ok(tessera_governance::input::consumers_of(
        product,
        manifests.iter().map(Arc::as_ref),
    ))
}

/// The input for an event about `manifest`'s product, without event-specific parts.
pub fn input_for(
    state: &AppState,
    event: PolicyEvent,
    actor: Actor,
    manifest: &Manifest,
) -> ServiceResult<PolicyInput> {
    Ok(PolicyInput {
        event,
        at: crate::schedule::clock::rfc3339(now_us()),
        actor,
        product: ProductFacts::of(manifest),
        proposed: Some(manifest.clone()),
        current: None,
        facts: Some(ManifestFacts::of(manifest)),
        diff: None,
        consumers: consumers(state, &manifest.product.name)?,
        deprecation: None,
        run: None,
        grant: None,
        ingest: None,
    })
}

/// The input for a deploy or an activation of `proposed` over `current`, with the contract
/// diff. A deploy with a breaking change that is not a new major version is refused here
/// (semantic versioning is the host's own rule, before any policy); an activation may go back
/// to an older version (a rollback), which the DAG check guards for pinned consumers.
pub fn manifest_change_input(
    state: &AppState,
    event: PolicyEvent,
    caller: &Caller,
    proposed: &Manifest,
    current: Option<&Manifest>,
) -> ServiceResult<PolicyInput> {
    let mut input = input_for(state, event, actor(caller), proposed)?;
    let diff = tessera_governance::diff(current, proposed);
    if event == PolicyEvent::Deploy
        && let Err(refusal) =
            tessera_governance::semver_rule::check_release(&diff, &input.consumers)
    {
        return Err(
            ServiceError::unprocessable("breaking_change", refusal.message).hint(refusal.hint),
        );
    }
    input.current = current.cloned();
    input.diff = Some(diff);
    Ok(input)
}

/// The policies in force for `event` on products of `domain`. Callers that would build an
/// expensive input (the consumers, a run's statistics) skip it when there are none, and hand
/// these to [`judge_with`].
pub fn in_force(
    state: &AppState,
    event: PolicyEvent,
    domain: &str,
) -> ServiceResult<Vec<PolicyRecord>> {
    Ok(applicable(
        &state.store().governance().policies()?,
        event,
        domain,
    ))
}

/// Evaluates the policies in force for `input.event` on `input`'s product and records the
/// decision. `None` when no policy applies (nothing is recorded); a denial is an error that
/// lists each refusing policy.
pub async fn judge(
    state: &AppState,
    input: PolicyInput,
    subject: String,
) -> ServiceResult<Option<DecisionRecord>> {
    let policies = in_force(state, input.event, &input.product.domain)?;
    judge_with(state, policies, input, subject).await
}

/// [`judge`] with the policies in force already read.
pub async fn judge_with(
    state: &AppState,
    policies: Vec<PolicyRecord>,
    input: PolicyInput,
    subject: String,
) -> ServiceResult<Option<DecisionRecord>> {
    if policies.is_empty() {
        return Ok(None);
    }
    let governance = state.store().governance();
    let waivers = governance.waivers()?;
    let occasion = Occasion {
        id: format!("dec_{}", uuid::Uuid::now_v7().simple()),
        at_us: now_us(),
        subject,
    };
    let limits = limits(state);
    let started = std::time::Instant::now();
    let mut decision =
        tokio::task::spawn_blocking(move || decide(&policies, &waivers, &input, occasion, limits))
            .await
            .map_err(|e| ServiceError::internal(format!("policy evaluation stopped: {e}")))?;
    decision.evaluation_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    governance.record_decision(&decision)?;
    let outcome = outcome_name(decision.outcome);
    state.metrics().decision(decision.event.name(), outcome);
    state.events().emit(Event::Decision {
        product: decision.product.clone(),
        decision: decision.id.clone(),
        event: decision.event.name().to_string(),
        outcome: outcome.to_string(),
    });
    tracing::info!(
        product = %decision.product,
        event = decision.event.name(),
        outcome,
        decision = %decision.id,
        "policies evaluated"
    );
    if decision.outcome == DecisionOutcome::Denied {
        return Err(denial(&decision));
    }
    Ok(Some(decision))
}

/// The name of an outcome.
pub fn outcome_name(outcome: DecisionOutcome) -> &'static str {
    match outcome {
        DecisionOutcome::Allowed => "allowed",
        DecisionOutcome::Warned => "warned",
        DecisionOutcome::Denied => "denied",
    }
}

fn violations(list: Vec<(String, u32, String)>) -> Vec<PolicyViolation> {
    list.into_iter()
        .map(|(policy, version, message)| PolicyViolation {
            policy,
            version,
            message,
        })
        .collect()
}

/// The warnings of a decision, for the answer to the action it allowed.
pub fn warnings_of(decision: &DecisionRecord) -> Vec<PolicyViolation> {
    violations(warnings(decision))
}

/// The refusal of a denied decision.
pub fn denial(decision: &DecisionRecord) -> ServiceError {
    let refused = violations(refusals(decision));
    let lines: Vec<String> = refused
        .iter()
        .map(|v| format!("{}@{}: {}", v.policy, v.version, v.message))
        .collect();
    ServiceError::policy_denied(
        format!(
            "the federation's policies refuse to {} {}: {}",
            decision.event.name(),
            decision.product,
            lines.join("; ")
        ),
        refused,
    )
    .hint(format!(
        "fix what each policy names, or ask the governance role for a waiver; decision {} \
         is recorded at /v1/products/{}/decisions",
        decision.id, decision.product
    ))
}

/// The most policies one scope (global, or one domain) may hold.
pub const MAX_POLICIES_PER_SCOPE: usize = 100;

/// Adds the next version of a policy (its first when the id is new).
pub fn add_policy(
    state: &AppState,
    caller: &Caller,
    draft: PolicyDraft,
) -> ServiceResult<PolicyRecord> {
    caller.require_policy_author(&draft.scope)?;
    let governance = state.store().governance();
    let existing = governance.policies()?;
    let newest = existing
        .iter()
        .filter(|p| p.id == draft.id)
        .max_by_key(|p| p.version);
    if let Some(newest) = newest {
        if newest.scope != draft.scope {
            return Err(ServiceError::conflict(format!(
                "policy `{}` is {}; a new version keeps its scope, and another scope needs \
                 another id",
                draft.id,
                newest.scope.describe()
            )));
        }
        // Whoever may write the scope may write the next version; the check above keeps a
        // domain's owners off a global policy's id.
        caller.require_policy_author(&newest.scope)?;
    }
    let in_scope = existing
        .iter()
        .filter(|p| p.scope == draft.scope && p.id != draft.id)
        .map(|p| p.id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    if newest.is_none() && in_scope >= MAX_POLICIES_PER_SCOPE {
        return Err(ServiceError::unprocessable(
            "too_many_policies",
            format!(
                "{} has {in_scope} policies; the limit is {MAX_POLICIES_PER_SCOPE}",
                draft.scope.describe()
            ),
        )
        .hint("retire a policy (a version with enabled = false) or fold rules into one"));
    }
    let draft = draft.check(limits(state)).map_err(|problems| {
        ServiceError::bad_request(format!("the policy cannot be added: {problems}")).hint(
            "a policy is a Rego module whose `violation` rule is a set of messages; try it \
             offline with `tessera policy test POLICY.rego product.toml`",
        )
    })?;
    let record = PolicyRecord {
        id: draft.id,
        version: newest.map_or(1, |p| p.version.saturating_add(1)),
        description: draft.description,
        scope: draft.scope,
        events: draft.events,
        effect: draft.effect,
        rego: draft.rego,
        enabled: draft.enabled,
        created_at_us: now_us(),
        created_by: caller.actor(),
    };
    governance.add_policy(&record)?;
    tracing::info!(policy = %record.id, version = record.version, by = %record.created_by, "policy added");
    Ok(record)
}

/// Installs the shipped library: each policy not yet present as version 1, and a new version
/// of a library policy whose text the host ships changed (unless someone else wrote its newest
/// version). Returns the policies added.
pub fn install_library(state: &AppState) -> ServiceResult<Vec<PolicyRecord>> {
    let governance = state.store().governance();
    let existing = governance.policies()?;
    let mut added = Vec::new();
    for policy in tessera_governance::library::LIBRARY {
        let newest = existing
            .iter()
            .filter(|p| p.id == policy.id)
            .max_by_key(|p| p.version);
        let version = match newest {
            None => 1,
            Some(n)
                if n.created_by == tessera_governance::library::HOST_ACTOR
                    && n.rego != policy.rego =>
            {
                n.version.saturating_add(1)
            }
            Some(_) => continue,
        };
        let record = policy.record(version, now_us());
        governance.add_policy(&record)?;
        added.push(record);
    }
    Ok(added)
}

/// A waiver to grant.
#[derive(Debug, Clone)]
pub struct NewWaiver {
    /// The policy waived.
    pub policy: String,
    /// For which product.
    pub product: String,
    /// Why.
    pub reason: String,
    /// For how long.
    pub expires_in: std::time::Duration,
}

/// The longest a waiver may last.
pub const MAX_WAIVER: std::time::Duration = std::time::Duration::from_secs(366 * 24 * 3600);

/// Grants a waiver (the federation's act).
pub fn grant_waiver(state: &AppState, caller: &Caller, new: NewWaiver) -> ServiceResult<Waiver> {
    caller.require_governance("grant waivers")?;
    let governance = state.store().governance();
    let policies = governance.policies()?;
    if !policies.iter().any(|p| p.id == new.policy) {
        let ids: std::collections::BTreeSet<String> = policies.into_iter().map(|p| p.id).collect();
        return Err(ServiceError::not_found(
            format!("no policy `{}`", new.policy),
            &ids.into_iter().collect::<Vec<_>>(),
        ));
    }
    if new.reason.trim().is_empty() {
        return Err(ServiceError::bad_request(
            "a waiver needs a reason; it is part of every decision that uses it",
        ));
    }
    if new.expires_in.is_zero() || new.expires_in > MAX_WAIVER {
        return Err(ServiceError::bad_request(
            "a waiver lasts more than nothing and at most 366 days (expires_in)",
        ));
    }
    let now = now_us();
    let micros = i64::try_from(new.expires_in.as_micros()).unwrap_or(i64::MAX);
    let waiver = Waiver {
        id: format!("wvr_{}", uuid::Uuid::now_v7().simple()),
        policy: new.policy,
        product: new.product,
        reason: new.reason.chars().take(1024).collect(),
        expires_at_us: now.saturating_add(micros),
        created_at_us: now,
        created_by: caller.actor(),
    };
    governance.put_waiver(&waiver)?;
    tracing::info!(waiver = %waiver.id, policy = %waiver.policy, product = %waiver.product, "waiver granted");
    Ok(waiver)
}

/// Whether `caller` may read `decision`: the federation and admins read every decision; others
/// read those of products whose runs they may read.
pub fn may_read_decision(state: &AppState, caller: &Caller, decision: &DecisionRecord) -> bool {
    if caller.require_governance("").is_ok() {
        return true;
    }
    match crate::registry::active_manifest(state, &decision.product) {
        Ok(Some((manifest, _))) => caller.may_read_product(state.config().public_reads, &manifest),
        _ => caller.require_owner(&decision.domain, "").is_ok(),
    }
}

/// The scope a request names: `global`, or a domain.
pub fn scope_of(domain: Option<String>) -> PolicyScope {
    match domain {
        None => PolicyScope::Global,
        Some(d) => PolicyScope::Domain(d),
    }
}

/// The federation's `grant` policies, for each non-public port a new token is to be granted
/// (before the token exists: a denial creates nothing).
pub async fn judge_grants(
    state: &AppState,
    caller: &Caller,
    role: tessera_store::Role,
    domain: Option<&str>,
    grants: &[String],
    expires_in: Option<std::time::Duration>,
) -> ServiceResult<()> {
    let expires_at = expires_in.map(|span| {
        let micros = i64::try_from(span.as_micros()).unwrap_or(i64::MAX);
        crate::schedule::clock::rfc3339(now_us().saturating_add(micros))
    });
    for grant in grants {
        let Some((product, port)) = grant.split_once('/') else {
            continue;
        };
        let Some((manifest, _)) = crate::registry::active_manifest(state, product)? else {
            continue;
        };
        let policies = in_force(state, PolicyEvent::Grant, &manifest.product.domain)?;
        if policies.is_empty() {
            continue;
        }
        let Some(output) = manifest.outputs.iter().find(|o| o.name == port) else {
            continue;
        };
        if output.access == tessera_core::manifest::Access::Public {
            continue;
        }
        let mut input = input_for(state, PolicyEvent::Grant, actor(caller), &manifest)?;
        input.grant = Some(tessera_governance::input::GrantFacts {
            token: "(new)".into(),
            role: role.name().to_string(),
            domain: domain.map(str::to_string),
            port: grant.clone(),
            access: tessera_governance::input::access_name(output.access),
            expires_at: expires_at.clone(),
        });
        judge_with(state, policies, input, grant.clone()).await?;
    }
    Ok(())
}
