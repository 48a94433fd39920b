"""Projection from the log: idempotent, order-insensitive, bad inputs isolated, replayable."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lineagegraph.graph.changeset import ChangeSet, Provenance, changeset_to_json
from lineagegraph.graph.export import export_graph
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind
from lineagegraph.graph.registry import open_store
from lineagegraph.graph.store import GraphStore
from lineagegraph.ingest.log import EventLog, LogInput
from lineagegraph.ingest.projection import (
    MAX_OFFERS,
    Premapped,
    ProjectionReport,
    ProjectionWorker,
    Projector,
)
from lineagegraph.ingest.service import IngestService
from tests.polling import wait_until

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _inputs() -> list[dict[str, Any]]:
    """A run's life as separate inputs: START, RUNNING, COMPLETE, plus its lineage."""
    ds_in = NodeKey.dataset_key("s3://lake", "in")
    ds_out = NodeKey.dataset_key("s3://lake", "out")
    run = NodeKey.run("run-1")
    docs = []
    for i, state in enumerate(["START", "RUNNING", "COMPLETE"]):
        cs = ChangeSet()
        t = T0 + timedelta(minutes=i)
        p = Provenance("test", f"e{i}")
        cs.node(run, t, p, {"state": state, f"seen_{state.lower()}": True})
        cs.node(ds_in, t, p, {"rows": 10 * (i + 1)})
        cs.node(ds_out, t, p)
        cs.edge(ds_in, EdgeKind.CONSUMED, run, t, p)
        cs.edge(run, EdgeKind.PRODUCED, ds_out, t, p, {"rows": i})
        docs.append(changeset_to_json(cs))
    return docs


def _graph(store: GraphStore) -> list[dict[str, Any]]:
    items = list(export_graph(store, include_deleted=True))
    for item in items:
        item.pop("event_id", None)  # which input "won" provenance may differ; facts may not
    return sorted(items, key=repr)


def _service(tmp_path: Path, name: str) -> IngestService:
    return IngestService(
        EventLog(f"sqlite:///{tmp_path / (name + '.db')}"), open_store("memory://")
    )


def test_any_order_and_repeats_give_the_same_graph(tmp_path: Path) -> None:
    docs = _inputs()
    in_order = _service(tmp_path, "a")
    in_order.submit("changeset", docs)
    shuffled = _service(tmp_path, "b")
    rng = random.Random(7)
    for _ in range(3):  # every input several times, in random orders, one by one
        order = docs[:]
        rng.shuffle(order)
        for d in order:
            shuffled.submit("changeset", [d])
    assert _graph(in_order.store) == _graph(shuffled.store)
    run = in_order.store.get_nodes([NodeKey.run("run-1")])[NodeKey.run("run-1")]
    assert run.props["state"] == "COMPLETE"
    assert run.props["seen_start"] and run.props["seen_complete"]
    assert run.first_seen == T0 and run.last_seen == T0 + timedelta(minutes=2)
    assert shuffled.log.counts()["accepted"] == 3  # repeats were logged once


def test_a_bad_input_goes_to_dead_letters_and_the_rest_is_projected(tmp_path: Path) -> None:
    svc = _service(tmp_path, "c")
    good = _inputs()
    orphan = ChangeSet()
    orphan.edge(
        NodeKey.dataset_key("s3://lake", "ghost"),
        EdgeKind.CONSUMED,
        NodeKey.run("run-x"),
        T0,
        Provenance("test", "bad"),
    )
    svc.submit("changeset", [good[0], changeset_to_json(orphan), good[1], good[2]])
    assert svc.store.log_position() == svc.log.head() == 4
    letters = svc.log.dead_letters()
    assert len(letters) == 1 and letters[0].reason == "projection" and letters[0].seq == 2
    assert "dataset:s3://lake|ghost" in letters[0].error
    assert NodeKey.run("run-1") in svc.store.get_nodes([NodeKey.run("run-1")])


def test_unknown_source_is_a_projection_error_not_a_crash(tmp_path: Path) -> None:
    svc = _service(tmp_path, "d")
    svc.submit("no-such-source", [{"x": 1}])
    svc.submit("changeset", _inputs()[:1])
    assert svc.store.log_position() == 2
    assert "no mapper for input source 'no-such-source'" in svc.log.dead_letters()[0].error


def test_replay_rebuilds_an_identical_store_from_the_log(tmp_path: Path) -> None:
    svc = _service(tmp_path, "e")
    svc.submit("changeset", _inputs())
    fresh = open_store("memory://")
    report = Projector(svc.log, fresh, batch=2).catch_up()
    assert report.projected == 3 and report.position == 3
    assert _graph(fresh) == _graph(svc.store)


class _ScriptedProjector:
    """Stands in for a Projector (our own interface): run_once reports the
    given batch sizes, one per call, then stops the worker."""

    batch = 10

    def __init__(self, sizes: list[int], worker_stop: Any) -> None:
        self.sizes = sizes
        self.stop = worker_stop
        self.log = self  # the worker asks the log's head before each batch

    def head(self) -> int:
        return 0

    def changed(self) -> bool:
        return True  # (then the worker asks run_once again: the script goes on)

    def run_once(
        self, batch: Any = None, premapped: Any = None, upto: Any = None
    ) -> ProjectionReport:
        if not self.sizes:
            self.stop()
            return ProjectionReport(0, 0, 0)
        return ProjectionReport(self.sizes.pop(0), 0, 0)


def test_background_worker_lingers_after_small_batches_only() -> None:
    """Inputs arriving one by one are projected together: after a batch smaller
    than the projector's the worker waits ``linger``; after a full one, or with
    nothing to do, it does not."""
    worker = ProjectionWorker(None, linger=0.025)  # type: ignore[arg-type]
    pauses: list[float] = []
    worker._pause = pauses.append  # type: ignore[method-assign]
    worker.projector = _ScriptedProjector([3, 10, 1, 0], worker._stop.set)  # type: ignore[assignment]
    worker._loop()
    assert pauses == [0.025, 0.025]  # after 3 and after 1; not after the full 10 or the empty run
    still = ProjectionWorker(None, linger=0.0)  # type: ignore[arg-type]
    still_pauses: list[float] = []
    still._pause = still_pauses.append  # type: ignore[method-assign]
    still.projector = _ScriptedProjector([3, 1], still._stop.set)  # type: ignore[assignment]
    still._loop()
    assert still_pauses == []


def test_an_idle_worker_finds_what_another_process_logs_and_only_reads_then(
    tmp_path: Path,
) -> None:
    """A worker nobody in its process notifies (the projector process's) looks at the
    log every ``poll`` seconds, and reads it only when something was committed."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    projector = Projector(EventLog(url), open_store("memory://"))
    reads: list[int] = []
    run_once = projector.run_once

    def counting(*args: Any, **kwargs: Any) -> ProjectionReport:
        reads.append(1)
        return run_once(*args, **kwargs)

    projector.run_once = counting  # type: ignore[method-assign]
    worker = ProjectionWorker(projector, poll=0.01)
    worker.start()
    other = EventLog(url)  # another writer of the log, as the server is
    try:
        wait_until(lambda: len(reads) >= 1, "the worker's first look")
        time.sleep(0.3)  # ~30 looks at an unchanged log
        idle_reads = len(reads)
        assert idle_reads <= 2, f"{idle_reads} batches read from an unchanged log"
        position = other.append([LogInput("changeset", d) for d in _inputs()])[-1].seq
        wait_until(lambda: projector.store.log_position() >= position, "projected")
    finally:
        worker.stop()
        other.close()
    assert projector.store.get_nodes([NodeKey.run("run-1")])


def test_offered_batches_are_bounded_while_projection_is_behind() -> None:
    """Offers hold whole ChangeSets: past MAX_OFFERS the oldest are dropped (their
    inputs are then mapped from the log), so a stalled projection cannot fill memory."""
    worker = ProjectionWorker(None)  # type: ignore[arg-type]  # (never started)
    for i in range(MAX_OFFERS * 3):
        with worker.offering() as offer:
            offer(Premapped("openlineage", frozenset({f"k{i}"}), ChangeSet(), None, i + 1, i + 1))
    kept = [o.premapped for o in worker._offered]
    assert len(kept) == MAX_OFFERS
    assert [p.first for p in kept if p is not None] == list(
        range(MAX_OFFERS * 2 + 1, MAX_OFFERS * 3 + 1)
    )
