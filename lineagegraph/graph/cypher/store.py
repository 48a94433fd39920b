"""The Cypher GraphStore: Neo4j 5.x over Bolt, FalkorDB 4.x over RESP (or Bolt).

Portable openCypher through a :class:`~.connectors.Connector`; the few
dialect differences live in :mod:`.dialect`, the query text in
:mod:`.queries` (values are always parameters).

* **apply** reads the state of every node and edge a ChangeSet touches,
  validates and merges in Python with the same rules as the embedded store
  (:class:`lineagegraph.graph.records.Record`: per-property
  last-writer-wins by event time, ties by canonical JSON), then writes
  everything, with the log position, in one ``UNWIND``-batched statement
  guarded by the meta node's version (a compare-and-set). A rejected
  ChangeSet writes nothing; a write that lost a race with another writer is
  planned again. On Neo4j the transaction first takes the meta node's lock,
  so writers queue instead of racing.
* **traverse** expands breadth-first by frontier: one query per hop over the
  set of newly reached nodes (by internal id), never a variable-length path
  pattern, whose path enumeration explodes on DAGs.
* Reads of many keys are paged (``batch_size`` keys per query); search pages
  with an opaque ``(name, key)`` cursor.
* Transient failures (server unreachable, leader switch, deadlock) are retried
  with exponential backoff and jitter (tenacity), then raised as
  ``BackendUnavailable``. The store opens while the server is down and
  creates its indexes and meta node on first use, again if the server comes
  back empty.

Supported servers: Neo4j 5.x (and the 2025.x calendar versions), single,
cluster or Aura; FalkorDB 4.x. FalkorDB's Bolt port (``?dialect=falkordb``)
is experimental upstream; see the Bolt contract tests for what it can run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from lineagegraph.errors import (
    BackendUnavailable,
    Conflict,
    InvalidInput,
    LineageGraphError,
)
from lineagegraph.graph.changeset import ChangeSet
from lineagegraph.graph.cypher import queries as q
from lineagegraph.graph.cypher.apply import chunks, make_plan, write_statement
from lineagegraph.graph.cypher.connectors import Connector, Runner, open_connector, retryable
from lineagegraph.graph.cypher.dialect import (
    EDGE_KIND_BY_TYPE,
    NODE_KIND_BY_VALUE,
    SCHEMA,
)
from lineagegraph.graph.keys import NodeKey, parse_key
from lineagegraph.graph.kinds import LINEAGE_EDGE_KINDS, EdgeKind
from lineagegraph.graph.records import from_us, to_us
from lineagegraph.graph.search import check_query, decode_cursor, encode_cursor
from lineagegraph.graph.store import (
    ApplyResult,
    Direction,
    Edge,
    Node,
    SearchPage,
    SearchQuery,
    StoreStats,
    Traversal,
    TraversalSpec,
    check_traversal_spec,
    edges_among_by_reading,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
META_ID = "store"


class _WriteRace(Exception):
    """Another writer changed the graph between our reads and our write: plan again."""


class _NoMeta(Exception):
    """The server has no meta node (new, or restarted empty): create the schema."""


class CypherStore:
    """A GraphStore on a Cypher server (see the module docstring)."""

    def __init__(self, connector: Connector, *, batch_size: int = 5000, attempts: int = 5) -> None:
        if batch_size < 1 or attempts < 1:
            raise InvalidInput("batch_size and attempts must be >= 1", path="store_options")
        self.connector = connector
        self.dialect = connector.dialect
        self.batch_size = batch_size
        self.attempts = attempts
        self._ready = False
        self._ready_lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> CypherStore:
        """Open ``bolt://``/``neo4j://`` (Neo4j) or ``falkordb://host:port/graph``.

        Options: ``user``, ``password`` (from Settings), ``timeout`` (seconds),
        ``database`` and ``dialect`` (Bolt only; also as ``?database=`` and
        ``?dialect=falkordb`` in the URI), ``batch_size`` (keys per read
        query) and ``attempts`` (tries on transient errors).
        """
        store_options = {k: options.pop(k) for k in ("batch_size", "attempts") if k in options}
        known = {"user", "password", "timeout", "database", "dialect"}
        unknown = set(options) - known
        if unknown:
            raise InvalidInput(
                f"unknown store option(s): {', '.join(sorted(unknown))}", path="store_options"
            )
        return cls(open_connector(uri, **options), **store_options)

    def __repr__(self) -> str:
        return f"CypherStore({self.connector.target}, dialect={self.dialect.name})"

    # ---- plumbing ---------------------------------------------------------------
    def _retry(self, fn: Callable[[], T]) -> T:
        """Run ``fn``, again on transient errors and lost write races, with backoff."""
        if self._closed:
            raise BackendUnavailable(f"the graph store {self.connector.target} is closed")
        retrying = Retrying(
            retry=retry_if_exception(lambda e: retryable(e) or isinstance(e, _WriteRace)),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(multiplier=0.05, max=2.0, jitter=0.05),
            reraise=True,
        )
        try:
            result: T = retrying(self._with_schema, fn)
            return result
        except _WriteRace:
            raise Conflict(
                "other writers kept changing the graph while this ChangeSet was applied; try again"
            ) from None

    def _with_schema(self, fn: Callable[[], T]) -> T:
        self._ensure_ready()
        try:
            return fn()
        except _NoMeta:
            self._ready = False
            self._ensure_ready()
            return fn()

    def _ensure_ready(self) -> None:
        """Check the server's version, create indexes and the meta node (idempotent)."""
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            c = self.connector
            c.check_version()
            for index, ddl in self.dialect.index_statements(self._indexes()):
                try:
                    c.write(_run(ddl))
                except BackendUnavailable:
                    raise
                except LineageGraphError:
                    # Another store (replica) created it meanwhile: fine if it is there now.
                    if self.dialect.index_listing is None:
                        c.write(_run(ddl))  # IF NOT EXISTS: succeeds the second time
                    elif (index.label, index.prop) not in self._indexes():
                        raise
            for index in SCHEMA:
                if index.unique and self.dialect.unique_ddl is None:
                    c.ensure_unique(index)
            create = _run(q.META_CREATE, {"meta": META_ID, "schema": q.SCHEMA_VERSION})
            try:
                rows = c.write(create)
            except Conflict:  # another replica's MERGE won the unique constraint: it is there
                rows = c.write(create)
            found = rows[0][0] if rows else None
            if found != q.SCHEMA_VERSION:
                raise BackendUnavailable(
                    f"graph store {c.target} has schema version {found}, this lineagegraph "
                    f"writes version {q.SCHEMA_VERSION}: rebuild it from the event log with "
                    "`lineagegraph replay`",
                    path="store_uri",
                )
            self._ready = True

    def _indexes(self) -> list[tuple[str, str]]:
        """``(label, property)`` of existing indexes, for dialects that can list them."""
        if self.dialect.index_listing is None:
            return []
        rows = self.connector.read(_run(self.dialect.index_listing))
        return [(label, prop) for label, props in rows for prop in props]

    def _read(self, work: Callable[[Runner], T]) -> T:
        return self._retry(lambda: self.connector.read(work))

    def _chunks(self, items: Sequence[T]) -> Iterator[Sequence[T]]:
        return chunks(self.batch_size, items)

    # ---- writing ------------------------------------------------------------------
    def apply(self, changes: ChangeSet, *, log_position: int | None = None) -> ApplyResult:
        """Apply a ChangeSet atomically (see ``GraphStore.apply``)."""
        changes.validate()
        if log_position is not None and (
            isinstance(log_position, bool) or not isinstance(log_position, int) or log_position < 0
        ):
            raise InvalidInput(
                f"log_position must be an integer >= 0, got {log_position!r}", path="log_position"
            )
        if not len(changes) and log_position is None:
            return ApplyResult(0, 0, 0)
        return self._retry(
            lambda: self.connector.write(lambda r: self._apply(r, changes, log_position))
        )

    def _apply(self, r: Runner, changes: ChangeSet, position: int | None) -> ApplyResult:
        meta = r.run(
            q.META_LOCK if self.dialect.lock_meta_first else q.META_READ, {"meta": META_ID}
        )
        if not meta:
            raise _NoMeta
        version = meta[0][0]
        plan = make_plan(r, changes, self.batch_size)
        statement, params, nodes, edges = write_statement(plan, position, self.dialect)
        if statement is None:
            return ApplyResult(0, 0, plan.tombstones)
        params.update(meta=META_ID, version=version)
        if not r.run(statement, params):
            raise _WriteRace
        return ApplyResult(nodes, edges, plan.tombstones)

    # ---- reading --------------------------------------------------------------------
    def get_nodes(
        self, keys: Collection[NodeKey], *, as_of: datetime | None = None
    ) -> dict[NodeKey, Node]:
        """The nodes among ``keys`` that exist (alive now, or at ``as_of``)."""
        wanted = sorted({str(k) for k in keys})
        if not wanted:
            return {}
        query = q.get_nodes(as_of is not None)

        def work(r: Runner) -> list[list[Any]]:
            rows: list[list[Any]] = []
            for chunk in self._chunks(wanted):
                params: dict[str, Any] = {"keys": list(chunk)}
                if as_of is not None:
                    params["t"] = to_us(as_of)
                rows += r.run(query, params)
            return rows

        return {node.key: node for node in map(_node, self._read(work))}

    def get_edges(
        self,
        keys: Collection[NodeKey],
        *,
        direction: Direction = Direction.BOTH,
        edge_kinds: Collection[EdgeKind] | None = None,
        as_of: datetime | None = None,
        include_deleted: bool = False,
    ) -> list[Edge]:
        """Edges touching ``keys`` (see ``GraphStore.get_edges``): an edge is current
        when it and both of its ends are alive."""
        direction = Direction(direction)
        wanted = sorted({str(k) for k in keys})
        if not wanted or (edge_kinds is not None and not edge_kinds):
            return []
        kinds = None if edge_kinds is None else {EdgeKind(k) for k in edge_kinds}
        sides = [s for s, skip in ((False, Direction.UPSTREAM), (True, Direction.DOWNSTREAM))
                 if direction is not skip]  # fmt: skip
        queries = [
            q.get_edges(
                upstream=up, kinds=kinds, as_of=as_of is not None, include_deleted=include_deleted
            )
            for up in sides
        ]

        def work(r: Runner) -> list[list[Any]]:
            rows: list[list[Any]] = []
            for query in queries:
                for chunk in self._chunks(wanted):
                    params: dict[str, Any] = {"keys": list(chunk)}
                    if as_of is not None:
                        params["t"] = to_us(as_of)
                    rows += r.run(query, params)
            return rows

        found: dict[tuple[str, str, str], Edge] = {}
        for row in self._read(work):
            kind = EDGE_KIND_BY_TYPE.get(row[1])
            if kind is None:  # a relationship some other program wrote: not ours
                continue
            found[(row[0], kind.value, row[2])] = _edge(row, kind)
        return [found[k] for k in sorted(found)]

    def edges_among(
        self,
        keys: Collection[NodeKey],
        *,
        edge_kinds: Collection[EdgeKind] = LINEAGE_EDGE_KINDS,
        as_of: datetime | None = None,
    ) -> list[Edge]:
        """Edges with both ends among ``keys`` (see ``GraphStore.edges_among``)."""
        return edges_among_by_reading(self, keys, edge_kinds=edge_kinds, as_of=as_of)

    def traverse(self, spec: TraversalSpec) -> Traversal:
        """Breadth-first expansion, one query per hop over the frontier (see the module)."""
        direction = check_traversal_spec(spec)
        as_of = spec.as_of is not None
        base: dict[str, Any] = {"t": to_us(spec.as_of)} if spec.as_of is not None else {}
        if spec.node_kinds is not None:
            base["kinds"] = sorted(k.value for k in spec.node_kinds)
        hop = (
            q.hop(
                self.dialect,
                upstream=direction is Direction.UPSTREAM,
                kinds=spec.edge_kinds,
                node_kinds=spec.node_kinds is not None,
                as_of=as_of,
            )
            if spec.edge_kinds
            else None
        )
        starts = list(dict.fromkeys(str(k) for k in spec.starts))

        def work(r: Runner) -> Traversal:
            out = Traversal()
            key_of: dict[Any, NodeKey] = {}
            alive_starts: dict[str, Any] = {}
            for chunk in self._chunks(starts):
                for k, nid in r.run(
                    q.start_nodes(self.dialect, as_of), {**base, "keys": list(chunk)}
                ):
                    alive_starts[k] = nid
            frontier: list[Any] = []
            for k in starts:  # in the caller's order
                if k in alive_starts:
                    nid = alive_starts[k]
                    key_of[nid] = parse_key(k)
                    out.depth[key_of[nid]] = 0
                    frontier.append(nid)
            budget = -1 if spec.limit is None else spec.limit
            d = 0
            while frontier and hop is not None and d != spec.max_depth:
                d += 1
                order = {nid: i for i, nid in enumerate(frontier)}
                rows: list[list[Any]] = []
                for chunk in self._chunks(frontier):
                    rows += r.run(hop, {**base, "ids": list(chunk)})
                # Deterministic whatever order the server used: by parent, then key.
                rows.sort(key=lambda row: (order[row[0]], row[2]))
                nxt: list[Any] = []
                for parent_id, nid, key_text in rows:
                    if nid in key_of:
                        continue
                    if not budget:
                        out.truncated = True
                        return out
                    budget -= 1
                    key = key_of[nid] = parse_key(key_text)
                    out.depth[key] = d
                    out.parent[key] = key_of[parent_id]
                    nxt.append(nid)
                frontier = nxt
            return out

        return self._read(work)

    def search(self, query: SearchQuery) -> SearchPage:
        """Nodes by name (prefix) or name and namespace (substring), case-insensitively,
        in ``(name, key)`` order, a page at a time."""
        check_query(query)
        if query.kinds is not None and not query.kinds:
            return SearchPage([], None, False)
        text = self.dialect.text(query.text.casefold())
        params: dict[str, Any] = {"limit": query.first + 1}
        if text:
            params["text"] = text
        if query.kinds is not None:
            params["kinds"] = sorted(k.value for k in query.kinds)
        if query.namespace is not None:
            params["namespace"] = self.dialect.text(query.namespace)
        if query.after is not None:
            params["after_name"], params["after_key"] = decode_cursor(query.after)
            params["after_name"] = self.dialect.text(params["after_name"])
        statement = q.search(
            prefix=query.mode == "prefix",
            text=bool(text),
            kinds=query.kinds is not None,
            namespace=query.namespace is not None,
            deleted=query.include_deleted,
            after=query.after is not None,
        )
        rows = self._read(lambda r: r.run(statement, params))
        nodes = [_node(row) for row in rows[: query.first]]
        end = nodes[-1].key if nodes else None
        cursor = encode_cursor(end.name, str(end)) if end is not None else None
        return SearchPage(nodes, cursor, len(rows) > query.first)

    def stats(self) -> StoreStats:
        """Alive nodes and current edges (alive, between alive nodes), by kind."""

        def work(r: Runner) -> StoreStats:
            nodes = {k: int(c) for k, c in r.run(q.STATS_NODES) if c and k in NODE_KIND_BY_VALUE}
            edges = {
                EDGE_KIND_BY_TYPE[t].value: int(c)
                for t, c in r.run(q.STATS_EDGES)
                if c and t in EDGE_KIND_BY_TYPE
            }
            meta = r.run(q.META_READ, {"meta": META_ID})
            return StoreStats(nodes, edges, int(meta[0][1]) if meta else 0)

        return self._read(work)

    def log_position(self) -> int:
        """The event log position applied so far (0 when empty, or on a server that
        came back empty: projection then starts again from the beginning)."""
        rows = self._read(lambda r: r.run(q.META_READ, {"meta": META_ID}))
        if not rows:
            self._ready = False
            return 0
        return int(rows[0][1])

    def check_health(self) -> None:
        """Raise ``BackendUnavailable`` unless the server answers now (one try, no retry)."""
        if self._closed:
            raise BackendUnavailable(f"the graph store {self.connector.target} is closed")
        self.connector.ping()

    def close(self) -> None:
        self._closed = True
        self.connector.close()


# ---- rows -> values -----------------------------------------------------------------------


def _run(query: str, params: dict[str, Any] | None = None) -> Callable[[Runner], list[list[Any]]]:
    return lambda r: r.run(query, params)


def _node(row: Sequence[Any]) -> Node:
    key, props, first, last, deleted, source, event_id = row
    return Node(
        parse_key(key),
        orjson.loads(props),
        from_us(first),
        from_us(last),
        from_us(deleted) if deleted is not None else None,
        source,
        event_id,
    )


def _edge(row: Sequence[Any], kind: EdgeKind) -> Edge:
    src, _, dst, props, first, last, deleted, source, event_id = row
    return Edge(
        parse_key(src),
        kind,
        parse_key(dst),
        orjson.loads(props),
        from_us(first),
        from_us(last),
        from_us(deleted) if deleted is not None else None,
        source,
        event_id,
    )
