"""Typed models of the OpenLineage spec (2-0-2) and its standard facets.

Written from the spec's JSON schemas (``OpenLineage.json`` and
``facets/*.json``): the same required properties, types, enums and formats,
so a document these models accept is one the schemas accept (the exceptions
are the deliberate leniencies in :mod:`.validate`, applied *before* these
models see a document). Every object allows additional properties, as the
schemas do; custom facets are validated as base facets. The models are for
checking and typed reading; what is stored comes from the document itself.

Models validate in strict mode: ``"1"`` is not an integer, ``1`` is not a
string. Date-time values arrive here already parsed (``validate`` turns them
into aware datetimes, with its own precise errors), so they are ``datetime``.

Two standard facets are not modelled field by field and are validated as base
facets only: ``subset`` (``BaseSubsetDatasetFacet``, a recursive condition
tree) and ``lineage`` (``LineageFacet``, a dataset-or-job union). Both are
kept verbatim on the graph all the same.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

# ---- formats -------------------------------------------------------------------


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid(value: str) -> str:
    """The spec's ``uuid`` format (RFC 4122 text form, hyphens where they belong),
    returned in canonical lower case so one run has one key."""
    if _CANONICAL_UUID.fullmatch(value):
        return value  # already what str(uuid.UUID(value)) gives
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        parsed = None
    if parsed is None or len(value) != 36 or any(value[i] != "-" for i in (8, 13, 18, 23)):
        raise PydanticCustomError(
            "format", "'{value}' is not a UUID (format: uuid)", {"value": value[:80]}
        )
    return str(parsed)


UUIDStr = Annotated[str, AfterValidator(_uuid)]


class Spec(BaseModel):
    """An object of the spec: strict types; additional properties are allowed and
    not kept on the model (the document as received keeps them, and the graph
    keeps every facet from it)."""

    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=False)


class Open(Spec):
    """An object whose additional properties the mapping copies (facet containers,
    transformations, assertions, tags...)."""

    model_config = ConfigDict(extra="allow")


# ---- base facets ---------------------------------------------------------------


class BaseFacet(Spec):
    producer: str = Field(alias="_producer")
    schema_url: str = Field(alias="_schemaURL")


class RunFacet(BaseFacet):
    pass


class JobFacet(BaseFacet):
    deleted: bool | None = Field(default=None, alias="_deleted")


class DatasetFacet(BaseFacet):
    deleted: bool | None = Field(default=None, alias="_deleted")


# ---- run facets ------------------------------------------------------------------


class ParentRun(Spec):
    runId: UUIDStr
    facets: dict[str, RunFacet] | None = None


class ParentJob(Spec):
    namespace: str
    name: str
    facets: dict[str, JobFacet] | None = None


class ParentRoot(Spec):
    run: ParentRun
    job: ParentJob


class ParentRunFacet(RunFacet):
    run: ParentRun
    job: ParentJob
    root: ParentRoot | None = None


class NominalTimeRunFacet(RunFacet):
    nominalStartTime: datetime
    nominalEndTime: datetime | None = None


class ProcessingEngineRunFacet(RunFacet):
    version: str
    name: str | None = None
    openlineageAdapterVersion: str | None = None


class ErrorMessageRunFacet(RunFacet):
    message: str
    programmingLanguage: str
    stackTrace: str | None = None


class ExternalQueryRunFacet(RunFacet):
    externalQueryId: str
    source: str


class ExtractionError(Spec):
    errorMessage: str
    stackTrace: str | None = None
    task: str | None = None
    taskNumber: int | None = None


class ExtractionErrorRunFacet(RunFacet):
    totalTasks: int
    failedTasks: int
    errors: list[ExtractionError]


class ExecutionParameter(BaseModel):
    # the one object of the spec that forbids additional properties
    model_config = ConfigDict(extra="forbid", strict=True)
    key: str
    name: str | None = None
    description: str | None = None
    value: str | None = None


class ExecutionParametersRunFacet(RunFacet):
    parameters: list[ExecutionParameter] | None = None


class EnvironmentVariable(Spec):
    name: str
    value: str


class EnvironmentVariablesRunFacet(RunFacet):
    environmentVariables: list[EnvironmentVariable]


class JobIdentifier(Spec):
    namespace: str
    name: str


class RunIdentifier(Spec):
    runId: UUIDStr


class JobDependency(Spec):
    job: JobIdentifier
    run: RunIdentifier | None = None
    dependency_type: str | None = None
    sequence_trigger_rule: str | None = None
    status_trigger_rule: str | None = None


class JobDependenciesRunFacet(RunFacet):
    upstream: list[JobDependency] | None = None
    downstream: list[JobDependency] | None = None
    trigger_rule: str | None = None


class Tag(Open):
    key: str
    value: str
    source: str | None = None


class TagsRunFacet(RunFacet):
    tags: list[Tag] | None = None


class TestExecution(Spec):
    name: str
    status: str
    severity: str | None = None
    type: str | None = None
    description: str | None = None
    expected: str | None = None
    actual: str | None = None
    content: str | None = None
    contentType: str | None = None
    params: dict[str, Any] | None = None


class TestRunFacet(RunFacet):
    __test__ = False  # not a pytest class
    tests: list[TestExecution]


class RunFacets(Open):
    """The run facets: standard ones typed, custom ones as base facets."""

    __pydantic_extra__: dict[str, RunFacet] = Field(init=False)
    parent: ParentRunFacet | None = None
    nominalTime: NominalTimeRunFacet | None = None
    processing_engine: ProcessingEngineRunFacet | None = None
    errorMessage: ErrorMessageRunFacet | None = None
    externalQuery: ExternalQueryRunFacet | None = None
    extractionError: ExtractionErrorRunFacet | None = None
    executionParameters: ExecutionParametersRunFacet | None = None
    environmentVariables: EnvironmentVariablesRunFacet | None = None
    jobDependencies: JobDependenciesRunFacet | None = None
    tags: TagsRunFacet | None = None
    test: TestRunFacet | None = None


# ---- job facets ------------------------------------------------------------------


class DocumentationJobFacet(JobFacet):
    description: str
    contentType: str | None = None


class Owner(Spec):
    name: str
    type: str | None = None


class OwnershipJobFacet(JobFacet):
    owners: list[Owner] | None = None


class SQLJobFacet(JobFacet):
    query: str
    dialect: str | None = None


class SourceCodeJobFacet(JobFacet):
    language: str
    sourceCode: str


class SourceCodeLocationJobFacet(JobFacet):
    type: str
    url: str
    repoUrl: str | None = None
    path: str | None = None
    version: str | None = None
    tag: str | None = None
    branch: str | None = None
    pullRequestNumber: str | None = None


class EmissionPattern(Spec):
    eventTrigger: str
    eventContentMode: str
    windowDuration: Annotated[int, Field(ge=1)] | None = None


class JobTypeJobFacet(JobFacet):
    processingType: str
    integration: str
    jobType: str | None = None
    emissionPattern: EmissionPattern | None = None


class TagsJobFacet(JobFacet):
    tags: list[Tag] | None = None


class JobFacets(Open):
    __pydantic_extra__: dict[str, JobFacet] = Field(init=False)
    documentation: DocumentationJobFacet | None = None
    ownership: OwnershipJobFacet | None = None
    sql: SQLJobFacet | None = None
    sourceCode: SourceCodeJobFacet | None = None
    sourceCodeLocation: SourceCodeLocationJobFacet | None = None
    jobType: JobTypeJobFacet | None = None
    tags: TagsJobFacet | None = None


# ---- dataset facets --------------------------------------------------------------


class SchemaField(Spec):
    name: str
    type: str | None = None
    description: str | None = None
    ordinal_position: int | None = None
    fields: list[SchemaField] | None = None


class SchemaDatasetFacet(DatasetFacet):
    fields: list[SchemaField] | None = None


class Transformation(Open):
    type: str
    subtype: str | None = None
    description: str | None = None
    masking: bool | None = None


class InputField(Spec):
    namespace: str
    name: str
    field: str
    transformations: list[Transformation] | None = None


class ColumnLineageField(Spec):
    inputFields: list[InputField]
    transformationDescription: str | None = None
    transformationType: str | None = None


class ColumnLineageDatasetFacet(DatasetFacet):
    fields: dict[str, ColumnLineageField]
    dataset: list[InputField] | None = None


class SymlinkIdentifier(Open):
    namespace: str
    name: str
    type: str


class SymlinksDatasetFacet(DatasetFacet):
    identifiers: list[SymlinkIdentifier] | None = None


class DatasetVersionDatasetFacet(DatasetFacet):
    datasetVersion: str


class DatasourceDatasetFacet(DatasetFacet):
    name: str | None = None
    uri: str | None = None


class DocumentationDatasetFacet(DatasetFacet):
    description: str
    contentType: str | None = None


class OwnershipDatasetFacet(DatasetFacet):
    owners: list[Owner] | None = None


class StorageDatasetFacet(DatasetFacet):
    storageLayer: str
    fileFormat: str | None = None


class PreviousIdentifier(Spec):
    name: str
    namespace: str


LifecycleState = Literal["ALTER", "CREATE", "DROP", "OVERWRITE", "RENAME", "TRUNCATE"]


class LifecycleStateChangeDatasetFacet(DatasetFacet):
    lifecycleStateChange: LifecycleState
    previousIdentifier: PreviousIdentifier | None = None


class DatasetTypeDatasetFacet(DatasetFacet):
    datasetType: str
    subType: str | None = None


class CatalogDatasetFacet(DatasetFacet):
    framework: str
    type: str
    name: str
    metadataUri: str | None = None
    warehouseUri: str | None = None
    source: str | None = None
    catalogProperties: dict[str, str] | None = None


class HierarchyLevel(Spec):
    type: str
    name: str


class HierarchyDatasetFacet(DatasetFacet):
    hierarchy: list[HierarchyLevel]


class DatasetTag(Tag):
    field: str | None = None


class TagsDatasetFacet(DatasetFacet):
    tags: list[DatasetTag] | None = None


class ColumnMetric(Open):
    nullCount: int | None = None
    distinctCount: int | None = None
    sum: float | None = None
    count: float | None = None
    min: float | None = None
    max: float | None = None
    quantiles: dict[str, float] | None = None


class DataQualityMetricsFacet(DatasetFacet):
    """``dataQualityMetrics``: the same shape as a dataset facet and as an input facet."""

    rowCount: int | None = None
    bytes: int | None = None
    fileCount: int | None = None
    lastUpdated: datetime | None = None
    columnMetrics: dict[str, ColumnMetric]


class Assertion(Open):
    assertion: str
    success: bool
    column: str | None = None
    severity: str | None = None
    name: str | None = None
    description: str | None = None
    expected: str | None = None
    actual: str | None = None
    content: str | None = None
    contentType: str | None = None
    params: dict[str, Any] | None = None


class DataQualityAssertionsFacet(DatasetFacet):
    assertions: list[Assertion]


class StatisticsFacet(DatasetFacet):
    """``outputStatistics`` and ``inputStatistics``: rows, bytes and files."""

    rowCount: int | None = None
    size: int | None = None
    fileCount: int | None = None


class DatasetFacets(Open):
    """Facets of a dataset, and of its input or output role.

    Producers put the input/output-only facets (``outputStatistics``,
    ``dataQualityAssertions``) in either place, so one typed container serves
    ``facets``, ``inputFacets`` and ``outputFacets``.
    """

    __pydantic_extra__: dict[str, DatasetFacet] = Field(init=False)
    schema_: SchemaDatasetFacet | None = Field(default=None, alias="schema")
    columnLineage: ColumnLineageDatasetFacet | None = None
    symlinks: SymlinksDatasetFacet | None = None
    version: DatasetVersionDatasetFacet | None = None
    dataSource: DatasourceDatasetFacet | None = None
    documentation: DocumentationDatasetFacet | None = None
    ownership: OwnershipDatasetFacet | None = None
    storage: StorageDatasetFacet | None = None
    lifecycleStateChange: LifecycleStateChangeDatasetFacet | None = None
    datasetType: DatasetTypeDatasetFacet | None = None
    catalog: CatalogDatasetFacet | None = None
    hierarchy: HierarchyDatasetFacet | None = None
    tags: TagsDatasetFacet | None = None
    dataQualityMetrics: DataQualityMetricsFacet | None = None
    dataQualityAssertions: DataQualityAssertionsFacet | None = None
    outputStatistics: StatisticsFacet | None = None
    inputStatistics: StatisticsFacet | None = None


# ---- the core model ------------------------------------------------------------------


EventType = Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]
TERMINAL_STATES: frozenset[str] = frozenset({"COMPLETE", "ABORT", "FAIL"})


class Run(Spec):
    runId: UUIDStr
    facets: RunFacets | None = None


class Job(Spec):
    namespace: str
    name: str
    facets: JobFacets | None = None


class Dataset(Spec):
    namespace: str
    name: str
    facets: DatasetFacets | None = None


class InputDataset(Dataset):
    inputFacets: DatasetFacets | None = None


class OutputDataset(Dataset):
    outputFacets: DatasetFacets | None = None


class BaseEvent(Spec):
    eventTime: datetime
    producer: str
    schemaURL: str


class RunEvent(BaseEvent):
    eventType: EventType | None = None
    run: Run
    job: Job
    inputs: list[InputDataset] | None = None
    outputs: list[OutputDataset] | None = None


class JobEvent(BaseEvent):
    job: Job
    inputs: list[InputDataset] | None = None
    outputs: list[OutputDataset] | None = None


class DatasetEvent(BaseEvent):
    dataset: Dataset


Event = RunEvent | JobEvent | DatasetEvent
