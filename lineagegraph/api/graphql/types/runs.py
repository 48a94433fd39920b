"""Execution: jobs, their runs, and MLflow experiments."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from lineagegraph.api.graphql.types.node import (
    Entry,
    Info,
    ListOf,
    Node,
    entries,
    linked,
    linked_any,
    node_type,
    prefixed,
    prop,
    text,
    when,
)
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.store import Direction

if TYPE_CHECKING:
    from lineagegraph.api.graphql.types.data import Dataset, DatasetVersion
    from lineagegraph.api.graphql.types.models import ModelVersion

_DATA = "lineagegraph.api.graphql.types.data"
_MODELS = "lineagegraph.api.graphql.types.models"
DatasetRef = Annotated["Dataset", strawberry.lazy(_DATA)]
DatasetVersionRef = Annotated["DatasetVersion", strawberry.lazy(_DATA)]
ModelVersionRef = Annotated["ModelVersion", strawberry.lazy(_MODELS)]

UP, DOWN = Direction.UPSTREAM, Direction.DOWNSTREAM


@node_type(NodeKind.JOB)
@strawberry.type(
    description="A job: a recurring unit of work (a task, a dbt model, a training job)."
)
class Job(Node):
    @strawberry.field
    def description(self) -> str | None:
        return text(self.raw.props, "description", "documentation")

    @strawberry.field(description="batch, stream, training, serving, ... as the producer said.")
    def job_type(self) -> str | None:
        return text(self.raw.props, "job_type", "type", "jobType.jobType", "processing_type")

    @strawberry.field(description="The integration that reported it (AIRFLOW, DBT, SPARK, MLFLOW).")
    def integration(self) -> str | None:
        return text(self.raw.props, "integration", "jobType.integration")

    @strawberry.field(description="The job's SQL, when a producer reported it.")
    def sql(self) -> str | None:
        return text(self.raw.props, "sql", "sql.query", "facets.sql.query")

    @strawberry.field(description="Source code location or version, as reported.")
    def source_code(self) -> JSON | None:
        return JSON(
            prop(self.raw.props, "source_code_location", "sourceCodeLocation", "source_code")
        )

    @strawberry.field(description="The facets the producers reported, as they sent them.")
    def facets(self) -> JSON | None:
        return JSON(prefixed(self.raw.props, "facets."))

    @relay.connection(ListOf["Run"], description="Runs of this job, oldest first.")
    async def runs(self, info: Info) -> list[Run]:
        return await linked(info, self, UP, [EdgeKind.INSTANCE_OF], Run)

    @relay.connection(ListOf[DatasetRef], description="Datasets the job reads.")
    async def inputs(self, info: Info) -> list[DatasetRef]:
        from lineagegraph.api.graphql.types.data import Dataset

        return await linked(info, self, UP, [EdgeKind.CONSUMED], Dataset)

    @relay.connection(ListOf[DatasetRef], description="Datasets the job writes.")
    async def outputs(self, info: Info) -> list[DatasetRef]:
        from lineagegraph.api.graphql.types.data import Dataset

        return await linked(info, self, DOWN, [EdgeKind.PRODUCED], Dataset)

    @relay.connection(ListOf[ModelVersionRef], description="Model versions the job trained.")
    async def trained(self, info: Info) -> list[ModelVersionRef]:
        from lineagegraph.api.graphql.types.models import ModelVersion

        return await linked(info, self, DOWN, [EdgeKind.TRAINED], ModelVersion)


@node_type(NodeKind.RUN)
@strawberry.type(description="One execution of a job (an OpenLineage run or an MLflow run).")
class Run(Node):
    @strawberry.field
    def run_id(self) -> str:
        return self.raw.key.part("run_id")

    @strawberry.field(
        description="COMPLETE, FAIL, ABORT, RUNNING, ... (OpenLineage) or FINISHED, FAILED, "
        "... (MLflow): the state of the run's terminal event when there is one."
    )
    def state(self) -> str | None:
        return text(self.raw.props, "state", "running_state", "status")

    @strawberry.field
    def started_at(self) -> datetime | None:
        return when(self.raw.props, "started_at", "start_time", "startTime")

    @strawberry.field
    def ended_at(self) -> datetime | None:
        return when(self.raw.props, "ended_at", "end_time", "endTime")

    @strawberry.field(description="The nominal (scheduled) time, when the scheduler gave one.")
    def nominal_time(self) -> datetime | None:
        return when(self.raw.props, "nominal_start_time")

    @strawberry.field(description="The error a failed run reported.")
    def error_message(self) -> str | None:
        return text(self.raw.props, "error_message")

    @strawberry.field(description="The code version (git commit) it ran, when known.")
    def code_version(self) -> str | None:
        return text(self.raw.props, "code_version", "source_code_location.version")

    @strawberry.field(description="Who started it, when known.")
    def user(self) -> str | None:
        return text(self.raw.props, "user", "user_id")

    @strawberry.field(description="Parameters (MLflow params or run facets' arguments).")
    def params(self) -> list[Entry]:
        return entries(self.raw.props, "params", "parameters")

    @strawberry.field(description="Metrics the run logged (latest value of each).")
    def metrics(self) -> list[Entry]:
        return entries(self.raw.props, "metrics")

    @strawberry.field
    def tags(self) -> list[Entry]:
        return entries(self.raw.props, "tags")

    @strawberry.field(description="The facets the producer reported, as it sent them.")
    def facets(self) -> JSON | None:
        return JSON(prefixed(self.raw.props, "facets."))

    @strawberry.field(description="The job this is a run of.")
    async def job(self, info: Info) -> Job | None:
        jobs = await linked(info, self, DOWN, [EdgeKind.INSTANCE_OF], Job)
        return jobs[0] if jobs else None

    @strawberry.field(description="The run that started this one (an Airflow DAG run, a dbt run).")
    async def parent(self, info: Info) -> Run | None:
        parents = await linked(info, self, DOWN, [EdgeKind.CHILD_OF], Run)
        return parents[0] if parents else None

    @relay.connection(ListOf["Run"], description="Runs started by this one.")
    async def children(self, info: Info) -> list[Run]:
        return await linked(info, self, UP, [EdgeKind.CHILD_OF], Run)

    @relay.connection(ListOf[Node], description="What it read: datasets, or a model version.")
    async def inputs(self, info: Info) -> list[Node]:
        return await linked_any(info, self, UP, [EdgeKind.CONSUMED])

    @relay.connection(ListOf[DatasetRef], description="Datasets it wrote.")
    async def outputs(self, info: Info) -> list[DatasetRef]:
        from lineagegraph.api.graphql.types.data import Dataset

        return await linked(info, self, DOWN, [EdgeKind.PRODUCED], Dataset)

    @relay.connection(ListOf[DatasetVersionRef], description="Dataset versions it read.")
    async def read_versions(self, info: Info) -> list[DatasetVersionRef]:
        from lineagegraph.api.graphql.types.data import DatasetVersion

        return await linked(info, self, DOWN, [EdgeKind.READ_VERSION], DatasetVersion)

    @relay.connection(ListOf[DatasetVersionRef], description="Dataset versions it wrote.")
    async def wrote_versions(self, info: Info) -> list[DatasetVersionRef]:
        from lineagegraph.api.graphql.types.data import DatasetVersion

        return await linked(info, self, DOWN, [EdgeKind.WROTE_VERSION], DatasetVersion)

    @relay.connection(ListOf[ModelVersionRef], description="Model versions it trained.")
    async def trained(self, info: Info) -> list[ModelVersionRef]:
        from lineagegraph.api.graphql.types.models import ModelVersion

        return await linked(info, self, DOWN, [EdgeKind.TRAINED], ModelVersion)

    @strawberry.field(description="The MLflow experiment it belongs to.")
    async def experiment(self, info: Info) -> Experiment | None:
        found = await linked(info, self, DOWN, [EdgeKind.IN_EXPERIMENT], Experiment)
        return found[0] if found else None

    @strawberry.field(
        description="The same execution seen by the other source (MLflow <-> OpenLineage)."
    )
    async def linked_runs(self, info: Info) -> list[Run]:
        return await linked(info, self, Direction.BOTH, [EdgeKind.LINKED_RUN], Run)


@node_type(NodeKind.EXPERIMENT)
@strawberry.type(description="An MLflow experiment.")
class Experiment(Node):
    @strawberry.field
    def experiment_id(self) -> str:
        return self.raw.key.part("experiment_id")

    @strawberry.field(description="The experiment's name in MLflow.")
    def title(self) -> str | None:
        return text(self.raw.props, "name")

    @strawberry.field(description="active or deleted.")
    def lifecycle_stage(self) -> str | None:
        return text(self.raw.props, "lifecycle_stage")

    @strawberry.field
    def tags(self) -> list[Entry]:
        return entries(self.raw.props, "tags")

    @relay.connection(ListOf[Run], description="Runs in this experiment.")
    async def runs(self, info: Info) -> list[Run]:
        return await linked(info, self, UP, [EdgeKind.IN_EXPERIMENT], Run)
