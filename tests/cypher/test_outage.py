"""The graph server goes down and comes back: the scale-out set-up (PostgreSQL log,
FalkorDB graph, background projection) keeps accepting inputs, reports itself
not ready meanwhile, loses nothing acknowledged, and catches up afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lineagegraph.api.ops import readiness
from lineagegraph.errors import BackendUnavailable
from lineagegraph.graph.changeset import ChangeSet, Provenance, changeset_to_json
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import EdgeKind
from lineagegraph.graph.store import TraversalSpec
from lineagegraph.runtime import build_services
from lineagegraph.settings import Settings
from tests.cypher.falkordb_server import FalkorDBServer
from tests.cypher.postgres_db import postgres_url

__all__ = ["postgres_url"]

pytestmark = pytest.mark.integration

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def step(i: int) -> tuple[dict[str, object], list[NodeKey]]:
    """One pipeline step as a ChangeSet input: dataset i -> run i -> dataset i+1."""
    p = Provenance("test", f"step-{i}")
    cs = ChangeSet()
    a = cs.node(NodeKey.dataset_key("s3://lake", f"t{i}"), T0 + timedelta(minutes=i), p)
    r = cs.node(NodeKey.run(f"run-{i}"), T0 + timedelta(minutes=i), p, {"state": "COMPLETE"})
    b = cs.node(NodeKey.dataset_key("s3://lake", f"t{i + 1}"), T0 + timedelta(minutes=i), p)
    cs.edge(a, EdgeKind.CONSUMED, r, T0 + timedelta(minutes=i), p)
    cs.edge(r, EdgeKind.PRODUCED, b, T0 + timedelta(minutes=i), p)
    return changeset_to_json(cs), [a, r, b]


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_outage_and_catch_up(postgres_url: str, tmp_path: Path) -> None:
    server = FalkorDBServer()
    server.start()
    settings = Settings(
        data_dir=tmp_path,
        store_uri=server.resp_uri("outage"),
        log_url=postgres_url,
        projection_mode="background",
    )
    services = build_services(settings)
    worker = services.ingest.worker
    assert worker is not None
    try:
        before, keys_before = step(0)
        (first,) = services.ingest.submit("changeset", [before]).appended
        assert services.ingest.wait_for_projection(first.seq, timeout=30)
        assert readiness(services) == []

        server.stop()
        with pytest.raises(BackendUnavailable):
            services.store.check_health()
        # still accepted: durable in the log, acknowledged with its position
        during = [step(i) for i in range(1, 6)]
        result = services.ingest.submit("changeset", [doc for doc, _ in during])
        assert not result.projected and not any(a.duplicate for a in result.appended)
        last = result.appended[-1].seq
        assert services.log.head() == last
        assert eventually(lambda: worker.backend_down is not None)
        reasons = readiness(services)
        assert "graph store unavailable" in reasons
        assert "projection paused: the graph store is down" in reasons

        server.start()  # back, and empty: it keeps nothing on disk
        assert services.ingest.wait_for_projection(last, timeout=60)
        assert eventually(lambda: worker.backend_down is None and readiness(services) == [])
        every = keys_before + [k for _, keys in during for k in keys]
        assert set(services.store.get_nodes(every)) == set(every)
        assert services.store.log_position() == last
        down = services.store.traverse(TraversalSpec((every[0],)))
        assert down.depth[NodeKey.dataset_key("s3://lake", "t6")] == 12
    finally:
        services.close()
        server.cleanup()
