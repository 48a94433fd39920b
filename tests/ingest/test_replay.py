"""Replay moves a graph from the embedded default to a server store from the log:
afterwards both stores answer the same lineage and impact queries the same way.

The log is filled through the ingest service (ChangeSet inputs: a synthetic
layered graph, later property changes, tombstones and one input the store
refuses), projected inline into the embedded store, then replayed into
FalkorDB with ``replay()`` and with ``lineagegraph replay --to``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.synthetic import BASE_TIME, SyntheticGraph, generate
from lineagegraph.cli.main import app
from lineagegraph.errors import Conflict
from lineagegraph.graph.changeset import (
    ChangeSet,
    EdgeTombstone,
    NodeTombstone,
    Provenance,
    changeset_to_json,
)
from lineagegraph.graph.cypher import CypherStore
from lineagegraph.graph.impact import ImpactResult, impact
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import NodeKind
from lineagegraph.graph.lineage import Granularity, LineageResult, lineage
from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import Direction, GraphStore, SearchQuery
from lineagegraph.ingest.replay import replay
from lineagegraph.runtime import Services, build_services
from lineagegraph.settings import Settings
from tests.cypher.falkordb_server import FalkorDBServer, falkordb, graph_uri

__all__ = ["falkordb"]

pytestmark = pytest.mark.integration

LATER = BASE_TIME + timedelta(days=30)


@pytest.fixture(scope="module")
def graph() -> SyntheticGraph:
    return generate(2_000, 6_000, seed=7, domain_nodes=500)


@pytest.fixture(scope="module")
def embedded(graph: SyntheticGraph, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """The embedded default, filled through the log by the ingest service."""
    data = tmp_path_factory.mktemp("embedded")
    services = build_services(Settings(data_dir=data, projection_mode="inline"))
    ingest = services.ingest
    for cs in graph.changesets(chunk_size=1_500):
        assert ingest.submit("changeset", [changeset_to_json(cs)]).projected
    keys = graph.keys()
    datasets = [keys[i] for i in graph.indices_of_kind(NodeKind.DATASET)]
    runs = [keys[i] for i in graph.indices_of_kind(NodeKind.RUN)]
    p = Provenance("test", "later")
    later = ChangeSet()
    for n, key in enumerate(datasets[:200]):  # owners (impact reports them), newer values
        later.node(key, LATER, p, {"owners": [f"team-{n % 7}"], "layer": None})
    for key in runs[:5]:
        later.node_tombstones.append(NodeTombstone(key, LATER, p))
    edge = next(e for e in services.store.get_edges([datasets[0]], direction=Direction.DOWNSTREAM))
    later.edge_tombstones.append(EdgeTombstone(edge.src, edge.kind, edge.dst, LATER, p))
    refused = ChangeSet()  # an edge to a node nobody ever logged: a projection error
    refused.edge(datasets[1], edge.kind, NodeKey.run("never-logged"), LATER, p)
    docs = [changeset_to_json(later), changeset_to_json(refused)]
    ingest.submit("changeset", docs)
    assert services.log.counts()["projection_errors"] == 1  # the refused one
    yield services
    services.close()


def lineage_answer(result: LineageResult) -> Any:
    return (
        sorted(result.nodes, key=lambda n: str(n.key)),
        sorted(result.edges, key=lambda e: (str(e.src), e.kind.value, str(e.dst))),
        result.depth,
        result.truncated,
    )


def assert_same_cut(a: LineageResult, b: LineageResult) -> None:
    """A ``limit`` cuts the last level reached at some node: which of that level's
    nodes make it is the store's choice. Everything else must agree."""
    assert a.truncated == b.truncated and len(a.depth) == len(b.depth)
    last = max(a.depth.values())
    assert max(b.depth.values()) == last
    assert {k: d for k, d in a.depth.items() if d < last} == {
        k: d for k, d in b.depth.items() if d < last
    }


def impact_answer(result: ImpactResult, store: GraphStore) -> Any:
    """Everything but the choice among equally short paths, which may differ: each
    path must be a real shortest path in ``store``, of the reported length."""
    for a in result.affected:
        assert len(a.path) == a.depth + 1 and a.path[0] in result.sources
        assert a.path[-1] == a.node.key or a.via != "lineage"
    return (
        result.sources,
        [(a.node, a.depth, a.owners, a.via) for a in result.affected],
        result.truncated,
    )


def same_answers(one: GraphStore, two: GraphStore, graph: SyntheticGraph) -> None:
    assert one.stats() == two.stats()
    keys = graph.keys()
    starts = [keys[i] for i in graph.indices_of_kind(NodeKind.DATASET)[::120]]
    starts += [keys[i] for i in graph.indices_of_kind(NodeKind.MODEL_VERSION)[::8]]
    queries: list[dict[str, Any]] = [
        {"depth": 3},
        {"direction": Direction.DOWNSTREAM},
        {"direction": Direction.UPSTREAM, "granularity": Granularity.RUN},
        {"granularity": Granularity.ALL, "as_of": BASE_TIME + timedelta(seconds=1_000)},
        {"limit": 25},
    ]
    asked = 0
    for key in starts:
        if key not in one.get_nodes([key]):
            continue
        for q in queries:
            if "as_of" in q and key not in one.get_nodes([key], as_of=q["as_of"]):
                continue
            a, b = lineage(one, key, **q), lineage(two, key, **q)
            if "limit" in q:
                assert_same_cut(a, b)
            else:
                assert lineage_answer(a) == lineage_answer(b), (key, q)
            asked += 1
        for depth in (None, 2):
            mine, theirs = impact(one, key, depth=depth), impact(two, key, depth=depth)
            assert impact_answer(mine, one) == impact_answer(theirs, two), (key, depth)
    assert asked > 30
    page = SearchQuery(text="table_1", first=50, include_deleted=True)
    assert one.search(page) == two.search(page)


def test_replay_into_falkordb_answers_the_same(
    embedded: Services, graph: SyntheticGraph, falkordb: FalkorDBServer
) -> None:
    target = open_store(graph_uri(falkordb, "replay"))
    assert isinstance(target, CypherStore)
    try:
        report = replay(embedded.log, target, batch=3, name="test")
        assert report.failed == 1 and report.position == embedded.store.log_position()
        assert report.nodes == embedded.store.stats().node_count
        same_answers(embedded.store, target, graph)

        # not empty any more: refused, unless forced (and then it is the same again)
        with pytest.raises(Conflict) as info:
            replay(embedded.log, target)
        assert info.value.path == "target"
        again = replay(embedded.log, target, force=True)
        assert again.position == report.position and again.nodes == report.nodes
        assert target.stats() == embedded.store.stats()
    finally:
        target.connector.drop_graph()  # type: ignore[attr-defined]
        target.close()


def test_replay_command(
    embedded: Services, graph: SyntheticGraph, falkordb: FalkorDBServer
) -> None:
    uri = graph_uri(falkordb, "cli")
    data_dir = str(embedded.settings.data_dir)
    result = CliRunner().invoke(app, ["replay", "--to", uri, "--data-dir", data_dir])
    target = open_store(uri)
    try:
        # exit 1: one input could not be projected (it is in the dead letters)
        assert result.exit_code == 1, result.output
        said = " ".join(result.output.split())  # the console wraps long lines
        assert f"replayed 7 inputs into {uri}" in said and "(1 failed" in said
        assert target.stats() == embedded.store.stats()
        refused = CliRunner().invoke(app, ["replay", "--to", uri, "--data-dir", data_dir])
        assert refused.exit_code == 2 and "not empty" in " ".join(refused.output.split())
    finally:
        target.connector.drop_graph()  # type: ignore[attr-defined]
        target.close()


def test_replay_into_an_empty_embedded_store(embedded: Services, tmp_path: Path) -> None:
    target = open_store(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        report = replay(embedded.log, target)
        assert report.position == embedded.store.log_position()
        assert target.stats() == embedded.store.stats()
    finally:
        target.close()
