"""Planning and writing a ChangeSet on a Cypher server.

:func:`make_plan` reads what a ChangeSet touches (batched: the state of the
nodes it changes, the existence of the nodes its edges only join, the state
of the edges that may exist), checks that every edge end, tombstoned node and
tombstoned edge exists, and merges every entry with the embedded store's
rules (:class:`~lineagegraph.graph.records.Record`), so both stores
end in the same state. :func:`write_statement` turns the plan into the one
``UNWIND``-batched statement that writes it (see :func:`.queries.write`).
Nothing is written while planning: a rejected ChangeSet changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from lineagegraph.errors import InvalidChangeSet
from lineagegraph.graph.changeset import ChangeSet
from lineagegraph.graph.cypher import queries as q
from lineagegraph.graph.cypher.connectors import Runner
from lineagegraph.graph.cypher.dialect import EDGE_KIND_BY_TYPE, EDGE_TYPES, NODE_LABELS, Dialect
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.records import Record, to_us

T = TypeVar("T")
Triple = tuple[NodeKey, EdgeKind, NodeKey]


@dataclass(slots=True)
class Plan:
    """The merged state of every node and edge a ChangeSet touches."""

    #: the string form of every key the ChangeSet names (made once: it is not free)
    names: dict[NodeKey, str] = field(default_factory=dict)
    nodes: dict[NodeKey, Record] = field(default_factory=dict)
    edges: dict[Triple, Record] = field(default_factory=dict)
    tombstones: int = 0


def chunks(size: int, items: Sequence[T]) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def make_plan(r: Runner, changes: ChangeSet, batch_size: int) -> Plan:
    """Read what the ChangeSet touches, check it, merge it (writes nothing)."""
    plan = Plan()
    names = plan.names = {k: str(k) for k in changes.referenced_keys()}
    by_name = {text: k for k, text in names.items()}
    merged = {n.key for n in changes.nodes} | {t.key for t in changes.node_tombstones}
    # Nodes that change: their whole state. Nodes that are only edge ends: whether
    # they exist (much less to read when a batch of edges follows its nodes).
    stored: dict[NodeKey, Record] = {}
    for chunk in chunks(batch_size, sorted(names[k] for k in merged)):
        for row in r.run(q.nodes_state(), {"keys": list(chunk)}):
            stored[by_name[row[0]]] = record(row[1:])
    known = set(stored)
    for chunk in chunks(batch_size, sorted(names[k] for k in names.keys() - merged)):
        known.update(by_name[row[0]] for row in r.run(q.NODES_EXIST, {"keys": list(chunk)}))
    upserted = changes.node_keys()

    def check_known(key: NodeKey, where: str) -> None:
        if key not in known and key not in upserted:
            raise InvalidChangeSet(
                f"node {key} does not exist: it is neither stored nor upserted "
                "by the same ChangeSet",
                path=where,
                key=str(key),
            )

    for i, e in enumerate(changes.edges):
        check_known(e.src, f"edges[{i}].src")
        check_known(e.dst, f"edges[{i}].dst")
    for i, t in enumerate(changes.node_tombstones):
        check_known(t.key, f"node_tombstones[{i}].key")
    for i, te in enumerate(changes.edge_tombstones):
        check_known(te.src, f"edge_tombstones[{i}].src")
        check_known(te.dst, f"edge_tombstones[{i}].dst")

    nodes = plan.nodes
    for n in changes.nodes:
        when = to_us(n.event_time)
        prov = n.provenance
        rec = nodes.get(n.key)
        if rec is None and n.key in stored:
            rec = nodes[n.key] = stored[n.key]
        if rec is None:
            nodes[n.key] = Record.create(0, when, prov.source, prov.event_id, n.props)
        else:
            rec.upsert(when, prov.source, prov.event_id, n.props)
    for tomb in changes.node_tombstones:
        if tomb.key not in nodes:
            nodes[tomb.key] = stored[tomb.key]  # known: checked above
        if nodes[tomb.key].tombstone(to_us(tomb.event_time)):
            plan.tombstones += 1

    # An edge can be stored already only when both of its ends were.
    triples = {(e.src, e.kind, e.dst) for e in changes.edges}
    triples.update((t.src, t.kind, t.dst) for t in changes.edge_tombstones)
    lookup = [t for t in triples if t[0] in known and t[2] in known]
    edges = plan.edges
    edges.update(_edge_states(r, lookup, names, by_name, batch_size))
    for e in changes.edges:
        when = to_us(e.event_time)
        prov, triple = e.provenance, (e.src, e.kind, e.dst)
        found = edges.get(triple)
        if found is None:
            edges[triple] = Record.create(0, when, prov.source, prov.event_id, e.props)
        else:
            found.upsert(when, prov.source, prov.event_id, e.props)
    for i, te in enumerate(changes.edge_tombstones):
        rec = edges.get((te.src, te.kind, te.dst))
        if rec is None:
            raise InvalidChangeSet(
                f"edge {te.src} -[{te.kind}]-> {te.dst} does not exist: it is neither "
                "stored nor upserted by the same ChangeSet",
                path=f"edge_tombstones[{i}]",
                src=str(te.src),
                dst=str(te.dst),
            )
        if rec.tombstone(to_us(te.event_time)):
            plan.tombstones += 1
    return plan


def _edge_states(
    r: Runner,
    triples: list[Triple],
    names: dict[NodeKey, str],
    by_name: dict[str, NodeKey],
    batch_size: int,
) -> dict[Triple, Record]:
    out: dict[Triple, Record] = {}
    for chunk in chunks(
        batch_size, sorted(triples, key=lambda t: (names[t[0]], t[1], names[t[2]]))
    ):
        by_kind: dict[EdgeKind, list[list[str]]] = {}
        for src, kind, dst in chunk:
            by_kind.setdefault(kind, []).append([names[src], names[dst]])
        params = {EDGE_TYPES[k]: pairs for k, pairs in by_kind.items()}
        for row in r.run(q.edges_state(by_kind), params):
            triple = (by_name[row[0]], EDGE_KIND_BY_TYPE[row[1]], by_name[row[2]])
            out[triple] = record(row[3:])
    return out


def write_statement(
    plan: Plan, position: int | None, dialect: Dialect
) -> tuple[str | None, dict[str, Any], int, int]:
    """The one write statement of a plan, its parameters, nodes and edges written."""
    params: dict[str, Any] = {}
    names = plan.names
    new_nodes: dict[NodeKind, list[dict[str, Any]]] = {}
    updated: list[dict[str, Any]] = []
    for key, rec in plan.nodes.items():
        if not rec.dirty:
            continue
        if rec.new:
            new_nodes.setdefault(key.kind, []).append(_new_node(key, names[key], rec, dialect))
        else:
            updated.append({"key": names[key], "set": rec.row()})
    new_edges: dict[EdgeKind, list[dict[str, Any]]] = {}
    updated_edges: dict[EdgeKind, list[dict[str, Any]]] = {}
    for (src, kind, dst), rec in plan.edges.items():
        if not rec.dirty:
            continue
        row = rec.row()
        into = new_edges if rec.new else updated_edges
        into.setdefault(kind, []).append(
            {
                "src": names[src],
                "dst": names[dst],
                "set": _without_none(row) if rec.new else row,
            }
        )
    nodes = sum(map(len, new_nodes.values())) + len(updated)
    edges = sum(map(len, new_edges.values())) + sum(map(len, updated_edges.values()))
    if not nodes and not edges and position is None:
        return None, params, 0, 0
    for nkind, rows in new_nodes.items():
        params[f"n_{NODE_LABELS[nkind]}"] = rows
    if updated:
        params["u"] = updated
    for ekind, erows in new_edges.items():
        params[f"e_{EDGE_TYPES[ekind]}"] = erows
    for ekind, erows in updated_edges.items():
        params[f"f_{EDGE_TYPES[ekind]}"] = erows
    if position is not None:
        params["position"] = position
    statement = q.write(
        new_nodes=new_nodes,
        updated_nodes=bool(updated),
        new_edges=new_edges,
        updated_edges=updated_edges,
        position=position is not None,
    )
    return statement, params, nodes, edges


def _new_node(key: NodeKey, key_text: str, rec: Record, dialect: Dialect) -> dict[str, Any]:
    text = dialect.text
    namespace, name = key.namespace, key.name
    row = _without_none(rec.row())
    row.update(key=key_text, kind=key.kind.value, name=text(name), name_fold=text(name.casefold()))
    if namespace is not None:
        row.update(namespace=text(namespace), ns_fold=text(namespace.casefold()))
    return row


def record(row: Sequence[Any]) -> Record:
    """A stored node's or edge's merge state (columns of ``STATE_COLUMNS``)."""
    props, clock, first, last, tomb, source, event_id = row
    rec = Record(0, orjson.loads(props), orjson.loads(clock), first, last, tomb, source, event_id)
    rec.was_alive = rec.deleted_at is None
    return rec


def _without_none(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}
