"""Coalesced projection: folding a batch's ChangeSets into one changes nothing but the cost.

``ChangeSet.coalesce`` keeps, per node and edge, only the writes that can win
(the store's own merge rules). Applying the coalesced ChangeSet must give the
very same graph (props, first/last seen, provenance, tombstones) as applying
every input on its own, in any order, on an empty store or over stored state.
"""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lineagegraph.errors import InvalidChangeSet
from lineagegraph.graph.changeset import ChangeSet, NodeTombstone, Provenance, coalesce
from lineagegraph.graph.embedded import EmbeddedStore
from lineagegraph.graph.export import export_graph
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind
from lineagegraph.graph.store import GraphStore
from lineagegraph.ingest.log import EventLog
from lineagegraph.ingest.openlineage.ingest import (
    ingest_items,
    ingest_prepared,
    ingest_stream,
    prepare,
)
from lineagegraph.ingest.openlineage.reader import RawItem, read_paths
from lineagegraph.ingest.projection import Projector
from lineagegraph.ingest.service import IngestService
from tests.openlineage.helpers import capture

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DATASETS = [NodeKey.dataset_key("s3://lake", f"t{i}") for i in range(4)]
RUNS = [NodeKey.run(f"run-{i}") for i in range(3)]
VALUES: list[Any] = [1, 2, "a", "b", True, None, {"x": 1}, [1, 2], 1.5]


def _random_changesets(rng: random.Random, n: int) -> list[ChangeSet]:
    """Small ChangeSets over few keys and few times: many repeats and exact ties."""
    out = []
    for i in range(n):
        cs = ChangeSet()
        prov = Provenance(rng.choice(["a", "b"]), f"e{rng.randrange(5)}")
        for _ in range(rng.randrange(1, 6)):
            t = T0 + timedelta(seconds=rng.randrange(4))
            props = {f"p{rng.randrange(4)}": rng.choice(VALUES) for _ in range(rng.randrange(4))}
            key = rng.choice(DATASETS + RUNS)
            cs.node(key, t, prov, props)
            if key.kind.value == "run" and rng.random() < 0.7:
                ds = rng.choice(DATASETS)
                cs.node(ds, t, prov)
                edge_props = {"rows": rng.choice(VALUES)} if rng.random() < 0.5 else {}
                cs.edge(ds, EdgeKind.CONSUMED, key, t, prov, edge_props)
        if i and rng.random() < 0.2:
            t = T0 + timedelta(seconds=rng.randrange(4))
            cs.node_tombstones.append(NodeTombstone(rng.choice(DATASETS), t, prov))
            for ds in DATASETS:  # the tombstoned node exists in the same ChangeSet
                cs.node(ds, t, prov)
        out.append(cs)
    return out


def _snapshot(store: GraphStore) -> list[str]:
    """Everything, provenance included: the fold must pick the very same winners."""
    return sorted(json.dumps(d, sort_keys=True) for d in export_graph(store, include_deleted=True))


@pytest.mark.parametrize("seed", range(12))
def test_a_coalesced_changeset_applies_like_all_of_its_inputs(seed: int) -> None:
    rng = random.Random(seed)
    history, batch = _random_changesets(rng, 15), _random_changesets(rng, 40)
    one_by_one, coalesced = EmbeddedStore(), EmbeddedStore()
    for store in (one_by_one, coalesced):  # some stored state first
        for cs in history:
            store.apply(cs)
    order = batch[:]
    rng.shuffle(order)
    for cs in order:
        one_by_one.apply(cs)
    folded = coalesce(batch)
    assert len(folded) < sum(len(cs) for cs in batch)
    coalesced.apply(folded)
    assert _snapshot(coalesced) == _snapshot(one_by_one)


def test_coalescing_keeps_the_latest_write_of_each_property_and_the_first_time() -> None:
    key = NodeKey.run("r")
    a, b = ChangeSet(), ChangeSet()
    a.node(key, T0, Provenance("ol", "start"), {"running_state": "START", "started_at": "t0"})
    b.node(key, T0 + timedelta(minutes=5), Provenance("ol", "complete"), {"state": "COMPLETE"})
    b.node(key, T0 + timedelta(minutes=5), Provenance("ol", "complete"), {"state": "COMPLETE"})
    folded = coalesce([b, a])
    assert [(n.event_time, n.provenance.event_id, dict(n.props)) for n in folded.nodes] == [
        (T0 + timedelta(minutes=5), "complete", {"state": "COMPLETE"}),
        (T0, "start", {"running_state": "START", "started_at": "t0"}),
    ]


def test_a_bad_entry_is_still_rejected_by_the_store_with_its_path() -> None:
    ok, bad = ChangeSet(), ChangeSet()
    ok.node(RUNS[0], T0, Provenance("t", "1"), {"a": 1})
    bad.node(RUNS[0], T0 + timedelta(seconds=1), Provenance("t", "2"), {"a": float("nan")})
    with pytest.raises(InvalidChangeSet) as err:
        EmbeddedStore().apply(coalesce([ok, bad]))
    assert err.value.path == "nodes[0].props.a"
    naive = ChangeSet()
    naive.node(RUNS[0], datetime(2026, 1, 1), Provenance("t", "3"))
    folded = coalesce([ok, naive])  # unreadable by the fold: merged as it is
    assert len(folded) == 2
    with pytest.raises(InvalidChangeSet, match="timezone"):
        EmbeddedStore().apply(folded)


def _service(tmp_path: Path, name: str, batch: int) -> IngestService:
    log = EventLog(f"sqlite:///{tmp_path / (name + '.db')}")
    return IngestService(log, EmbeddedStore(), batch=batch, store_name=name)


def _ingest(service: IngestService, events: list[Any], per_call: int) -> None:
    for i in range(0, len(events), per_call):
        items = [RawItem(f"e[{j}]", doc=e) for j, e in enumerate(events[i : i + per_call])]
        report = ingest_items(service, items)
        assert report.rejected == 0


def _bench_events(n: int) -> list[Any]:
    from bench.bench_openlineage_ingest import make_events

    return make_events(n, seed=5, pipelines=6)


@pytest.mark.parametrize("source", ["generated", "airflow", "dbt"])
def test_batch_projection_gives_the_graph_of_event_by_event_projection(
    tmp_path: Path, openlineage_fixtures: Path, source: str
) -> None:
    if source == "generated":
        events = _bench_events(300)
    else:
        names = {
            "airflow": ["airflow/events-run1", "airflow/events-run2", "airflow/events-failed-run"],
            "dbt": ["dbt/events-run", "dbt/events-test"],
        }[source]
        events = [e for name in names for e in capture(openlineage_fixtures, name)]
    assert events
    single = _service(tmp_path, "single", batch=1)
    _ingest(single, events, per_call=1)
    expected = _snapshot(single.store)
    rng = random.Random(3)
    for attempt in range(3):
        shuffled = events[:]
        if attempt:
            rng.shuffle(shuffled)  # COMPLETE before START, children before parents
        batched = _service(tmp_path, f"batched{attempt}", batch=10_000)
        _ingest(batched, shuffled, per_call=len(shuffled))
        assert _snapshot(batched.store) == expected
        assert batched.store.log_position() == batched.log.head()


def _report_rows(reports: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (r.origin, r.status, r.seq, json.dumps(r.error, sort_keys=True), r.warnings)
        for report in reports
        for r in report.results
    ]


def test_worker_process_ingest_gives_the_same_results_and_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file replayed through worker processes (validate + map there, log + apply here;
    one, or two preparing batches side by side) answers, logs, dead-letters and
    projects exactly like one process does."""
    events = _bench_events(260)
    lines = [json.dumps(e).encode() for e in events]
    lines[7] = b'{"eventType": "START", "run": {"runId": "not-a-uuid"}}'  # invalid
    lines[30] = b"{not json"
    lines[40] = lines[41]  # a duplicate in the same batch
    lines[120] = lines[3]  # a duplicate of an earlier batch
    ev = json.loads(lines[50])
    del ev["schemaURL"]  # accepted with a warning
    ev["eventTime"] = ev["eventTime"].replace("+00:00", "")  # accepted with another
    lines[50] = json.dumps(ev).encode()
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")

    premapped: list[int] = []
    real = Projector._project_premapped

    def spy(self: Projector, position: int, heads: list[Any], mapped: Any) -> Any:
        premapped.append(len(heads))
        return real(self, position, heads, mapped)

    monkeypatch.setattr(Projector, "_project_premapped", spy)
    outcomes = []
    for workers in (0, 1, 2):
        premapped.clear()
        service = _service(tmp_path, f"w{workers}", batch=500)
        items = read_paths([str(path)])
        reports = list(ingest_stream(service, items, batch=64, workers=workers))
        dead = [(d.reason, d.error, d.payload) for d in service.log.dead_letters()]
        outcomes.append((_report_rows(reports), dead, _snapshot(service.store)))
        assert service.store.log_position() == service.log.head()
        assert sum(r.rejected for r in reports) == 2
        assert sum(r.duplicates for r in reports) == 2
        assert sum(r.warnings for r in reports) >= 2
        # every batch of a run with workers: mapped once, there
        assert len(premapped) == (5 if workers else 0)
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_worker_process_ingest_isolates_an_event_the_store_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the premapped batch is refused, projection maps event by event and only
    the offending event lands in the projection errors."""
    from lineagegraph.ingest.openlineage import mapping

    events = _bench_events(130)
    bad_run = events[5]["run"]["runId"]
    real = mapping.OpenLineageMapper.map

    def spoiled(self: mapping.OpenLineageMapper, validated: Any, prov: Provenance) -> ChangeSet:
        cs = real(self, validated, prov)
        if validated.raw["run"]["runId"] == bad_run:
            cs.node(NodeKey.run(bad_run), T0, prov, {"x": float("nan")})
        return cs

    monkeypatch.setattr(mapping.OpenLineageMapper, "map", spoiled)
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(json.dumps(e).encode() for e in events) + b"\n")
    service = _service(tmp_path, "spoiled", batch=500)
    reports = list(ingest_stream(service, read_paths([str(path)]), batch=64, workers=1))
    assert sum(r.accepted for r in reports) == len(events)
    assert service.store.log_position() == service.log.head()
    failed = {d.payload for d in service.log.dead_letters() if d.reason == "projection"}
    assert len(failed) == 2  # its START and COMPLETE
    assert all(bad_run in p for p in failed)


def _die(items: Any) -> Any:
    os._exit(3)  # a worker killed mid-batch


def test_worker_process_dying_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lineagegraph.ingest.openlineage import ingest

    events = _bench_events(150)
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(json.dumps(e).encode() for e in events) + b"\n")
    monkeypatch.setattr(ingest, "prepare", _die)
    service = _service(tmp_path, "dying", batch=500)
    reports = list(ingest_stream(service, read_paths([str(path)]), batch=64, workers=1))
    assert sum(r.accepted for r in reports) == len(events)
    assert service.store.log_position() == service.log.head() == len(events)


def test_background_projection_applies_the_batches_mapped_before_logging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In background mode a prepared batch is offered to the projection worker with
    its log append: projected from its ChangeSet, never mapped again (inputs logged
    before it without one go first, mapped), to the graph inline projection makes."""
    events = _bench_events(600)
    items = [RawItem(f"e[{i}]", doc=e) for i, e in enumerate(events)]
    paths: list[str] = []
    premapped, mapped = Projector._project_premapped, Projector._project

    def spy_premapped(self: Projector, *args: Any) -> Any:
        paths.append("premapped")
        return premapped(self, *args)

    def spy_mapped(self: Projector, *args: Any) -> Any:
        paths.append("mapped")
        return mapped(self, *args)

    monkeypatch.setattr(Projector, "_project_premapped", spy_premapped)
    monkeypatch.setattr(Projector, "_project", spy_mapped)
    snapshots = []
    for mode in ("inline", "background"):
        log = EventLog(f"sqlite:///{tmp_path / (mode + '.db')}")
        service = IngestService(log, EmbeddedStore(), mode=mode, batch=500, store_name=mode)
        try:
            assert ingest_items(service, items[:50]).accepted == 50  # not offered: mapped
            for i in range(50, len(items), 110):
                report = ingest_prepared(service, prepare(items[i : i + 110]))
                assert report.accepted == len(items[i : i + 110])
            service.start()  # (background: the worker finds it all logged, and offered)
            assert service.wait_for_projection(log.head(), timeout=30)
            snapshots.append(_snapshot(service.store))
        finally:
            service.stop()
    assert snapshots[0] == snapshots[1]
    assert paths.count("premapped") >= 2 and paths.count("mapped") == 2  # the first 50
