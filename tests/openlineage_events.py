"""Reads OpenLineage run events (a JSON array on standard input) into the classes of the
official `openlineage-python` client, then writes each back with the client's own serializer
and compares it with what was read.

Every facet goes through the client's class for it, so an unknown field, a missing required
field, a malformed time or run id, or a facet that claims another schema than the client's
fails here. Prints one line per event and exits 1 at the first event that does not pass.
"""

import json
import sys

from openlineage.client.event_v2 import (
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
)
from openlineage.client.generated import (
    data_quality_assertions_dataset,
    dataset_version_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    ownership_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    tags_job,
)
from openlineage.client.serde import Serde


def fields(facet, *private):
    """The facet's own fields, without `_producer` and `_schemaURL` (checked apart)."""
    return {k: v for k, v in facet.items() if k not in ("_producer", "_schemaURL") + private}


def built(cls, facet, **nested):
    """`cls` built from `facet`, with `nested` fields converted first."""
    values = fields(facet)
    values.update({k: convert(values[k]) for k, convert in nested.items() if k in values})
    return cls(**values, producer=facet["_producer"])


def parent(facet):
    values = fields(facet)
    return parent_run.ParentRunFacet(
        run=parent_run.Run(**values["run"]),
        job=parent_run.Job(**values["job"]),
        producer=facet["_producer"],
    )


RUN_FACETS = {
    "nominalTime": lambda f: built(nominal_time_run.NominalTimeRunFacet, f),
    "parent": parent,
    "errorMessage": lambda f: built(error_message_run.ErrorMessageRunFacet, f),
    "processing_engine": lambda f: built(processing_engine_run.ProcessingEngineRunFacet, f),
}

JOB_FACETS = {
    "ownership": lambda f: built(
        ownership_job.OwnershipJobFacet,
        f,
        owners=lambda owners: [ownership_job.Owner(**o) for o in owners],
    ),
    "jobType": lambda f: built(job_type_job.JobTypeJobFacet, f),
    "documentation": lambda f: built(documentation_job.DocumentationJobFacet, f),
    "tags": lambda f: built(
        tags_job.TagsJobFacet, f, tags=lambda tags: [tags_job.TagsJobFacetFields(**t) for t in tags]
    ),
}

DATASET_FACETS = {
    "schema": lambda f: built(
        schema_dataset.SchemaDatasetFacet,
        f,
        fields=lambda columns: [schema_dataset.SchemaDatasetFacetFields(**c) for c in columns],
    ),
    "version": lambda f: built(dataset_version_dataset.DatasetVersionDatasetFacet, f),
    "dataQualityAssertions": lambda f: built(
        data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet,
        f,
        assertions=lambda items: [data_quality_assertions_dataset.Assertion(**a) for a in items],
    ),
}

OUTPUT_FACETS = {
    "outputStatistics": lambda f: built(
        output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet, f
    ),
}


def facets(raw, known, where):
    unknown = set(raw or {}) - set(known)
    if unknown:
        raise ValueError(f"{where}: facets this checker does not know: {sorted(unknown)}")
    return {name: known[name](facet) for name, facet in (raw or {}).items()}


def event(raw):
    return RunEvent(
        eventType=RunState(raw["eventType"]),
        eventTime=raw["eventTime"],
        run=Run(runId=raw["run"]["runId"], facets=facets(raw["run"].get("facets"), RUN_FACETS, "run")),
        job=Job(
            namespace=raw["job"]["namespace"],
            name=raw["job"]["name"],
            facets=facets(raw["job"].get("facets"), JOB_FACETS, "job"),
        ),
        inputs=[
            InputDataset(
                namespace=d["namespace"],
                name=d["name"],
                facets=facets(d.get("facets"), DATASET_FACETS, d["name"]),
            )
            for d in raw.get("inputs", [])
        ],
        outputs=[
            OutputDataset(
                namespace=d["namespace"],
                name=d["name"],
                facets=facets(d.get("facets"), DATASET_FACETS, d["name"]),
                outputFacets=facets(d.get("outputFacets"), OUTPUT_FACETS, d["name"]),
            )
            for d in raw.get("outputs", [])
        ],
        producer=raw["producer"],
    )


def without_empty(value):
    """`value` without empty objects and lists, which the client writes and this host omits."""
    if isinstance(value, dict):
        kept = {k: without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [without_empty(v) for v in value]
    return value


def main():
    events = json.load(sys.stdin)
    if not events:
        print("no events", file=sys.stderr)
        return 1
    for raw in events:
        parsed = event(raw)
        written = without_empty(Serde.to_dict(parsed))
        read = without_empty(raw)
        if written != read:
            print(f"event differs after the client's round trip:\nread:    {json.dumps(read, sort_keys=True)}\nwritten: {json.dumps(written, sort_keys=True)}", file=sys.stderr)
            return 1
        print(f"{parsed.eventType.value} {parsed.job.name} {parsed.run.runId}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
