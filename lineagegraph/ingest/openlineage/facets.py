"""Well-known facets as first-class node properties.

Every facet an event carries is kept verbatim on its node as ``facets.<name>``
(custom facets too). The standard facets that people query also become plain
properties with stable snake_case names, listed here per container, so the API
and the gates read ``owners`` or ``sql`` instead of digging through facets.

Each extractor returns the same keys whatever the facet holds (``None`` where
a value is absent), so a facet sent with ``_deleted: true`` clears exactly
the properties it once set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lineagegraph.ingest.openlineage import models as m

Props = dict[str, Any]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _owners(owners: list[m.Owner] | None) -> list[dict[str, Any]] | None:
    if owners is None:
        return None
    return [{"name": o.name, "type": o.type} for o in owners]


def _tags(tags: list[m.Tag] | list[m.DatasetTag] | None) -> list[dict[str, Any]] | None:
    if tags is None:
        return None
    return [t.model_dump(exclude_none=True) for t in tags]


# ---- job ------------------------------------------------------------------------------


def _job_type_kind(f: m.JobTypeJobFacet) -> str:
    """The job's type in the graph's terms: training, serving, stream or batch."""
    job_type = (f.jobType or "").upper()
    if "TRAIN" in job_type:
        return "training"
    if "SERV" in job_type or "INFER" in job_type or "PREDICT" in job_type:
        return "serving"
    processing = f.processingType.upper()
    if processing == "STREAMING":
        return "stream"
    if processing == "SERVICE":
        return "serving"
    return "batch"


JOB_FACETS: dict[str, Callable[[Any], Props]] = {
    "documentation": lambda f: {
        "description": f.description if f else None,
        "description_content_type": f.contentType if f else None,
    },
    "ownership": lambda f: {"owners": _owners(f.owners) if f else None},
    "sql": lambda f: {"sql": f.query if f else None, "sql_dialect": f.dialect if f else None},
    "sourceCode": lambda f: {
        "source_code": f.sourceCode if f else None,
        "source_code_language": f.language if f else None,
    },
    "sourceCodeLocation": lambda f: {
        "source_code_location": {
            "type": f.type,
            "url": f.url,
            "repo_url": f.repoUrl,
            "path": f.path,
            "version": f.version,
            "tag": f.tag,
            "branch": f.branch,
        }
        if f
        else None
    },
    "jobType": lambda f: {
        "processing_type": f.processingType if f else None,
        "integration": f.integration if f else None,
        "job_type": f.jobType if f else None,
        "type": _job_type_kind(f) if f else None,
    },
    "tags": lambda f: {"tags": _tags(f.tags) if f else None},
}


# ---- run ------------------------------------------------------------------------------

RUN_FACETS: dict[str, Callable[[Any], Props]] = {
    "nominalTime": lambda f: {
        "nominal_start_time": _iso(f.nominalStartTime) if f else None,
        "nominal_end_time": _iso(f.nominalEndTime) if f else None,
    },
    "processing_engine": lambda f: {
        "processing_engine": {
            "name": f.name,
            "version": f.version,
            "adapter_version": f.openlineageAdapterVersion,
        }
        if f
        else None
    },
    "errorMessage": lambda f: {
        "error_message": f.message if f else None,
        "error_language": f.programmingLanguage if f else None,
        "error_stack_trace": f.stackTrace if f else None,
    },
    "externalQuery": lambda f: {
        "external_query": {"id": f.externalQueryId, "source": f.source} if f else None
    },
    "tags": lambda f: {"tags": _tags(f.tags) if f else None},
    "parent": lambda f: {
        "parent_run_id": f.run.runId if f else None,
        "parent_job_namespace": f.job.namespace if f else None,
        "parent_job_name": f.job.name if f else None,
        "root_run_id": f.root.run.runId if f and f.root else None,
        "root_job_namespace": f.root.job.namespace if f and f.root else None,
        "root_job_name": f.root.job.name if f and f.root else None,
    },
}


# ---- dataset ----------------------------------------------------------------------------

DATASET_FACETS: dict[str, Callable[[Any], Props]] = {
    "documentation": lambda f: {
        "description": f.description if f else None,
        "description_content_type": f.contentType if f else None,
    },
    "ownership": lambda f: {"owners": _owners(f.owners) if f else None},
    "tags": lambda f: {"tags": _tags(f.tags) if f else None},
    "dataSource": lambda f: {
        "datasource_name": f.name if f else None,
        "datasource_uri": f.uri if f else None,
    },
    "storage": lambda f: {
        "storage_layer": f.storageLayer if f else None,
        "file_format": f.fileFormat if f else None,
    },
    "datasetType": lambda f: {
        "dataset_type": f.datasetType if f else None,
        "dataset_subtype": f.subType if f else None,
    },
    "symlinks": lambda f: {
        "symlinks": [i.model_dump() for i in f.identifiers or []] if f else None
    },
    "catalog": lambda f: {
        "catalog": {"framework": f.framework, "type": f.type, "name": f.name} if f else None
    },
}


def facet_props(
    raw: Mapping[str, Any] | None,
    typed: m.Spec | None,
    extractors: Mapping[str, Callable[[Any], Props]],
    *,
    deletable: bool = True,
) -> Props:
    """``facets.<name>`` for every facet, plus the first-class properties of the
    well-known ones; a job or dataset facet with ``_deleted: true`` clears both."""
    props: Props = {}
    if not raw:
        return props
    for name, value in raw.items():
        deleted = (
            deletable
            # `type(...) is dict` first: the Mapping ABC check costs ~10 times more
            and (type(value) is dict or isinstance(value, Mapping))
            and value.get("_deleted") is True
        )
        props[f"facets.{name}"] = None if deleted else value
        extract = extractors.get(name)
        if extract is None:
            continue
        if deleted:
            props.update({k: None for k in extract(None)})
        else:
            facet = _typed(typed, name)
            if facet is not None:
                props.update(extract(facet))
    return props


_FIELDS: dict[type[m.Spec], frozenset[str]] = {}


def _typed(container: m.Spec | None, name: str) -> Any:
    """The typed facet ``name`` of a facets container (standard or custom)."""
    if container is None:
        return None
    attr = "schema_" if name == "schema" else name
    cls = type(container)
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = frozenset(cls.model_fields)
    if attr in fields:
        return getattr(container, attr)
    return (container.model_extra or {}).get(name)
