"""The benchmarks' synthetic graphs are valid lineage graphs of a realistic shape.

``bench/synthetic.py`` feeds the traversal and Cypher benchmarks; a generator
that broke the model (an edge the rules forbid, a dangling endpoint, a
duplicate) or degenerated into a chain would make their figures meaningless.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from bench.synthetic import SyntheticGraph, generate, generate_artifact_dag
from lineagegraph.graph.changeset import ChangeSet
from lineagegraph.graph.embedded import EmbeddedStore
from lineagegraph.graph.keys import NodeKey, parse_key
from lineagegraph.graph.kinds import LINEAGE_EDGE_KINDS, EdgeKind, NodeKind
from lineagegraph.graph.store import Direction, TraversalSpec

N_NODES, N_EDGES = 3_000, 9_000


@pytest.fixture(scope="module")
def graph() -> SyntheticGraph:
    return generate(N_NODES, N_EDGES, seed=7)


def lineage_adjacency(g: SyntheticGraph) -> dict[int, set[int]]:
    out: dict[int, set[int]] = defaultdict(set)
    for s, d in g.lineage_edge_pairs():
        out[s].add(d)
    return out


def downstream(adj: dict[int, set[int]], start: int) -> set[int]:
    seen, frontier = {start}, {start}
    while frontier:
        frontier = {v for u in frontier for v in adj.get(u, ())} - seen
        seen |= frontier
    return seen


def test_exact_sizes_and_valid_changesets(graph: SyntheticGraph) -> None:
    assert (graph.n_nodes, graph.n_edges) == (N_NODES, N_EDGES)
    chunks = list(graph.changesets(chunk_size=1_000))
    assert all(len(cs) <= 1_000 for cs in chunks)
    for cs in chunks:
        cs.validate()  # raises InvalidChangeSet naming the entry
    merged = ChangeSet.merge(chunks)
    keys = [n.key for n in merged.nodes]
    assert len(keys) == len(set(keys)) == N_NODES
    stored: set[NodeKey] = set()
    for cs in chunks:  # each chunk's edges join nodes applied by this or earlier chunks
        stored |= cs.node_keys()
        assert {k for e in cs.edges for k in (e.src, e.dst)} <= stored
    triples = [(e.src, e.kind, e.dst) for e in merged.edges]
    assert len(triples) == len(set(triples)) == N_EDGES
    # keys survive their string form (what the stores persist)
    assert all(parse_key(str(k)) == k for k in keys[::97])


def test_a_store_accepts_it_whole_and_walks_it_like_the_arrays() -> None:
    """What the traversal benchmark relies on: the store takes every chunk
    (endpoints exist, nothing merged away) and its closures are the arrays'."""
    g = generate(1_000, 3_000, seed=5)
    store = EmbeddedStore.from_uri("memory://")
    try:
        for cs in g.changesets(chunk_size=700):
            store.apply(cs)
        stats = store.stats()
        assert (stats.node_count, stats.edge_count) == (1_000, 3_000)
        assert stats.nodes_by_kind == g.counts()["nodes"]
        adj = lineage_adjacency(g)
        for start in g.indices_of_kind(NodeKind.DATASET)[:20]:
            walk = store.traverse(TraversalSpec((g.key(start),), Direction.DOWNSTREAM))
            assert set(walk.depth) == {g.key(i) for i in downstream(adj, start)}
    finally:
        store.close()


def test_every_kind_of_the_lifecycle_appears(graph: SyntheticGraph) -> None:
    counts = graph.counts()
    assert set(counts["nodes"]) == {
        k.value for k in (NodeKind.DATASET, NodeKind.JOB, NodeKind.RUN, NodeKind.MODEL,
                          NodeKind.MODEL_VERSION, NodeKind.DEPLOYMENT, NodeKind.EVALUATION)
    }  # fmt: skip
    assert set(counts["edges"]) >= {
        k.value for k in (EdgeKind.CONSUMED, EdgeKind.PRODUCED, EdgeKind.TRAINED,
                          EdgeKind.SERVES, EdgeKind.EVALUATED, EdgeKind.INSTANCE_OF,
                          EdgeKind.VERSION_OF)
    }  # fmt: skip
    # structural edges are there for a traversal to ignore, but lineage dominates
    lineage = sum(1 for _ in graph.lineage_edge_pairs())
    assert N_EDGES / 2 < lineage < N_EDGES


def test_shape_is_layered_with_fan_in_and_fan_out(graph: SyntheticGraph) -> None:
    adj = lineage_adjacency(graph)
    in_degree = Counter(d for targets in adj.values() for d in targets)
    datasets = graph.indices_of_kind(NodeKind.DATASET)
    jobs = graph.indices_of_kind(NodeKind.JOB)
    # fan-out: popular tables feed many jobs; fan-in: jobs read several tables
    assert max(len(adj.get(d, ())) for d in datasets) >= 10
    assert sum(in_degree[j] >= 3 for j in jobs) >= len(jobs) // 10
    # not a chain: many sources and sinks
    sources = [v for v in adj if in_degree[v] == 0]
    sinks = [v for v in range(graph.n_nodes) if v in in_degree and not adj.get(v)]
    assert len(sources) > 50 and len(sinks) > 50
    # pipelines run through to serving: some source reaches a deployment
    deployments = set(graph.indices_of_kind(NodeKind.DEPLOYMENT))
    reached = [downstream(adj, s) for s in sources[:200]]
    assert any(r & deployments for r in reached)
    assert max(len(r) for r in reached) > 100


def test_deterministic_for_a_seed() -> None:
    a, b, c = (
        generate(1_000, 3_000, seed=1),
        generate(1_000, 3_000, seed=1),
        generate(1_000, 3_000, seed=2),
    )
    assert [str(k) for k in (a.key(i) for i in range(a.n_nodes))] == [
        str(k) for k in (b.key(i) for i in range(b.n_nodes))
    ]
    assert list(a.iter_edges()) == list(b.iter_edges())
    assert list(a.iter_edges()) != list(c.iter_edges())


def test_budget_that_cannot_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="n_edges"):
        generate(1_000, 1_000)


def test_artifact_dag_is_mlmd_shaped_and_acyclic() -> None:
    dag = generate_artifact_dag(1_000, 1_000, 4_000, seed=3)
    assert dag.counts() == {
        "nodes": {"dataset": 1_000, "run": 1_000},
        "edges": {"consumed": 3_000, "produced": 1_000},
    }
    for cs in dag.changesets():
        cs.validate()
    outputs = Counter(dag.edge_src[j] for j in range(dag.n_edges)
                      if dag.edge_kind(j) is EdgeKind.PRODUCED)  # fmt: skip
    assert set(outputs.values()) == {1}  # every execution writes exactly one artifact
    # acyclic: Kahn's algorithm consumes every node
    adj = lineage_adjacency(dag)
    in_degree = Counter(d for t in adj.values() for d in t)
    ready = [v for v in range(dag.n_nodes) if not in_degree[v]]
    done = 0
    while ready:
        u = ready.pop()
        done += 1
        for v in adj.get(u, ()):
            in_degree[v] -= 1
            if not in_degree[v]:
                ready.append(v)
    assert done == dag.n_nodes
    assert all(kind in LINEAGE_EDGE_KINDS for kind in (EdgeKind.CONSUMED, EdgeKind.PRODUCED))
