"""Every statement the embedded store runs against SQLite.

Values always travel as parameters. Lists of ids travel as one JSON array
parameter read with ``json_each``, so a batch of any size is one statement
with one parameter (no bound-variable limit, one cached plan). The two hot
write and load paths go to the driver directly: SQLAlchemy's per-row work
would dominate them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.compiler import SQLCompiler

from lineagegraph.errors import BackendUnavailable
from lineagegraph.gcpause import gc_paused
from lineagegraph.graph.embedded.index import GraphIndex
from lineagegraph.graph.embedded.tables import EDGE, META, NODE, SCHEMA_VERSION
from lineagegraph.graph.kinds import EdgeKind, NodeKind

if TYPE_CHECKING:
    from lineagegraph.graph.embedded.apply import Plan

#: the columns of a Node / Edge, after the row id (and src, kind, dst for edges)
STATE = ("props", "first_seen", "last_seen", "deleted_at", "source", "event_id")
_WRITTEN = ("props", "clock", "first_seen", "last_seen", "tomb_at", "deleted_at", "source",
            "event_id", "rev")  # fmt: skip
# Enum.value is a Python-level property: look the values up instead, per row.
_NODE_KIND_VALUE = {k: k.value for k in NodeKind}
_EDGE_KIND_VALUE = {k: k.value for k in EdgeKind}


def make_engine(path: Path | None) -> sa.Engine:
    """An engine on the file ``path`` (WAL), or on a private in-memory database."""
    if path is None:
        engine = sa.create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendUnavailable(
                f"cannot create the directory of the graph store {path}: {exc}", path="store_uri"
            ) from exc
        engine = sa.create_engine(
            sa.URL.create("sqlite", database=str(path)),
            connect_args={"timeout": 30, "check_same_thread": False},
        )

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if path is not None:
            cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL may lose the last commits on power loss, never corrupt;
        # the log position is lost with them, so projection simply redoes them.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB: big ChangeSets touch many pages
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    return engine


def check_schema(conn: sa.Connection, where: str) -> None:
    """Stamp a new database with the schema version, upgrade one of version 1 (add
    ``rev``); refuse any other version."""
    row = conn.execute(sa.select(META.c.value).where(META.c.name == "schema_version")).first()
    if row is None:
        conn.execute(META.insert().values(name="schema_version", value=str(SCHEMA_VERSION)))
    elif int(row[0]) == 1:
        for table in ("node", "edge"):  # constant names
            # each step may have been done by an upgrade that stopped halfway
            columns = {c[1] for c in conn.exec_driver_sql(f"PRAGMA table_info({table})")}
            if "rev" not in columns:
                conn.exec_driver_sql(
                    f"ALTER TABLE {table} ADD COLUMN rev INTEGER NOT NULL DEFAULT 0"
                )
            conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_{table}_rev ON {table} (rev)")
        conn.execute(
            META.update().where(META.c.name == "schema_version").values(value=str(SCHEMA_VERSION))
        )
    elif int(row[0]) != SCHEMA_VERSION:
        raise BackendUnavailable(
            f"graph store {where} has schema version {row[0]}, this lineagegraph reads "
            f"version {SCHEMA_VERSION}: upgrade lineagegraph, or rebuild the store from the "
            "event log with `lineagegraph replay`",
            path="store_uri",
        )


def load_index(conn: sa.Connection) -> tuple[GraphIndex, int, int]:
    """Read ids, keys and current edges into a new index; also the log position and
    the store revision (the greatest ``rev``)."""
    index = GraphIndex()
    # The driver's cursor directly: these scans read every row, and
    # SQLAlchemy's row objects would double the start-up time.
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    # Millions of new objects and no garbage: without this, the collector
    # would scan the growing heap again and again (a third of the load time).
    try:
        with gc_paused():
            cursor.execute("SELECT id, key, deleted_at IS NULL FROM node ORDER BY id")
            index.load_nodes(cursor)
            cursor.execute("SELECT max(id) FROM edge")
            index.next_edge_id = int(cursor.fetchone()[0] or 0) + 1
            cursor.execute("SELECT src, dst, kind FROM edge WHERE deleted_at IS NULL")
            index.load_edges(cursor)
            cursor.execute("SELECT value FROM meta WHERE name = 'log_position'")
            position = cursor.fetchone()
            cursor.execute("SELECT max((SELECT max(rev) FROM node), (SELECT max(rev) FROM edge))")
            rev = cursor.fetchone()[0]
    finally:
        cursor.close()
    return index, int(position[0]) if position else 0, int(rev or 0)


#: what a follower reads of the rows written since the revision it has (in one snapshot)
CHANGED_NODES = "SELECT id, key, deleted_at IS NULL, rev FROM node WHERE rev > ? ORDER BY id"
CHANGED_EDGES = "SELECT id, src, dst, kind, deleted_at IS NULL, rev FROM edge WHERE rev > ?"
CURRENT_EDGES_OF = (
    "SELECT src, dst, kind FROM edge WHERE deleted_at IS NULL"
    " AND (src IN (SELECT value FROM json_each(?)) OR dst IN (SELECT value FROM json_each(?)))"
)
LOG_POSITION = "SELECT value FROM meta WHERE name = 'log_position'"


def json_ids(column: sa.ColumnElement[int], ids: Iterable[int]) -> sa.ColumnElement[bool]:
    """``column IN (ids)`` for any number of ids, as one JSON parameter."""
    values = sa.func.json_each(orjson.dumps(list(ids)).decode()).table_valued("value")
    return column.in_(sa.select(values.c.value))


def alive_at(table: sa.FromClause, t: int) -> sa.ColumnElement[bool]:
    """The row (node or edge) is alive at time ``t`` (microseconds)."""
    c = table.c
    return sa.and_(c.first_seen <= t, sa.or_(c.deleted_at.is_(None), c.deleted_at > t))


# ---- writing ---------------------------------------------------------------------------
def _positional(stmt: sa.ClauseElement) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]]]:
    """SQL text for the driver's ``executemany`` and a function that orders a row's
    values as its parameters (SQLAlchemy's own executemany spends ~25 us a row)."""
    compiled = cast(SQLCompiler, stmt.compile(dialect=sqlite_dialect()))
    order = tuple(compiled.positiontup or ())
    return str(compiled), operator.itemgetter(*order)  # type: ignore[return-value]


def _statements(table: sa.Table, identity: tuple[str, ...]) -> tuple[Any, Any]:
    insert = table.insert().values({c: sa.bindparam(c) for c in (*identity, *_WRITTEN)})
    update = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("_id"))
        .values({c: sa.bindparam(c) for c in _WRITTEN})
    )
    return _positional(insert), _positional(update)


_NODE_INSERT, _NODE_UPDATE = _statements(
    NODE, ("id", "key", "kind", "namespace", "name", "ns_fold", "name_fold")
)
_EDGE_INSERT, _EDGE_UPDATE = _statements(EDGE, ("id", "src", "kind", "dst"))


def _records_by_id(table: sa.Table) -> sa.TextClause:
    """Rows by id, the ids one JSON array (built once: every apply runs it)."""
    cols = "x.id, x.props, x.clock, x.first_seen, x.last_seen, x.tomb_at, x.source, x.event_id"
    if table is EDGE:
        cols += ", x.src, x.kind, x.dst"
    return sa.text(
        f"SELECT {cols} FROM json_each(:ids) AS j JOIN {table.name} AS x ON x.id = j.value"  # noqa: S608 - constant names
    )


_RECORDS_BY_ID = {NODE.name: _records_by_id(NODE), EDGE.name: _records_by_id(EDGE)}


def record_rows(conn: sa.Connection, table: sa.Table, ids: Collection[int]) -> list[Any]:
    """The merge state of rows by id: ``(id, props, clock, first_seen, last_seen,
    tomb_at, source, event_id)``, then ``src, kind, dst`` for edges."""
    param = orjson.dumps(list(ids)).decode()
    return list(conn.execute(_RECORDS_BY_ID[table.name], {"ids": param}))


# Stored edges among (src, dst, kind) triples given as one JSON array; the join
# walks the triples and looks each up in the (src, dst, kind) unique index.
_EDGES_BY_TRIPLE = sa.text(
    "SELECT e.id, e.props, e.clock, e.first_seen, e.last_seen, e.tomb_at, e.source,"
    " e.event_id, e.src, e.kind, e.dst"
    " FROM json_each(:triples) AS j CROSS JOIN edge AS e"
    " ON e.src = json_extract(j.value, '$[0]') AND e.dst = json_extract(j.value, '$[1]')"
    " AND e.kind = json_extract(j.value, '$[2]')"
)


def edge_record_rows(
    conn: sa.Connection, triples: Iterable[tuple[int, EdgeKind, int]]
) -> list[Any]:
    """Like :func:`record_rows` for edges, found by ``(src id, kind, dst id)``."""
    param = orjson.dumps([[s, d, k] for s, k, d in triples]).decode()  # enums as values
    return list(conn.execute(_EDGES_BY_TRIPLE, {"triples": param}))


_SET_POSITION = (
    sqlite_insert(META)
    .values(name="log_position", value=sa.bindparam("value"))
    .on_conflict_do_update(index_elements=["name"], set_={"value": sa.bindparam("value")})
)


def write_plan(conn: sa.Connection, p: Plan, log_position: int | None, rev: int) -> tuple[int, int]:
    """Write the changed records of a plan, stamped with the revision ``rev`` (and
    the log position) in ``conn``'s transaction; returns how many node and edge
    rows were written."""
    node_inserts: list[dict[str, Any]] = []
    node_updates: list[dict[str, Any]] = []
    for key, rec in p.nodes.items():
        if not rec.dirty:
            continue
        row = rec.row()
        row["rev"] = rev
        if rec.new:
            namespace, name = key.namespace, key.name
            row.update(
                id=rec.id,
                key=str(key),
                kind=_NODE_KIND_VALUE[key.kind],
                namespace=namespace,
                name=name,
                ns_fold=namespace.casefold() if namespace is not None else None,
                name_fold=name.casefold(),
            )
            node_inserts.append(row)
        else:
            row["_id"] = rec.id
            node_updates.append(row)
    edge_inserts: list[dict[str, Any]] = []
    edge_updates: list[dict[str, Any]] = []
    for (src, kind, dst), rec in p.edges.items():
        if not rec.dirty:
            continue
        row = rec.row()
        row["rev"] = rev
        if rec.new:
            row.update(id=rec.id, src=src, kind=_EDGE_KIND_VALUE[kind], dst=dst)
            edge_inserts.append(row)
        else:
            row["_id"] = rec.id
            edge_updates.append(row)
    for (sql, values), rows in (
        (_NODE_INSERT, node_inserts),
        (_NODE_UPDATE, node_updates),
        (_EDGE_INSERT, edge_inserts),
        (_EDGE_UPDATE, edge_updates),
    ):
        if rows:
            conn.exec_driver_sql(sql, [values(row) for row in rows])
    if log_position is not None:
        conn.execute(_SET_POSITION, {"value": str(log_position)})
    return len(node_inserts) + len(node_updates), len(edge_inserts) + len(edge_updates)


def current_edges_of(conn: sa.Connection, ids: list[int]) -> list[tuple[int, int, str]]:
    """``(src, dst, kind)`` of the undeleted edges touching the nodes ``ids``."""
    e = EDGE.c
    stmt = sa.select(e.src, e.dst, e.kind).where(
        sa.or_(json_ids(e.src, ids), json_ids(e.dst, ids)), e.deleted_at.is_(None)
    )
    return [(src, dst, kind) for src, dst, kind in conn.execute(stmt)]


# ---- reading ---------------------------------------------------------------------------
# The current-view reads (no as-of time) are the hot ones (every lineage and
# GraphQL answer): plain SQL on the driver's cursor, the id list driving the
# join through the primary key or the edge indexes, rows fetched at once.
_NODES_BY_ID = (
    "SELECT x.id, x.props, x.first_seen, x.last_seen, x.deleted_at, x.source, x.event_id"
    " FROM json_each(?) AS j JOIN node AS x ON x.id = j.value"
)
_EDGE_COLUMNS = (
    "SELECT x.id, x.src, x.kind, x.dst, x.props, x.first_seen, x.last_seen, x.deleted_at,"
    " x.source, x.event_id FROM json_each(?) AS j JOIN edge AS x"
)
_EDGES_BY_END = {
    True: _EDGE_COLUMNS + " ON x.src = j.value",  # outgoing
    False: _EDGE_COLUMNS + " ON x.dst = j.value",  # incoming
}


# The (src, dst, kind) unique index finds each edge of a list of triples.
_EDGES_BY_TRIPLE_NOW = (
    _EDGE_COLUMNS + " ON x.src = j.value ->> 0 AND x.dst = j.value ->> 1 AND x.kind = j.value ->> 2"
    " WHERE x.deleted_at IS NULL"
)


def _fetch(conn: sa.Connection, statement: str, params: tuple[Any, ...]) -> list[Any]:
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        return cursor.execute(statement, params).fetchall()  # type: ignore[no-any-return]
    finally:
        cursor.close()


def _json(values: Iterable[Any]) -> str:
    return orjson.dumps(list(values)).decode()


def node_rows(
    conn: sa.Connection,
    ids: Collection[int],
    *,
    as_of: int | None = None,
    include_deleted: bool = False,
) -> list[Any]:
    """``(id, *STATE)`` of the nodes ``ids`` alive now, or at ``as_of``, or ever."""
    if as_of is None:
        where = "" if include_deleted else " WHERE x.deleted_at IS NULL"
        return _fetch(conn, _NODES_BY_ID + where, (_json(ids),))
    n = NODE.c
    stmt = sa.select(n.id, *(n[c] for c in STATE)).where(json_ids(n.id, ids))
    return list(conn.execute(stmt.where(alive_at(NODE, as_of))))


def current_edge_rows(conn: sa.Connection, triples: list[tuple[int, int, str]]) -> list[Any]:
    """``(id, src, kind, dst, *STATE)`` of the undeleted edges ``(src, dst, kind value)``."""
    return _fetch(conn, _EDGES_BY_TRIPLE_NOW, (_json(triples),))


def edge_rows(
    conn: sa.Connection,
    ids: Collection[int],
    *,
    outgoing: bool,
    kinds: Collection[EdgeKind] | None,
    as_of: int | None,
    include_deleted: bool,
) -> list[Any]:
    """``(id, src, kind, dst, *STATE)`` of the edges leaving (or entering) ``ids``.

    Without ``as_of`` the ends' liveness is left to the caller (the index knows it).
    """
    if as_of is None:
        sql = _EDGES_BY_END[outgoing]
        params: tuple[Any, ...] = (_json(ids),)
        conditions = [] if include_deleted else ["x.deleted_at IS NULL"]
        if kinds is not None:
            conditions.append("x.kind IN (SELECT value FROM json_each(?))")
            params += (_json(sorted(k.value for k in kinds)),)
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        return _fetch(conn, sql, params)
    e = EDGE.c
    stmt = sa.select(e.id, e.src, e.kind, e.dst, *(e[c] for c in STATE))
    stmt = stmt.where(json_ids(e.src if outgoing else e.dst, ids))
    if kinds is not None:
        stmt = stmt.where(e.kind.in_(sorted(k.value for k in kinds)))
    if include_deleted:
        stmt = stmt.where(e.first_seen <= as_of)
    else:
        src, dst = NODE.alias("s"), NODE.alias("d")
        stmt = (
            stmt.join(src, src.c.id == e.src)
            .join(dst, dst.c.id == e.dst)
            .where(alive_at(EDGE, as_of), alive_at(src, as_of), alive_at(dst, as_of))
        )
    return list(conn.execute(stmt))


def bfs_as_of(
    conn: sa.Connection,
    starts: list[int],
    *,
    as_of: int,
    upstream: bool,
    edge_kinds: Collection[EdgeKind],
    node_kinds: Collection[NodeKind] | None,
    max_depth: int | None,
    limit: int | None,
) -> tuple[dict[int, int], dict[int, int], bool]:
    """Breadth-first expansion over history: one batched query per hop over the
    frontier (the ``src``/``dst`` indexes), nodes and edges alive at ``as_of``."""
    e, n = EDGE.c, NODE.c
    near, far = (e.dst, e.src) if upstream else (e.src, e.dst)
    kinds = sorted(k.value for k in edge_kinds)
    alive = {r[0] for r in node_rows(conn, starts, as_of=as_of)} if starts else set()
    depth = {s: 0 for s in starts if s in alive}
    parent: dict[int, int] = {}
    frontier = list(depth)
    budget = -1 if limit is None else limit
    d = 0
    while frontier and kinds and d != max_depth:
        d += 1
        stmt = (
            sa.select(near, far)
            .join(NODE, n.id == far)
            .where(json_ids(near, frontier), e.kind.in_(kinds))
            .where(alive_at(EDGE, as_of), alive_at(NODE, as_of))
        )
        if node_kinds is not None:
            stmt = stmt.where(n.kind.in_(sorted(k.value for k in node_kinds)))
        nxt: list[int] = []
        for u, v in conn.execute(stmt):
            if v in depth:
                continue
            if not budget:
                return depth, parent, True
            budget -= 1
            depth[v] = d
            parent[v] = u
            nxt.append(v)
        frontier = nxt
    return depth, parent, False
