//! A run record and its product's manifest, as OpenLineage events: the job is the product, the
//! input datasets are its input ports at the versions the run pinned, the output datasets its
//! output ports with the checks' results and, once published, the data version.

use std::collections::BTreeMap;

use tessera_core::manifest::{InputSource, Manifest};
use tessera_core::schema::Schema;
use tessera_store::{RunCause, RunRecord, RunState, Version};

use super::model::{
    Assertion, Assertions, DatasetFacets, DatasetVersion, Documentation, ErrorMessage, EventType,
    FacetFields, InputDataset, Job, JobFacets, JobType, NominalTime, OutputDataset, OutputFacets,
    OutputStatistics, Owner, Ownership, PRODUCER, Parent, ParentJob, ParentRun, ProcessingEngine,
    RUN_EVENT_SCHEMA, Run, RunEvent, RunFacets, SchemaFacet, SchemaField, Tag, Tags,
};
use crate::schedule::clock::rfc3339;

/// What an event about one run is made of.
pub struct RunFacts<'a> {
    /// The namespace of jobs and datasets.
    pub namespace: &'a str,
    /// The manifest of the version that ran.
    pub manifest: &'a Manifest,
    /// The run.
    pub record: &'a RunRecord,
    /// The schema of each upstream input (by input port), as its producer declared it.
    pub upstream_schemas: &'a BTreeMap<String, Schema>,
    /// The version the run published, if it did.
    pub published: Option<&'a Version>,
}

/// The event that ends a run in `state`; `None` for a state that is not an end (queued,
/// running) or a run that never ran (waiting for its upstream).
pub fn terminal_type(state: RunState) -> Option<EventType> {
    match state {
        RunState::Succeeded => Some(EventType::Complete),
        RunState::Failed | RunState::Quarantined => Some(EventType::Fail),
        RunState::Interrupted => Some(EventType::Abort),
        RunState::Queued | RunState::Running | RunState::Waiting => None,
    }
}

/// The OpenLineage form of a run id: run ids are `r` and a UUID's 32 hex digits.
pub fn run_uuid(run_id: &str) -> String {
    let hex = run_id.strip_prefix('r').unwrap_or(run_id);
    match uuid::Uuid::try_parse(hex) {
        Ok(id) => id.hyphenated().to_string(),
        // An id of another shape still names one run: its digest, shaped as a UUID.
        Err(_) => crate::ids::uuid_of(run_id),
    }
}

/// One event of `kind` about the run `facts` describe.
pub fn event(kind: EventType, facts: &RunFacts<'_>) -> RunEvent {
    let record = facts.record;
    let at = match kind {
        EventType::Start => record.started_at_us.unwrap_or(record.created_at_us),
        _ => record
            .finished_at_us
            .or(record.started_at_us)
            .unwrap_or(record.created_at_us),
    };
    RunEvent {
        event_type: kind,
        event_time: rfc3339(at),
        run: Run {
            run_id: run_uuid(&record.id),
            facets: run_facets(kind, facts),
        },
        job: job(facts),
        inputs: inputs(facts),
        outputs: outputs(kind, facts),
        producer: PRODUCER,
        schema_url: RUN_EVENT_SCHEMA,
    }
}

fn run_facets(kind: EventType, facts: &RunFacts<'_>) -> RunFacets {
    let record = facts.record;
    let nominal_time = match (&record.cause, &facts.manifest.trigger.schedule) {
        (RunCause::Schedule, Some(expression)) => {
            crate::schedule::cron::nominal_window(expression, record.created_at_us).map(
                |(start, end)| {
                    NominalTime {
                        nominal_start_time: rfc3339(start),
                        nominal_end_time: end.map(rfc3339),
                    }
                    .facet()
                },
            )
        }
        _ => None,
    };
    let parent = record.replay.as_ref().map(|replay| {
        Parent {
            run: ParentRun {
                run_id: run_uuid(&replay.of_run),
            },
            job: ParentJob {
                namespace: facts.namespace.to_string(),
                name: record.product.clone(),
            },
        }
        .facet()
    });
    let error_message = match kind {
        EventType::Fail | EventType::Abort => Some(
            ErrorMessage {
                message: failure_message(record),
                programming_language: "WebAssembly",
            }
            .facet(),
        ),
        EventType::Start | EventType::Complete => None,
    };
    RunFacets {
        nominal_time,
        parent,
        error_message,
        processing_engine: ProcessingEngine {
            version: env!("CARGO_PKG_VERSION"),
            name: "tessera",
        }
        .facet(),
    }
}

/// The failure's kind and reason, as the run's record gives them.
fn failure_message(record: &RunRecord) -> String {
    let reason = record.reason.as_deref().unwrap_or("no reason was recorded");
    match record.failure {
        Some(kind) => format!("{}: {reason}", kind.name()),
        None => format!("{}: {reason}", record.state.name()),
    }
}

fn job(facts: &RunFacts<'_>) -> Job {
    let product = &facts.manifest.product;
    let tag = |key: &str, value: String| Tag {
        key: key.to_string(),
        value,
        source: "TESSERA",
    };
    let mut tags = vec![
        tag("domain", product.domain.clone()),
        tag("kind", product_kind(product.kind).to_string()),
        tag("version", facts.record.product_version.clone()),
    ];
    tags.extend(product.tags.iter().map(|t| tag("tag", t.clone())));
    Job {
        namespace: facts.namespace.to_string(),
        name: facts.record.product.clone(),
        facets: JobFacets {
            ownership: Ownership {
                owners: vec![Owner {
                    name: product.owner.clone(),
                    kind: "MAINTAINER",
                }],
            }
            .facet(),
            job_type: JobType {
                processing_type: "BATCH",
                integration: "TESSERA",
                job_type: "DATA_PRODUCT",
            }
            .facet(),
            documentation: Documentation {
                description: product.description.clone(),
            }
            .facet(),
            tags: Tags { tags }.facet(),
        },
    }
}

fn product_kind(kind: tessera_core::manifest::ProductKind) -> &'static str {
    use tessera_core::manifest::ProductKind;
    match kind {
        ProductKind::SourceAligned => "source-aligned",
        ProductKind::Aggregate => "aggregate",
        ProductKind::ConsumerAligned => "consumer-aligned",
    }
}

fn schema_facet(schema: &Schema) -> DatasetFacets {
    DatasetFacets {
        schema: Some(
            SchemaFacet {
                fields: schema
                    .columns
                    .iter()
                    .map(|column| SchemaField {
                        name: column.name.clone(),
                        data_type: column.data_type.name(),
                        description: (!column.description.is_empty())
                            .then(|| column.description.clone()),
                    })
                    .collect(),
            }
            .facet(),
        ),
        ..DatasetFacets::default()
    }
}

/// The dataset an input port reads: another product's output (`product/port`) or the port's
/// own ingested data (`product/inputs/port`).
pub fn input_name(product: &str, port: &str, source: &InputSource) -> String {
    match source {
        InputSource::Ingest(_) => format!("{product}/inputs/{port}"),
        InputSource::Upstream(upstream) => format!("{}/{}", upstream.product, upstream.port),
    }
}

fn inputs(facts: &RunFacts<'_>) -> Vec<InputDataset> {
    let record = facts.record;
    facts
        .manifest
        .inputs
        .iter()
        .map(|input| {
            let schema = match &input.source {
                InputSource::Ingest(schema) => Some(schema),
                InputSource::Upstream(_) => facts.upstream_schemas.get(&input.name),
            };
            let mut facets = schema.map(schema_facet).unwrap_or_default();
            facets.version = record.inputs.get(&input.name).map(|pin| {
                DatasetVersion {
                    dataset_version: pin.version.to_string(),
                }
                .facet()
            });
            InputDataset {
                namespace: facts.namespace.to_string(),
                name: input_name(&record.product, &input.name, &input.source),
                facets,
            }
        })
        .collect()
}

fn outputs(kind: EventType, facts: &RunFacts<'_>) -> Vec<OutputDataset> {
    let record = facts.record;
    facts
        .manifest
        .outputs
        .iter()
        .map(|output| {
            let mut facets = schema_facet(&output.schema);
            let published = facts.published.and_then(|version| {
                version
                    .ports
                    .get(&output.name)
                    .map(|port| (version.number, port))
            });
            facets.version = published.map(|(number, _)| {
                DatasetVersion {
                    dataset_version: number.to_string(),
                }
                .facet()
            });
            let assertions: Vec<Assertion> = record
                .checks
                .iter()
                .filter(|check| check.port == output.name)
                .map(|check| Assertion {
                    assertion: check.check.clone(),
                    success: check.passed,
                    column: check.column.clone(),
                    severity: check.severity.name(),
                    name: check.kind.clone(),
                    description: check.message.clone(),
                })
                .collect();
            if kind != EventType::Start && !assertions.is_empty() {
                facets.data_quality_assertions = Some(Assertions { assertions }.facet());
            }
            OutputDataset {
                namespace: facts.namespace.to_string(),
                name: format!("{}/{}", record.product, output.name),
                facets,
                output_facets: OutputFacets {
                    output_statistics: published.map(|(_, port)| {
                        OutputStatistics {
                            row_count: port.rows,
                            size: port.bytes,
                            file_count: 1,
                        }
                        .facet()
                    }),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[product]
name = "nightly"
domain = "imaging"
version = "1.2.0"
owner = "imaging@example.org"
description = "Scores last night's scans"
kind = "aggregate"

[trigger]
schedule = "0 3 * * *"

[[inputs]]
name = "scans"
from = "scan-intake/scans"

[[outputs]]
name = "scores"
schema = { scan = { type = "text", required = true } }
"#;

    fn facts_for(record: &RunRecord, manifest: &Manifest) -> serde_json::Value {
        let schemas = BTreeMap::new();
        let facts = RunFacts {
            namespace: "mesh",
            manifest,
            record,
            upstream_schemas: &schemas,
            published: None,
        };
        let kind = terminal_type(record.state).unwrap_or(EventType::Start);
        serde_json::to_value(event(kind, &facts)).unwrap_or_default()
    }

    #[test]
    fn run_ids_become_hyphenated_uuids_and_other_ids_a_stable_one() {
        assert_eq!(
            run_uuid("r0190e8a012347abc8def0123456789ab"),
            "0190e8a0-1234-7abc-8def-0123456789ab"
        );
        let odd = run_uuid("r-replay");
        assert!(uuid::Uuid::try_parse(&odd).is_ok(), "{odd}");
        assert_eq!(odd, run_uuid("r-replay"));
        assert_ne!(odd, run_uuid("r-other"));
    }

    #[test]
    fn only_ends_of_runs_that_ran_are_terminal_events() {
        assert_eq!(
            terminal_type(RunState::Succeeded),
            Some(EventType::Complete)
        );
        assert_eq!(terminal_type(RunState::Quarantined), Some(EventType::Fail));
        assert_eq!(terminal_type(RunState::Failed), Some(EventType::Fail));
        assert_eq!(terminal_type(RunState::Interrupted), Some(EventType::Abort));
        for state in [RunState::Queued, RunState::Running, RunState::Waiting] {
            assert_eq!(terminal_type(state), None);
        }
    }

    #[test]
    fn a_scheduled_run_that_a_shutdown_interrupted_is_an_abort_for_its_occurrence() {
        let Ok(manifest) = Manifest::parse(MANIFEST, "product.toml") else {
            panic!("the manifest parses");
        };
        let queued_at = chrono::DateTime::parse_from_rfc3339("2026-03-04T03:00:02Z")
            .map(|t| t.timestamp_micros())
            .unwrap_or_default();
        let mut record = RunRecord::queued(
            "r0190e8a012347abc8def0123456789ab",
            "nightly",
            "1.2.0",
            queued_at,
        );
        record.cause = RunCause::Schedule;
        record.state = RunState::Interrupted;
        record.reason = Some("the server shut down while the run executed".into());
        let event = facts_for(&record, &manifest);
        assert_eq!(event["eventType"], "ABORT");
        let facets = &event["run"]["facets"];
        assert_eq!(
            facets["nominalTime"]["nominalStartTime"],
            "2026-03-04T03:00:00.000000Z"
        );
        assert_eq!(
            facets["nominalTime"]["nominalEndTime"],
            "2026-03-05T03:00:00.000000Z"
        );
        let message = facets["errorMessage"]["message"].as_str().unwrap_or("");
        assert_eq!(
            message,
            "interrupted: the server shut down while the run executed"
        );
        // The upstream input is named as the upstream's port; its schema is unknown here.
        assert_eq!(event["inputs"][0]["name"], "scan-intake/scans");
        assert!(event["inputs"][0]["facets"].get("schema").is_none());
        assert_eq!(event["outputs"][0]["name"], "nightly/scores");
        assert_eq!(
            event["job"]["facets"]["tags"]["tags"][1]["value"],
            "aggregate"
        );
    }
}
