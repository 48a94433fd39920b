"""Backend-neutral changes to the graph.

Ingestors turn every input into a :class:`ChangeSet`; stores apply ChangeSets.
Nothing else writes to a store. A ChangeSet is a bag of upserts and tombstones
of nodes and edges, each with the event time it is true from and its
provenance (which source, which event).

Applying is idempotent and order-insensitive:

* ``first_seen`` is the earliest event time an upsert reported, ``last_seen``
  the latest.
* properties are a last-writer-wins map *per property*, ordered by event time
  (ties broken by the value's canonical JSON), so the same upserts in any
  order give the same properties. Setting a property to ``None`` removes it.
* a tombstone ends a node or edge at its event time (it stays in history for
  as-of queries); an upsert with a later event time revives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from lineagegraph.errors import InvalidChangeSet
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EDGE_RULES, EdgeKind

JSON: TypeAlias = Any  # a JSON-compatible value (dict, list, str, int, float, bool, None)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a fact came from: a source system and the id of the event in it."""

    source: str  # e.g. "openlineage", "mlflow", "api"
    event_id: str  # the event log's idempotency key or the source's own event id


@dataclass(frozen=True, slots=True)
class NodeUpsert:
    key: NodeKey
    event_time: datetime
    provenance: Provenance
    props: Mapping[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EdgeUpsert:
    src: NodeKey
    kind: EdgeKind
    dst: NodeKey
    event_time: datetime
    provenance: Provenance
    props: Mapping[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeTombstone:
    key: NodeKey
    event_time: datetime
    provenance: Provenance


@dataclass(frozen=True, slots=True)
class EdgeTombstone:
    src: NodeKey
    kind: EdgeKind
    dst: NodeKey
    event_time: datetime
    provenance: Provenance


@dataclass(slots=True)
class ChangeSet:
    """Upserts and tombstones of nodes and edges, applied as one unit."""

    nodes: list[NodeUpsert] = field(default_factory=list)
    edges: list[EdgeUpsert] = field(default_factory=list)
    node_tombstones: list[NodeTombstone] = field(default_factory=list)
    edge_tombstones: list[EdgeTombstone] = field(default_factory=list)

    # ---- building --------------------------------------------------------
    def node(
        self,
        key: NodeKey,
        event_time: datetime,
        provenance: Provenance,
        props: Mapping[str, JSON] | None = None,
    ) -> NodeKey:
        self.nodes.append(NodeUpsert(key, event_time, provenance, dict(props or {})))
        return key

    def edge(
        self,
        src: NodeKey,
        kind: EdgeKind,
        dst: NodeKey,
        event_time: datetime,
        provenance: Provenance,
        props: Mapping[str, JSON] | None = None,
    ) -> None:
        self.edges.append(EdgeUpsert(src, kind, dst, event_time, provenance, dict(props or {})))

    def extend(self, other: ChangeSet) -> None:
        self.nodes.extend(other.nodes)
        self.edges.extend(other.edges)
        self.node_tombstones.extend(other.node_tombstones)
        self.edge_tombstones.extend(other.edge_tombstones)

    @classmethod
    def merge(cls, changesets: Iterable[ChangeSet]) -> ChangeSet:
        out = cls()
        for cs in changesets:
            out.extend(cs)
        return out

    def __len__(self) -> int:
        return (
            len(self.nodes)
            + len(self.edges)
            + len(self.node_tombstones)
            + len(self.edge_tombstones)
        )

    def node_keys(self) -> set[NodeKey]:
        """Keys of the nodes this ChangeSet upserts."""
        return {n.key for n in self.nodes}

    def referenced_keys(self) -> set[NodeKey]:
        """Every node key the ChangeSet names (nodes, edge endpoints, tombstones)."""
        keys = self.node_keys()
        for e in self.edges:
            keys.add(e.src)
            keys.add(e.dst)
        keys.update(t.key for t in self.node_tombstones)
        for t in self.edge_tombstones:
            keys.add(t.src)
            keys.add(t.dst)
        return keys

    # ---- validation ------------------------------------------------------
    def validate(self) -> None:
        """Check the ChangeSet against the graph model, on its own.

        Raises :class:`InvalidChangeSet` naming the offending entry. Whether
        edge endpoints exist is the store's check (they may already be stored).
        """
        for i, n in enumerate(self.nodes):
            where = f"nodes[{i}]"
            if not isinstance(n.key, NodeKey):
                raise InvalidChangeSet("key must be a NodeKey", path=f"{where}.key")
            _check_time(n.event_time, f"{where}.event_time")
            _check_props(n.props, f"{where}.props")
        for i, e in enumerate(self.edges):
            where = f"edges[{i}]"
            _check_edge(e.src, e.kind, e.dst, where)
            _check_time(e.event_time, f"{where}.event_time")
            _check_props(e.props, f"{where}.props")
        for i, t in enumerate(self.node_tombstones):
            _check_time(t.event_time, f"node_tombstones[{i}].event_time")
        for i, te in enumerate(self.edge_tombstones):
            where = f"edge_tombstones[{i}]"
            _check_edge(te.src, te.kind, te.dst, where)
            _check_time(te.event_time, f"{where}.event_time")


def _check_edge(src: NodeKey, kind: EdgeKind, dst: NodeKey, where: str) -> None:
    if not isinstance(kind, EdgeKind):
        raise InvalidChangeSet(f"unknown edge kind {kind!r}", path=f"{where}.kind")
    if not isinstance(src, NodeKey) or not isinstance(dst, NodeKey):
        raise InvalidChangeSet("edge endpoints must be NodeKeys", path=where)
    if (src.kind, dst.kind) not in EDGE_RULES[kind]:
        allowed = ", ".join(sorted(f"{a}->{b}" for a, b in EDGE_RULES[kind]))
        raise InvalidChangeSet(
            f"a {kind} edge cannot join {src.kind} -> {dst.kind} (allowed: {allowed})",
            path=f"{where}.kind",
            src=str(src),
            dst=str(dst),
        )


def _check_time(t: datetime, where: str) -> None:
    if not isinstance(t, datetime):
        raise InvalidChangeSet(f"event time must be a datetime, got {type(t).__name__}", path=where)
    if t.tzinfo is None or t.utcoffset() is None:
        raise InvalidChangeSet("event time must carry a timezone", path=where)


_SCALARS = (str, int, float, bool, type(None))


def _check_props(props: Mapping[str, JSON], where: str) -> None:
    if not isinstance(props, Mapping):
        raise InvalidChangeSet("props must be a mapping", path=where)
    for k, v in props.items():
        if not isinstance(k, str):
            raise InvalidChangeSet(f"property names are strings, got {k!r}", path=where)
        _check_json(v, f"{where}.{k}")


def _check_json(v: JSON, where: str) -> None:
    if isinstance(v, _SCALARS):
        if isinstance(v, float) and v != v:  # NaN has no JSON form
            raise InvalidChangeSet("NaN is not a JSON value", path=where)
        return
    if isinstance(v, list | tuple):
        for i, item in enumerate(v):
            _check_json(item, f"{where}[{i}]")
        return
    if isinstance(v, Mapping):
        for k, item in v.items():
            if not isinstance(k, str):
                raise InvalidChangeSet(f"object keys are strings, got {k!r}", path=where)
            _check_json(item, f"{where}.{k}")
        return
    raise InvalidChangeSet(f"{type(v).__name__} is not a JSON value", path=where)


# ---- JSON form (for the "changeset" source of the event log and the API) --------


def changeset_to_json(cs: ChangeSet) -> dict[str, Any]:
    """The JSON form of a ChangeSet; :func:`changeset_from_json` reads it back."""

    def prov(p: Provenance) -> dict[str, str]:
        return {"source": p.source, "event_id": p.event_id}

    return {
        "nodes": [
            {
                "key": str(n.key),
                "event_time": n.event_time.isoformat(),
                "provenance": prov(n.provenance),
                "props": dict(n.props),
            }
            for n in cs.nodes
        ],
        "edges": [
            {
                "src": str(e.src),
                "kind": e.kind.value,
                "dst": str(e.dst),
                "event_time": e.event_time.isoformat(),
                "provenance": prov(e.provenance),
                "props": dict(e.props),
            }
            for e in cs.edges
        ],
        "node_tombstones": [
            {
                "key": str(t.key),
                "event_time": t.event_time.isoformat(),
                "provenance": prov(t.provenance),
            }
            for t in cs.node_tombstones
        ],
        "edge_tombstones": [
            {
                "src": str(t.src),
                "kind": t.kind.value,
                "dst": str(t.dst),
                "event_time": t.event_time.isoformat(),
                "provenance": prov(t.provenance),
            }
            for t in cs.edge_tombstones
        ],
    }


def changeset_from_json(doc: Mapping[str, Any]) -> ChangeSet:
    """Read the JSON form of a ChangeSet; errors name the offending entry."""
    from lineagegraph.graph.keys import parse_key

    def at(where: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except InvalidChangeSet:
            raise
        except Exception as exc:  # translate once, naming the entry
            raise InvalidChangeSet(str(exc), path=where) from None

    def time(v: Any, where: str) -> datetime:
        return at(where, datetime.fromisoformat, v)  # type: ignore[no-any-return]

    def prov(v: Any, where: str) -> Provenance:
        return at(where, lambda d: Provenance(str(d["source"]), str(d["event_id"])), v)  # type: ignore[no-any-return]

    def key(v: Any, where: str) -> NodeKey:
        return at(where, parse_key, v)  # type: ignore[no-any-return]

    def kind(v: Any, where: str) -> EdgeKind:
        return at(where, EdgeKind, v)  # type: ignore[no-any-return]

    if not isinstance(doc, Mapping):
        raise InvalidChangeSet("a ChangeSet is a JSON object")
    cs = ChangeSet()
    for i, n in enumerate(doc.get("nodes", [])):
        w = f"nodes[{i}]"
        cs.nodes.append(
            NodeUpsert(
                key(n.get("key"), f"{w}.key"),
                time(n.get("event_time"), f"{w}.event_time"),
                prov(n.get("provenance"), f"{w}.provenance"),
                dict(n.get("props") or {}),
            )
        )
    for i, e in enumerate(doc.get("edges", [])):
        w = f"edges[{i}]"
        cs.edges.append(
            EdgeUpsert(
                key(e.get("src"), f"{w}.src"),
                kind(e.get("kind"), f"{w}.kind"),
                key(e.get("dst"), f"{w}.dst"),
                time(e.get("event_time"), f"{w}.event_time"),
                prov(e.get("provenance"), f"{w}.provenance"),
                dict(e.get("props") or {}),
            )
        )
    for i, t in enumerate(doc.get("node_tombstones", [])):
        w = f"node_tombstones[{i}]"
        cs.node_tombstones.append(
            NodeTombstone(
                key(t.get("key"), f"{w}.key"),
                time(t.get("event_time"), f"{w}.event_time"),
                prov(t.get("provenance"), f"{w}.provenance"),
            )
        )
    for i, t in enumerate(doc.get("edge_tombstones", [])):
        w = f"edge_tombstones[{i}]"
        cs.edge_tombstones.append(
            EdgeTombstone(
                key(t.get("src"), f"{w}.src"),
                kind(t.get("kind"), f"{w}.kind"),
                key(t.get("dst"), f"{w}.dst"),
                time(t.get("event_time"), f"{w}.event_time"),
                prov(t.get("provenance"), f"{w}.provenance"),
            )
        )
    cs.validate()
    return cs
