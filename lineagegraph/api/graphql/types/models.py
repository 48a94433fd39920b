"""Models: features, registered models and versions, evaluations, deployments, decisions."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from lineagegraph.api.graphql.context import Link
from lineagegraph.api.graphql.types.node import (
    Entry,
    Info,
    ListOf,
    Node,
    entries,
    linked,
    linked_any,
    load,
    node_type,
    number,
    prop,
    strings,
    text,
    when,
    wrap_as,
)
from lineagegraph.graph.impact import owners_of
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.store import Direction

if TYPE_CHECKING:
    from lineagegraph.api.graphql.types.data import Dataset
    from lineagegraph.api.graphql.types.runs import Run

_DATA = "lineagegraph.api.graphql.types.data"
_RUNS = "lineagegraph.api.graphql.types.runs"
DatasetRef = Annotated["Dataset", strawberry.lazy(_DATA)]
RunRef = Annotated["Run", strawberry.lazy(_RUNS)]

UP, DOWN = Direction.UPSTREAM, Direction.DOWNSTREAM


@node_type(NodeKind.FEATURE)
@strawberry.type(description="A model input (a signature column or a feature view's feature).")
class Feature(Node):
    @strawberry.field
    def dtype(self) -> str | None:
        return text(self.raw.props, "type", "dtype", "data_type")

    @strawberry.field
    def description(self) -> str | None:
        return text(self.raw.props, "description")

    @relay.connection(ListOf[Node], description="The columns or datasets it is computed from.")
    async def sources(self, info: Info) -> list[Node]:
        return await linked_any(info, self, UP, [EdgeKind.FEEDS])

    @relay.connection(ListOf["ModelVersion"], description="Model versions that take it as input.")
    async def model_versions(self, info: Info) -> list[ModelVersion]:
        return await linked(info, self, DOWN, [EdgeKind.INPUT_TO], ModelVersion)


@node_type(NodeKind.MODEL)
@strawberry.type(description="A registered model.")
class Model(Node):
    @strawberry.field
    def description(self) -> str | None:
        return text(self.raw.props, "description")

    @strawberry.field
    def owners(self) -> list[str]:
        return owners_of(self.raw.props)

    @strawberry.field
    def tags(self) -> list[Entry]:
        return entries(self.raw.props, "tags")

    @strawberry.field(description="Aliases and the versions they point at (alias -> version).")
    def aliases(self) -> list[Entry]:
        return entries(self.raw.props, "aliases")

    @relay.connection(ListOf["ModelVersion"], description="Versions, oldest first.")
    async def versions(self, info: Info) -> list[ModelVersion]:
        return await linked(info, self, UP, [EdgeKind.VERSION_OF], ModelVersion)


@node_type(NodeKind.MODEL_VERSION)
@strawberry.type(
    description="One version of a registered model: what trained it and where it serves."
)
class ModelVersion(Node):
    @strawberry.field(description="The registered model's name.")
    def model_name(self) -> str:
        return self.raw.key.part("name")

    @strawberry.field
    def version(self) -> str:
        return self.raw.key.part("version")

    @strawberry.field(description="READY, PENDING_REGISTRATION, FAILED_REGISTRATION (MLflow).")
    def status(self) -> str | None:
        return text(self.raw.props, "status")

    @strawberry.field(description="The deprecated MLflow stage (Staging, Production, Archived).")
    def stage(self) -> str | None:
        return text(self.raw.props, "stage", "current_stage")

    @strawberry.field(description="Aliases pointing at this version (champion, challenger, ...).")
    def aliases(self) -> list[str]:
        return strings(self.raw.props, "aliases")

    @strawberry.field
    def description(self) -> str | None:
        return text(self.raw.props, "description")

    @strawberry.field
    def tags(self) -> list[Entry]:
        return entries(self.raw.props, "tags")

    @strawberry.field(description="Metrics logged for the version (its logged model's).")
    def metrics(self) -> list[Entry]:
        return entries(self.raw.props, "metrics")

    @strawberry.field(description="The artifact source (models:/m-<id>, a run's artifact path).")
    def source(self) -> str | None:
        return text(self.raw.props, "source")

    @strawberry.field(description="The model signature (inputs, outputs, params) as JSON.")
    def signature(self) -> JSON | None:
        return JSON(prop(self.raw.props, "signature"))

    @strawberry.field(description="When the version was registered.")
    def created_at(self) -> datetime | None:
        return when(self.raw.props, "creation_time", "created_at")

    @strawberry.field
    async def model(self, info: Info) -> Model | None:
        return await load(info, self.raw.key.model, Model)

    @strawberry.field(description="The run that trained it (the first, if several claim it).")
    async def training_run(self, info: Info) -> RunRef | None:
        from lineagegraph.api.graphql.types.runs import Run

        runs = await linked(info, self, UP, [EdgeKind.TRAINED], Run)
        return runs[0] if runs else None

    @relay.connection(ListOf[RunRef], description="Runs that trained it.")
    async def training_runs(self, info: Info) -> list[RunRef]:
        from lineagegraph.api.graphql.types.runs import Run

        return await linked(info, self, UP, [EdgeKind.TRAINED], Run)

    @relay.connection(ListOf[DatasetRef], description="Datasets its training runs read.")
    async def datasets(self, info: Info) -> list[DatasetRef]:
        from lineagegraph.api.graphql.types.data import Dataset

        graph = info.context.graph
        trainers = await graph.neighbors(self.raw.key, UP, [EdgeKind.TRAINED])
        runs = [n for n in trainers if n.key.kind is NodeKind.RUN] or trainers
        # gather: the reads of every run (of every version in the page) batch together
        inputs = await asyncio.gather(
            *(graph.neighbors(n.key, UP, [EdgeKind.CONSUMED]) for n in runs)
        )
        seen: dict[object, Dataset] = {}
        for nodes in inputs:
            for ds in wrap_as(Dataset, nodes):
                seen.setdefault(ds.raw.key, ds)
        return list(seen.values())

    @relay.connection(ListOf[Feature], description="Its input features.")
    async def features(self, info: Info) -> list[Feature]:
        return await linked(info, self, UP, [EdgeKind.INPUT_TO], Feature)

    @relay.connection(ListOf["Evaluation"], description="Its evaluations.")
    async def evaluations(self, info: Info) -> list[Evaluation]:
        return await linked(info, self, DOWN, [EdgeKind.EVALUATED], Evaluation)

    @relay.connection(
        ListOf["Serving"],
        description="Where it serves; with includeEnded, where it served too (history).",
    )
    async def deployments(self, info: Info, include_ended: bool = False) -> list[Serving]:
        links = await info.context.graph.links(
            self.raw.key, DOWN, [EdgeKind.SERVES], include_deleted=include_ended
        )
        return [Serving(raw=link) for link in links if link.node.key.kind is NodeKind.DEPLOYMENT]

    @relay.connection(ListOf["GateDecision"], description="Gate decisions and approvals about it.")
    async def gate_decisions(self, info: Info) -> list[GateDecision]:
        return await linked(info, self, UP, [EdgeKind.DECIDED], GateDecision)


@node_type(NodeKind.EVALUATION)
@strawberry.type(description="Metrics of a model version on a dataset.")
class Evaluation(Node):
    @strawberry.field
    def metrics(self) -> list[Entry]:
        return entries(self.raw.props, "metrics")

    @strawberry.field
    def created_at(self) -> datetime | None:
        return when(self.raw.props, "evaluated_at", "created_at")

    @strawberry.field(description="The evaluated model version.")
    async def model_version(self, info: Info) -> ModelVersion | None:
        found = await linked(info, self, UP, [EdgeKind.EVALUATED], ModelVersion)
        return found[0] if found else None

    @strawberry.field(description="The dataset (or dataset version) it was evaluated on.")
    async def dataset(self, info: Info) -> Node | None:
        found = [
            n
            for n in await linked_any(info, self, UP, [EdgeKind.EVALUATED])
            if n.raw.key.kind in (NodeKind.DATASET, NodeKind.DATASET_VERSION)
        ]
        return found[0] if found else None


@strawberry.type(description="A model version serving at a deployment, for a period.")
class Serving:
    raw: strawberry.Private[Link]

    @strawberry.field
    def deployment(self) -> Deployment:
        return Deployment(raw=self.raw.node)

    @strawberry.field
    def since(self) -> datetime:
        return self.raw.edge.first_seen

    @strawberry.field(description="When it stopped serving there; null while it serves.")
    def until(self) -> datetime | None:
        return self.raw.edge.deleted_at

    @strawberry.field(description="Share of the endpoint's traffic (1.0: all).")
    def traffic(self) -> float | None:
        return number(self.raw.edge.props, "traffic", "traffic_share")

    @strawberry.field(description="The alias that put it there, if any (champion, ...).")
    def alias(self) -> str | None:
        return text(self.raw.edge.props, "alias")


@strawberry.type(description="A model version that serves (or served) at a deployment.")
class Served:
    raw: strawberry.Private[Link]

    @strawberry.field
    def model_version(self) -> ModelVersion:
        return ModelVersion(raw=self.raw.node)

    @strawberry.field
    def since(self) -> datetime:
        return self.raw.edge.first_seen

    @strawberry.field
    def until(self) -> datetime | None:
        return self.raw.edge.deleted_at

    @strawberry.field
    def traffic(self) -> float | None:
        return number(self.raw.edge.props, "traffic", "traffic_share")


@node_type(NodeKind.DEPLOYMENT)
@strawberry.type(description="An endpoint in an environment where model versions serve.")
class Deployment(Node):
    @strawberry.field
    def environment(self) -> str:
        return self.raw.key.part("environment")

    @strawberry.field
    def endpoint(self) -> str:
        return self.raw.key.part("endpoint")

    @strawberry.field(description="active or ended.")
    def status(self) -> str | None:
        return text(self.raw.props, "status")

    @strawberry.field(description="When the current deployment started.")
    def since(self) -> datetime | None:
        return when(self.raw.props, "since")

    @strawberry.field(description="When the endpoint stopped serving; null while it serves.")
    def until(self) -> datetime | None:
        return when(self.raw.props, "until")

    @strawberry.field(description="The model versions serving now.")
    async def serving(self, info: Info) -> list[Served]:
        links = await info.context.graph.links(self.raw.key, UP, [EdgeKind.SERVES])
        return [Served(raw=link) for link in links]

    @relay.connection(ListOf[Served], description="Every version that served here, oldest first.")
    async def history(self, info: Info) -> list[Served]:
        links = await info.context.graph.links(
            self.raw.key, UP, [EdgeKind.SERVES], include_deleted=True
        )
        return [Served(raw=link) for link in links]


@node_type(NodeKind.GATE_DECISION)
@strawberry.type(description="A promotion gate's verdict or a person's approval, with evidence.")
class GateDecision(Node):
    @strawberry.field(description="approval, or the kind of automatic check.")
    def decision_type(self) -> str | None:
        return text(self.raw.props, "decision_type", "type")

    @strawberry.field(description="approved/rejected, pass/fail/error.")
    def verdict(self) -> str | None:
        return text(self.raw.props, "verdict", "status", "outcome")

    @strawberry.field
    def gate(self) -> str | None:
        return text(self.raw.props, "gate", "policy")

    @strawberry.field(description="Who decided (the token's name for approvals).")
    def actor(self) -> str | None:
        return text(self.raw.props, "actor", "approver")

    @strawberry.field
    def comment(self) -> str | None:
        return text(self.raw.props, "comment")

    @strawberry.field
    def decided_at(self) -> datetime | None:
        return when(self.raw.props, "decided_at")

    @strawberry.field(description="Evidence: ids, paths and values the checks looked at.")
    def evidence(self) -> JSON | None:
        return JSON(prop(self.raw.props, "evidence", "checks"))

    @strawberry.field
    async def model_version(self, info: Info) -> ModelVersion | None:
        found = await linked(info, self, DOWN, [EdgeKind.DECIDED], ModelVersion)
        return found[0] if found else None
