//! The OpenLineage run event (spec 2-0-2) and the facets this host fills in, as typed values
//! that serialize to the spec's JSON. Each facet carries the URL of the facet schema it
//! follows, as the spec requires, so consumers (Marquez, DataHub, OpenMetadata) can tell
//! which version of a facet they read.

use serde::Serialize;

/// The schema every event follows.
pub const RUN_EVENT_SCHEMA: &str =
    "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

/// Who wrote the events: this host, at its version.
pub const PRODUCER: &str = concat!("urn:tessera:host:", env!("CARGO_PKG_VERSION"));

/// A run's transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventType {
    /// The run started executing.
    Start,
    /// The run published its outputs.
    Complete,
    /// The run failed, or its checks or the federation's policies kept its outputs back.
    Fail,
    /// The run was stopped before it could end (a shutdown, a retired major).
    Abort,
}

/// One OpenLineage run event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
    /// The transition.
    pub event_type: EventType,
    /// When it happened (RFC 3339, UTC).
    pub event_time: String,
    /// The run.
    pub run: Run,
    /// The job: the product.
    pub job: Job,
    /// The datasets the run read: its input ports.
    pub inputs: Vec<InputDataset>,
    /// The datasets the run writes: its output ports.
    pub outputs: Vec<OutputDataset>,
    /// [`PRODUCER`].
    pub producer: &'static str,
    /// [`RUN_EVENT_SCHEMA`].
    #[serde(rename = "schemaURL")]
    pub schema_url: &'static str,
}

/// The run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// A UUID.
    pub run_id: String,
    /// Its facets.
    pub facets: RunFacets,
}

/// What is known about the run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFacets {
    /// The cron occurrence a scheduled run is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nominal_time: Option<Facet<NominalTime>>,
    /// The run a replay reproduces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Facet<Parent>>,
    /// Why a failed run failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<Facet<ErrorMessage>>,
    /// The host that ran it.
    #[serde(rename = "processing_engine")]
    pub processing_engine: Facet<ProcessingEngine>,
}

/// The job.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// The configured namespace.
    pub namespace: String,
    /// The product's name.
    pub name: String,
    /// Its facets.
    pub facets: JobFacets,
}

/// What is known about the product.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobFacets {
    /// The owning team.
    pub ownership: Facet<Ownership>,
    /// A batch job of this platform.
    pub job_type: Facet<JobType>,
    /// The product's description.
    pub documentation: Facet<Documentation>,
    /// Domain, kind, code version and the product's own tags.
    pub tags: Facet<Tags>,
}

/// A dataset the run read.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputDataset {
    /// The configured namespace.
    pub namespace: String,
    /// `product/port` for another product's output, `product/inputs/port` for an ingest port.
    pub name: String,
    /// Schema and version.
    pub facets: DatasetFacets,
}

/// A dataset the run writes.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputDataset {
    /// The configured namespace.
    pub namespace: String,
    /// `product/port`.
    pub name: String,
    /// Schema, version (once published) and the checks' results.
    pub facets: DatasetFacets,
    /// Rows and bytes, once published.
    pub output_facets: OutputFacets,
}

/// What is known about a dataset.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetFacets {
    /// Its columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Facet<SchemaFacet>>,
    /// The data version read or published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Facet<DatasetVersion>>,
    /// The data tests run on it before publication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_quality_assertions: Option<Facet<Assertions>>,
}

/// What a run wrote to one output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputFacets {
    /// Rows and bytes published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_statistics: Option<Facet<OutputStatistics>>,
}

/// A facet: its fields, with who wrote it and the schema it follows.
#[derive(Debug, Clone, Serialize)]
pub struct Facet<T> {
    /// [`PRODUCER`].
    #[serde(rename = "_producer")]
    pub producer: &'static str,
    /// The facet's schema.
    #[serde(rename = "_schemaURL")]
    pub schema_url: &'static str,
    /// The fields.
    #[serde(flatten)]
    pub fields: T,
}

/// A facet's fields, with the schema they follow.
pub trait FacetFields: Sized {
    /// The facet schema's URL.
    const SCHEMA: &'static str;

    /// The fields as a facet.
    fn facet(self) -> Facet<Self> {
        Facet {
            producer: PRODUCER,
            schema_url: Self::SCHEMA,
            fields: self,
        }
    }
}

/// `nominalTime`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NominalTime {
    /// The occurrence the run is for.
    pub nominal_start_time: String,
    /// The schedule's next occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nominal_end_time: Option<String>,
}

impl FacetFields for NominalTime {
    const SCHEMA: &'static str = "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet";
}

/// `parent`.
#[derive(Debug, Clone, Serialize)]
pub struct Parent {
    /// The parent run.
    pub run: ParentRun,
    /// Its job.
    pub job: ParentJob,
}

/// The parent run's id.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentRun {
    /// A UUID.
    pub run_id: String,
}

/// The parent run's job.
#[derive(Debug, Clone, Serialize)]
pub struct ParentJob {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl FacetFields for Parent {
    const SCHEMA: &'static str =
        "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet";
}

/// `errorMessage`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMessage {
    /// The failure's kind and reason, as the run record says them.
    pub message: String,
    /// What the product is compiled to.
    pub programming_language: &'static str,
}

impl FacetFields for ErrorMessage {
    const SCHEMA: &'static str = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet";
}

/// `processing_engine`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessingEngine {
    /// This host's version.
    pub version: &'static str,
    /// `tessera`.
    pub name: &'static str,
}

impl FacetFields for ProcessingEngine {
    const SCHEMA: &'static str = "https://openlineage.io/spec/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet";
}

/// `ownership`.
#[derive(Debug, Clone, Serialize)]
pub struct Ownership {
    /// The owning team.
    pub owners: Vec<Owner>,
}

/// One owner.
#[derive(Debug, Clone, Serialize)]
pub struct Owner {
    /// The manifest's `owner`.
    pub name: String,
    /// `MAINTAINER`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl FacetFields for Ownership {
    const SCHEMA: &'static str =
        "https://openlineage.io/spec/facets/1-0-1/OwnershipJobFacet.json#/$defs/OwnershipJobFacet";
}

/// `jobType`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobType {
    /// `BATCH`: a run starts, reads pinned versions and ends.
    pub processing_type: &'static str,
    /// `TESSERA`.
    pub integration: &'static str,
    /// `DATA_PRODUCT`.
    pub job_type: &'static str,
}

impl FacetFields for JobType {
    const SCHEMA: &'static str =
        "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet";
}

/// `documentation`.
#[derive(Debug, Clone, Serialize)]
pub struct Documentation {
    /// The manifest's description.
    pub description: String,
}

impl FacetFields for Documentation {
    const SCHEMA: &'static str = "https://openlineage.io/spec/facets/1-1-0/DocumentationJobFacet.json#/$defs/DocumentationJobFacet";
}

/// `tags`.
#[derive(Debug, Clone, Serialize)]
pub struct Tags {
    /// The tags.
    pub tags: Vec<Tag>,
}

/// One tag.
#[derive(Debug, Clone, Serialize)]
pub struct Tag {
    /// `domain`, `kind`, `version` or `tag`.
    pub key: String,
    /// Its value.
    pub value: String,
    /// `TESSERA`.
    pub source: &'static str,
}

impl FacetFields for Tags {
    const SCHEMA: &'static str =
        "https://openlineage.io/spec/facets/1-0-0/TagsJobFacet.json#/$defs/TagsJobFacet";
}

/// `schema`.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaFacet {
    /// The columns, in order.
    pub fields: Vec<SchemaField>,
}

/// One column.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaField {
    /// Its name.
    pub name: String,
    /// Its type as manifests write it (`int64`, `text`, ...).
    #[serde(rename = "type")]
    pub data_type: &'static str,
    /// What it means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl FacetFields for SchemaFacet {
    const SCHEMA: &'static str = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
}

/// `version`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetVersion {
    /// The data version number.
    pub dataset_version: String,
}

impl FacetFields for DatasetVersion {
    const SCHEMA: &'static str = "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet";
}

/// `dataQualityAssertions`.
#[derive(Debug, Clone, Serialize)]
pub struct Assertions {
    /// One per check of the port.
    pub assertions: Vec<Assertion>,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Assertion {
    /// The check as written (`not_null(label)`).
    pub assertion: String,
    /// Whether it passed.
    pub success: bool,
    /// The column it tests, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// `error` or `warn`.
    pub severity: &'static str,
    /// The check's kind (`not_null`, `range`, `custom`, ...).
    pub name: String,
    /// What was found, in words.
    pub description: String,
}

impl FacetFields for Assertions {
    const SCHEMA: &'static str = "https://openlineage.io/spec/facets/1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet";
}

/// `outputStatistics`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputStatistics {
    /// Rows published.
    pub row_count: u64,
    /// Bytes stored.
    pub size: u64,
    /// Files: one per port and version.
    pub file_count: u64,
}

impl FacetFields for OutputStatistics {
    const SCHEMA: &'static str = "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet";
}
