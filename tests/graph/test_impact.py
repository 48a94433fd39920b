"""Impact: downstream closure grouped by kind, with evidence paths and owners."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lineagegraph.graph.changeset import ChangeSet
from lineagegraph.graph.impact import impact, owners_of
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import GraphStore
from tests.graph import lineage_graph as g


@pytest.fixture
def store() -> Iterator[GraphStore]:
    s = open_store("memory://")
    s.apply(g.build())
    yield s
    s.close()


def test_dataset_impact_groups_by_kind_with_shortest_paths(store: GraphStore) -> None:
    r = impact(store, g.RAW)
    assert set(r.by_kind) == {
        NodeKind.JOB,
        NodeKind.DATASET,
        NodeKind.MODEL_VERSION,
        NodeKind.DEPLOYMENT,
    }
    assert {a.node.key for a in r.by_kind[NodeKind.DEPLOYMENT]} == {g.PROD}
    prod = r.by_kind[NodeKind.DEPLOYMENT][0]
    assert prod.path == [g.RAW, g.J2, g.STG, g.J3, g.MV, g.PROD]
    assert prod.depth == 5
    stg = next(a for a in r.affected if a.node.key == g.STG)
    assert stg.owners == ["team:analytics"]
    assert g.RAW not in r.affected_keys()  # the source itself is not "affected"


def test_column_impact_follows_column_lineage_only(store: GraphStore) -> None:
    amount = impact(store, g.RAW_AMOUNT)
    assert amount.affected_keys() == {g.STG_AMOUNT, g.STG, g.FEATURE, g.MV, g.PROD}
    stg = next(a for a in amount.affected if a.node.key == g.STG)
    assert stg.via == "column" and stg.path == [g.RAW_AMOUNT, g.STG_AMOUNT, g.STG]
    # the id column feeds nothing; its own dataset is the one changing, not affected
    only_id = impact(store, g.RAW_ID)
    assert only_id.affected_keys() == set() and only_id.sources == [g.RAW_ID]


def test_conservative_column_impact_adds_dataset_level_downstream(store: GraphStore) -> None:
    r = impact(store, g.RAW_ID, conservative=True)
    assert {g.STG, g.J2, g.MV, g.PROD} <= r.affected_keys()
    prod = next(a for a in r.affected if a.node.key == g.PROD)
    assert prod.via == "dataset" and prod.path[0] == g.RAW_ID


def test_ended_edges_do_not_count_now_but_do_as_of_then(store: GraphStore) -> None:
    from datetime import timedelta

    from lineagegraph.graph.changeset import EdgeTombstone

    end = g.T0 + timedelta(days=5)
    cs = ChangeSet()
    cs.edge_tombstones.append(EdgeTombstone(g.MV, EdgeKind.SERVES, g.PROD, end, g.P))
    store.apply(cs)
    assert g.PROD not in impact(store, g.STG).affected_keys()
    assert g.PROD in impact(store, g.STG, as_of=end - timedelta(days=1)).affected_keys()


@pytest.mark.parametrize(
    ("props", "owners"),
    [
        ({"owners": ["a", "b", "a"]}, ["a", "b"]),
        ({"owners": [{"name": "team:x", "type": "MAINTAINER"}]}, ["team:x"]),
        ({"owners": "solo"}, ["solo"]),
        ({}, []),
    ],
)
def test_owner_shapes(props: dict, owners: list[str]) -> None:  # type: ignore[type-arg]
    assert owners_of(props) == owners
