"""The Mutation root: ingest, MLflow sync, deployments and approvals.

Every write lands in the event log first, like any other input: OpenLineage
events through the same code as ``POST /api/v1/lineage``; deployments and
approvals as ChangeSets built by ``lineagegraph.gates`` and submitted under
the ``changeset`` source. In the default inline projection mode the result
is readable as soon as the mutation returns (``projected: true``).

Expected failures come back as typed results (``UserError`` types in each
result union); permissions and unexpected failures as GraphQL errors.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio.to_thread
import strawberry
from strawberry.permission import BasePermission
from strawberry.scalars import JSON

from lineagegraph.api.graphql.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
    user_error,
)
from lineagegraph.api.graphql.permissions import CanIngest, CanPromote
from lineagegraph.api.graphql.types.models import Deployment, GateDecision
from lineagegraph.api.graphql.types.node import Info
from lineagegraph.api.ingest import ingest_openlineage, sync_mlflow
from lineagegraph.errors import InvalidInput, LineageGraphError
from lineagegraph.gates.approvals import Verdict, record_approval
from lineagegraph.gates.deployments import (
    DeploymentChange,
    DeploymentRequest,
    end_deployment,
    register_deployment,
)
from lineagegraph.graph.changeset import ChangeSet, changeset_to_json
from lineagegraph.graph.keys import NodeKey, parse_key
from lineagegraph.runtime import Services

T = TypeVar("T")

strawberry.enum(Verdict, description="An approval's verdict.")

MAX_EVENTS = 1000
INGEST: list[type[BasePermission]] = [CanIngest]
PROMOTE: list[type[BasePermission]] = [CanPromote]


async def _in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # Writes wait for the log's fsync (and inline projection): keep them off the loop.
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))


def _submit(services: Services, changes: ChangeSet) -> tuple[int, bool]:
    """Log a ChangeSet durably (then project it, inline mode); its position, projected."""
    result = services.ingest.submit("changeset", [changeset_to_json(changes)])
    return result.appended[0].seq, result.projected


# ---- ingest ------------------------------------------------------------------------------


@strawberry.type(description="An input that was refused, and why.")
class Rejection:
    index: int = strawberry.field(description="Position of the input in the request.")
    message: str
    path: str | None = strawberry.field(description="JSON path of the offending value.")


@strawberry.type(description="What happened to the inputs of an ingest request.")
class IngestReport:
    accepted: int = strawberry.field(description="Inputs newly logged.")
    duplicates: int = strawberry.field(description="Inputs already logged before (no change).")
    rejected: list[Rejection] = strawberry.field(description="Inputs refused (dead-lettered).")
    warnings: list[str] = strawberry.field(description="Accepted with a warning.")
    projected: bool = strawberry.field(description="True when the graph shows them already.")


IngestResult = Annotated[
    IngestReport | InvalidInputError | UnavailableError, strawberry.union("IngestResult")
]


@strawberry.type(description="What an MLflow sync read and wrote.")
class SyncReport:
    summary: JSON = strawberry.field(description="Counts by object type, as the harvester reports.")


SyncResult = Annotated[
    SyncReport | InvalidInputError | UnavailableError, strawberry.union("SyncResult")
]

# ---- deployments and approvals ------------------------------------------------------------


@strawberry.input(description="A model version by registered name and version.")
class ModelVersionInput:
    name: str
    version: str
    namespace: str | None = strawberry.field(
        default=None, description="The registry namespace (default: the MLflow namespace)."
    )


@strawberry.input
class RegisterDeploymentInput:
    model_version: ModelVersionInput
    environment: str = strawberry.field(description="e.g. production, staging.")
    endpoint: str = strawberry.field(description="The serving endpoint (URL or name).")
    traffic: float = strawberry.field(default=1.0, description="Share of traffic, in (0, 1].")
    replace: bool = strawberry.field(
        default=True, description="End the versions serving there now (false: a canary)."
    )
    alias: str | None = None
    since: datetime | None = strawberry.field(default=None, description="Default: now.")


@strawberry.input
class EndDeploymentInput:
    environment: str
    endpoint: str
    model_version: ModelVersionInput | None = strawberry.field(
        default=None, description="End only this version's serving (default: all)."
    )
    at: datetime | None = strawberry.field(default=None, description="Default: now.")


@strawberry.input
class RecordApprovalInput:
    model_version: ModelVersionInput
    verdict: Verdict = Verdict.APPROVED
    gate: str | None = strawberry.field(default=None, description="The gate it is for, if any.")
    comment: str | None = None


@strawberry.type(description="A deployment change, logged (and projected when `projected`).")
class DeploymentRecorded:
    log_position: int
    projected: bool
    ended: list[strawberry.ID] = strawberry.field(
        description="Model versions that stopped serving."
    )
    deployment_id: strawberry.ID

    @strawberry.field(description="The deployment as the graph shows it now.")
    async def deployment(self, info: Info) -> Deployment | None:
        found = await info.context.graph.node(parse_key(self.deployment_id))
        return Deployment(raw=found) if found is not None else None


DeploymentResult = Annotated[
    DeploymentRecorded | InvalidInputError | NotFoundError | ConflictError | UnavailableError,
    strawberry.union("DeploymentResult"),
]


@strawberry.type(description="An approval, logged (and projected when `projected`).")
class ApprovalRecorded:
    log_position: int
    projected: bool
    decision_id: strawberry.ID

    @strawberry.field
    async def decision(self, info: Info) -> GateDecision | None:
        found = await info.context.graph.node(parse_key(self.decision_id))
        return GateDecision(raw=found) if found is not None else None


ApprovalResult = Annotated[
    ApprovalRecorded | InvalidInputError | NotFoundError | UnavailableError,
    strawberry.union("ApprovalResult"),
]


def _model_version(info: Info, ref: ModelVersionInput, path: str) -> NodeKey:
    namespace = ref.namespace or info.context.settings.mlflow_namespace
    try:
        return NodeKey.model_version(namespace, ref.name, ref.version)
    except LineageGraphError as exc:
        raise InvalidInput(exc.message, path=path) from None


def _actor(info: Info) -> str:
    principal = info.context.principal
    assert principal is not None  # the permission classes ran first
    return principal.name


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=INGEST,
        description="Ingest OpenLineage events (as POST /api/v1/lineage would).",
    )
    async def ingest_open_lineage(self, info: Info, events: list[JSON]) -> IngestResult:
        if not events:
            return InvalidInputError(code="invalid_input", message="no events given", path="events")
        if len(events) > MAX_EVENTS:
            return InvalidInputError(
                code="invalid_input",
                message=f"at most {MAX_EVENTS} events per request, got {len(events)}",
                path="events",
            )
        try:
            report = await _in_thread(ingest_openlineage, info.context.services, list(events))
        except LineageGraphError as exc:
            return user_error(exc)  # type: ignore[return-value]
        if info.context.metrics is not None:
            info.context.metrics.count_ingest(
                "openlineage",
                accepted=report.accepted,
                duplicates=report.duplicates,
                rejected=len(report.rejected),
            )
        return IngestReport(
            accepted=report.accepted,
            duplicates=report.duplicates,
            rejected=[
                Rejection(index=r.index, message=r.message, path=r.path) for r in report.rejected
            ],
            warnings=list(report.warnings),
            projected=report.projected,
        )

    @strawberry.mutation(
        permission_classes=INGEST,
        description="Read what changed in MLflow since the last sync (full: everything).",
    )
    async def sync_mlflow(self, info: Info, full: bool = False) -> SyncResult:
        try:
            summary = await _in_thread(sync_mlflow, info.context.services, full=full)
        except LineageGraphError as exc:
            return user_error(exc)  # type: ignore[return-value]
        return SyncReport(summary=JSON(summary))

    @strawberry.mutation(
        permission_classes=PROMOTE,
        description="Record that a model version serves at an endpoint (ends the versions it "
        "replaces unless replace: false).",
    )
    async def register_deployment(
        self, info: Info, input: RegisterDeploymentInput
    ) -> DeploymentResult:
        services = info.context.services
        try:
            request = DeploymentRequest(
                model_version=_model_version(info, input.model_version, "input.modelVersion"),
                environment=input.environment,
                endpoint=input.endpoint,
                traffic=input.traffic,
                replace=input.replace,
                alias=input.alias,
                since=input.since,
            )
            change = await _in_thread(
                register_deployment, services.store, request, actor=_actor(info)
            )
            position, projected = await _in_thread(_submit, services, change.changes)
        except LineageGraphError as exc:
            return user_error(exc)  # type: ignore[return-value]
        return _recorded(change, position, projected)

    @strawberry.mutation(
        permission_classes=PROMOTE,
        description="End serving at an endpoint (every version, or one).",
    )
    async def end_deployment(self, info: Info, input: EndDeploymentInput) -> DeploymentResult:
        services = info.context.services
        try:
            mv = (
                _model_version(info, input.model_version, "input.modelVersion")
                if input.model_version
                else None
            )
            change = await _in_thread(
                end_deployment,
                services.store,
                input.environment,
                input.endpoint,
                actor=_actor(info),
                at=input.at,
                model_version=mv,
            )
            position, projected = await _in_thread(_submit, services, change.changes)
        except LineageGraphError as exc:
            return user_error(exc)  # type: ignore[return-value]
        return _recorded(change, position, projected)

    @strawberry.mutation(
        permission_classes=PROMOTE,
        description="Record your approval (or rejection) of a model version; the approver is "
        "the calling token.",
    )
    async def record_approval(self, info: Info, input: RecordApprovalInput) -> ApprovalResult:
        services = info.context.services
        try:
            change = await _in_thread(
                record_approval,
                services.store,
                _model_version(info, input.model_version, "input.modelVersion"),
                approver=_actor(info),
                verdict=input.verdict,
                gate=input.gate,
                comment=input.comment,
            )
            position, projected = await _in_thread(_submit, services, change.changes)
        except LineageGraphError as exc:
            return user_error(exc)  # type: ignore[return-value]
        return ApprovalRecorded(
            log_position=position,
            projected=projected,
            decision_id=strawberry.ID(str(change.decision)),
        )


def _recorded(change: DeploymentChange, position: int, projected: bool) -> DeploymentRecorded:
    """The answer of both deployment mutations, from the change they logged."""
    return DeploymentRecorded(
        log_position=position,
        projected=projected,
        ended=[strawberry.ID(str(k)) for k in change.ended],
        deployment_id=strawberry.ID(str(change.deployment)),
    )
