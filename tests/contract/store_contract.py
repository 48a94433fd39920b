"""The GraphStore contract, written once and run against every store.

Subclass :class:`StoreContract` in a ``test_*.py`` module, implement
:meth:`StoreContract.make_store` (and :meth:`StoreContract.reopen` when
``supports_reopen``), and every test below runs on that store. The tests use
only the ``GraphStore`` protocol, so a new store joins by subclassing, with no
change here.

Conventions the contract fixes (beyond the protocol's docstrings):

* an edge is *current* when it and both of its ends are alive; ``get_edges``
  and ``traverse`` without ``as_of``, and ``stats``, see current edges only;
* ``traverse`` leaves out start nodes that do not exist (or are not alive at
  ``as_of``); the others are at depth 0 whatever ``node_kinds`` says; it
  rejects ``Direction.BOTH`` (the lineage algorithms compose it);
* ``limit`` counts reached non-start nodes; ``truncated`` means at least one
  more node was reachable;
* ``stats`` lists only kinds with a count above zero.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineagegraph.errors import InvalidChangeSet, InvalidInput
from lineagegraph.graph.changeset import ChangeSet, EdgeTombstone, NodeTombstone, Provenance
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.store import (
    Direction,
    Edge,
    GraphStore,
    SearchQuery,
    TraversalSpec,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
E = EdgeKind
N = NodeKind


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def prov(event: str, source: str = "test") -> Provenance:
    return Provenance(source, event)


def ds(name: str, namespace: str = "s3://lake") -> NodeKey:
    return NodeKey.dataset_key(namespace, name)


class Pipeline:
    """raw -> (run1 | job1) -> clean -> (run2 | job2) -> features -> train -> mv -> deploy.

    Runs and jobs both carry the data flow (run-level and job-level views);
    structural edges: run -instance_of-> job, mv -version_of-> model,
    clean -has_field-> field.
    """

    raw: NodeKey = ds("raw")
    clean: NodeKey = ds("clean")
    features: NodeKey = ds("features")
    run1: NodeKey = NodeKey.run("run-1")
    run2: NodeKey = NodeKey.run("run-2")
    train: NodeKey = NodeKey.run("train-1")
    job1: NodeKey = NodeKey.job("airflow://prod", "clean_raw")
    job2: NodeKey = NodeKey.job("airflow://prod", "build_features")
    train_job: NodeKey = NodeKey.job("mlflow", "train")
    mv: NodeKey = NodeKey.model_version("mlflow", "churn", 3)
    model: NodeKey = NodeKey.model_key("mlflow", "churn")
    deploy: NodeKey = NodeKey.deployment("prod", "https://api.example.com/churn")
    field: NodeKey = NodeKey.field("s3://lake", "clean", "user_id")

    def changeset(self, when: datetime = T0) -> ChangeSet:
        cs = ChangeSet()
        p = prov("pipeline")
        for key in (
            self.raw, self.clean, self.features, self.run1, self.run2, self.train, self.job1,
            self.job2, self.train_job, self.mv, self.model, self.deploy, self.field,
        ):  # fmt: skip
            cs.node(key, when, p)
        flow = [
            (self.raw, E.CONSUMED, self.run1),
            (self.run1, E.PRODUCED, self.clean),
            (self.raw, E.CONSUMED, self.job1),
            (self.job1, E.PRODUCED, self.clean),
            (self.clean, E.CONSUMED, self.run2),
            (self.run2, E.PRODUCED, self.features),
            (self.clean, E.CONSUMED, self.job2),
            (self.job2, E.PRODUCED, self.features),
            (self.features, E.CONSUMED, self.train),
            (self.train, E.TRAINED, self.mv),
            (self.features, E.CONSUMED, self.train_job),
            (self.train_job, E.TRAINED, self.mv),
            (self.mv, E.SERVES, self.deploy),
            (self.run1, E.INSTANCE_OF, self.job1),
            (self.run2, E.INSTANCE_OF, self.job2),
            (self.train, E.INSTANCE_OF, self.train_job),
            (self.mv, E.VERSION_OF, self.model),
            (self.clean, E.HAS_FIELD, self.field),
        ]
        for src, kind, dst in flow:
            cs.edge(src, kind, dst, when, p)
        return cs


PIPE = Pipeline()


class StoreContract:
    """Every test a GraphStore must pass. Not collected itself (``__test__``)."""

    __test__ = False
    #: the store keeps its data when closed and opened again
    supports_reopen: ClassVar[bool] = False
    #: the most upserts and tombstones the store takes in one apply (None: any number);
    #: when set, fixtures load their data in parts of that size and the tests whose own
    #: apply is larger are removed
    max_changeset: ClassVar[int | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A capability a store lacks removes its tests (rather than skipping them:
        # under CI=true a skip reads as something missing).
        super().__init_subclass__(**kwargs)
        if not cls.supports_reopen:
            cls.test_reopen_gives_the_same_graph = None  # type: ignore[assignment,method-assign]
        if cls.max_changeset is not None:
            cls.test_upsert_is_idempotent = None  # type: ignore[assignment,method-assign]
            cls.test_unicode_and_odd_names_in_keys = None  # type: ignore[assignment,method-assign]

    # ---- hooks for subclasses -------------------------------------------------
    def make_store(self, tmp_path: Path) -> GraphStore:
        """A new, empty store (``tmp_path`` is a fresh directory it may use)."""
        raise NotImplementedError

    def reopen(self, store: GraphStore, tmp_path: Path) -> GraphStore:
        """Close ``store`` and open the same data again (when ``supports_reopen``)."""
        raise NotImplementedError

    def discard(self, store: GraphStore) -> None:
        """Release a store made by :meth:`make_store` (and drop its data if shared)."""
        store.close()

    # ---- fixtures -------------------------------------------------------------
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[GraphStore]:
        s = self.make_store(tmp_path / "store")
        try:
            yield s
        finally:
            self.discard(s)

    @pytest.fixture
    def pipeline(self, store: GraphStore) -> GraphStore:
        self.load(store, PIPE.changeset())
        return store

    def load(self, store: GraphStore, cs: ChangeSet) -> None:
        """Apply a fixture's ChangeSet: whole, or in parts of ``max_changeset``
        (the same graph: merging is order-insensitive)."""
        size = self.max_changeset
        if size is None:
            store.apply(cs)
            return
        for entries, field in [
            (cs.nodes, "nodes"), (cs.edges, "edges"),
            (cs.node_tombstones, "node_tombstones"), (cs.edge_tombstones, "edge_tombstones"),
        ]:  # fmt: skip
            for i in range(0, len(entries), size):
                part = ChangeSet()
                getattr(part, field).extend(entries[i : i + size])
                store.apply(part)

    @contextmanager
    def fresh_store(self, tmp_path: Path) -> Iterator[GraphStore]:
        """A store per hypothesis example (a fixture would be shared by all)."""
        fresh_store_counter = next(_COUNTER)
        s = self.make_store(tmp_path / f"example-{fresh_store_counter}")
        try:
            yield s
        finally:
            self.discard(s)

    # ---- upserts ----------------------------------------------------------------
    def test_upsert_is_idempotent(self, pipeline: GraphStore) -> None:
        keys = [PIPE.raw, PIPE.run1, PIPE.mv]
        before = (pipeline.get_nodes(keys), _sorted(pipeline.get_edges(keys)), pipeline.stats())
        pipeline.apply(PIPE.changeset())
        after = (pipeline.get_nodes(keys), _sorted(pipeline.get_edges(keys)), pipeline.stats())
        assert after == before
        assert before[2].node_count == 13 and before[2].edge_count == 18

    def test_props_merge_per_property_and_none_removes(self, store: GraphStore) -> None:
        k = ds("orders")
        writes: list[tuple[int, str, dict[str, Any]]] = [
            (1, "e1", {"owner": "ana", "rows": 10}),
            (2, "e2", {"rows": 12, "tags": ["pii"]}),
            (3, "e3", {"owner": None}),
            (0, "e0", {"owner": "old", "rows": 1, "schema": {"id": "int"}}),  # late and old
        ]
        for hours, event, props in writes:
            cs = ChangeSet()
            cs.node(k, at(hours), prov(event), props)
            store.apply(cs)
        node = store.get_nodes([k])[k]
        assert dict(node.props) == {"rows": 12, "tags": ["pii"], "schema": {"id": "int"}}
        assert (node.first_seen, node.last_seen) == (at(0), at(3))
        assert (node.source, node.event_id) == ("test", "e3")
        assert node.deleted_at is None and node.kind is N.DATASET

    @settings(
        max_examples=15,
        deadline=None,
        # each example makes its own stores; the method is shared by the store subclasses
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(data=st.data())
    def test_last_writer_wins_whatever_the_order(self, tmp_path: Path, data: Any) -> None:
        value = st.sampled_from([1, 2, "x", None, [1], {"a": 1}])
        upserts = data.draw(
            st.lists(
                st.tuples(
                    st.integers(0, 2),
                    st.dictionaries(st.sampled_from(["a", "b"]), value, max_size=2),
                ),
                min_size=1,
                max_size=4,
            )
        )
        order = data.draw(st.permutations(range(len(upserts))))
        src, dst = ds("in"), NodeKey.run("r")

        def outcome(indices: list[int]) -> tuple[Any, list[Edge]]:
            # one store at a time: some servers hold a single graph
            with self.fresh_store(tmp_path) as store:
                for i in indices:
                    hours, props = upserts[i]
                    cs = ChangeSet()
                    cs.node(src, at(hours), prov(f"e{i}"), props)
                    cs.node(dst, at(hours), prov(f"e{i}"))
                    cs.edge(src, E.CONSUMED, dst, at(hours), prov(f"e{i}"), props)
                    store.apply(cs)
                return store.get_nodes([src])[src], _sorted(store.get_edges([src]))

        n1, edges1 = outcome(list(range(len(upserts))))
        assert outcome(list(order)) == (n1, edges1)
        # the winner of each property: latest event time, ties by canonical JSON
        expected: dict[str, Any] = {}
        for name in ("a", "b"):
            writes = [(h, _canonical(p[name]), p[name]) for h, p in upserts if name in p]
            if writes and max(writes)[2] is not None:
                expected[name] = max(writes)[2]
        assert dict(n1.props) == expected
        assert n1.first_seen == at(min(h for h, _ in upserts))
        assert n1.last_seen == at(max(h for h, _ in upserts))

    def test_times_with_other_timezones_are_the_same_instant(self, store: GraphStore) -> None:
        k = ds("tz")
        cs = ChangeSet()
        cs.node(k, datetime(2026, 1, 1, 5, tzinfo=timezone(timedelta(hours=5))), prov("e"))
        store.apply(cs)
        node = store.get_nodes([k])[k]
        assert node.first_seen == T0 and node.first_seen.utcoffset() == timedelta(0)

    # ---- tombstones ---------------------------------------------------------------
    def test_tombstone_ends_a_node_and_only_a_newer_upsert_revives_it(
        self, store: GraphStore
    ) -> None:
        k = ds("gone")
        store.apply(_nodes((k, at(0), {"v": 1})))
        store.apply(_tomb(NodeTombstone(k, at(2), prov("t"))))
        assert store.get_nodes([k]) == {}
        assert store.get_nodes([k], as_of=at(1))[k].deleted_at == at(2)
        assert store.get_nodes([k], as_of=at(2)) == {}
        store.apply(_nodes((k, at(1), {"v": 2})))  # older than the tombstone: no revival
        assert store.get_nodes([k]) == {}
        store.apply(_nodes((k, at(3), {"w": 3})))  # newer: revived
        node = store.get_nodes([k])[k]
        assert node.deleted_at is None
        assert dict(node.props) == {"v": 2, "w": 3}
        assert (node.first_seen, node.last_seen) == (at(0), at(3))

    def test_tombstones_are_order_insensitive(self, tmp_path: Path) -> None:
        k = ds("x")
        tomb = _tomb(NodeTombstone(k, at(2), prov("t")))
        for later, alive in [
            (_nodes((k, at(3), {"v": 3})), True),
            (_nodes((k, at(1.5), {})), False),
        ]:
            ends = []
            for steps in itertools.permutations([tomb, later, _nodes((k, at(0.5), {"v": 0}))]):
                with self.fresh_store(tmp_path) as s:
                    s.apply(_nodes((k, at(1), {"v": 1})))  # a tombstone needs a stored node
                    for step in steps:
                        s.apply(step)
                    ends.append(s.get_nodes([k], as_of=at(1)).get(k))
                    assert (k in s.get_nodes([k])) is alive
            assert ends[0] is not None and all(n == ends[0] for n in ends)

    def test_deleted_node_stops_traversal_and_hides_its_edges(self, pipeline: GraphStore) -> None:
        pipeline.apply(_tomb(NodeTombstone(PIPE.clean, at(5), prov("t"))))
        down = pipeline.traverse(TraversalSpec((PIPE.raw,)))
        assert set(down.depth) == {PIPE.raw, PIPE.run1, PIPE.job1}
        out = pipeline.get_edges([PIPE.run1], direction=Direction.DOWNSTREAM)
        assert [(e.kind, e.dst) for e in out] == [(E.INSTANCE_OF, PIPE.job1)]
        stats = pipeline.stats()
        assert stats.nodes_by_kind["dataset"] == 2
        assert stats.edge_count == 18 - 5  # the 5 edges that touch `clean`
        then = pipeline.traverse(TraversalSpec((PIPE.raw,), as_of=at(4)))
        assert PIPE.deploy in then.depth
        assert pipeline.traverse(TraversalSpec((PIPE.clean,))).depth == {}
        assert pipeline.traverse(TraversalSpec((PIPE.clean,), as_of=at(5))).depth == {}

    def test_revived_node_gets_its_edges_back(self, pipeline: GraphStore) -> None:
        pipeline.apply(_tomb(NodeTombstone(PIPE.clean, at(5), prov("t"))))
        pipeline.apply(_nodes((PIPE.clean, at(6), {})))
        assert pipeline.traverse(TraversalSpec((PIPE.raw,))).depth[PIPE.deploy] == 7
        assert pipeline.stats().edge_count == 18
        assert len(pipeline.get_edges([PIPE.clean])) == 5

    def test_edge_tombstone(self, pipeline: GraphStore) -> None:
        pipeline.apply(_tomb(EdgeTombstone(PIPE.raw, E.CONSUMED, PIPE.run1, at(5), prov("t"))))
        current = pipeline.get_edges([PIPE.raw], direction=Direction.DOWNSTREAM)
        assert [(e.dst, e.kind) for e in current] == [(PIPE.job1, E.CONSUMED)]
        everything = pipeline.get_edges(
            [PIPE.raw], direction=Direction.DOWNSTREAM, include_deleted=True
        )
        gone = [e for e in everything if e.dst == PIPE.run1]
        assert len(gone) == 1 and gone[0].deleted_at == at(5)
        earlier = pipeline.get_edges([PIPE.raw], direction=Direction.DOWNSTREAM, as_of=at(4))
        assert {e.dst for e in earlier} == {PIPE.run1, PIPE.job1}
        reached = pipeline.traverse(TraversalSpec((PIPE.raw,), node_kinds=_no(N.JOB)))
        assert set(reached.depth) == {PIPE.raw}
        # an upsert newer than the tombstone brings the edge back
        cs = ChangeSet()
        cs.edge(PIPE.raw, E.CONSUMED, PIPE.run1, at(6), prov("again"))
        pipeline.apply(cs)
        reached = pipeline.traverse(TraversalSpec((PIPE.raw,), node_kinds=_no(N.JOB)))
        assert reached.depth[PIPE.run1] == 1

    # ---- as of ----------------------------------------------------------------------
    def test_as_of_nodes_edges_and_traversal(self, store: GraphStore) -> None:
        a, r, b = ds("a"), NodeKey.run("r"), ds("b")
        store.apply(_nodes((a, at(1), {}), (r, at(1), {})))
        cs = _nodes((b, at(3), {}))
        cs.edge(a, E.CONSUMED, r, at(2), prov("e"))
        cs.edge(r, E.PRODUCED, b, at(3), prov("e"))
        store.apply(cs)
        assert set(store.get_nodes([a, r, b], as_of=at(0))) == set()
        assert set(store.get_nodes([a, r, b], as_of=at(2))) == {a, r}
        assert store.get_edges([a], as_of=at(1)) == []
        assert [e.dst for e in store.get_edges([a], as_of=at(2))] == [r]
        spec = TraversalSpec((a,), as_of=at(2))
        assert store.traverse(spec).depth == {a: 0, r: 1}
        assert store.traverse(TraversalSpec((a,), as_of=at(3))).depth == {a: 0, r: 1, b: 2}
        assert store.traverse(TraversalSpec((b,), as_of=at(2))).depth == {}
        up = store.traverse(TraversalSpec((b,), direction=Direction.UPSTREAM, as_of=at(9)))
        assert up.depth == {b: 0, r: 1, a: 2} and up.path_to(a) == [b, r, a]

    # ---- traversal ----------------------------------------------------------------
    def test_downstream_and_upstream(self, pipeline: GraphStore) -> None:
        down = pipeline.traverse(TraversalSpec((PIPE.raw,)))
        assert down.depth == {
            PIPE.raw: 0, PIPE.run1: 1, PIPE.job1: 1, PIPE.clean: 2, PIPE.run2: 3, PIPE.job2: 3,
            PIPE.features: 4, PIPE.train: 5, PIPE.train_job: 5, PIPE.mv: 6, PIPE.deploy: 7,
        }  # fmt: skip
        assert not down.truncated
        up = pipeline.traverse(TraversalSpec((PIPE.mv,), direction=Direction.UPSTREAM))
        assert set(up.depth) == set(down.depth) - {PIPE.deploy}
        assert up.depth[PIPE.raw] == 6
        for key in up.depth:
            path = up.path_to(key)
            assert path[0] == PIPE.mv and len(path) == up.depth[key] + 1

    def test_depth_limits_hops(self, pipeline: GraphStore) -> None:
        spec = TraversalSpec((PIPE.raw,), max_depth=2)
        assert pipeline.traverse(spec).depth == {
            PIPE.raw: 0, PIPE.run1: 1, PIPE.job1: 1, PIPE.clean: 2,
        }  # fmt: skip
        assert pipeline.traverse(TraversalSpec((PIPE.raw,), max_depth=0)).depth == {PIPE.raw: 0}

    def test_node_kinds_give_job_and_run_granularity(self, pipeline: GraphStore) -> None:
        jobs = pipeline.traverse(TraversalSpec((PIPE.raw,), node_kinds=_no(N.RUN)))
        assert not any(k.kind is N.RUN for k in jobs.depth)
        assert jobs.path_to(PIPE.mv) == [
            PIPE.raw, PIPE.job1, PIPE.clean, PIPE.job2, PIPE.features, PIPE.train_job, PIPE.mv,
        ]  # fmt: skip
        runs = pipeline.traverse(TraversalSpec((PIPE.raw,), node_kinds=_no(N.JOB)))
        assert not any(k.kind is N.JOB for k in runs.depth)
        assert runs.path_to(PIPE.deploy)[1:4] == [PIPE.run1, PIPE.clean, PIPE.run2]
        for view in (jobs, runs):
            assert {PIPE.features, PIPE.mv, PIPE.deploy} <= set(view.depth)
        for as_of in (None, at(1)):
            only = pipeline.traverse(
                TraversalSpec((PIPE.run1,), node_kinds=frozenset({N.DATASET}), as_of=as_of)
            )
            assert only.depth == {PIPE.run1: 0, PIPE.clean: 1}  # the start stays; runs blocked

    def test_edge_kinds_filter(self, pipeline: GraphStore) -> None:
        spec = TraversalSpec((PIPE.raw,), edge_kinds=frozenset({E.CONSUMED}))
        assert pipeline.traverse(spec).depth == {PIPE.raw: 0, PIPE.run1: 1, PIPE.job1: 1}
        spec = TraversalSpec((PIPE.train,), edge_kinds=frozenset({E.TRAINED, E.SERVES}))
        assert pipeline.traverse(spec).depth == {PIPE.train: 0, PIPE.mv: 1, PIPE.deploy: 2}
        assert pipeline.traverse(TraversalSpec((PIPE.raw,), edge_kinds=frozenset())).depth == {
            PIPE.raw: 0
        }

    def test_structural_edges_only_when_asked(self, pipeline: GraphStore) -> None:
        default = pipeline.traverse(TraversalSpec((PIPE.mv,)))
        assert set(default.depth) == {PIPE.mv, PIPE.deploy}
        kinds = frozenset({E.SERVES, E.VERSION_OF})
        both = pipeline.traverse(TraversalSpec((PIPE.mv,), edge_kinds=kinds))
        assert both.depth == {PIPE.mv: 0, PIPE.deploy: 1, PIPE.model: 1}
        kinds = frozenset({E.INSTANCE_OF})
        up = pipeline.traverse(TraversalSpec((PIPE.job1,), Direction.UPSTREAM, edge_kinds=kinds))
        assert up.depth == {PIPE.job1: 0, PIPE.run1: 1}
        for as_of in (None, at(1)):
            structural = pipeline.traverse(
                TraversalSpec((PIPE.clean,), edge_kinds=frozenset({E.HAS_FIELD}), as_of=as_of)
            )
            assert structural.depth == {PIPE.clean: 0, PIPE.field: 1}

    @pytest.mark.parametrize("as_of", [None, at(1)], ids=["now", "as_of"])
    def test_cycles_terminate(self, store: GraphStore, as_of: datetime | None) -> None:
        a, b = ds("a"), ds("b")
        r1, r2 = NodeKey.run("r1"), NodeKey.run("r2")
        cs = _nodes((a, T0, {}), (b, T0, {}), (r1, T0, {}), (r2, T0, {}))
        for src, kind, dst in [
            (a, E.CONSUMED, r1), (r1, E.PRODUCED, b), (b, E.CONSUMED, r2), (r2, E.PRODUCED, a),
        ]:  # fmt: skip
            cs.edge(src, kind, dst, T0, prov("e"))
        store.apply(cs)
        down = store.traverse(TraversalSpec((a,), as_of=as_of))
        assert down.depth == {a: 0, r1: 1, b: 2, r2: 3}
        up = store.traverse(TraversalSpec((a,), Direction.UPSTREAM, as_of=as_of))
        assert up.depth == {a: 0, r2: 1, b: 2, r1: 3}

    @pytest.mark.parametrize("as_of", [None, at(1)], ids=["now", "as_of"])
    def test_limit_truncates_breadth_first(
        self, pipeline: GraphStore, as_of: datetime | None
    ) -> None:
        full = pipeline.traverse(TraversalSpec((PIPE.raw,), as_of=as_of))
        reachable = len(full.depth) - 1
        for limit in (1, 3, 4):
            part = pipeline.traverse(TraversalSpec((PIPE.raw,), limit=limit, as_of=as_of))
            assert part.truncated and len(part.depth) - 1 == limit
            deepest = max(part.depth.values())
            # breadth-first: every node nearer than the deepest one reached is in
            assert {k for k, d in full.depth.items() if d < deepest} <= set(part.depth)
            assert all(full.depth[k] == d for k, d in part.depth.items())
        exact = pipeline.traverse(TraversalSpec((PIPE.raw,), limit=reachable, as_of=as_of))
        assert not exact.truncated and exact.depth == full.depth

    def test_multiple_starts_and_unknown_starts(self, pipeline: GraphStore) -> None:
        unknown = ds("never-seen")
        t = pipeline.traverse(TraversalSpec((PIPE.clean, PIPE.mv, unknown, PIPE.clean)))
        assert t.depth[PIPE.clean] == 0 and t.depth[PIPE.mv] == 0
        assert unknown not in t.depth
        assert t.depth[PIPE.features] == 2 and t.depth[PIPE.deploy] == 1
        assert t.path_to(PIPE.deploy) == [PIPE.mv, PIPE.deploy]
        assert PIPE.mv not in t.parent and PIPE.clean not in t.parent
        assert pipeline.traverse(TraversalSpec((unknown,))).depth == {}

    @pytest.mark.parametrize("as_of", [None, at(1)], ids=["now", "as_of"])
    def test_parent_paths_are_shortest(self, store: GraphStore, as_of: datetime | None) -> None:
        # a long way round (a -> r1 -> b -> r2 -> c -> r3 -> d) and a short cut (a -> r4 -> d)
        a, b, c, d = (ds(n) for n in "abcd")
        r1, r2, r3, r4 = (NodeKey.run(f"r{i}") for i in range(1, 5))
        cs = _nodes(*((k, T0, {}) for k in (a, b, c, d, r1, r2, r3, r4)))
        for src, kind, dst in [
            (a, E.CONSUMED, r1), (r1, E.PRODUCED, b), (b, E.CONSUMED, r2), (r2, E.PRODUCED, c),
            (c, E.CONSUMED, r3), (r3, E.PRODUCED, d), (a, E.CONSUMED, r4), (r4, E.PRODUCED, d),
        ]:  # fmt: skip
            cs.edge(src, kind, dst, T0, prov("e"))
        store.apply(cs)
        t = store.traverse(TraversalSpec((a,), as_of=as_of))
        assert t.path_to(d) == [a, r4, d]
        edges = {
            (e.src, e.dst) for e in store.get_edges(list(t.depth), direction=Direction.DOWNSTREAM)
        }
        for key, hops in t.depth.items():
            path = t.path_to(key)
            assert len(path) == hops + 1 and path[0] == a
            assert all(pair in edges for pair in itertools.pairwise(path))

    def test_traverse_rejects_bad_specs(self, pipeline: GraphStore) -> None:
        with pytest.raises(InvalidInput) as info:
            pipeline.traverse(TraversalSpec((PIPE.raw,), direction=Direction.BOTH))
        assert info.value.path == "direction"
        with pytest.raises(InvalidInput) as info:
            pipeline.traverse(TraversalSpec((PIPE.raw,), max_depth=-1))
        assert info.value.path == "max_depth"

    # ---- get_edges --------------------------------------------------------------------
    def test_get_edges_by_direction_and_kind(self, pipeline: GraphStore) -> None:
        def triples(direction: Direction, kinds: set[EdgeKind] | None = None) -> set[Any]:
            return {
                (e.src, e.kind, e.dst)
                for e in pipeline.get_edges([PIPE.run1], direction=direction, edge_kinds=kinds)
            }

        out = {(PIPE.run1, E.PRODUCED, PIPE.clean), (PIPE.run1, E.INSTANCE_OF, PIPE.job1)}
        into = {(PIPE.raw, E.CONSUMED, PIPE.run1)}
        assert triples(Direction.DOWNSTREAM) == out
        assert triples(Direction.UPSTREAM) == into
        assert triples(Direction.BOTH) == out | into
        assert triples(Direction.BOTH, {E.PRODUCED, E.CONSUMED}) == {
            (PIPE.run1, E.PRODUCED, PIPE.clean), (PIPE.raw, E.CONSUMED, PIPE.run1),
        }  # fmt: skip
        assert triples(Direction.BOTH, set()) == set()
        both_ends = pipeline.get_edges([PIPE.raw, PIPE.run1], direction=Direction.BOTH)
        assert len(both_ends) == len({(e.src, e.kind, e.dst) for e in both_ends}) == 4
        edge = next(e for e in both_ends if e.dst == PIPE.clean)
        assert (edge.first_seen, edge.last_seen, edge.deleted_at) == (T0, T0, None)
        assert (edge.source, edge.event_id) == ("test", "pipeline")
        assert pipeline.get_edges([ds("unknown")]) == []

    def test_edges_among(self, pipeline: GraphStore) -> None:
        def among(keys: list[NodeKey], **kw: Any) -> list[tuple[NodeKey, EdgeKind, NodeKey]]:
            return [(e.src, e.kind, e.dst) for e in pipeline.edges_among(keys, **kw)]

        inside = [PIPE.raw, PIPE.run1, PIPE.job1, PIPE.clean, PIPE.field]
        lineage = {
            (PIPE.raw, E.CONSUMED, PIPE.run1), (PIPE.run1, E.PRODUCED, PIPE.clean),
            (PIPE.raw, E.CONSUMED, PIPE.job1), (PIPE.job1, E.PRODUCED, PIPE.clean),
        }  # fmt: skip
        found = among(inside)
        assert set(found) == lineage and len(found) == len(lineage)
        # the same edges, with their facts, as get_edges gives them
        full = {(e.src, e.kind, e.dst): e for e in pipeline.get_edges(inside)}
        assert all(full[(e.src, e.kind, e.dst)] == e for e in pipeline.edges_among(inside))
        structural = {(PIPE.run1, E.INSTANCE_OF, PIPE.job1), (PIPE.clean, E.HAS_FIELD, PIPE.field)}
        assert set(among(inside, edge_kinds=set(E))) == lineage | structural
        assert set(among(inside, edge_kinds={E.PRODUCED})) == {
            (PIPE.run1, E.PRODUCED, PIPE.clean), (PIPE.job1, E.PRODUCED, PIPE.clean),
        }  # fmt: skip
        assert among(inside, edge_kinds=set()) == []
        assert among([PIPE.raw, PIPE.features, ds("unknown")]) == []
        # a deleted end takes its edges out now, not in the past
        cs = ChangeSet()
        cs.node_tombstones.append(NodeTombstone(PIPE.run1, at(5), prov("drop")))
        pipeline.apply(cs)
        assert set(among(inside)) == lineage - {
            (PIPE.raw, E.CONSUMED, PIPE.run1), (PIPE.run1, E.PRODUCED, PIPE.clean),
        }  # fmt: skip
        assert set(among(inside, as_of=at(1))) == lineage

    def test_edge_props_merge(self, pipeline: GraphStore) -> None:
        cs = ChangeSet()
        cs.edge(PIPE.raw, E.CONSUMED, PIPE.run1, at(2), prov("e2"), {"rows": 5, "mode": "full"})
        cs.edge(PIPE.raw, E.CONSUMED, PIPE.run1, at(1), prov("e1"), {"rows": 4, "note": "x"})
        pipeline.apply(cs)
        (edge,) = pipeline.get_edges(
            [PIPE.run1], direction=Direction.UPSTREAM, edge_kinds={E.CONSUMED}
        )
        assert dict(edge.props) == {"rows": 5, "mode": "full", "note": "x"}
        assert (edge.first_seen, edge.last_seen, edge.event_id) == (T0, at(2), "e2")

    # ---- search -----------------------------------------------------------------------
    @pytest.fixture
    def catalog(self, store: GraphStore) -> GraphStore:
        pg = "postgres://Prod-DB:5432"
        cs = _nodes(
            (NodeKey.dataset_key(pg, "orders"), T0, {}),
            (NodeKey.dataset_key(pg, "Orders_v2"), T0, {}),
            (NodeKey.dataset_key(pg, "customer_orders"), T0, {}),
            (NodeKey.dataset_key("s3://lake", "orders"), T0, {}),
            (NodeKey.job("airflow://prod", "load_orders"), T0, {}),
            (NodeKey.dataset_key("s3://lake", "Été/données"), T0, {}),
            (NodeKey.dataset_key("s3://lake", "deleted_orders"), T0, {}),
            *((NodeKey.dataset_key("s3://lake", f"t{i:02d}"), T0, {}) for i in range(12)),
        )
        cs.node_tombstones.append(
            NodeTombstone(NodeKey.dataset_key("s3://lake", "deleted_orders"), at(1), prov("t"))
        )
        self.load(store, cs)
        return store

    def _names(self, store: GraphStore, **query: Any) -> list[str]:
        return [str(n.key) for n in store.search(SearchQuery(first=1000, **query)).nodes]

    def test_search_prefix_and_substring(self, catalog: GraphStore) -> None:
        assert self._names(catalog, text="ORD", mode="prefix") == [
            "dataset:postgres://Prod-DB:5432|Orders_v2",
            "dataset:postgres://Prod-DB:5432|orders",
            "dataset:s3://lake|orders",
        ]
        found = self._names(catalog, text="orders", mode="substring")
        assert len(found) == 5 and "dataset:s3://lake|deleted_orders" not in found
        with_deleted = self._names(catalog, text="orders", include_deleted=True)
        assert "dataset:s3://lake|deleted_orders" in with_deleted and len(with_deleted) == 6
        # substring also matches the namespace
        assert len(self._names(catalog, text="prod-db")) == 3
        assert self._names(catalog, text="été", mode="prefix") == ["dataset:s3://lake|Été/données"]
        assert self._names(catalog, text="nothing-like-this") == []

    def test_search_filters(self, catalog: GraphStore) -> None:
        assert self._names(catalog, text="orders", kinds=frozenset({N.JOB})) == [
            "job:airflow://prod|load_orders"
        ]
        assert self._names(catalog, text="orders", namespace="s3://lake") == [
            "dataset:s3://lake|orders"
        ]
        assert self._names(catalog, kinds=frozenset()) == []

    def test_search_pages_cover_everything_once(self, catalog: GraphStore) -> None:
        everything = catalog.search(SearchQuery(first=1000))
        assert not everything.has_next_page
        keys = [n.key for n in everything.nodes]
        assert keys == sorted(keys, key=lambda k: (k.name, str(k))) and len(keys) == 18
        seen: list[NodeKey] = []
        after = None
        pages = 0
        while True:
            page = catalog.search(SearchQuery(first=5, after=after))
            seen += [n.key for n in page.nodes]
            pages += 1
            if not page.has_next_page:
                break
            after = page.end_cursor
        assert seen == keys and pages == 4

    def test_search_rejects_bad_arguments(self, catalog: GraphStore) -> None:
        for bad, path in [
            (SearchQuery(after="not a cursor!"), "after"),
            (SearchQuery(after="WyJhIl0="), "after"),  # valid base64, wrong content
            (SearchQuery(mode="regex"), "mode"),
            (SearchQuery(first=0), "first"),
            (SearchQuery(first=1001), "first"),
        ]:
            with pytest.raises(InvalidInput) as info:
                catalog.search(bad)
            assert info.value.path == path

    # ---- stats and log position ---------------------------------------------------------
    def test_stats_count_alive_things_by_kind(self, pipeline: GraphStore) -> None:
        stats = pipeline.stats()
        assert dict(stats.nodes_by_kind) == {
            "dataset": 3, "run": 3, "job": 3, "model_version": 1, "model": 1,
            "deployment": 1, "field": 1,
        }  # fmt: skip
        assert dict(stats.edges_by_kind) == {
            "consumed": 6, "produced": 4, "trained": 2, "serves": 1, "instance_of": 3,
            "version_of": 1, "has_field": 1,
        }  # fmt: skip
        assert stats.log_position == 0
        pipeline.apply(_tomb(EdgeTombstone(PIPE.mv, E.SERVES, PIPE.deploy, at(1), prov("t"))))
        assert "serves" not in pipeline.stats().edges_by_kind

    def test_log_position_moves_with_the_changes(self, store: GraphStore) -> None:
        assert store.log_position() == 0
        store.apply(_nodes((ds("a"), T0, {})), log_position=5)
        assert store.log_position() == 5 and store.stats().log_position == 5
        store.apply(ChangeSet(), log_position=6)
        assert store.log_position() == 6
        bad = _nodes((ds("b"), T0, {}))
        bad.edge(ds("b"), E.CONSUMED, NodeKey.run("missing"), T0, prov("e"))
        with pytest.raises(InvalidChangeSet):
            store.apply(bad, log_position=7)
        assert store.log_position() == 6
        assert set(store.get_nodes([ds("a"), ds("b")])) == {ds("a")}

    # ---- rejected ChangeSets change nothing ---------------------------------------------
    @pytest.mark.parametrize(
        "case",
        [
            "missing_dst",
            "missing_src",
            "wrong_kinds",
            "naive_time",
            "unknown_tombstone",
            "unknown_edge_tombstone",
            "bad_prop",
        ],
    )
    def test_invalid_changeset_is_rejected_whole(self, pipeline: GraphStore, case: str) -> None:
        newcomer = ds("newcomer")
        cs = _nodes((newcomer, at(1), {}), (PIPE.raw, at(9), {"changed": True}))
        missing = NodeKey.run("no-such-run")
        path, named = {
            "missing_dst": ("edges[1].dst", str(missing)),
            "missing_src": ("edges[1].src", str(missing)),
            "wrong_kinds": ("edges[1].kind", "produced"),
            "naive_time": ("edges[1].event_time", "timezone"),
            "unknown_tombstone": ("node_tombstones[0].key", str(missing)),
            "unknown_edge_tombstone": ("edge_tombstones[0]", str(PIPE.run2)),
            "bad_prop": ("edges[1].props.when", "datetime"),
        }[case]
        cs.edge(newcomer, E.CONSUMED, PIPE.run1, at(1), prov("ok"))
        if case == "missing_dst":
            cs.edge(newcomer, E.CONSUMED, missing, at(1), prov("e"))
        elif case == "missing_src":
            cs.edge(missing, E.PRODUCED, newcomer, at(1), prov("e"))
        elif case == "wrong_kinds":
            cs.edge(newcomer, E.PRODUCED, PIPE.run1, at(1), prov("e"))
        elif case == "naive_time":
            cs.edge(newcomer, E.CONSUMED, PIPE.run2, datetime(2026, 1, 2), prov("e"))
        elif case == "unknown_tombstone":
            cs.edge(newcomer, E.CONSUMED, PIPE.run2, at(1), prov("e"))
            cs.node_tombstones.append(NodeTombstone(missing, at(1), prov("t")))
        elif case == "unknown_edge_tombstone":
            cs.edge(newcomer, E.CONSUMED, PIPE.run2, at(1), prov("e"))
            cs.edge_tombstones.append(
                EdgeTombstone(PIPE.raw, E.CONSUMED, PIPE.run2, at(1), prov("t"))
            )
        elif case == "bad_prop":
            cs.edge(newcomer, E.CONSUMED, PIPE.run2, at(1), prov("e"), {"when": T0})

        def state() -> Any:
            edges = _sorted(pipeline.get_edges([PIPE.run1, PIPE.run2], include_deleted=True))
            return pipeline.stats(), pipeline.get_nodes([PIPE.raw]), edges

        before = state()
        with pytest.raises(InvalidChangeSet) as info:
            pipeline.apply(cs, log_position=3)
        assert info.value.path == path
        assert named in str(info.value) or named in json.dumps(info.value.details)
        assert state() == before
        assert pipeline.get_nodes([newcomer]) == {}

    # ---- identity -------------------------------------------------------------------------
    def test_unicode_and_odd_names_in_keys(self, store: GraphStore) -> None:
        odd = [
            NodeKey.dataset_key("postgres://db.example.com:5432", "analytics.public.orders"),
            NodeKey.dataset_key("postgres://[2001:db8::1]:5432", "db.schema.t"),
            NodeKey.dataset_key("s3://bucket", "a|b/c%20d#frag?x=1"),
            NodeKey.dataset_key("file://", "/données/été 2026/naïve.parquet"),
            NodeKey.dataset_key("kafka://broker:9092", "événements-🚀"),
            NodeKey.field("s3://bucket", "a|b/c%20d#frag?x=1", "payload", "user id"),
        ]
        run = NodeKey.run("r|%|#")
        cs = _nodes(*((k, T0, {"name": str(k)}) for k in [*odd, run]))
        for k in odd[:5]:
            cs.edge(k, E.CONSUMED, run, T0, prov("e"))
        cs.edge(odd[2], E.HAS_FIELD, odd[5], T0, prov("e"))
        store.apply(cs)
        got = store.get_nodes(odd)
        assert set(got) == set(odd)
        assert all(got[k].props["name"] == str(k) for k in odd)
        up = store.traverse(TraversalSpec((run,), Direction.UPSTREAM))
        assert set(up.depth) == {run, *odd[:5]}
        assert {e.src for e in store.get_edges([run])} == set(odd[:5])
        assert self._names(store, text="ÉVÉNEMENTS", mode="prefix") == [str(odd[4])]
        assert self._names(store, text="2001:db8") == [str(odd[1])]
        assert self._names(store, text="c%20d#", mode="substring") == [str(odd[2])]

    # ---- persistence ------------------------------------------------------------------------
    def test_reopen_gives_the_same_graph(self, tmp_path: Path) -> None:
        store = self.make_store(tmp_path / "persist")
        store.apply(PIPE.changeset(), log_position=11)
        store.apply(_tomb(NodeTombstone(PIPE.run2, at(3), prov("t"))), log_position=12)
        keys = list(PIPE.changeset().node_keys())

        def state(s: GraphStore) -> Any:
            return (
                s.get_nodes(keys),
                s.get_nodes(keys, as_of=at(2)),
                _sorted(s.get_edges(keys, include_deleted=True)),
                s.traverse(TraversalSpec((PIPE.raw,))).depth,
                s.traverse(TraversalSpec((PIPE.raw,), as_of=at(1))).depth,
                s.stats(),
                s.search(SearchQuery(first=100)),
            )

        before = state(store)
        again = self.reopen(store, tmp_path / "persist")
        try:
            assert state(again) == before and again.log_position() == 12
        finally:
            self.discard(again)

    def test_health(self, store: GraphStore) -> None:
        store.check_health()  # a working store raises nothing


_COUNTER = itertools.count()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _nodes(*entries: tuple[NodeKey, datetime, dict[str, Any]]) -> ChangeSet:
    cs = ChangeSet()
    for key, when, props in entries:
        cs.node(key, when, prov(f"upsert-{when.isoformat()}"), props)
    return cs


def _tomb(*tombstones: NodeTombstone | EdgeTombstone) -> ChangeSet:
    cs = ChangeSet()
    for t in tombstones:
        if isinstance(t, NodeTombstone):
            cs.node_tombstones.append(t)
        else:
            cs.edge_tombstones.append(t)
    return cs


def _sorted(edges: list[Edge]) -> list[Edge]:
    """Edges in a fixed order (stores may return them in any order)."""
    return sorted(edges, key=lambda e: (str(e.src), e.kind.value, str(e.dst)))


def _no(*kinds: NodeKind) -> frozenset[NodeKind]:
    return frozenset(NodeKind) - set(kinds)
