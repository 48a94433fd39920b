"""How far the OpenLineage ingest targets (issue 3) are from what this machine can do.

    uv run python bench/bench_openlineage_floor.py            # the full run (~3 min)
    uv run python bench/bench_openlineage_floor.py --quick    # a small one

``bench_openlineage_ingest.py`` measures lineagegraph; this one measures the
floors under it, in the same run, so that the ratios hold however fast or
loaded the machine is:

* **HTTP, one event per request, 8 client processes** (the clients of the
  ingest benchmark, on the same cores): a bare ASGI app under uvicorn, a
  FastAPI route that only parses the body, the bare app plus lineagegraph's
  validation of the event, then ``lineagegraph serve`` itself (inline and
  background and process projection). Requests/s (projected) and the
  server's CPU per request (its worker and projector processes included).
* **Per-event CPU of each stage** an ingested event must pass, in this
  process, on one core, with the garbage collector paused (as the ingest
  paths run): JSON parse; validation (parse, the spec's pydantic models,
  canonical JSON and its SHA-256 key); a durable append of the canonical
  JSON to SQLite (WAL, ``synchronous=FULL``, one ``executemany`` and commit
  per 2,000 events: the least a durable log can cost); mapping to a
  ChangeSet; coalescing; then the two halves lineagegraph runs on the two
  cores: preparing a 2,000-event batch (the worker: validate, map,
  coalesce, pickle) and landing it (the main process: log, graph, runs).
* **By transaction size**: validating, logging and projecting events in
  this process in transactions of 1, 8, 64, 500 and 2,000 events: what a
  group of concurrent single POSTs costs (8 clients make groups of at most 8).

From the stage costs it prints what a two-core machine could at best
sustain: 2 cores' CPU-seconds divided by the CPU an event needs, as if the
work split perfectly over both cores with no overhead at all. A CPython
speed gauge (10 million additions in a loop, median of 5) lets runs on
different machines be compared. Writes ``bench/results/openlineage_floor.json``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import pickle
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_openlineage_ingest import (
    RESULTS,
    TARGETS,
    Server,
    bench_http,
    free_port,
    machine,
    machine_line,
    make_events,
    post_all,
)

ROOT = Path(__file__).resolve().parents[1]
BATCH = 2_000
CLIENTS = 8


def gauge() -> float:
    """Seconds for 10 million additions in a CPython loop (median of 5)."""
    runs = []
    for _ in range(5):
        t, total = time.perf_counter(), 0
        for i in range(10_000_000):
            total += i
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


# ---- HTTP floors ---------------------------------------------------------------------------------
class Uvicorn(Server):
    """One of ``floor_apps``'s apps under uvicorn (as ``serve`` runs it: uvloop and
    httptools when installed, no access log, no server header)."""

    def __init__(self, app: str, workdir: Path) -> None:
        self.port = free_port()
        cmd = [
            sys.executable, "-m", "uvicorn", f"bench.floor_apps:{app}", "--port", str(self.port),
            "--log-level", "warning", "--no-access-log", "--no-server-header",
        ]  # fmt: skip
        self.start(cmd, workdir / f"{app}.log", ready="/healthz")


def http_floor(app: str, events: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    bodies = [orjson.dumps(e) for e in events]
    server = Uvicorn(app, workdir)
    try:
        post_all(server.port, "-", bodies[:200], CLIENTS, 1)  # warm up
        cpu = server.cpu_s()
        result = post_all(server.port, "-", bodies[200:], CLIENTS, 1)
        result["server_cpu_ms_per_event"] = (server.cpu_s() - cpu) * 1000 / result["events"]
        if result["failed_requests"]:  # (e.g. the validating app refused an event)
            raise SystemExit(f"{app}: {result['failed_requests']} requests not answered 201")
        return result
    finally:
        server.stop()


def _read_events(path: Path, n: int, seed: int) -> list[Any]:
    """``n`` fixture-shaped events written to an NDJSON file and read back as the CLI reads."""
    from lineagegraph.ingest.openlineage.reader import read_paths

    path.write_bytes(b"\n".join(orjson.dumps(e) for e in make_events(n, seed=seed)) + b"\n")
    return list(read_paths([str(path)]))


# ---- per-event CPU of each stage ---------------------------------------------------------------
def stages(n: int, workdir: Path) -> dict[str, float]:
    """CPU µs per event of each stage (median of 3 runs), on ``n`` fixture-shaped events."""
    from lineagegraph.cli.common import make_settings
    from lineagegraph.graph.changeset import Provenance, coalesce
    from lineagegraph.ingest.mappers import mapper_for
    from lineagegraph.ingest.openlineage.ingest import _portable, check, ingest_prepared, prepare
    from lineagegraph.runtime import build_services

    items = [_portable(item) for item in _read_events(workdir / "events.ndjson", n, seed=3)]
    chunks = [items[i : i + BATCH] for i in range(0, n, BATCH)]
    mapper = mapper_for("openlineage")

    def cpu_us(fn: Callable[[], object], repeat: int = 3) -> float:
        runs = []
        for _ in range(repeat):
            gc.collect()
            gc.disable()
            t = time.process_time()
            fn()
            runs.append(time.process_time() - t)
            gc.enable()
        return statistics.median(runs) * 1e6 / n

    checked = [check(item) for item in items]
    assert all(c.error is None for c in checked), "every generated event is valid"

    appends = itertools.count()

    def durable_append() -> None:
        db = sqlite3.connect(workdir / f"append-{next(appends)}.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE log (seq INTEGER PRIMARY KEY, key TEXT UNIQUE, body BLOB)")
        for i in range(0, n, BATCH):
            db.execute("BEGIN")
            rows = [(c.key, c.text) for c in checked[i : i + BATCH]]
            db.executemany("INSERT INTO log (key, body) VALUES (?, ?)", rows)
            db.execute("COMMIT")
        db.close()

    def map_all() -> list[Any]:
        return [mapper.map(c.event, Provenance("openlineage", c.key)) for c in checked]

    mapped = map_all()
    out = {
        "parse": cpu_us(lambda: [orjson.loads(i.text) for i in items if i.text is not None]),
        "validate": cpu_us(lambda: [check(item) for item in items]),
        "durable_append": cpu_us(durable_append),
        "map": cpu_us(map_all),
        "coalesce": cpu_us(lambda: [coalesce(mapped[i : i + BATCH]) for i in range(0, n, BATCH)]),
        "prepare_and_pickle": cpu_us(lambda: [pickle.dumps(prepare(c)) for c in chunks]),
    }
    prepared = [pickle.loads(pickle.dumps(prepare(c))) for c in chunks]
    landing = []
    for run in range(3):  # each run into a new store: landing the same events twice is a no-op
        services = build_services(make_settings(workdir / f"land-{run}"))
        gc.collect()
        t = time.process_time()
        for p in prepared:
            ingest_prepared(services.ingest, p)
        services.ingest.projector.catch_up()
        landing.append(time.process_time() - t)
        services.close()
    out["land"] = statistics.median(landing) * 1e6 / n
    return out


def by_batch_size(n: int, sizes: tuple[int, ...], workdir: Path) -> dict[int, float]:
    """CPU µs per event to validate, log and project (inline, in this process: no HTTP,
    no worker) ``n`` events in transactions of each size, into a store that already
    holds 2,000 events of the same pipelines: what one group of concurrent single
    POSTs costs, by group size."""
    from lineagegraph.cli.common import make_settings
    from lineagegraph.ingest.openlineage.ingest import ingest_items
    from lineagegraph.runtime import build_services

    items = _read_events(workdir / "sweep.ndjson", n + 2_000, seed=5)
    out = {}
    for size in sizes:
        services = build_services(make_settings(workdir / f"sweep-{size}"))
        try:
            ingest_items(services.ingest, items[:2_000])
            gc.collect()
            t = time.process_time()
            for i in range(2_000, len(items), size):
                ingest_items(services.ingest, items[i : i + size])
            out[size] = (time.process_time() - t) * 1e6 / n
        finally:
            services.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = parser.parse_args()
    single, staged, sweep_n = (1_000, 4_000, 400) if args.quick else (6_000, 20_000, 2_000)
    results = {**machine(), "gauge_s": gauge()}
    workdir = Path(tempfile.mkdtemp(prefix="ol-floor-"))
    try:
        events = make_events(single + 200, seed=1)
        http: dict[str, dict[str, Any]] = {}
        for app in ("raw", "fastapi", "validating"):
            http[f"uvicorn + {app} app"] = http_floor(app, events, workdir)
        for projection in ("inline", "background", "process"):
            r = bench_http(events, workdir, per_request=1, clients=CLIENTS, projection=projection)
            r["events_per_s"] = min(r["events_per_s"], r["projected_events_per_s"])
            http[f"lineagegraph serve, {projection}"] = r
        results["http"] = http
        results["stages_us"] = cost = stages(staged, workdir)
        sizes = (1, 8, 64, 500, 2_000)
        results["by_batch_size_us"] = sweep = by_batch_size(sweep_n, sizes, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "openlineage_floor.json").write_text(json.dumps(results, indent=2))

    print(f"\n{machine_line(results)}; CPython gauge {results['gauge_s']:.2f} s\n")
    print(f"Single POSTs, {CLIENTS} clients ({single:,} events; target {TARGETS['single']:,}/s)\n")
    head = "| server | events/s (projected) | server CPU µs/request (its processes) |"
    print(head + " client CPU µs/request |")
    print("| --- | ---: | ---: | ---: |")
    for name, r in http.items():
        print(
            f"| {name} | {r['events_per_s']:,.0f} | {r['server_cpu_ms_per_event'] * 1000:,.0f} "
            f"| {r['client_cpu_ms_per_request'] * 1000:,.0f} |"
        )
    print(f"\nPer-event CPU µs on one core ({staged:,} events, batches of {BATCH:,})\n")
    print("| stage | µs/event |")
    print("| --- | ---: |")
    for name, us in cost.items():
        print(f"| {name} | {us:.0f} |")
    print(f"\nValidate, log and project in one transaction per batch ({sweep_n:,} events)\n")
    print("| events a transaction | CPU µs/event |")
    print("| ---: | ---: |")
    for size, us in sweep.items():
        print(f"| {size:,} | {us:,.0f} |")
    ack = cost["validate"] + cost["durable_append"]
    whole = cost["prepare_and_pickle"] + cost["land"]
    budget = 2e6 / TARGETS["batch"]
    print(
        f"\nBatch/replay target {TARGETS['batch']:,}/s on 2 cores: at most {budget:.0f} µs of CPU "
        "an event.\n"
        f"Validate + durable append only (no graph): {ack:.0f} µs -> at best "
        f"{2e6 / ack:,.0f}/s on 2 cores.\n"
        f"lineagegraph (prepare + land): {whole:.0f} µs -> at best {2e6 / whole:,.0f}/s "
        f"on 2 cores ({budget / whole:.2f} of the budget's rate)."
    )


if __name__ == "__main__":
    main()
