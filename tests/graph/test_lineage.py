"""Lineage on the store contract: granularity, direction, depth, as-of, limits, errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from lineagegraph.errors import InvalidInput, NotFound
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.lineage import Granularity, lineage
from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import Direction, GraphStore
from tests.graph import lineage_graph as g


@pytest.fixture
def store() -> Iterator[GraphStore]:
    s = open_store("memory://")
    s.apply(g.build())
    yield s
    s.close()


def keys(result_nodes: list) -> set[NodeKey]:  # type: ignore[type-arg]
    return {n.key for n in result_nodes}


def test_job_view_hides_runs_and_run_view_hides_jobs(store: GraphStore) -> None:
    job = lineage(store, g.MV, direction=Direction.UPSTREAM)
    assert keys(job.nodes) == {
        g.MV,
        g.J3,
        g.STG,
        g.J2,
        g.RAW,
        g.J1,
        g.SRC,
        g.FEATURE,
        g.STG_AMOUNT,
        g.RAW_AMOUNT,
    }
    run = lineage(store, g.MV, direction=Direction.UPSTREAM, granularity=Granularity.RUN)
    assert {k for k in keys(run.nodes) if k.kind in (NodeKind.RUN, NodeKind.JOB)} == {
        g.R1,
        g.R2,
        g.R3,
    }
    assert job.depth[g.SRC] == 6 and job.depth[g.MV] == 0
    # the edges returned join returned nodes only, and are lineage edges
    inside = keys(job.nodes)
    assert job.edges and all(e.src in inside and e.dst in inside for e in job.edges)
    assert all(e.kind.is_lineage for e in job.edges)
    assert (g.J2, EdgeKind.PRODUCED, g.STG) in {(e.src, e.kind, e.dst) for e in job.edges}


def test_both_directions_is_the_union_of_closures_not_siblings(store: GraphStore) -> None:
    both = lineage(store, g.STG, depth=2)
    assert g.RAW in keys(both.nodes) and g.MV in keys(both.nodes)
    assert g.SRC not in keys(both.nodes)  # three hops up
    # siblings: the fields of RAW are not lineage of STG at dataset level
    assert g.RAW_ID not in keys(both.nodes)


def test_depth_zero_is_the_node_alone(store: GraphStore) -> None:
    r = lineage(store, g.STG, depth=0)
    assert keys(r.nodes) == {g.STG} and r.edges == [] and not r.truncated


def test_limit_truncates_and_says_so(store: GraphStore) -> None:
    r = lineage(store, g.SRC, direction=Direction.DOWNSTREAM, limit=3)
    assert r.truncated
    assert len(r.nodes) == 4  # the start and three more
    full = lineage(store, g.SRC, direction=Direction.DOWNSTREAM)
    assert not full.truncated and len(full.nodes) > 4


def test_as_of_sees_the_graph_as_it_was(store: GraphStore) -> None:
    before = lineage(store, g.MV, direction=Direction.DOWNSTREAM, as_of=g.T0 + timedelta(days=1))
    after = lineage(store, g.MV, direction=Direction.DOWNSTREAM, as_of=g.T0 + timedelta(days=3))
    assert g.PROD not in keys(before.nodes)
    assert g.PROD in keys(after.nodes)
    with pytest.raises(NotFound):
        lineage(store, g.MV, as_of=g.T0 - timedelta(days=1))


def test_column_lineage_from_a_field(store: GraphStore) -> None:
    r = lineage(store, g.RAW_AMOUNT, direction=Direction.DOWNSTREAM)
    assert keys(r.nodes) == {g.RAW_AMOUNT, g.STG_AMOUNT, g.FEATURE, g.MV, g.PROD}


def test_kind_filter_prunes(store: GraphStore) -> None:
    r = lineage(
        store, g.SRC, direction=Direction.DOWNSTREAM, node_kinds={NodeKind.DATASET, NodeKind.JOB}
    )
    assert keys(r.nodes) == {g.SRC, g.J1, g.RAW, g.J2, g.STG, g.J3}


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [({"depth": -1}, "depth"), ({"limit": 0}, "limit"), ({"edge_kinds": set()}, "edge_kinds")],
)
def test_bad_arguments_name_themselves(store: GraphStore, kwargs: dict, path: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput) as info:
        lineage(store, g.STG, **kwargs)
    assert info.value.path == path


def test_unknown_start_is_not_found(store: GraphStore) -> None:
    with pytest.raises(NotFound) as info:
        lineage(store, NodeKey.dataset_key("x", "nope"))
    assert "dataset:x|nope" in info.value.message
