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
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, TypeAlias, TypeVar

from lineagegraph.errors import InvalidChangeSet
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EDGE_RULES, EdgeKind
from lineagegraph.graph.records import canonical

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
        """All entries of ``changesets`` in one ChangeSet (concatenated as they are)."""
        out = cls()
        for cs in changesets:
            out.extend(cs)
        return out

    @classmethod
    def coalesce(cls, changesets: Iterable[ChangeSet]) -> ChangeSet:
        """One ChangeSet that applies exactly like all of ``changesets`` (see :func:`coalesce`)."""
        return coalesce(changesets)

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
    if type(props) is dict and _plain_json(props):
        return  # the common case, checked without building paths
    if not isinstance(props, Mapping):
        raise InvalidChangeSet("props must be a mapping", path=where)
    for k, v in props.items():
        if not isinstance(k, str):
            raise InvalidChangeSet(f"property names are strings, got {k!r}", path=where)
        _check_json(v, f"{where}.{k}")


_PLAIN = frozenset({str, int, bool, type(None)})


def _plain_json(v: dict[str, JSON]) -> bool:
    """True when ``v`` is made of plain JSON types only (exact types, no NaN): the
    fast check of :func:`_check_props`. False sends it to the full check, which
    accepts subclasses too and names the first bad value."""
    for k, x in v.items():
        if type(k) is not str:
            return False
        if type(x) not in _PLAIN and not _plain_value(x):
            return False
    return True


def _plain_value(x: JSON) -> bool:
    t = type(x)
    if t is dict:
        return _plain_json(x)
    if t is list:
        return all(type(item) in _PLAIN or _plain_value(item) for item in x)
    if t is float:
        return bool(x == x)  # NaN has no JSON form
    return t in _PLAIN


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


# ---- coalescing --------------------------------------------------------------------

EdgeIdent: TypeAlias = tuple[NodeKey, EdgeKind, NodeKey]


def coalesce(changesets: Iterable[ChangeSet]) -> ChangeSet:
    """Fold ChangeSets into one that any store applies to exactly the same state.

    Every merge rule of a store is a commutative fold (``lineagegraph/graph/records.py``):
    ``first_seen`` is the min of the event times, ``last_seen`` and provenance the max
    of ``(event time, source, event id)``, each property the max of ``(event time,
    canonical JSON)``, a tombstone the max event time. So, for each node (and edge)
    upserted more than once, the result keeps only:

    * the upsert that wins provenance, carrying every property whose winning write is
      at its event time (writes tied at that time folded with the canonical tie-break);
    * one upsert per earlier event time at which some other property's winning write
      happened, with those properties (and the provenance of a write at that time);
    * an upsert without properties at the earliest event time (``first_seen``), unless
      one of the above is at that time.

    Writes that win nothing are left out, and a node's (edge's) tombstones become
    the latest one. Every entry kept (time, provenance) is one of the inputs', so
    applying the result, against any stored state and in any order with anything
    else, gives what applying every input gives; it just costs the distinct facts
    instead of every repetition (a batch of events re-upserting the same datasets,
    jobs and columns). The result is unvalidated like its inputs: the store
    validates what it applies. An input a fold cannot read (an unhashable key, a
    naive event time, props that are not a mapping) makes this a plain
    :meth:`ChangeSet.merge`, so the store names the bad entry.
    """
    sets = list(changesets)
    try:
        return _coalesce(sets)
    except (TypeError, AttributeError):  # not comparable, not hashable, props not a mapping
        return ChangeSet.merge(sets)


def _coalesce(sets: list[ChangeSet]) -> ChangeSet:
    nodes: dict[NodeKey, list[NodeUpsert]] = {}
    edges: dict[EdgeIdent, list[EdgeUpsert]] = {}
    node_tombs: dict[NodeKey, NodeTombstone] = {}
    edge_tombs: dict[EdgeIdent, EdgeTombstone] = {}
    for cs in sets:
        for n in cs.nodes:
            group = nodes.get(n.key)
            if group is None:
                nodes[n.key] = [n]
            else:
                group.append(n)
        for e in cs.edges:
            ident = (e.src, e.kind, e.dst)
            egroup = edges.get(ident)
            if egroup is None:
                edges[ident] = [e]
            else:
                egroup.append(e)
        for tomb in cs.node_tombstones:
            seen = node_tombs.get(tomb.key)
            if seen is None or tomb.event_time > seen.event_time:
                node_tombs[tomb.key] = tomb
        for te in cs.edge_tombstones:
            ident = (te.src, te.kind, te.dst)
            eseen = edge_tombs.get(ident)
            if eseen is None or te.event_time > eseen.event_time:
                edge_tombs[ident] = te
    out = ChangeSet(node_tombstones=list(node_tombs.values()))
    out.edge_tombstones = list(edge_tombs.values())
    out_nodes = out.nodes
    for group in nodes.values():
        if len(group) == 1:
            out_nodes.append(group[0])
            continue
        kept, folded = _fold(group)
        if kept is not None:
            out_nodes.append(kept)
        if folded:
            key = group[0].key
            for t, prov, props in folded:
                out_nodes.append(node_upsert(key, t, prov, props))
    out_edges = out.edges
    for (src, kind, dst), egroup in edges.items():
        if len(egroup) == 1:
            out_edges.append(egroup[0])
            continue
        ekept, folded = _fold(egroup)
        if ekept is not None:
            out_edges.append(ekept)
        for t, prov, props in folded:
            out_edges.append(edge_upsert(src, kind, dst, t, prov, props))
    return out


_ABSENT = object()
Upsert = TypeVar("Upsert", NodeUpsert, EdgeUpsert)

# Upserts built by storing into their slots: the generated __init__ of a frozen
# dataclass stores each field through object.__setattr__, which makes it about twice
# as slow, and coalescing (like mapping an event) makes thousands of them. The same
# objects, as long as the classes keep these fields and no __post_init__ (checked on
# import).


def _slot_setters(cls: type, names: tuple[str, ...]) -> list[Any]:
    if tuple(f.name for f in fields(cls)) != names or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has changed: update node_upsert and edge_upsert")
    return [vars(cls)[name].__set__ for name in names]


_new = object.__new__
_node_key, _node_time, _node_prov, _node_props = _slot_setters(
    NodeUpsert, ("key", "event_time", "provenance", "props")
)
_edge_src, _edge_kind, _edge_dst, _edge_time, _edge_prov, _edge_props = _slot_setters(
    EdgeUpsert, ("src", "kind", "dst", "event_time", "provenance", "props")
)


def node_upsert(key: NodeKey, t: datetime, prov: Provenance, props: dict[str, JSON]) -> NodeUpsert:
    """``NodeUpsert(key, t, prov, props)``, built twice as fast (see above)."""
    u: NodeUpsert = _new(NodeUpsert)
    _node_key(u, key)
    _node_time(u, t)
    _node_prov(u, prov)
    _node_props(u, props)
    return u


def edge_upsert(
    src: NodeKey,
    kind: EdgeKind,
    dst: NodeKey,
    t: datetime,
    prov: Provenance,
    props: dict[str, JSON],
) -> EdgeUpsert:
    """``EdgeUpsert(src, kind, dst, t, prov, props)``, built twice as fast (see above)."""
    u: EdgeUpsert = _new(EdgeUpsert)
    _edge_src(u, src)
    _edge_kind(u, kind)
    _edge_dst(u, dst)
    _edge_time(u, t)
    _edge_prov(u, prov)
    _edge_props(u, props)
    return u


def _fold(
    group: list[Upsert],
) -> tuple[Upsert | None, list[tuple[datetime, Provenance, dict[str, JSON]]]]:
    """The upserts of one node (edge) folded: the upsert that wins provenance, kept
    as it is when its properties stand unchanged (else None), then the other upserts
    to make, as ``(event time, provenance, props)``, the winner's first if not kept."""
    last = first = group[0]
    lt = ft = last.event_time
    lp = last.provenance
    lrank = (lp.source, lp.event_id)
    for u in group:
        t = u.event_time
        if t < ft:  # (then t < lt too: ft <= lt)
            first, ft = u, t
        elif t > lt:
            last, lt, lp = u, t, u.provenance
            lrank = (lp.source, lp.event_id)
        elif t == lt:
            p = u.provenance
            if p is not lp and (p.source, p.event_id) > lrank:  # (p is lp: the same rank)
                last, lp, lrank = u, p, (p.source, p.event_id)
    # the properties written at the latest time win over any written earlier
    top = dict(last.props)
    merged = False  # whether a tie at the latest time was folded into ``top``
    earlier: list[Upsert] = []
    for u in group:
        if u is last:
            continue
        props = u.props
        if not props:
            continue
        if u.event_time != lt:
            # an upsert whose properties are all written at the latest time wins nothing
            # (``top`` only grows: checked again below against all of it)
            if not props.keys() <= top.keys():
                earlier.append(u)
            continue
        merged = True
        for name, value in props.items():
            current = top.get(name, _ABSENT)
            if current is _ABSENT or (
                value is not current and canonical(value) > canonical(current)
            ):
                top[name] = value
    kept: Upsert | None = None
    out: list[tuple[datetime, Provenance, dict[str, JSON]]] = []
    if merged or type(last.props) is not dict:
        out.append((lt, lp, top))
    else:
        kept = last  # its very properties: no need for a copy of it
    if not earlier:  # the common case: nothing else wins
        if ft != lt:
            out.append((ft, first.provenance, {}))
        return kept, out
    # a property never written at the latest time: its own latest write wins
    winners: dict[str, tuple[datetime, JSON, Provenance]] = {}
    for u in earlier:
        props = u.props
        if props.keys() <= top.keys():
            continue
        t = u.event_time
        for name, value in props.items():
            if name in top:
                continue
            w = winners.get(name)
            if (
                w is None
                or t > w[0]
                or (t == w[0] and value is not w[1] and canonical(value) > canonical(w[1]))
            ):
                winners[name] = (t, value, u.provenance)
    at: dict[datetime, tuple[Provenance, dict[str, JSON]]] = {}
    for name, (t, value, prov) in winners.items():
        entry = at.get(t)
        if entry is None:
            at[t] = (prov, {name: value})
        else:
            entry[1][name] = value
    for t, (prov, props) in at.items():
        out.append((t, prov, props))
    if ft != lt and ft not in at:
        out.append((ft, first.provenance, {}))
    return kept, out


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
