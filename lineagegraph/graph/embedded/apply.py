"""Planning a ChangeSet: validate it against what is stored, then merge it.

:func:`plan` reads what it needs (batched: one query for the touched nodes,
one for the touched edges), checks that every edge endpoint, tombstoned node
and tombstoned edge exists (stored, or upserted by the same ChangeSet), and
folds every entry into :class:`~.records.Record` states. It writes nothing:
the store writes the plan in one transaction, and the in-memory index follows
only after the commit, so a rejected ChangeSet changes nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lineagegraph.errors import InvalidChangeSet
from lineagegraph.graph.changeset import ChangeSet
from lineagegraph.graph.embedded.index import EDGE_KIND_BY_VALUE, GraphIndex, key_from_text
from lineagegraph.graph.embedded.sql import current_edges_of, edge_record_rows, record_rows
from lineagegraph.graph.embedded.tables import NODE
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind
from lineagegraph.graph.records import Record, to_us

EdgeId = tuple[int, EdgeKind, int]  # (src row id, kind, dst row id)


@dataclass(slots=True)
class Plan:
    """The merged state of every node and edge a ChangeSet touches."""

    nodes: dict[NodeKey, Record] = field(default_factory=dict)
    edges: dict[EdgeId, Record] = field(default_factory=dict)
    tombstones_written: int = 0


def plan(changes: ChangeSet, index: GraphIndex, conn: sa.Connection) -> Plan:
    """Validate ``changes`` against the store and merge them (see module docstring).

    Raises :class:`InvalidChangeSet` naming the first offending entry.
    """
    ids = index.ids
    upserted = {n.key for n in changes.nodes}

    def missing(key: NodeKey, where: str) -> InvalidChangeSet:
        return InvalidChangeSet(
            f"node {key} does not exist: it is neither stored nor upserted by the same ChangeSet",
            path=where,
            key=str(key),
        )

    # (the path is only formatted for the entry that fails: this loop sees every edge)
    for i, e in enumerate(changes.edges):
        if e.src not in ids and e.src not in upserted:
            raise missing(e.src, f"edges[{i}].src")
        if e.dst not in ids and e.dst not in upserted:
            raise missing(e.dst, f"edges[{i}].dst")
    for i, t in enumerate(changes.node_tombstones):
        if t.key not in ids and t.key not in upserted:
            raise missing(t.key, f"node_tombstones[{i}].key")
    for i, te in enumerate(changes.edge_tombstones):
        for end, key in (("src", te.src), ("dst", te.dst)):
            if key not in ids and key not in upserted:
                raise missing(key, f"edge_tombstones[{i}].{end}")

    out = Plan()
    _merge_nodes(changes, index, conn, out)
    _merge_edges(changes, index, conn, out)
    return out


def _merge_nodes(changes: ChangeSet, index: GraphIndex, conn: sa.Connection, out: Plan) -> None:
    ids = index.ids
    touched = {n.key for n in changes.nodes}
    touched.update(t.key for t in changes.node_tombstones)
    stored = {ids[k]: k for k in touched if k in ids}
    records = out.nodes
    if stored:
        for row in record_rows(conn, NODE, stored):
            records[stored[row[0]]] = Record.from_row(row)
    next_id = index.next_id
    for n in changes.nodes:
        t = to_us(n.event_time)
        rec = records.get(n.key)
        if rec is None:
            prov = n.provenance
            records[n.key] = Record.create(next_id, t, prov.source, prov.event_id, n.props)
            next_id += 1
        else:
            rec.upsert(t, n.provenance.source, n.provenance.event_id, n.props)
    for tomb in changes.node_tombstones:
        if records[tomb.key].tombstone(to_us(tomb.event_time)):
            out.tombstones_written += 1


def _merge_edges(changes: ChangeSet, index: GraphIndex, conn: sa.Connection, out: Plan) -> None:
    nodes = out.nodes
    ids = index.ids
    records = out.edges

    def edge_id(src: NodeKey, kind: EdgeKind, dst: NodeKey) -> EdgeId:
        s, d = nodes.get(src), nodes.get(dst)
        return (s.id if s else ids[src], kind, d.id if d else ids[dst])

    upserts = [edge_id(e.src, e.kind, e.dst) for e in changes.edges]
    tombstones = [edge_id(t.src, t.kind, t.dst) for t in changes.edge_tombstones]
    # An edge can be stored already only when both of its ends were.
    first_new = index.next_id
    lookup = {eid: None for eid in (*upserts, *tombstones) if max(eid[0], eid[2]) < first_new}
    if lookup:
        for row in edge_record_rows(conn, lookup):
            src, kind, dst = row[8:11]
            records[(src, EDGE_KIND_BY_VALUE[kind], dst)] = Record.from_row(row)
    next_id = index.next_edge_id
    for e, eid in zip(changes.edges, upserts, strict=True):
        t = to_us(e.event_time)
        rec = records.get(eid)
        prov = e.provenance
        if rec is None:
            records[eid] = Record.create(next_id, t, prov.source, prov.event_id, e.props)
            next_id += 1
        else:
            rec.upsert(t, prov.source, prov.event_id, e.props)
    for i, (te, eid) in enumerate(zip(changes.edge_tombstones, tombstones, strict=True)):
        rec = records.get(eid)
        if rec is None:
            raise InvalidChangeSet(
                f"edge {te.src} -[{te.kind}]-> {te.dst} does not exist: it is neither "
                "stored nor upserted by the same ChangeSet",
                path=f"edge_tombstones[{i}]",
                src=str(te.src),
                dst=str(te.dst),
            )
        if rec.tombstone(to_us(te.event_time)):
            out.tombstones_written += 1


def update_index(index: GraphIndex, p: Plan, conn: sa.Connection) -> None:
    """Bring the in-memory index up to a committed plan.

    Nodes that die leave the graph with their edges; nodes that come back get
    their current edges back from SQLite (read through ``conn``, after the commit).
    """
    revived: list[int] = []
    for key, rec in p.nodes.items():
        alive = rec.deleted_at is None
        if rec.new:
            index.add_node(rec.id, key, alive)
        elif alive != rec.was_alive:
            index.set_alive(rec.id, alive)
            if alive:
                revived.append(rec.id)
    up = index.alive
    for (src, kind, dst), rec in p.edges.items():
        if rec.new:
            index.next_edge_id = max(index.next_edge_id, rec.id + 1)
        if rec.deleted_at is None and up[src] and up[dst]:
            index.link(src, dst, kind)
        else:
            index.unlink(src, dst, kind)
    if revived:
        for src, dst, value in current_edges_of(conn, revived):
            if up[src] and up[dst]:
                index.link(src, dst, EDGE_KIND_BY_VALUE[value])


def follow(
    index: GraphIndex,
    nodes: Iterable[Sequence[Any]],
    edges: Iterable[Sequence[Any]],
    current_edges_of: Callable[[list[int]], Iterable[tuple[int, int, str]]],
) -> None:
    """Bring the index up to rows that another process committed: ``sql.CHANGED_NODES``
    and ``sql.CHANGED_EDGES`` rows (nodes in id order), as :func:`update_index` does
    for a plan. Idempotent: a row already followed changes nothing."""
    revived: list[int] = []
    for id_, text, alive, _ in nodes:
        if id_ >= index.next_id:
            index.add_node(id_, key_from_text(text), bool(alive))
        elif bool(index.alive[id_]) != bool(alive):
            index.set_alive(id_, bool(alive))
            if alive:
                revived.append(id_)
    up = index.alive
    for id_, src, dst, value, alive, _ in edges:
        index.next_edge_id = max(index.next_edge_id, id_ + 1)
        kind = EDGE_KIND_BY_VALUE[value]
        if alive and up[src] and up[dst]:
            index.link(src, dst, kind)
        else:
            index.unlink(src, dst, kind)
    if revived:
        for src, dst, value in current_edges_of(revived):
            if up[src] and up[dst]:
                index.link(src, dst, EDGE_KIND_BY_VALUE[value])
