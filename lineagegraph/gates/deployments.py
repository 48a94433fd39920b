"""Deployments recorded by people and tools: which model version serves where, since when.

A Deployment node is an endpoint in an environment (its key); a ``serves``
edge from a model version says that version serves there. Registering a
version ends (tombstones) the edges of the versions it replaces, so history
keeps who served when and *as-of* lineage shows the deployment of the day.
Ending a deployment tombstones its serving edges and stamps ``until``.

These functions only build ChangeSets; the caller submits them to the event
log (source ``changeset``) so they are durable and replayable like any input.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from lineagegraph.errors import Conflict, InvalidInput, NotFound
from lineagegraph.graph.changeset import ChangeSet, EdgeTombstone, Provenance
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.store import Direction, GraphStore

SOURCE = "api"


@dataclass(frozen=True, slots=True)
class DeploymentRequest:
    """What to register: a model version serving an endpoint of an environment."""

    model_version: NodeKey
    environment: str
    endpoint: str
    #: share of the endpoint's traffic this version takes (1.0: all of it)
    traffic: float = 1.0
    #: end the other versions serving this endpoint (False for a canary beside them)
    replace: bool = True
    alias: str | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeploymentChange:
    deployment: NodeKey
    changes: ChangeSet
    #: model versions whose serving this change ends
    ended: list[NodeKey]


def _check_text(value: str, path: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput("must not be empty", path=path)
    return value


def _when(at: datetime | None, path: str) -> datetime:
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput("a time needs a timezone (e.g. 2026-11-22T10:00:00Z)", path=path)
    return at


def register_deployment(
    store: GraphStore, req: DeploymentRequest, *, actor: str
) -> DeploymentChange:
    """The ChangeSet that records ``req``; raises NotFound for an unknown model version."""
    if req.model_version.kind is not NodeKind.MODEL_VERSION:
        raise InvalidInput(
            f"{req.model_version} is a {req.model_version.kind}, not a model_version",
            path="modelVersion",
        )
    environment = _check_text(req.environment, "environment")
    endpoint = _check_text(req.endpoint, "endpoint")
    if not (0.0 < req.traffic <= 1.0) or math.isnan(req.traffic):
        raise InvalidInput(f"traffic is a share in (0, 1], got {req.traffic}", path="traffic")
    since = _when(req.since, "since")
    if not store.get_nodes([req.model_version]):
        raise NotFound(f"no model version {req.model_version}", path="modelVersion")

    deployment = NodeKey.deployment(environment, endpoint)
    prov = Provenance(SOURCE, f"deployment:{uuid.uuid4()}")
    cs = ChangeSet()
    cs.node(
        deployment,
        since,
        prov,
        {
            "environment": environment,
            "endpoint": endpoint,
            "model_version": str(req.model_version),
            "since": since.isoformat(),
            "until": None,  # None removes a previous end: the endpoint serves again
            "status": "active",
            "registered_by": actor,
        },
    )
    edge_props: dict[str, object] = {"traffic": req.traffic, "since": since.isoformat()}
    edge_props["registered_by"] = actor
    if req.alias:
        edge_props["alias"] = req.alias
    cs.edge(req.model_version, EdgeKind.SERVES, deployment, since, prov, edge_props)
    ended: list[NodeKey] = []
    if req.replace:
        for edge in store.get_edges(
            [deployment], direction=Direction.UPSTREAM, edge_kinds=[EdgeKind.SERVES]
        ):
            if edge.src != req.model_version:
                if edge.first_seen > since:
                    raise Conflict(
                        f"{edge.src} started serving {deployment} at "
                        f"{edge.first_seen.isoformat()}, after {since.isoformat()}; "
                        "give a later 'since'",
                        path="since",
                    )
                cs.edge_tombstones.append(
                    EdgeTombstone(edge.src, EdgeKind.SERVES, deployment, since, prov)
                )
                ended.append(edge.src)
    return DeploymentChange(deployment, cs, ended)


def end_deployment(
    store: GraphStore,
    environment: str,
    endpoint: str,
    *,
    actor: str,
    at: datetime | None = None,
    model_version: NodeKey | None = None,
) -> DeploymentChange:
    """End serving at an endpoint: every version, or only ``model_version``.

    Raises NotFound when the deployment does not exist or nothing (or not that
    version) serves there.
    """
    deployment = NodeKey.deployment(
        _check_text(environment, "environment"), _check_text(endpoint, "endpoint")
    )
    until = _when(at, "at")
    if not store.get_nodes([deployment]):
        raise NotFound(f"no deployment {deployment}", path="endpoint")
    serving = [
        e.src
        for e in store.get_edges(
            [deployment], direction=Direction.UPSTREAM, edge_kinds=[EdgeKind.SERVES]
        )
        if model_version is None or e.src == model_version
    ]
    if not serving:
        what = f"{model_version} does not serve" if model_version else "nothing serves"
        raise NotFound(
            f"{what} at {deployment}", path="modelVersion" if model_version else "endpoint"
        )
    prov = Provenance(SOURCE, f"deployment-end:{uuid.uuid4()}")
    cs = ChangeSet()
    for mv in serving:
        cs.edge_tombstones.append(EdgeTombstone(mv, EdgeKind.SERVES, deployment, until, prov))
    remaining = store.get_edges(
        [deployment], direction=Direction.UPSTREAM, edge_kinds=[EdgeKind.SERVES]
    )
    if len(remaining) == len(serving):  # the endpoint no longer serves anything
        cs.node(
            deployment,
            until,
            prov,
            {"until": until.isoformat(), "status": "ended", "ended_by": actor},
        )
    return DeploymentChange(deployment, cs, serving)
