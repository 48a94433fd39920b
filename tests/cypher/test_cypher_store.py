"""What the Cypher store promises beyond the contract: parameters only, one query
per hop, paged reads, safe concurrent writers, and life with a server that goes
away or comes back empty. Against a real FalkorDB server (RESP)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from lineagegraph.errors import BackendUnavailable, InvalidChangeSet, InvalidInput
from lineagegraph.graph.changeset import ChangeSet, Provenance
from lineagegraph.graph.cypher import CypherStore
from lineagegraph.graph.cypher.connectors import Connector, RespConnector, Row, Runner
from lineagegraph.graph.cypher.dialect import Index
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind
from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import Direction, SearchQuery, TraversalSpec
from tests.cypher.falkordb_server import FalkorDBServer, falkordb, falkordb_server, graph_uri

__all__ = ["falkordb"]

pytestmark = pytest.mark.integration

T = TypeVar("T")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
P = Provenance("test", "e1")


class Recording:
    """A Connector that passes everything to a real one and keeps every query it ran."""

    def __init__(self, inner: RespConnector) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self.target = inner.target
        self.queries: list[tuple[str, dict[str, Any]]] = []

    def _wrap(self, work: Callable[[Runner], T]) -> Callable[[Runner], T]:
        outer = self

        class _Runner:
            def __init__(self, r: Runner) -> None:
                self.r = r

            def run(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
                outer.queries.append((query, dict(params or {})))
                return self.r.run(query, params)

        return lambda r: work(_Runner(r))

    def read(self, work: Callable[[Runner], T]) -> T:
        return self.inner.read(self._wrap(work))

    def write(self, work: Callable[[Runner], T]) -> T:
        return self.inner.write(self._wrap(work))

    def ensure_unique(self, index: Index) -> bool:
        return self.inner.ensure_unique(index)

    def ping(self) -> None:
        self.inner.ping()

    def check_version(self) -> None:
        self.inner.check_version()

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def recorded(falkordb: FalkorDBServer) -> Iterator[tuple[CypherStore, Recording]]:
    rec = Recording(RespConnector(graph_uri(falkordb)))
    connector: Connector = rec
    store = CypherStore(connector, batch_size=3)
    yield store, rec
    rec.inner.drop_graph()
    store.close()


def chain(n: int, *, props: dict[str, Any] | None = None) -> tuple[ChangeSet, list[NodeKey]]:
    """d0 -> r0 -> d1 -> r1 -> ... -> dn (lineage edges only)."""
    cs = ChangeSet()
    keys: list[NodeKey] = []
    for i in range(n + 1):
        d = cs.node(NodeKey.dataset_key("s3://lake", f"d{i}"), T0, P, props)
        keys.append(d)
        if i < n:
            r = cs.node(NodeKey.run(f"r{i}"), T0, P)
            keys.append(r)
            cs.edge(d, EdgeKind.CONSUMED, r, T0, P)
    for i in range(n):
        cs.edge(keys[2 * i + 1], EdgeKind.PRODUCED, keys[2 * i + 2], T0, P)
    return cs, keys


def test_values_never_reach_the_query_text(recorded: tuple[CypherStore, Recording]) -> None:
    store, rec = recorded
    odd = NodeKey.dataset_key("postgres://db:5432", "x' OR 1=1 //\"}) DETACH DELETE n //")
    run = NodeKey.run("run-`backtick`-$param")
    cs = ChangeSet()
    cs.node(odd, T0, P, {"note": 'it\'s "quoted"', "n": 1 / 3, "nested": {"a": [1, "b"]}})
    cs.node(run, T0, P)
    cs.edge(odd, EdgeKind.CONSUMED, run, T0, P, {"rows": 12345678901})
    store.apply(cs, log_position=42)
    store.traverse(TraversalSpec((odd,), as_of=T0 + timedelta(days=1)))
    store.get_edges([run], direction=Direction.UPSTREAM)
    store.search(SearchQuery(text="x' OR", namespace="postgres://db:5432"))
    values = [str(odd), str(run), "x' OR", "it's", "12345678901", "postgres://db:5432", "42"]
    assert rec.queries
    for query, _ in rec.queries:
        assert not any(v in query for v in values), query
    # and the store reads back exactly what it was given
    node = store.get_nodes([odd])[odd]
    assert node.props == {"note": 'it\'s "quoted"', "n": 1 / 3, "nested": {"a": [1, "b"]}}
    (edge,) = store.get_edges([odd])
    assert edge.props == {"rows": 12345678901} and store.log_position() == 42


def test_traversal_is_one_query_per_hop(recorded: tuple[CypherStore, Recording]) -> None:
    store, rec = recorded
    cs, keys = chain(4)  # 9 nodes, 8 hops
    store.apply(cs)
    rec.queries.clear()
    t = store.traverse(TraversalSpec((keys[0],)))
    assert t.depth == {k: i for i, k in enumerate(keys)}
    assert t.path_to(keys[-1]) == keys
    hops = [q for q, _ in rec.queries if "UNWIND $ids" in q]
    # one per hop that reached something, plus the last one that found nothing new
    assert len(hops) == 9
    assert all("*" not in q for q, _ in rec.queries)  # no variable-length patterns
    rec.queries.clear()
    assert len(store.traverse(TraversalSpec((keys[0],), max_depth=3)).depth) == 4
    assert sum("UNWIND $ids" in q for q, _ in rec.queries) == 3


def test_reads_are_paged(recorded: tuple[CypherStore, Recording]) -> None:
    store, rec = recorded
    cs, keys = chain(5)  # 11 nodes; batch_size is 3
    store.apply(cs)
    rec.queries.clear()
    assert set(store.get_nodes(keys)) == set(keys)
    assert len(rec.queries) == 4 and all(len(p["keys"]) <= 3 for _, p in rec.queries)
    rec.queries.clear()
    assert len(store.get_edges(keys, direction=Direction.DOWNSTREAM)) == 10
    assert len(rec.queries) == 4


def test_an_edge_to_a_missing_node_changes_nothing(falkordb: FalkorDBServer) -> None:
    store = CypherStore.from_uri(graph_uri(falkordb))
    try:
        cs, keys = chain(1)
        store.apply(cs, log_position=1)
        bad = ChangeSet()
        bad.node(keys[0], T0 + timedelta(hours=1), P, {"changed": True})
        bad.edge(keys[0], EdgeKind.CONSUMED, NodeKey.run("ghost"), T0, P)
        with pytest.raises(InvalidChangeSet) as info:
            store.apply(bad, log_position=2)
        assert info.value.path == "edges[0].dst" and "run:ghost" in str(info.value)
        assert store.get_nodes([keys[0]])[keys[0]].props == {} and store.log_position() == 1
    finally:
        store.connector.drop_graph()  # type: ignore[attr-defined]
        store.close()


def test_concurrent_writers_lose_no_update(falkordb: FalkorDBServer) -> None:
    """Two stores (two API replicas) write properties of the same node at once."""
    uri = graph_uri(falkordb)
    stores = [CypherStore.from_uri(uri, attempts=50) for _ in range(2)]
    key = NodeKey.dataset_key("s3://lake", "hot")
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(15):
                cs = ChangeSet()
                cs.node(key, T0, Provenance("test", f"{w}-{i}"), {f"p{w}_{i}": i})
                stores[w].apply(cs, log_position=i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        props = stores[0].get_nodes([key])[key].props
        assert props == {f"p{w}_{i}": i for w in range(2) for i in range(15)}
    finally:
        stores[0].connector.drop_graph()  # type: ignore[attr-defined]
        for s in stores:
            s.close()


def test_nul_characters_in_key_parts(falkordb: FalkorDBServer) -> None:
    store = open_store(graph_uri(falkordb))
    try:
        key = NodeKey.dataset_key("s3://lake", "nul\x00name")
        cs = ChangeSet()
        cs.node(key, T0, P, {"v": "a\x00b"})
        store.apply(cs)
        assert store.get_nodes([key])[key].props == {"v": "a\x00b"}
        found = store.search(SearchQuery(text="nul\x00", mode="prefix")).nodes
        assert [n.key for n in found] == [key]
    finally:
        store.connector.drop_graph()  # type: ignore[attr-defined]
        store.close()


def test_unique_key_constraint_is_created(falkordb: FalkorDBServer) -> None:
    store = CypherStore.from_uri(graph_uri(falkordb))
    try:
        store.check_health()
        store.log_position()  # first use creates the schema
        rows = store.connector.read(lambda r: r.run("CALL db.constraints()"))
        assert ["UNIQUE", "LGNode", ["key"]] in [row[:3] for row in rows]
        # a second store on the same graph finds the schema there and adds nothing
        again = CypherStore.from_uri(store.connector.target)
        assert again.log_position() == 0
        again.close()
    finally:
        store.connector.drop_graph()  # type: ignore[attr-defined]
        store.close()


def test_options_are_checked() -> None:
    with pytest.raises(InvalidInput) as info:
        CypherStore.from_uri("falkordb://127.0.0.1:1/g", colour="blue")
    assert info.value.path == "store_options" and "colour" in str(info.value)
    with pytest.raises(InvalidInput):
        CypherStore.from_uri("falkordb://127.0.0.1:1/g", batch_size=0)


def test_server_down_then_back_empty() -> None:
    """Opens while the server is down; BackendUnavailable meanwhile; once the server is
    back (empty: it keeps nothing on disk) the store recreates its schema."""
    server = FalkorDBServer()
    store = CypherStore.from_uri(server.resp_uri("g"), attempts=2, timeout=2)
    try:
        with pytest.raises(BackendUnavailable):
            store.check_health()
        with pytest.raises(BackendUnavailable):
            store.log_position()
        server.start()
        store.check_health()
        cs, keys = chain(1)
        store.apply(cs, log_position=7)
        assert store.log_position() == 7
        server.stop()
        with pytest.raises(BackendUnavailable):
            store.apply(cs, log_position=8)
        server.start()  # an empty server on the same port
        assert store.log_position() == 0 and store.get_nodes(keys) == {}
        store.apply(cs, log_position=8)
        assert set(store.get_nodes(keys)) == set(keys) and store.stats().log_position == 8
    finally:
        store.close()
        server.cleanup()


def test_schema_version_mismatch_asks_for_a_replay() -> None:
    with falkordb_server() as server:
        store = CypherStore.from_uri(server.resp_uri("g"))
        try:
            store.log_position()
            store.connector.write(lambda r: r.run("MATCH (m:LGMeta) SET m.schema_version = 99"))
            stale = CypherStore.from_uri(server.resp_uri("g"))
            with pytest.raises(BackendUnavailable) as info:
                stale.log_position()
            assert "replay" in str(info.value) and "99" in str(info.value)
            stale.close()
        finally:
            store.close()
