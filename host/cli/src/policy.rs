//! `tessera policy` and `tessera waiver`: the federation's policies on a server (list, add,
//! show, decisions, waivers), and `tessera policy test`, which evaluates policies offline
//! against a local product.toml the way the server would at deploy, so a domain developer
//! learns what the federation will say before deploying.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tessera_core::manifest::Manifest;
use tessera_governance::evaluate::{EvalLimits, Evaluated, PolicySource, evaluate};
use tessera_governance::input::{Actor, ManifestFacts, PolicyInput, ProductFacts};
use tessera_governance::library::LIBRARY;
use tessera_store::PolicyEvent;

use crate::client::Client;

/// What `tessera policy add` sends.
pub struct AddPolicy<'a> {
    /// The Rego file.
    pub file: &'a Path,
    /// The policy's id (default: the file's stem).
    pub id: Option<String>,
    /// What it asks for.
    pub description: String,
    /// The domain, for a domain policy.
    pub domain: Option<String>,
    /// The events.
    pub events: Vec<String>,
    /// deny or warn.
    pub effect: String,
    /// Retire the policy.
    pub disabled: bool,
}

/// Adds a policy version on the server; prints its id and version.
pub fn add(client: &Client, add: AddPolicy<'_>) -> Result<Value> {
    let rego = std::fs::read_to_string(add.file)
        .with_context(|| format!("cannot read {}", add.file.display()))?;
    let id = match add.id {
        Some(id) => id,
        None => stem(add.file)?,
    };
    client.post_json(
        "/v1/policies",
        &json!({
            "id": id,
            "description": add.description,
            "domain": add.domain,
            "events": add.events,
            "effect": add.effect,
            "rego": rego,
            "enabled": !add.disabled,
        }),
    )
}

/// Adds every policy of the shipped library on the server (a governance token).
pub fn add_library(client: &Client) -> Result<Vec<Value>> {
    LIBRARY
        .iter()
        .map(|p| {
            client.post_json(
                "/v1/policies",
                &json!({
                    "id": p.id,
                    "description": p.description,
                    "events": p.events.iter().map(|e| e.name()).collect::<Vec<_>>(),
                    "effect": p.effect.name(),
                    "rego": p.rego,
                }),
            )
        })
        .collect()
}

fn stem(file: &Path) -> Result<String> {
    file.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
        .with_context(|| format!("{} has no file name to take an id from", file.display()))
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

/// Prints the policies: id, version, scope, effect, events, description.
pub fn list(client: &Client, as_json: bool) -> Result<()> {
    let policies = client.get_json("/v1/policies")?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&policies)?);
        return Ok(());
    }
    println!(
        "{:<30} {:>7} {:<22} {:<6} {:<28} description",
        "id", "version", "scope", "effect", "events"
    );
    for p in policies.as_array().into_iter().flatten() {
        let scope = match p.get("domain").and_then(Value::as_str) {
            Some(d) => format!("domain {d}"),
            None => "global".into(),
        };
        let retired = p.get("enabled").and_then(Value::as_bool) == Some(false);
        println!(
            "{:<30} {:>7} {:<22} {:<6} {:<28} {}{}",
            text(p, "id"),
            text(p, "version"),
            scope,
            text(p, "effect"),
            text(p, "events"),
            text(p, "description"),
            if retired { " (retired)" } else { "" }
        );
    }
    Ok(())
}

/// Prints every version of a policy, and the newest version's Rego.
pub fn show(client: &Client, id: &str, as_json: bool) -> Result<()> {
    if !tessera_core::manifest::is_kebab_name(id) {
        bail!("`{id}` is not a policy id; `tessera policy list` shows them");
    }
    let versions = client.get_json(&format!("/v1/policies/{id}"))?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&versions)?);
        return Ok(());
    }
    let all = versions.as_array().cloned().unwrap_or_default();
    for v in &all {
        println!(
            "{id} version {}: {} {} on {}, added {} by {}{}",
            text(v, "version"),
            text(v, "effect"),
            match v.get("domain").and_then(Value::as_str) {
                Some(d) => format!("in domain {d}"),
                None => "globally".into(),
            },
            text(v, "events"),
            text(v, "created_at"),
            text(v, "created_by"),
            if v.get("enabled").and_then(Value::as_bool) == Some(false) {
                " (retires the policy)"
            } else {
                ""
            }
        );
    }
    if let Some(newest) = all.last() {
        println!("\n{}", text(newest, "rego"));
    }
    Ok(())
}

/// Prints decision records, newest first.
pub fn decisions(client: &Client, product: Option<&str>, limit: u64, as_json: bool) -> Result<()> {
    let path = match product {
        Some(p) => format!("/v1/products/{p}/decisions?limit={limit}"),
        None => format!("/v1/decisions?limit={limit}"),
    };
    let found = client.get_json(&path)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(());
    }
    for d in found.as_array().into_iter().flatten() {
        println!(
            "{} {} {:<8} {} {} ({}) by {}",
            text(d, "at"),
            text(d, "id"),
            text(d, "event"),
            text(d, "outcome"),
            text(d, "product"),
            text(d, "subject"),
            text(d, "actor")
        );
        for v in d
            .get("verdicts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let waiver = v
                .get("waiver")
                .and_then(Value::as_str)
                .map(|w| format!(" by waiver {w}"))
                .unwrap_or_default();
            println!(
                "    {}@{} ({}): {}{waiver}",
                text(v, "policy"),
                text(v, "version"),
                text(v, "effect"),
                text(v, "result")
            );
            for m in v
                .get("messages")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                println!("      {}", m.as_str().unwrap_or_default());
            }
        }
    }
    Ok(())
}

/// Grants a waiver; returns the server's record.
pub fn waive(
    client: &Client,
    policy: &str,
    product: &str,
    reason: &str,
    expires_in: &str,
) -> Result<Value> {
    client.post_json(
        "/v1/waivers",
        &json!({"policy": policy, "product": product, "reason": reason, "expires_in": expires_in}),
    )
}

/// Prints the waivers.
pub fn waivers(client: &Client, as_json: bool) -> Result<()> {
    let found = client.get_json("/v1/waivers")?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(());
    }
    for w in found.as_array().into_iter().flatten() {
        let expired = w.get("expired").and_then(Value::as_bool) == Some(true);
        println!(
            "{} {} for {} until {}{}: {}",
            text(w, "id"),
            text(w, "policy"),
            text(w, "product"),
            text(w, "expires_at"),
            if expired { " (expired)" } else { "" },
            text(w, "reason")
        );
    }
    Ok(())
}

/// What `tessera policy test` evaluates.
pub struct TestPolicies {
    /// Rego files (each a policy named after its file).
    pub files: Vec<PathBuf>,
    /// Also the shipped library.
    pub library: bool,
    /// The product.toml.
    pub manifest: PathBuf,
    /// The active version's product.toml it would replace, for the contract diff.
    pub against: Option<PathBuf>,
    /// The event.
    pub event: PolicyEvent,
}

/// Evaluates the policies against the product offline; prints each verdict and returns
/// whether all passed.
pub fn test(request: &TestPolicies) -> Result<bool> {
    let read = |path: &Path| -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Manifest::parse(&text, &path.display().to_string()).map_err(|e| anyhow::anyhow!("{e}"))
    };
    let manifest = read(&request.manifest)?;
    let current = request.against.as_deref().map(read).transpose()?;
    let mut sources = Vec::new();
    for file in &request.files {
        sources.push(PolicySource {
            id: stem(file)?,
            rego: std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?,
        });
    }
    if request.library {
        sources.extend(LIBRARY.iter().map(|p| PolicySource {
            id: p.id.into(),
            rego: p.rego.into(),
        }));
    }
    if sources.is_empty() {
        bail!("no policy to test: name .rego files, or --library for the shipped ones");
    }
    let diff = tessera_governance::diff(current.as_ref(), &manifest);
    let input = PolicyInput {
        event: request.event,
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        actor: Actor {
            id: "local".into(),
            role: Some("owner".into()),
            domain: Some(manifest.product.domain.clone()),
        },
        product: ProductFacts::of(&manifest),
        proposed: Some(manifest.clone()),
        current: current.clone(),
        facts: Some(ManifestFacts::of(&manifest)),
        diff: Some(diff.clone()),
        consumers: Vec::new(),
        deprecation: None,
        run: None,
        grant: None,
        ingest: None,
    };
    let mut passed = true;
    if let Err(refusal) = tessera_governance::semver_rule::check_release(&diff, &[]) {
        passed = false;
        println!("FAIL semantic versioning: {}", refusal.message);
    }
    let json = serde_json::to_string(&input)?;
    for (source, evaluated) in sources
        .iter()
        .zip(evaluate(&sources, &json, EvalLimits::default()))
    {
        match evaluated {
            Evaluated::Violations(messages) if messages.is_empty() => {
                println!("PASS {}", source.id);
            }
            Evaluated::Violations(messages) => {
                passed = false;
                println!("FAIL {}", source.id);
                for m in messages {
                    println!("     {m}");
                }
            }
            Evaluated::Failed(why) => {
                passed = false;
                println!("ERROR {}: {why}", source.id);
            }
        }
    }
    Ok(passed)
}
