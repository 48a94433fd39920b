"""Lineage: where did this come from, and what does it feed.

Written once on the GraphStore contract (``traverse`` + batched reads), so it
answers the same on every store. Granularity picks the picture: the job view
(Dataset -> Job -> Dataset, the default picture) hides Run nodes; the run
view hides Job nodes; ALL shows both.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from lineagegraph.errors import InvalidInput, NotFound
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import LINEAGE_EDGE_KINDS, EdgeKind, NodeKind
from lineagegraph.graph.store import (
    Direction,
    Edge,
    GraphStore,
    Node,
    Traversal,
    TraversalSpec,
)


class Granularity(StrEnum):
    JOB = "job"  # datasets and jobs: runs hidden
    RUN = "run"  # datasets and runs: jobs hidden
    ALL = "all"  # both


_HIDDEN: dict[Granularity, frozenset[NodeKind]] = {
    Granularity.JOB: frozenset({NodeKind.RUN}),
    Granularity.RUN: frozenset({NodeKind.JOB}),
    Granularity.ALL: frozenset(),
}


@dataclass(frozen=True, slots=True)
class LineageResult:
    nodes: list[Node]
    edges: list[Edge]
    #: hops from the nearest start node (start nodes: 0)
    depth: dict[NodeKey, int]
    #: True when ``limit`` stopped the expansion before it was complete
    truncated: bool


def allowed_kinds(
    node_kinds: Collection[NodeKind] | None, granularity: Granularity
) -> frozenset[NodeKind] | None:
    """The node kinds a traversal may enter, from a kind filter and a granularity."""
    hidden = _HIDDEN[granularity]
    if node_kinds is None:
        return frozenset(NodeKind) - hidden if hidden else None
    return frozenset(node_kinds) - hidden


def expand(
    store: GraphStore,
    starts: Iterable[NodeKey],
    *,
    direction: Direction = Direction.BOTH,
    depth: int | None = None,
    edge_kinds: Collection[EdgeKind] | None = None,
    node_kinds: Collection[NodeKind] | None = None,
    as_of: datetime | None = None,
    granularity: Granularity = Granularity.JOB,
    limit: int | None = None,
) -> Traversal:
    """Breadth-first expansion up, down or both, as one Traversal.

    For BOTH the two closures are taken separately and united (siblings are
    not lineage); the ``limit`` is shared between them, upstream first.
    """
    start_keys = tuple(dict.fromkeys(starts))
    if not start_keys:
        raise InvalidInput("lineage needs at least one start node", path="starts")
    if depth is not None and depth < 0:
        raise InvalidInput(f"depth must be >= 0, got {depth}", path="depth")
    if limit is not None and limit < 1:
        raise InvalidInput(f"limit must be >= 1, got {limit}", path="limit")
    kinds = frozenset(edge_kinds) if edge_kinds is not None else LINEAGE_EDGE_KINDS
    if not kinds:
        raise InvalidInput("edge_kinds must name at least one edge kind", path="edge_kinds")
    allowed = allowed_kinds(node_kinds, granularity)
    directions = (
        [Direction.UPSTREAM, Direction.DOWNSTREAM] if direction is Direction.BOTH else [direction]
    )
    parts: list[Traversal] = []
    remaining = limit
    for d in directions:
        part = store.traverse(
            TraversalSpec(
                starts=start_keys,
                direction=d,
                max_depth=depth,
                edge_kinds=kinds,
                node_kinds=allowed,
                as_of=as_of,
                limit=remaining,
            )
        )
        parts.append(part)
        if remaining is not None:
            remaining -= len(part) - len(start_keys)
            if remaining <= 0:
                part.truncated = part.truncated or d is not directions[-1]
                break
    if len(parts) == 1:
        return parts[0]
    merged = Traversal()
    for part in parts:
        for key, hops in part.depth.items():
            if key not in merged.depth or hops < merged.depth[key]:
                merged.depth[key] = hops
                if hops:
                    merged.parent[key] = part.parent[key]
        merged.truncated = merged.truncated or part.truncated
    return merged


def lineage(
    store: GraphStore,
    starts: NodeKey | Iterable[NodeKey],
    *,
    direction: Direction = Direction.BOTH,
    depth: int | None = None,
    edge_kinds: Collection[EdgeKind] | None = None,
    node_kinds: Collection[NodeKind] | None = None,
    as_of: datetime | None = None,
    granularity: Granularity = Granularity.JOB,
    limit: int | None = None,
) -> LineageResult:
    """The lineage graph around ``starts``: the nodes reached and every followed
    kind of edge among them.

    Raises ``NotFound`` when a start node does not exist (at ``as_of``).
    """
    start_keys = (starts,) if isinstance(starts, NodeKey) else tuple(dict.fromkeys(starts))
    found = store.get_nodes(start_keys, as_of=as_of)
    missing = [k for k in start_keys if k not in found]
    if missing:
        when = f" at {as_of.isoformat()}" if as_of else ""
        raise NotFound(
            f"no node {missing[0]}{when}", path="starts", missing=[str(k) for k in missing]
        )
    traversal = expand(
        store,
        start_keys,
        direction=direction,
        depth=depth,
        edge_kinds=edge_kinds,
        node_kinds=node_kinds,
        as_of=as_of,
        granularity=granularity,
        limit=limit,
    )
    keys = traversal.nodes
    nodes_by_key = store.get_nodes(keys, as_of=as_of)
    kinds = frozenset(edge_kinds) if edge_kinds is not None else LINEAGE_EDGE_KINDS
    edges = store.edges_among(keys, edge_kinds=kinds, as_of=as_of)
    return LineageResult(
        nodes=[nodes_by_key[k] for k in keys if k in nodes_by_key],
        edges=edges,
        depth=traversal.depth,
        truncated=traversal.truncated,
    )
