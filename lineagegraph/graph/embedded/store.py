"""The embedded GraphStore: SQLite for durability, networkx for traversal.

One process, zero setup. SQLite (through SQLAlchemy, tables in
``tables.py``) is the durable copy of every node and edge with its history
fields; at start-up the store reads ids, keys and current edges into a
:class:`~.index.GraphIndex`, and current-view traversals run in memory from
then on. As-of traversals, node and edge details and search read SQLite.

Concurrency: one writer at a time (``apply``), any number of readers. A
ChangeSet is planned and written inside a SQLite transaction while readers
keep going (WAL: they see the last commit); the commit and the in-memory
update happen together under the exclusive side of a reader-writer lock, so
no read ever sees half of a ChangeSet. The in-memory database (``memory://``,
one shared connection) serializes everything instead.

One process writes a file. Other processes may open it as *followers*
(``follow=True``, e.g. the server while a projector process writes, the
``process`` projection mode): a follower never writes; before each read it
asks SQLite whether anyone committed since it last looked (``PRAGMA
data_version``, a few microseconds) and, if so, folds the rows written since
its revision (the ``rev`` column) into its index and drops them from its
record caches, in one snapshot and under the exclusive lock, so a read sees
whole ChangeSets only, as in the writer.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa

from lineagegraph.commits import CommitWatch
from lineagegraph.errors import BackendUnavailable, InvalidInput
from lineagegraph.graph.changeset import ChangeSet
from lineagegraph.graph.embedded import sql
from lineagegraph.graph.embedded.apply import follow, plan, update_index
from lineagegraph.graph.embedded.index import (
    EDGE_KIND_BY_VALUE,
    NODE_KINDS,
    GraphIndex,
    RWLock,
    edge_mask,
)
from lineagegraph.graph.embedded.records_cache import RecordCache
from lineagegraph.graph.embedded.search import search_statement
from lineagegraph.graph.embedded.tables import METADATA
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import LINEAGE_EDGE_KINDS, EdgeKind, NodeKind
from lineagegraph.graph.records import from_us, loads, to_us
from lineagegraph.graph.search import check_query, encode_cursor
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

_K = TypeVar("_K", EdgeKind, NodeKind)


def _kinds(values: Collection[Any], kind: type[_K], path: str) -> frozenset[_K]:
    """Kinds given as members or their values; an unknown one is named."""
    try:
        return frozenset(kind(v) for v in values)
    except ValueError as exc:
        raise InvalidInput(f"{exc} (known: {', '.join(kind)})", path=path) from None


class EmbeddedStore:
    """The default GraphStore (see the module docstring and ``GraphStore``)."""

    def __init__(self, path: Path | None = None, *, follow: bool = False) -> None:
        """Open (or create) the store in the SQLite file ``path``; None: in memory.
        ``follow``: as a follower of the process that writes the file (see the module
        docstring)."""
        if follow and path is None:
            raise InvalidInput("an in-memory store cannot be followed", path="store_uri")
        self.path = path
        self._memory = path is None
        self._engine = sql.make_engine(path)
        self._rw = RWLock()
        self._writer = threading.Lock()
        self._closed = False
        self._revision = 0  # see revision()
        # The in-memory database is one shared connection: reads serialize too.
        self._read: Any = self._rw.write if self._memory else self._rw.read
        self._records = RecordCache()
        self._watch: CommitWatch | None = None
        with self._sql_errors():
            METADATA.create_all(self._engine)
            with self._engine.begin() as conn:
                sql.check_schema(conn, str(path or "memory://"))
            if follow:
                assert path is not None
                # before the load: a commit after it is then looked at again (idempotent)
                self._watch = CommitWatch(path)
            self._index, self._position, self._rev = self._load()

    @classmethod
    def from_uri(cls, uri: str, *, follow: bool = False, **options: Any) -> EmbeddedStore:
        """``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or ``memory://``;
        ``follow``: see the constructor."""
        if options:
            raise InvalidInput(
                f"the embedded store takes no options, got {', '.join(sorted(options))}",
                path="store_options",
            )
        scheme = uri.partition(":")[0].lower()
        if scheme == "memory":
            return cls(None, follow=follow)
        if scheme != "sqlite":
            raise InvalidInput(f"not an embedded store URI: {uri!r}", path="store_uri")
        try:
            database = sa.engine.make_url(uri).database
        except sa.exc.ArgumentError as exc:
            raise InvalidInput(f"malformed store URI: {exc}", path="store_uri") from None
        if not database or database == ":memory:":
            return cls(None, follow=follow)
        return cls(Path(database), follow=follow)

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path) if self.path else 'memory'})"

    def _load(self) -> tuple[GraphIndex, int, int]:
        with self._engine.connect() as conn:
            return sql.load_index(conn)

    def _catch_up(self) -> None:
        """A follower: fold in what the writing process committed since the last look."""
        watch = self._watch
        if watch is None or self._closed:
            return
        with watch.lock, self._sql_errors():
            if not watch.changed():
                return
            with self._rw.write(), self._changing_index():
                self._follow(watch.connection)

    def _follow(self, watch: sqlite3.Connection) -> None:
        watch.execute("BEGIN")  # one snapshot: nodes, edges and position agree
        try:
            nodes = watch.execute(sql.CHANGED_NODES, (self._rev,)).fetchall()
            edges = watch.execute(sql.CHANGED_EDGES, (self._rev,)).fetchall()

            def current_edges_of(ids: list[int]) -> list[tuple[int, int, str]]:
                param = orjson.dumps(ids).decode()
                return watch.execute(sql.CURRENT_EDGES_OF, (param, param)).fetchall()

            follow(self._index, nodes, edges, current_edges_of)
            position = watch.execute(sql.LOG_POSITION).fetchone()
        finally:
            watch.execute("COMMIT")
        self._records.nodes.drop(row[0] for row in nodes)
        self._records.edges.drop((src, dst, kind) for _, src, dst, kind, _, _ in edges)
        self._rev = max([self._rev, *(r[-1] for r in nodes), *(r[-1] for r in edges)])
        self._position = int(position[0]) if position else 0

    # ---- writing ----------------------------------------------------------------
    def apply(self, changes: ChangeSet, *, log_position: int | None = None) -> ApplyResult:
        """Apply a ChangeSet atomically (see ``GraphStore.apply``)."""
        self._check_open()
        if self._watch is not None:
            raise InvalidInput(
                f"{self!r} follows the writes of another process: it cannot apply a ChangeSet",
                path="store",
            )
        changes.validate()
        if log_position is not None and (
            isinstance(log_position, bool) or not isinstance(log_position, int) or log_position < 0
        ):
            raise InvalidInput(
                f"log_position must be an integer >= 0, got {log_position!r}", path="log_position"
            )
        with self._writer, self._sql_errors():
            if self._memory:
                with self._rw.write():
                    return self._apply(changes, log_position, nullcontext())
            return self._apply(changes, log_position, self._rw.write())

    def _apply(
        self,
        changes: ChangeSet,
        log_position: int | None,
        exclusive: AbstractContextManager[Any],
    ) -> ApplyResult:
        with self._engine.connect() as conn:
            p = plan(changes, self._index, conn)
            rev = self._rev + 1
            nodes_written, edges_written = sql.write_plan(conn, p, log_position, rev)
            with exclusive:
                conn.commit()
                self._rev = rev
                with self._changing_index():
                    update_index(self._index, p, conn)
                    conn.rollback()  # end the read transaction a revival's query began
                    self._records.nodes.drop(r.id for r in p.nodes.values() if r.dirty)
                    self._records.edges.drop(
                        (src, dst, kind.value) for (src, kind, dst), r in p.edges.items() if r.dirty
                    )
                if log_position is not None:
                    self._position = log_position
        return ApplyResult(nodes_written, edges_written, p.tombstones_written)

    @contextmanager
    def _changing_index(self) -> Iterator[None]:
        """Around bringing the index and record caches up to a commit, readers shut
        out: the revision is bumped before they are let in; and should it fail
        halfway, both are rebuilt from SQLite, so that no read is ever served from an
        index (or a record) that disagrees with what is committed."""
        try:
            yield
        except BaseException:
            self._records.clear()
            self._index, self._position, self._rev = self._load()
            raise
        finally:
            self._revision += 1

    # ---- reading ----------------------------------------------------------------
    def get_nodes(
        self, keys: Collection[NodeKey], *, as_of: datetime | None = None
    ) -> dict[NodeKey, Node]:
        """The nodes among ``keys`` that exist (alive now, or at ``as_of``)."""
        self._check_open()
        self._catch_up()
        with self._read(), self._sql_errors():
            ids = self._ids(keys)
            if not ids:
                return {}
            if as_of is not None:
                with self._engine.connect() as conn:
                    rows = sql.node_rows(conn, ids, as_of=to_us(as_of))
                return {node.key: node for node in map(self._to_node, rows)}
            alive = self._index.alive
            get = self._records.nodes.entries.get
            found = {i: get(i) for i in ids if alive[i]}
            missing = [i for i, node in found.items() if node is None]
            if missing:
                with self._engine.connect() as conn:
                    read = [(r[0], self._to_node(r)) for r in sql.node_rows(conn, missing)]
                found.update(read)
                self._records.nodes.put_many(read)
            return {node.key: node for node in found.values() if node is not None}

    def get_edges(
        self,
        keys: Collection[NodeKey],
        *,
        direction: Direction = Direction.BOTH,
        edge_kinds: Collection[EdgeKind] | None = None,
        as_of: datetime | None = None,
        include_deleted: bool = False,
    ) -> list[Edge]:
        """Edges touching ``keys`` (see ``GraphStore.get_edges``).

        An edge counts as alive when it and both of its ends are; with
        ``include_deleted`` every stored edge is returned (at ``as_of``: every
        edge first seen by then).
        """
        self._check_open()
        self._catch_up()
        direction = Direction(direction)
        kinds = None if edge_kinds is None else _kinds(edge_kinds, EdgeKind, "edge_kinds")
        with self._read(), self._sql_errors():
            ids = self._ids(keys)
            if not ids or kinds == frozenset():
                return []
            t = None if as_of is None else to_us(as_of)
            found: dict[int, Any] = {}
            with self._engine.connect() as conn:
                for outgoing in (True, False):
                    if direction is (Direction.UPSTREAM if outgoing else Direction.DOWNSTREAM):
                        continue
                    rows = sql.edge_rows(
                        conn,
                        ids,
                        outgoing=outgoing,
                        kinds=kinds,
                        as_of=t,
                        include_deleted=include_deleted,
                    )
                    found.update((r[0], r) for r in rows)
            alive = self._index.alive
            current = as_of is None and not include_deleted
            return [
                self._to_edge(r)
                for r in (found[eid] for eid in sorted(found))
                if not current or (alive[r[1]] and alive[r[3]])
            ]

    def edges_among(
        self,
        keys: Collection[NodeKey],
        *,
        edge_kinds: Collection[EdgeKind] = LINEAGE_EDGE_KINDS,
        as_of: datetime | None = None,
    ) -> list[Edge]:
        """Edges with both ends among ``keys`` (see ``GraphStore.edges_among``).

        Now, the index names the edges and SQLite is asked for those alone
        (not for every edge leaving the set); at ``as_of``, from history.
        """
        self._check_open()
        self._catch_up()
        kinds = _kinds(edge_kinds, EdgeKind, "edge_kinds")
        if as_of is not None:
            return edges_among_by_reading(self, keys, edge_kinds=kinds, as_of=as_of)
        with self._read(), self._sql_errors():
            get = self._records.edges.entries.get
            found = {t: get(t) for t in self._index.pairs_among(self._ids(keys), edge_mask(kinds))}
            missing = [t for t, hit in found.items() if hit is None]
            if missing:
                with self._engine.connect() as conn:
                    rows = sql.current_edge_rows(conn, missing)
                read = [((r[1], r[3], r[2]), (r[0], self._to_edge(r))) for r in rows]
                found.update(read)
                self._records.edges.put_many(read)
            hits = sorted(hit for hit in found.values() if hit is not None)  # by row id
            return [edge for _, edge in hits]

    def traverse(self, spec: TraversalSpec) -> Traversal:
        """Breadth-first expansion by frontier (see ``TraversalSpec``).

        Start nodes that do not exist (or are not alive, now or at ``as_of``)
        are left out; the others are at depth 0 whatever ``node_kinds`` says.
        """
        self._check_open()
        self._catch_up()
        direction = check_traversal_spec(spec)
        upstream = direction is Direction.UPSTREAM
        edge_kinds = _kinds(spec.edge_kinds, EdgeKind, "edge_kinds")
        node_kinds = None
        allowed = None
        if spec.node_kinds is not None:
            node_kinds = _kinds(spec.node_kinds, NodeKind, "node_kinds")
            allowed = bytes(1 if k in node_kinds else 0 for k in NODE_KINDS)
        with self._read(), self._sql_errors():
            index = self._index
            starts = self._ids(spec.starts)
            if spec.as_of is None:

                def find_parents(layers: Sequence[Sequence[int]]) -> dict[int, int]:
                    with self._read():
                        return self._index.parents(layers, upstream=upstream)

                return index.bfs(
                    [s for s in starts if index.alive[s]],
                    upstream=upstream,
                    mask=edge_mask(edge_kinds),
                    allowed=allowed,
                    max_depth=spec.max_depth,
                    limit=spec.limit,
                    find_parents=find_parents,
                )
            with self._engine.connect() as conn:
                ids, parent_ids, truncated = sql.bfs_as_of(
                    conn,
                    starts,
                    as_of=to_us(spec.as_of),
                    upstream=upstream,
                    edge_kinds=edge_kinds,
                    node_kinds=node_kinds,
                    max_depth=spec.max_depth,
                    limit=spec.limit,
                )
            keys = index.keys
            return Traversal(
                {keys[i]: d for i, d in ids.items()},  # type: ignore[misc]
                {keys[v]: keys[u] for v, u in parent_ids.items()},  # type: ignore[misc]
                truncated,
            )

    def search(self, query: SearchQuery) -> SearchPage:
        """Nodes by name (and namespace), in ``(name, key)`` order, a page at a time."""
        self._check_open()
        self._catch_up()
        check_query(query)
        with self._read(), self._sql_errors():
            with self._engine.connect() as conn:
                ids: list[int] = [r[0] for r in conn.execute(search_statement(query))]
            has_next = len(ids) > query.first
            ids = ids[: query.first]
            with self._engine.connect() as conn:
                rows = sql.node_rows(conn, ids, include_deleted=True) if ids else []
            found = {r[0]: self._to_node(r) for r in rows}
            nodes = [found[i] for i in ids if i in found]
        end = nodes[-1].key if nodes else None
        return SearchPage(
            nodes, encode_cursor(end.name, str(end)) if end is not None else None, has_next
        )

    def _to_edge(self, row: Any) -> Edge:
        """From ``(id, src, kind, dst, props, first_seen, last_seen, deleted_at, source,
        event_id)``."""
        _, src, kind, dst, props, first, last, deleted, source, event_id = row
        return Edge(
            self._key(src),
            EDGE_KIND_BY_VALUE[kind],
            self._key(dst),
            loads(props),
            from_us(first),
            from_us(last),
            from_us(deleted) if deleted is not None else None,
            source,
            event_id,
        )

    def _to_node(self, row: Any) -> Node:
        """From ``(id, props, first_seen, last_seen, deleted_at, source, event_id)``."""
        id_, props, first, last, deleted, source, event_id = row
        return Node(
            self._key(id_),
            loads(props),
            from_us(first),
            from_us(last),
            from_us(deleted) if deleted is not None else None,
            source,
            event_id,
        )

    def stats(self) -> StoreStats:
        """Alive nodes and current edges (alive, between alive nodes), by kind."""
        self._check_open()
        self._catch_up()
        with self._read():
            index = self._index
            nodes = {k.value: c for k, c in zip(NODE_KINDS, index.node_counts, strict=True) if c}
            edges = {k.value: c for k, c in zip(EdgeKind, index.edge_counts, strict=True) if c}
            return StoreStats(nodes, edges, self._position)

    def log_position(self) -> int:
        """The event log position applied so far (0 when empty)."""
        self._check_open()
        self._catch_up()
        return self._position

    def revision(self) -> int:
        """A counter bumped by every ``apply`` (a follower: by every catch-up).

        Answers read while it holds one value are the same answers; caches key on it.
        """
        self._catch_up()
        return self._revision

    def check_health(self) -> None:
        self._check_open()
        with self._sql_errors(), self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        """Release the database; later calls raise BackendUnavailable."""
        with self._writer:
            self._closed = True
            self._engine.dispose()
            if self._watch is not None:
                self._watch.close()

    # ---- helpers ----------------------------------------------------------------
    def _ids(self, keys: Collection[NodeKey]) -> list[int]:
        """Row ids of the known keys, without duplicates, in the given order."""
        ids = self._index.ids
        return list(dict.fromkeys(ids[k] for k in keys if k in ids))

    def _key(self, id_: int) -> NodeKey:
        key = self._index.keys[id_]
        assert key is not None, f"node row {id_} is not in the index"
        return key

    def _check_open(self) -> None:
        if self._closed:
            raise BackendUnavailable("the embedded graph store is closed")

    @contextmanager
    def _sql_errors(self) -> Iterator[None]:
        """Translate SQLite's operational errors (disk full, I/O, locked) once, here."""
        try:
            yield
        except sa.exc.OperationalError as exc:
            raise BackendUnavailable(f"embedded graph store database error: {exc.orig}") from exc
        except sqlite3.OperationalError as exc:  # (a follower's own connection)
            raise BackendUnavailable(f"embedded graph store database error: {exc}") from exc
