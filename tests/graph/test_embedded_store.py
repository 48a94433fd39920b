"""What the embedded store adds to the contract: opening, write accounting,
concurrency, big ChangeSets, and an in-memory index that always agrees with
SQLite (the contract suite in tests/contract covers the semantics)."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineagegraph.errors import BackendUnavailable, InvalidInput
from lineagegraph.graph.changeset import ChangeSet, EdgeTombstone, NodeTombstone, Provenance
from lineagegraph.graph.embedded import EmbeddedStore
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import Direction, GraphStore, TraversalSpec

T0 = datetime(2026, 1, 1, tzinfo=UTC)
P = Provenance("test", "e")
FAR_FUTURE = datetime(2999, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def ds(name: str) -> NodeKey:
    return NodeKey.dataset_key("s3://lake", name)


# ---- opening ---------------------------------------------------------------------------


def test_relative_sqlite_uri_creates_parent_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///data/nested/graph.db")
    try:
        assert isinstance(store, EmbeddedStore) and isinstance(store, GraphStore)
        store.apply(_chain(1))
    finally:
        store.close()
    assert (tmp_path / "data" / "nested" / "graph.db").is_file()


def test_absolute_sqlite_uri_and_memory_uris(tmp_path: Path) -> None:
    path = tmp_path / "abs" / "graph.db"
    for uri, expected in [
        (f"sqlite:///{path}", path),  # an absolute path gives four slashes
        ("memory://", None),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
    ]:
        store = EmbeddedStore.from_uri(uri)
        assert store.path == expected
        store.close()
    assert path.is_file()


@pytest.mark.parametrize(
    ("uri", "options", "path"),
    [
        ("memory://", {"user": "neo4j"}, "store_options"),
        ("bolt://localhost:7687", {}, "store_uri"),
    ],
)
def test_bad_uris_and_options_are_named(uri: str, options: dict[str, str], path: str) -> None:
    with pytest.raises(InvalidInput) as info:
        EmbeddedStore.from_uri(uri, **options)
    assert info.value.path == path


def test_an_unusable_path_is_reported(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(BackendUnavailable) as info:
        EmbeddedStore(tmp_path / "file" / "graph.db")
    assert info.value.path == "store_uri"
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(BackendUnavailable):
        EmbeddedStore(tmp_path / "dir.db")  # a directory where the database should be


def test_a_store_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "graph.db"
    EmbeddedStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    with pytest.raises(BackendUnavailable) as info:
        EmbeddedStore(path)
    assert "schema version 99" in str(info.value)


def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "graph.db"
    store = EmbeddedStore(path)
    store.apply(_chain(3), log_position=7)
    before = store.traverse(TraversalSpec((ds("root"),))).depth
    store.close()
    with sqlite3.connect(path) as db:  # what version 1 wrote: no ``rev``...
        for table in ("node", "edge"):
            db.execute(f"DROP INDEX ix_{table}_rev")
            db.execute(f"ALTER TABLE {table} DROP COLUMN rev")
        db.execute("UPDATE meta SET value = '1' WHERE name = 'schema_version'")
        # ...and an upgrade that stopped after its first step
        db.execute("ALTER TABLE node ADD COLUMN rev INTEGER NOT NULL DEFAULT 0")
    store = EmbeddedStore(path)
    follower = EmbeddedStore(path, follow=True)
    try:
        assert store.traverse(TraversalSpec((ds("root"),))).depth == before
        assert follower.log_position() == 7
        store.apply(_nodes(ds("after")), log_position=8)
        assert follower.get_nodes([ds("after")]) and follower.log_position() == 8
    finally:
        follower.close()
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone() == (
            "2",
        )


def test_a_follower_refuses_to_write_and_needs_a_file(tmp_path: Path) -> None:
    EmbeddedStore(tmp_path / "graph.db").close()
    follower = EmbeddedStore.from_uri(f"sqlite:///{tmp_path / 'graph.db'}", follow=True)
    with pytest.raises(InvalidInput) as info:
        follower.apply(_nodes(ds("x")))
    assert "follows the writes of another process" in str(info.value)
    follower.close()
    with pytest.raises(InvalidInput) as info:
        EmbeddedStore.from_uri("memory://", follow=True)
    assert info.value.path == "store_uri"


def test_a_followers_revision_moves_with_the_writers_commits_only(tmp_path: Path) -> None:
    """Caches key on ``revision()`` (the GraphQL response cache): a follower's must
    change when the writer commits, and only then."""
    writer = EmbeddedStore(tmp_path / "graph.db")
    follower = EmbeddedStore(tmp_path / "graph.db", follow=True)
    try:
        before = follower.revision()
        follower.stats()
        assert follower.revision() == before  # reads alone change nothing
        writer.apply(_nodes(ds("a")), log_position=1)
        after = follower.revision()
        assert after != before
        assert follower.get_nodes([ds("a")]) and follower.revision() == after
    finally:
        follower.close()
        writer.close()


def test_a_closed_store_says_so() -> None:
    store = EmbeddedStore.from_uri("memory://")
    store.check_health()
    store.close()
    store.close()  # closing twice is harmless
    for call in (store.check_health, store.stats, lambda: store.apply(ChangeSet())):
        with pytest.raises(BackendUnavailable):
            call()


def test_unknown_kinds_are_named() -> None:
    store = EmbeddedStore.from_uri("memory://")
    store.apply(_chain(1))
    with pytest.raises(InvalidInput) as info:
        store.get_edges([ds("root")], edge_kinds=["consumed", "eaten"])  # type: ignore[list-item]
    assert info.value.path == "edge_kinds" and "eaten" in str(info.value)
    spec = TraversalSpec((ds("root"),), node_kinds=frozenset({"table"}))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as info:
        store.traverse(spec)
    assert info.value.path == "node_kinds"
    # values of known kinds are as good as the members
    found = store.get_edges([ds("root")], edge_kinds=["consumed"])  # type: ignore[list-item]
    assert [e.kind for e in found] == [EdgeKind.CONSUMED]


# ---- writing ---------------------------------------------------------------------------


def test_apply_reports_what_it_wrote() -> None:
    store = EmbeddedStore.from_uri("memory://")
    first = store.apply(_chain(3))
    assert (first.nodes_written, first.edges_written, first.tombstones_written) == (7, 6, 0)
    again = store.apply(_chain(3))
    assert (again.nodes_written, again.edges_written, again.tombstones_written) == (0, 0, 0)
    cs = ChangeSet()
    cs.node(ds("root"), at(1), P, {"note": "changed"})
    cs.node_tombstones.append(NodeTombstone(NodeKey.run("r0"), at(1), P))
    cs.edge_tombstones.append(
        EdgeTombstone(ds("root"), EdgeKind.CONSUMED, NodeKey.run("r1"), at(1), P)
    )
    cs.edge_tombstones.append(
        EdgeTombstone(ds("root"), EdgeKind.CONSUMED, NodeKey.run("r1"), at(0), P)
    )
    result = store.apply(cs)
    assert (result.nodes_written, result.edges_written, result.tombstones_written) == (2, 1, 2)


def test_big_changesets_are_applied_in_batches(tmp_path: Path) -> None:
    n = 3000  # more keys than SQLite allows bound variables in one statement by default
    store = EmbeddedStore(tmp_path / "big.db")
    try:
        result = store.apply(_chain(n))
        assert (result.nodes_written, result.edges_written) == (2 * n + 1, 2 * n)
        keys = [ds(f"d{i}") for i in range(n)]
        assert len(store.get_nodes(keys)) == n
        assert len(store.get_edges(keys, direction=Direction.UPSTREAM)) == n
        closure = store.traverse(TraversalSpec((ds("root"),)))
        assert len(closure.depth) == 2 * n + 1
        cs = ChangeSet()
        cs.edge_tombstones.extend(
            EdgeTombstone(ds("root"), EdgeKind.CONSUMED, NodeKey.run(f"r{i}"), at(1), P)
            for i in range(0, n, 2)
        )
        assert store.apply(cs).tombstones_written == n // 2
        assert len(store.traverse(TraversalSpec((ds("root"),))).depth) == n + 1
        assert store.stats().edges_by_kind == {"consumed": n // 2, "produced": n}
    finally:
        store.close()


# ---- reading while writing -------------------------------------------------------------


@pytest.mark.parametrize("uri", ["file", "memory://", "follower"])
def test_readers_never_see_half_a_changeset(tmp_path: Path, uri: str) -> None:
    file = f"sqlite:///{tmp_path / 'graph.db'}"
    store = EmbeddedStore.from_uri(uri if uri == "memory://" else file)
    # a follower reads what another store (another process, as a rule) writes
    reader = EmbeddedStore.from_uri(file, follow=True) if uri == "follower" else store
    root = ds("root")
    store.apply(_nodes(root))
    done = threading.Event()
    errors: list[BaseException] = []
    reads = [0]

    def write() -> None:
        try:
            for i in range(120):
                # each ChangeSet adds one run and one dataset, and the edges between
                cs = ChangeSet()
                run, out = NodeKey.run(f"r{i}"), ds(f"d{i}")
                cs.node(run, T0, P)
                cs.node(out, T0, P)
                cs.node(root, at(i), P, {"runs": i + 1})
                cs.edge(root, EdgeKind.CONSUMED, run, T0, P)
                cs.edge(run, EdgeKind.PRODUCED, out, T0, P)
                store.apply(cs, log_position=i + 1)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                depth = reader.traverse(TraversalSpec((root,))).depth
                runs = sum(1 for k in depth if k.kind is NodeKind.RUN)
                assert len(depth) == 1 + 2 * runs, "a traversal saw half a ChangeSet"
                stats = reader.stats()
                by_kind = stats.nodes_by_kind
                assert by_kind.get("dataset", 0) == 1 + by_kind.get("run", 0)
                assert stats.edge_count == 2 * by_kind.get("run", 0)
                assert stats.log_position == by_kind.get("run", 0)
                reads[0] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    final = reader.stats()
    store.close()
    reader.close()
    assert not errors, errors[0]
    assert reads[0] > 0
    assert final.log_position == 120 and final.nodes_by_kind["run"] == 120


# ---- the index always agrees with SQLite -----------------------------------------------

_DATASETS = [ds(f"d{i}") for i in range(4)]
_RUNS = [NodeKey.run(f"r{i}") for i in range(3)]
_JOBS = [NodeKey.job("ns", f"j{i}") for i in range(2)]
_EDGES = (
    [(d, EdgeKind.CONSUMED, r) for d in _DATASETS for r in _RUNS + _JOBS]
    + [(r, EdgeKind.PRODUCED, d) for r in _RUNS + _JOBS for d in _DATASETS]
    + [(r, EdgeKind.INSTANCE_OF, j) for r in _RUNS for j in _JOBS]
)
_ALL_NODES = _DATASETS + _RUNS + _JOBS
_op = st.one_of(
    st.tuples(st.just("edge"), st.sampled_from(_EDGES), st.integers(0, 5)),
    st.tuples(st.just("drop_edge"), st.sampled_from(_EDGES), st.integers(0, 5)),
    st.tuples(st.just("drop_node"), st.sampled_from(_ALL_NODES), st.integers(0, 5)),
    st.tuples(st.just("node"), st.sampled_from(_ALL_NODES), st.integers(0, 5)),
)
#: the three pictures of lineage: all nodes, runs hidden (job view), jobs hidden
_VIEWS = (
    None,
    frozenset(NodeKind) - {NodeKind.RUN},
    frozenset(NodeKind) - {NodeKind.JOB},
)


def _records(store: EmbeddedStore) -> object:
    """The current nodes and edges as the store reads them (through its cache)."""
    nodes = store.get_nodes(_ALL_NODES)
    return (
        [nodes.get(k) for k in _ALL_NODES],
        sorted(store.edges_among(_ALL_NODES, edge_kinds=set(EdgeKind)), key=repr),
    )


def _closures_agree(store: EmbeddedStore, keys: list[NodeKey]) -> None:
    """Whole closures (the store's C mirrors) equal the Python walk's (forced by
    a limit no graph here reaches), and every parent is one hop nearer a start
    with a followed edge to its child."""
    for k, d, view in itertools.product(keys, _DIRS, _VIEWS):
        fast = store.traverse(TraversalSpec((k,), d, node_kinds=view))
        slow = store.traverse(TraversalSpec((k,), d, node_kinds=view, limit=10**9))
        assert fast.depth == slow.depth, (k, d, view)
        assert set(fast.parent) == set(fast.depth) - {k}
        for child, parent in fast.parent.items():
            assert fast.depth[parent] == fast.depth[child] - 1
            src, dst = (parent, child) if d is Direction.DOWNSTREAM else (child, parent)
            links = store.get_edges([src], direction=Direction.DOWNSTREAM)
            assert any(e.dst == dst and e.kind.is_lineage for e in links), (src, dst)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(_op, min_size=1, max_size=6), min_size=1, max_size=6))
def test_index_matches_sqlite_after_any_history(
    tmp_path: Path, batches: list[list[tuple[str, Any, int]]]
) -> None:
    path = tmp_path / f"history-{next(_EXAMPLES)}.db"
    live = EmbeddedStore(path)
    follower = EmbeddedStore(path, follow=True)  # reads along while ``live`` writes
    live.apply(_nodes(*_ALL_NODES))
    for batch in batches:
        cs = ChangeSet()
        for op, target, hours in batch:
            if op in ("edge", "drop_edge"):
                src, kind, dst = target
                cs.edge(src, kind, dst, at(hours if op == "edge" else 0), P)
                if op == "drop_edge":
                    cs.edge_tombstones.append(EdgeTombstone(src, kind, dst, at(hours), P))
            elif op == "drop_node":
                cs.node_tombstones.append(NodeTombstone(target, at(hours), P))
            else:
                cs.node(target, at(hours), P)
        live.apply(cs)
        _records(live)  # fills the record cache: a later apply must not leave it stale
        _records(follower)  # the follower's too: its catching up must not either
    everything = _ALL_NODES
    _closures_agree(live, everything)

    def views(store: EmbeddedStore) -> object:
        return (
            store.stats(),
            [store.traverse(TraversalSpec((k,), d)).depth for k in everything for d in _DIRS],
            _records(store),
        )

    history = [
        live.traverse(TraversalSpec((k,), d, as_of=FAR_FUTURE)).depth
        for k in everything
        for d in _DIRS
    ]
    now = views(live)
    # the current view (in memory) and the SQL history at the end of time agree...
    assert now[1] == history  # type: ignore[index]
    # ...the follower's, caught up step by step, too...
    try:
        assert views(follower) == now
        _closures_agree(follower, everything)
    finally:
        follower.close()
    live.close()
    # ...and so does an index rebuilt from SQLite
    reopened = EmbeddedStore(path)
    try:
        assert views(reopened) == now
        _closures_agree(reopened, everything)
    finally:
        reopened.close()


_DIRS = (Direction.DOWNSTREAM, Direction.UPSTREAM)
_EXAMPLES = itertools.count()


# ---- helpers -------------------------------------------------------------------------


def _nodes(*keys: NodeKey) -> ChangeSet:
    cs = ChangeSet()
    for k in keys:
        cs.node(k, T0, P)
    return cs


def _chain(n: int) -> ChangeSet:
    """root -consumed-> r_i -produced-> d_i, for i < n."""
    cs = _nodes(ds("root"))
    for i in range(n):
        run, out = NodeKey.run(f"r{i}"), ds(f"d{i}")
        cs.node(run, T0, P)
        cs.node(out, T0, P)
        cs.edge(ds("root"), EdgeKind.CONSUMED, run, T0, P)
        cs.edge(run, EdgeKind.PRODUCED, out, T0, P)
    return cs


def test_reads_after_a_write_never_come_from_a_stale_cache(tmp_path: Path) -> None:
    """Nodes and edges read once are cached; every later write of them shows."""
    store = EmbeddedStore(tmp_path / "cache.db")
    try:
        a, r = ds("a"), NodeKey.run("r")
        cs = ChangeSet()
        cs.node(a, at(0), P, {"v": 1})
        cs.node(r, at(0), P)
        cs.edge(a, EdgeKind.CONSUMED, r, at(0), P, {"rows": 1})
        store.apply(cs)
        assert store.get_nodes([a])[a].props == {"v": 1}
        (edge,) = store.edges_among([a, r])
        assert (edge.props, edge.last_seen) == ({"rows": 1}, at(0))
        cs = ChangeSet()
        cs.node(a, at(1), P, {"v": 2})
        cs.edge(a, EdgeKind.CONSUMED, r, at(2), P, {"rows": 2})
        store.apply(cs)
        assert store.get_nodes([a])[a].props == {"v": 2}
        (edge,) = store.edges_among([a, r])
        assert (edge.props, edge.last_seen) == ({"rows": 2}, at(2))
        store.apply(ChangeSet(node_tombstones=[NodeTombstone(r, at(3), P)]))
        assert store.get_nodes([r]) == {} and store.edges_among([a, r]) == []
        store.apply(ChangeSet(nodes=[], edges=[]))  # an empty apply changes nothing
        cs = ChangeSet()
        cs.node(r, at(4), P)
        store.apply(cs)
        (edge,) = store.edges_among([a, r])  # the edge comes back with its own facts
        assert edge.last_seen == at(2) and store.get_nodes([r])[r].deleted_at is None
    finally:
        store.close()


def test_parents_asked_after_a_write_do_not_fail(tmp_path: Path) -> None:
    """A whole closure's parents are found when first asked, under the store's
    lock: a write in between must not break that (the walk is not redone)."""
    store = EmbeddedStore(tmp_path / "later.db")
    try:
        a, b, c = ds("a"), ds("b"), ds("c")
        r1, r2 = NodeKey.run("r1"), NodeKey.run("r2")
        cs = ChangeSet()
        for k in (a, b, c, r1, r2):
            cs.node(k, at(0), P)
        cs.edge(a, EdgeKind.CONSUMED, r1, at(0), P)
        cs.edge(r1, EdgeKind.PRODUCED, b, at(0), P)
        cs.edge(b, EdgeKind.CONSUMED, r2, at(0), P)
        cs.edge(r2, EdgeKind.PRODUCED, c, at(0), P)
        store.apply(cs)
        walk = store.traverse(TraversalSpec((a,)))
        assert walk.depth == {a: 0, r1: 1, b: 2, r2: 3, c: 4}
        store.apply(ChangeSet(edge_tombstones=[EdgeTombstone(r1, EdgeKind.PRODUCED, b, at(1), P)]))
        # b and r2 lost their way in from a: b has no parent now; r2 and c keep theirs
        assert walk.path_to(c) == [b, r2, c]
        assert walk.path_to(r1) == [a, r1]
        assert walk.depth[c] == 4  # the walk itself is what it was
    finally:
        store.close()
