"""Large POST /api/v1/lineage bodies prepared by worker processes (real spawned
interpreters, real HTTP): the same answers, dead letters and graph as a server
that prepares every event itself."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lineagegraph.api.app import create_app
from lineagegraph.auth import Role, TokenStore
from lineagegraph.graph.export import export_graph
from lineagegraph.ingest.openlineage.workers import MIN_BODY_BYTES, PreparePool
from lineagegraph.settings import Settings
from tests.api.server import LiveServer, live_server

URL = "/api/v1/lineage"


def _events(n: int) -> list[dict[str, Any]]:
    from bench.bench_openlineage_ingest import make_events

    return make_events(n, seed=11, pipelines=8)


def _bodies() -> list[tuple[bytes, dict[str, str]]]:
    """Batches as producers bulk-load them (arrays, NDJSON, gzip), some events invalid,
    and bodies refused whole (too many events; none)."""
    events = _events(480)
    events[7] = {**events[7], "eventTime": "yesterday"}  # invalid: rejected, the rest kept
    events[130] = {**events[130], "eventType": "FINISHED"}
    array = {"Content-Type": "application/json"}
    out = [(json.dumps(events[i : i + 60]).encode(), array) for i in range(0, 360, 60)]
    ndjson = b"\n".join(json.dumps(e).encode() for e in events[360:420])
    out.append((ndjson, {"Content-Type": "application/x-ndjson"}))
    gz = gzip.compress(json.dumps(events[420:]).encode())
    out.append((gz, {"Content-Type": "application/json", "Content-Encoding": "gzip"}))
    out.append((json.dumps(events[:120]).encode(), array))  # duplicates by now (one invalid)
    out.append((json.dumps(events * 3).encode(), array))  # 1,440 events: over the limit
    out.append((b"[]" + b" " * MIN_BODY_BYTES, array))  # no events
    return out


def _start(tmp: Path, workers: int) -> Iterator[tuple[LiveServer, str]]:
    settings = Settings(data_dir=tmp, ingest_workers=workers, openlineage_max_batch=1000)
    with live_server(create_app(settings)) as live:
        token = TokenStore(live.app.state.services.log.engine).create("w", Role.INGESTER)[1]
        yield live, token


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    yield from _start(tmp_path_factory.mktemp("pooled"), workers=1)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    yield from _start(tmp_path_factory.mktemp("plain"), workers=0)


def _wait_ready(pool: PreparePool) -> None:
    """The workers start with the first large body; wait until one has answered."""
    deadline = time.monotonic() + 120
    while not pool.ready:
        assert time.monotonic() < deadline, "the ingest worker did not start in 120 s"
        time.sleep(0.1)


def _post_all(live: LiveServer, token: str) -> list[tuple[int, Any]]:
    """Every body, the first six from concurrent clients (so the pool gathers them)."""
    bodies = _bodies()

    def post(body: tuple[bytes, dict[str, str]]) -> tuple[int, Any]:
        with live.client(token) as client:
            r = client.post(URL, content=body[0], headers=body[1], timeout=120)
        answer = r.json()
        for result in answer.get("results", answer.get("error", {}).get("results", [])):
            result.pop("seq", None)  # log positions depend on arrival order
        return r.status_code, answer

    with ThreadPoolExecutor(6) as clients:
        answers = list(clients.map(post, bodies[:6]))
    return answers + [post(b) for b in bodies[6:]]


def _graph(live: LiveServer) -> list[str]:
    store = live.app.state.services.store
    return sorted(json.dumps(d, sort_keys=True) for d in export_graph(store, include_deleted=True))


def _dead(live: LiveServer) -> list[tuple[str, str]]:
    return sorted((d.reason, d.error) for d in live.app.state.services.log.dead_letters())


def test_workers_answer_and_ingest_like_the_server_itself(
    pooled: tuple[LiveServer, str], plain: tuple[LiveServer, str]
) -> None:
    pool = pooled[0].app.state.prepare_pool
    assert isinstance(pool, PreparePool) and plain[0].app.state.prepare_pool is None
    with pooled[0].client(pooled[1]) as client:  # a first large body starts the workers
        assert client.post(URL, content=b"[" + b" " * MIN_BODY_BYTES + b"]").status_code == 400
    _wait_ready(pool)
    answers = [_post_all(live, token) for live, token in (pooled, plain)]
    assert pool.bodies == len(_bodies()) and pool.groups >= 1
    assert answers[0] == answers[1]
    statuses = [status for status, _ in answers[0]]
    assert statuses[:8] == [207, 201, 207, 201, 201, 201, 201, 201]
    assert statuses[8:] == [207, 413, 400]
    first = answers[0][0][1]
    assert (first["accepted"], first["rejected"]) == (59, 1)
    assert first["results"][7]["error"]["path"] == "$.eventTime"
    assert answers[0][8][1]["duplicates"] == 119
    assert _graph(pooled[0]) == _graph(plain[0])
    assert _dead(pooled[0]) == _dead(plain[0]) and len(_dead(pooled[0])) >= 2
