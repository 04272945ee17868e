//! Ingest: data pushed into a product's ingest port over HTTP becomes the port's next input
//! version, or nothing at all.
//!
//! The body streams from the socket to a blocking decoder ([`decode`]) that checks every row
//! against the port's schema and writes conformed batches to a staging file. Only when the
//! whole body is read and valid does the store commit it as a new input version, in one
//! transaction with its `Idempotency-Key`; anything else discards the staging file. Then an
//! `ingested` event goes out and, for products that run on input, the scheduler is asked for a
//! run (debounced, so a burst makes one run).

pub mod body;
pub mod decode;

use std::sync::atomic::Ordering;

use axum::body::Body;
use tessera_core::formats::Format;
use tessera_core::manifest::Manifest;
use tessera_store::{IngestMode, IngestOutcome};

use crate::error::{ServiceError, ServiceResult};
use crate::events::Event;
use crate::runner::new_run_id;
use crate::schedule::Cause;
use crate::state::AppState;
use decode::Rejection;

/// What an ingest request asks for, once its headers are checked.
pub struct IngestRequest<'a> {
    /// The product's active manifest.
    pub manifest: &'a Manifest,
    /// The ingest port.
    pub port: &'a str,
    /// The body's format.
    pub format: Format,
    /// Append or replace.
    pub mode: IngestMode,
    /// The request's `Idempotency-Key`.
    pub key: Option<&'a str>,
    /// Who pushes, for the federation's `ingest` policies.
    pub actor: tessera_governance::input::Actor,
}

/// What an accepted ingest did.
pub struct Ingested {
    /// The input version, new or repeated.
    pub outcome: IngestOutcome,
    /// The run it queued (or joined), if the product runs on input.
    pub run: Option<tessera_store::RunRecord>,
}

/// Streams, validates, stages and commits one ingest body.
pub async fn ingest(
    state: &AppState,
    request: IngestRequest<'_>,
    body: Body,
) -> ServiceResult<Ingested> {
    let product = request.manifest.product.name.clone();
    let port = request.port.to_string();
    let schema = request
        .manifest
        .input(&port)
        .and_then(|p| p.ingest_schema())
        .cloned()
        .ok_or_else(|| ServiceError::internal(format!("{product}/{port} is not an ingest port")))?;
    let staged_id = format!("i{}", &new_run_id()[1..]);
    let limit = state.config().limits.max_upload;
    let (pipe, forward) = body::pipe(body, limit);
    let too_large = pipe.too_large.clone();
    let timed_out = pipe.timed_out.clone();
    let store_state = state.clone();
    let (p, s, id) = (product.clone(), port.clone(), staged_id.clone());
    let format = request.format;
    let decoding = tokio::task::spawn_blocking(move || {
        let store = store_state.store();
        let mut sink = store
            .stage(&p, &id, &s, schema.to_arrow())
            .map_err(|e| Rejection::Host(e.to_string()))?;
        let spool = store_state.spool_dir().join(&id);
        let rows = decode::decode(
            Box::new(pipe.reader),
            format,
            &schema,
            sink.as_mut(),
            &spool,
        )?;
        sink.finish()
            .map_err(|e| Rejection::Host(format!("cannot finish staging: {e}")))?;
        Ok(rows)
    });
    let (body_bytes, decoded) = tokio::join!(forward, decoding);
    let _ = std::fs::remove_file(state.spool_dir().join(&staged_id));
    let decoded =
        decoded.map_err(|e| ServiceError::internal(format!("ingest task failed: {e}")))?;
    let rows = match decoded {
        Ok(rows) => rows,
        Err(rejection) => {
            if let Err(e) = state.store().discard(&staged_id) {
                tracing::warn!(ingest = %staged_id, error = %e, "cannot discard a refused ingest");
            }
            if too_large.load(Ordering::SeqCst) {
                return Err(ServiceError::too_large(limit));
            }
            if timed_out.load(Ordering::SeqCst) {
                return Err(ServiceError::request_timeout(
                    "the body was not read: the client paused too long or took too long in all",
                ));
            }
            return Err(match rejection {
                Rejection::Invalid(problems) => ServiceError::invalid_data(
                    format!(
                        "the body does not match the schema of {product}/{port} ({} problem{} \
                         listed); nothing was stored",
                        problems.len(),
                        if problems.len() == 1 { "" } else { "s" }
                    ),
                    problems,
                )
                .hint(format!(
                    "the port's columns are: {}",
                    request
                        .manifest
                        .input(&port)
                        .and_then(|p| p.ingest_schema())
                        .map(|s| s
                            .columns
                            .iter()
                            .map(|c| format!(
                                "{} ({}{})",
                                c.name,
                                c.data_type,
                                if c.required { ", required" } else { "" }
                            ))
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
                )),
                Rejection::Host(message) => ServiceError::internal(message),
            });
        }
    };
    if let Err(refusal) = check_quota(state, request.manifest, &staged_id, &port) {
        if let Err(e) = state.store().discard(&staged_id) {
            tracing::warn!(ingest = %staged_id, error = %e, "cannot discard a refused ingest");
        }
        return Err(refusal);
    }
    if let Err(refusal) = judge_ingest(state, &request, &staged_id, body_bytes).await {
        if let Err(e) = state.store().discard(&staged_id) {
            tracing::warn!(ingest = %staged_id, error = %e, "cannot discard a refused ingest");
        }
        return Err(refusal);
    }
    let store = state.clone();
    let (p, s, id, mode) = (product.clone(), port.clone(), staged_id, request.mode);
    let key = request.key.map(str::to_string);
    let outcome = tokio::task::spawn_blocking(move || {
        store
            .store()
            .commit_ingest(&p, &s, &id, mode, rows, key.as_deref())
    })
    .await
    .map_err(|e| ServiceError::internal(format!("ingest commit failed: {e}")))??;
    if !outcome.repeated {
        tracing::info!(
            %product,
            %port,
            version = outcome.version.number,
            rows,
            "ingested"
        );
        state.metrics().ingested(&product, rows);
        state.events().emit(Event::Ingested {
            product: product.clone(),
            port: port.clone(),
            version: outcome.version.number,
            rows,
        });
        // The data is committed whatever happens next: a run that cannot be queued (no active
        // version) is logged, not reported as a failed ingest the client would retry.
        if request.manifest.trigger.on_input {
            match state.scheduler().request(state, &product, Cause::Input) {
                Ok(run) => {
                    return Ok(Ingested {
                        outcome,
                        run: Some(run),
                    });
                }
                Err(e) => {
                    tracing::warn!(%product, error = %e.message, "ingested, but no run was queued");
                }
            }
        }
    }
    Ok(Ingested { outcome, run: None })
}

/// The federation's `ingest` policies, on the push's schema and size (not its rows), before
/// the commit: a denial stores nothing.
async fn judge_ingest(
    state: &AppState,
    request: &IngestRequest<'_>,
    staged_id: &str,
    body_bytes: u64,
) -> ServiceResult<()> {
    let manifest = request.manifest;
    let policies = crate::governance::in_force(
        state,
        tessera_store::PolicyEvent::Ingest,
        &manifest.product.domain,
    )?;
    if policies.is_empty() {
        return Ok(());
    }
    let columns = manifest
        .input(request.port)
        .and_then(|p| p.ingest_schema())
        .map(|schema| {
            schema
                .columns
                .iter()
                .map(|c| tessera_governance::input::IngestColumn {
                    name: c.name.clone(),
                    data_type: c.data_type.name().to_string(),
                    classification: c.classification.map(|c| c.name()),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut input = crate::governance::input_for(
        state,
        tessera_store::PolicyEvent::Ingest,
        request.actor.clone(),
        manifest,
    )?;
    input.ingest = Some(tessera_governance::input::IngestFacts {
        port: request.port.to_string(),
        format: request.format.extension().to_string(),
        bytes: body_bytes,
        stored_bytes: state.store().staged_size(staged_id, request.port)?,
        mode: match request.mode {
            IngestMode::Append => "append",
            IngestMode::Replace => "replace",
            IngestMode::Expire => "expire",
        }
        .to_string(),
        columns,
    });
    crate::governance::judge_with(state, policies, input, request.port.to_string()).await?;
    Ok(())
}

/// Refuses an ingest whose staged bytes would take the product over its storage quota
/// (published versions and ingested data count together; a `replace` frees nothing until
/// retention drops the versions that read the old data).
fn check_quota(
    state: &AppState,
    manifest: &Manifest,
    staged_id: &str,
    port: &str,
) -> ServiceResult<()> {
    let quota = manifest.resources.storage.bytes();
    let new_bytes = state.store().staged_size(staged_id, port)?;
    let kept = state.store().stored_bytes(&manifest.product.name)?;
    if kept.saturating_add(new_bytes) > quota {
        use tessera_core::manifest::ByteSize;
        return Err(ServiceError::quota_exceeded(format!(
            "storing these {} would keep {} for {}, over its storage quota of {} (kept now: \
             {}); nothing was stored",
            ByteSize(new_bytes),
            ByteSize(kept.saturating_add(new_bytes)),
            manifest.product.name,
            manifest.resources.storage,
            ByteSize(kept),
        )));
    }
    Ok(())
}
