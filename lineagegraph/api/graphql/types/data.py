"""Data: datasets, their versions and their fields (columns)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from lineagegraph.api.graphql.types.node import (
    Entry,
    Info,
    ListOf,
    Node,
    entries,
    flag,
    linked,
    load,
    node_type,
    prefixed,
    prop,
    text,
    when,
)
from lineagegraph.graph.impact import owners_of
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.store import Direction

if TYPE_CHECKING:
    from lineagegraph.api.graphql.types.models import Evaluation, Feature
    from lineagegraph.api.graphql.types.runs import Job, Run

_RUNS = "lineagegraph.api.graphql.types.runs"
_MODELS = "lineagegraph.api.graphql.types.models"
RunRef = Annotated["Run", strawberry.lazy(_RUNS)]
JobRef = Annotated["Job", strawberry.lazy(_RUNS)]
FeatureRef = Annotated["Feature", strawberry.lazy(_MODELS)]
EvaluationRef = Annotated["Evaluation", strawberry.lazy(_MODELS)]

UP, DOWN = Direction.UPSTREAM, Direction.DOWNSTREAM


@strawberry.type(description="A column of a schema (nested columns in `fields`).")
class SchemaField:
    name: str
    type: str | None
    description: str | None
    fields: list[SchemaField]


def schema_fields(props: Mapping[str, Any]) -> list[SchemaField] | None:
    """Columns from a ``schema`` prop (a list of fields or an OpenLineage schema facet)."""
    raw = prop(props, "schema", "fields", "facets.schema")
    if isinstance(raw, Mapping):
        raw = raw.get("fields")
    if not isinstance(raw, list):
        return None
    return _fields(raw)


def _fields(raw: list[Any]) -> list[SchemaField]:
    out = []
    for f in raw:
        if not isinstance(f, Mapping) or not isinstance(f.get("name"), str):
            continue
        nested = f.get("fields")
        out.append(
            SchemaField(
                name=f["name"],
                type=text(f, "type", "dataType"),
                description=text(f, "description"),
                fields=_fields(nested) if isinstance(nested, list) else [],
            )
        )
    return out


@node_type(NodeKind.DATASET)
@strawberry.type(
    description="A dataset: a table, file, topic or model input, named as in OpenLineage."
)
class Dataset(Node):
    @strawberry.field(description="The current schema's columns (null when never reported).")
    def schema(self) -> list[SchemaField] | None:
        return schema_fields(self.raw.props)

    @strawberry.field
    def description(self) -> str | None:
        return text(
            self.raw.props, "description", "documentation", "facets.documentation.description"
        )

    @strawberry.field(description="Owners (people or teams), from the ownership facet or MLflow.")
    def owners(self) -> list[str]:
        return owners_of(self.raw.props)

    @strawberry.field(description="Tags, from the tags facet or MLflow.")
    def tags(self) -> list[Entry]:
        return entries(self.raw.props, "tags")

    @strawberry.field(description="True when the dataset is marked deprecated.")
    def deprecated(self) -> bool:
        return bool(flag(self.raw.props, "deprecated"))

    @strawberry.field(
        description="Data quality state: the latest result of each assertion (by name) "
        "and the latest metrics, with the run that reported them."
    )
    def quality(self) -> JSON | None:
        props = self.raw.props
        assertions = prefixed(props, "quality.")
        metrics = prop(props, "quality_metrics")
        if assertions is None and metrics is None:
            return None
        return JSON({"assertions": assertions or {}, "metrics": metrics})

    @strawberry.field(description="The facets the producers reported, as they sent them.")
    def facets(self) -> JSON | None:
        return JSON(prefixed(self.raw.props, "facets."))

    @strawberry.field(description="The latest lifecycle change (DROP, RENAME, TRUNCATE, ...).")
    def lifecycle_state(self) -> JSON | None:
        return JSON(prop(self.raw.props, "lifecycle_state"))

    @strawberry.field(description="When the dataset last changed, if a source said so.")
    def updated_at(self) -> datetime | None:
        return when(self.raw.props, "updated_at", "output_statistics.last_updated")

    @relay.connection(ListOf["DatasetField"], description="Columns (Field nodes) of the dataset.")
    async def fields(self, info: Info) -> list[DatasetField]:
        return await linked(info, self, DOWN, [EdgeKind.HAS_FIELD], DatasetField)

    @relay.connection(ListOf["DatasetVersion"], description="Versions, oldest first.")
    async def versions(self, info: Info) -> list[DatasetVersion]:
        return await linked(info, self, UP, [EdgeKind.VERSION_OF], DatasetVersion)

    @relay.connection(ListOf[RunRef], description="Runs that wrote this dataset.")
    async def produced_by(self, info: Info) -> list[RunRef]:
        from lineagegraph.api.graphql.types.runs import Run

        return await linked(info, self, UP, [EdgeKind.PRODUCED], Run)

    @relay.connection(ListOf[RunRef], description="Runs that read this dataset.")
    async def consumed_by(self, info: Info) -> list[RunRef]:
        from lineagegraph.api.graphql.types.runs import Run

        return await linked(info, self, DOWN, [EdgeKind.CONSUMED], Run)

    @relay.connection(ListOf[JobRef], description="Jobs that write this dataset.")
    async def producing_jobs(self, info: Info) -> list[JobRef]:
        from lineagegraph.api.graphql.types.runs import Job

        return await linked(info, self, UP, [EdgeKind.PRODUCED], Job)

    @relay.connection(ListOf[JobRef], description="Jobs that read this dataset.")
    async def consuming_jobs(self, info: Info) -> list[JobRef]:
        from lineagegraph.api.graphql.types.runs import Job

        return await linked(info, self, DOWN, [EdgeKind.CONSUMED], Job)

    @relay.connection(ListOf[FeatureRef], description="Features computed from this dataset.")
    async def features(self, info: Info) -> list[FeatureRef]:
        from lineagegraph.api.graphql.types.models import Feature

        return await linked(info, self, DOWN, [EdgeKind.FEEDS], Feature)

    @relay.connection(ListOf[EvaluationRef], description="Evaluations run on this dataset.")
    async def evaluations(self, info: Info) -> list[EvaluationRef]:
        from lineagegraph.api.graphql.types.models import Evaluation

        return await linked(info, self, DOWN, [EdgeKind.EVALUATED], Evaluation)

    @strawberry.field(description="Other names of this dataset (symlinks), either way.")
    async def aliases(self, info: Info) -> list[Dataset]:
        return await linked(info, self, Direction.BOTH, [EdgeKind.ALIAS_OF], Dataset)


@node_type(NodeKind.DATASET_VERSION)
@strawberry.type(description="One version of a dataset, with the schema it had.")
class DatasetVersion(Node):
    @strawberry.field
    def version(self) -> str:
        return self.raw.key.part("version")

    @strawberry.field
    async def dataset(self, info: Info) -> Dataset | None:
        return await load(info, self.raw.key.dataset, Dataset)

    @strawberry.field(description="The columns this version had.")
    def schema(self) -> list[SchemaField] | None:
        return schema_fields(self.raw.props)

    @relay.connection(ListOf[RunRef], description="Runs that wrote this version.")
    async def written_by(self, info: Info) -> list[RunRef]:
        from lineagegraph.api.graphql.types.runs import Run

        return await linked(info, self, UP, [EdgeKind.WROTE_VERSION], Run)

    @relay.connection(ListOf[RunRef], description="Runs that read this version.")
    async def read_by(self, info: Info) -> list[RunRef]:
        from lineagegraph.api.graphql.types.runs import Run

        return await linked(info, self, UP, [EdgeKind.READ_VERSION], Run)


@node_type(NodeKind.FIELD)
@strawberry.type(name="Field", description="A column of a dataset (column-level lineage).")
class DatasetField(Node):
    @strawberry.field(description="The column path (nested columns have several parts).")
    def path(self) -> list[str]:
        return list(self.raw.key.parts[2:])

    @strawberry.field
    def type(self) -> str | None:
        return text(self.raw.props, "type", "dataType")

    @strawberry.field
    def description(self) -> str | None:
        return text(self.raw.props, "description")

    @strawberry.field
    async def dataset(self, info: Info) -> Dataset | None:
        return await load(info, self.raw.key.dataset, Dataset)

    @relay.connection(ListOf["DatasetField"], description="Columns this one is derived from.")
    async def upstream(self, info: Info) -> list[DatasetField]:
        return await linked(info, self, UP, [EdgeKind.DERIVES], DatasetField)

    @relay.connection(ListOf["DatasetField"], description="Columns derived from this one.")
    async def downstream(self, info: Info) -> list[DatasetField]:
        return await linked(info, self, DOWN, [EdgeKind.DERIVES], DatasetField)

    @relay.connection(ListOf[FeatureRef], description="Features computed from this column.")
    async def features(self, info: Info) -> list[FeatureRef]:
        from lineagegraph.api.graphql.types.models import Feature

        return await linked(info, self, DOWN, [EdgeKind.FEEDS], Feature)
