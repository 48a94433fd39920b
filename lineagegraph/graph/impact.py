"""Impact analysis: what breaks if this node, or these columns, change.

The downstream closure from the start nodes over lineage edges, grouped by
kind, with one shortest path per affected node as evidence and the owners to
tell. Starting from fields gives column-level impact: it follows column
lineage (Field -> Field -> Feature -> ModelVersion -> Deployment) and reports
the datasets that hold affected fields. ``conservative`` also adds everything
downstream of the datasets holding the start fields, for producers that
report no column lineage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lineagegraph.errors import NotFound
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import NodeKind
from lineagegraph.graph.lineage import Granularity, expand
from lineagegraph.graph.store import Direction, GraphStore, Node


@dataclass(frozen=True, slots=True)
class Affected:
    node: Node
    depth: int
    #: one shortest path from a start node to this node (both included)
    path: list[NodeKey]
    owners: list[str]
    #: "lineage" when reached over lineage edges, "column" when it holds an affected
    #: field, "dataset" when only the conservative dataset-level expansion reached it
    via: str = "lineage"


@dataclass(frozen=True, slots=True)
class ImpactResult:
    sources: list[NodeKey]
    affected: list[Affected]
    by_kind: dict[NodeKind, list[Affected]]
    truncated: bool

    def affected_keys(self) -> set[NodeKey]:
        return {a.node.key for a in self.affected}


def owners_of(props: Mapping[str, Any]) -> list[str]:
    """Owner names from a node's ``owners`` property (strings or {"name": ...} objects)."""
    raw = props.get("owners") or []
    if isinstance(raw, str | dict):
        raw = [raw]
    out: list[str] = []
    for o in raw:
        name = o.get("name") if isinstance(o, dict) else o
        if isinstance(name, str) and name and name not in out:
            out.append(name)
    return out


def impact(
    store: GraphStore,
    starts: NodeKey | Iterable[NodeKey],
    *,
    depth: int | None = None,
    as_of: datetime | None = None,
    limit: int | None = None,
    granularity: Granularity = Granularity.JOB,
    conservative: bool = False,
) -> ImpactResult:
    start_keys = [starts] if isinstance(starts, NodeKey) else list(dict.fromkeys(starts))
    found = store.get_nodes(start_keys, as_of=as_of)
    missing = [k for k in start_keys if k not in found]
    if missing:
        raise NotFound(f"no node {missing[0]}", path="starts", missing=[str(k) for k in missing])

    down = expand(
        store,
        start_keys,
        direction=Direction.DOWNSTREAM,
        depth=depth,
        as_of=as_of,
        granularity=granularity,
        limit=limit,
    )
    found_at: dict[NodeKey, tuple[int, list[NodeKey], str]] = {
        k: (d, down.path_to(k), "lineage") for k, d in down.depth.items() if k not in found
    }
    truncated = down.truncated

    # Datasets holding an affected field are affected too, one hop further (the
    # datasets of the start fields are the ones being changed, not affected).
    changed = {k.dataset for k in start_keys if k.kind is NodeKind.FIELD}
    for key, (d, path, _) in list(found_at.items()):
        if key.kind is NodeKind.FIELD:
            ds = key.dataset
            if ds in found or ds in changed:
                continue
            if ds not in found_at or found_at[ds][0] > d + 1:
                found_at[ds] = (d + 1, [*path, ds], "column")

    if conservative:
        field_of = {k.dataset: k for k in reversed(start_keys) if k.kind is NodeKind.FIELD}
        datasets = list(field_of)
        if datasets:
            wide = expand(
                store,
                datasets,
                direction=Direction.DOWNSTREAM,
                depth=depth,
                as_of=as_of,
                granularity=granularity,
                limit=limit,
            )
            truncated = truncated or wide.truncated
            for k, d in wide.depth.items():
                if k not in found and k not in found_at and k not in changed:
                    path = wide.path_to(k)
                    found_at[k] = (d + 1, [field_of[path[0]], *path], "dataset")

    nodes = store.get_nodes(list(found_at), as_of=as_of)
    affected = sorted(
        (
            Affected(nodes[k], d, path, owners_of(nodes[k].props), via)
            for k, (d, path, via) in found_at.items()
            if k in nodes
        ),
        key=lambda a: (a.depth, a.node.key.kind.value, str(a.node.key)),
    )
    by_kind: dict[NodeKind, list[Affected]] = {}
    for a in affected:
        by_kind.setdefault(a.node.key.kind, []).append(a)
    return ImpactResult(start_keys, affected, by_kind, truncated)
