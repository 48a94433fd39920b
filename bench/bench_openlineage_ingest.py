"""OpenLineage ingest throughput (issue 3): single POSTs, batch POSTs, CLI file replay.

    uv run python bench/bench_openlineage_ingest.py            # the full run
    uv run python bench/bench_openlineage_ingest.py --quick    # a small one

Events are shaped like the captured fixtures, generated here (the benchmark
does not read ../shared): Airflow DAG runs (a DAG run, its tasks and their SQL
sub-runs, START and COMPLETE each, with the provider's run and job facets) and
dbt invocations (an invocation and five models, with inputs, outputs, schema,
datasource and SQL facets), re-running the same jobs on a pool of tables the
way daily pipelines do. The store is the embedded default (SQLite + networkx)
and the log SQLite, both on disk, projection inline (an event is acknowledged
once durable and projected), as ``lineagegraph serve`` runs by default.

* single: ``lineagegraph serve`` in its own process, 8 client processes each
  POSTing one event per request over a keep-alive connection;
* batch: the same server, 2 client processes POSTing JSON arrays;
* replay: ``lineagegraph ingest openlineage FILE`` on an NDJSON file, timed
  from the command's start to its exit (start-up included).

The server runs as shipped: its request log at the default level (INFO, one
JSON line per request, written to a file in the work directory), the token
cache on, uvloop and httptools when installed. The clients are cheap on
purpose, since they share the machine's cores with the server: raw keep-alive
sockets sending requests encoded in advance, one at a time per connection,
and every response is read and its status checked (201 for a single event;
anything else counts as a failed request and is reported).

Acked rate = events / wall time from the first request to the last answer.
Projected rate = events / wall time from the first request until the server
reports no projection lag (``lineagegraph_projection_lag`` at ``/metrics``):
the sustained rate including projection. Inline projection answers once an
event is projected, so both are one; background projection (a thread of the
server) and process projection (a process of the server's own, ``serve
--projection process``) answer once an event is durable, so the table also
gives the lag (log positions acked but not yet projected) when the last
answer came, and how long projection took to catch up. CPU ms/event is the
server's CPU (user + system, its worker and projector processes included)
over the whole window, projection included; the clients' CPU per request is
in the JSON. Prints a markdown table (with ``nproc`` and the load average) and
writes ``bench/results/openlineage_ingest.json``. Targets are the issue's
(single >= 1,500 events/s, batch and replay >= 10,000 events/s); nothing
asserts them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import platform
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
#: the ``lineagegraph`` command, run by this interpreter
CLI = [sys.executable, "-c", "from lineagegraph.cli.main import app; app()"]
TARGETS = {"single": 1_500, "batch": 10_000, "replay": 10_000}
PRODUCER_AIRFLOW = "https://github.com/apache/airflow/tree/providers-openlineage/2.20.3"
PRODUCER_DBT = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/dbt"
SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


# ---- events shaped like the fixtures ----------------------------------------------------
def _facet(producer: str, facet: str, **body: Any) -> dict[str, Any]:
    url = f"https://openlineage.io/spec/facets/1-0-1/{facet}.json#/$defs/{facet}"
    return {"_producer": producer, "_schemaURL": url, **body}


def _event(
    producer: str,
    etype: str,
    at: datetime,
    run_id: str,
    run_facets: dict[str, Any],
    job: tuple[str, str],
    job_facets: dict[str, Any],
    inputs: list[Any],
    outputs: list[Any],
) -> dict[str, Any]:
    return {
        "eventTime": at.isoformat(),
        "eventType": etype,
        "producer": producer,
        "schemaURL": SPEC,
        "run": {"runId": run_id, "facets": run_facets},
        "job": {"namespace": job[0], "name": job[1], "facets": job_facets},
        "inputs": inputs,
        "outputs": outputs,
    }


def airflow_dag_run(rng: random.Random, dag: int, start: datetime) -> list[dict[str, Any]]:
    """A DAG run like the captured one: the DAG, two tasks, their SQL sub-runs (11 events)."""
    p = PRODUCER_AIRFLOW
    ns, dag_id = "airflow_demo", f"dag_{dag}"
    dag_run = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    common_job = {
        "documentation": _facet(p, "DocumentationJobFacet", description=f"DAG {dag_id}"),
        "ownership": _facet(p, "OwnershipJobFacet", owners=[{"name": "airflow"}]),
        "tags": _facet(p, "TagsJobFacet", tags=[{"key": "demo", "value": "demo"}]),
    }
    airflow = {
        "_producer": p,
        "_schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet",
        "dag": {"dag_id": dag_id, "owner": "airflow", "tags": "['demo']", "timetable": {}},
        "dagRun": {"run_id": f"manual__{start.isoformat()}", "run_type": "manual", "conf": {}},
        "task": {
            "operator_class": "SQLExecuteQueryOperator",
            "retries": 0,
            "queue": "default",
            "depends_on_past": False,
            "priority_weight": 1,
            "trigger_rule": "all_success",
        },
    }
    common_run = {
        "nominalTime": _facet(p, "NominalTimeRunFacet", nominalStartTime=start.isoformat()),
        "processing_engine": _facet(
            p,
            "ProcessingEngineRunFacet",
            name="Airflow",
            version="3.3.2",
            openlineageAdapterVersion="2.20.3",
        ),
        "tags": _facet(p, "TagsRunFacet", tags=[{"key": "client", "value": "1.54.0"}]),
    }

    def parent(run_id: str, job: str) -> dict[str, Any]:
        return {
            "parent": _facet(
                p,
                "ParentRunFacet",
                run={"runId": run_id},
                job={"namespace": ns, "name": job},
                root={"run": {"runId": dag_run}, "job": {"namespace": ns, "name": dag_id}},
            )
        }

    events = []
    t = start
    dag_job = {
        **common_job,
        "jobType": _facet(
            p, "JobTypeJobFacet", processingType="BATCH", integration="AIRFLOW", jobType="DAG"
        ),
    }
    events.append(_event(p, "START", t, dag_run, common_run, (ns, dag_id), dag_job, [], []))
    for task in ("build", "export"):
        task_run = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        task_job = (ns, f"{dag_id}.{task}")
        facets = {
            **common_job,
            "jobType": _facet(
                p, "JobTypeJobFacet", processingType="BATCH", integration="AIRFLOW", jobType="TASK"
            ),
        }
        run_facets = {**common_run, "airflow": airflow, **parent(dag_run, dag_id)}
        outputs = [{"namespace": "file", "name": f"/data/exports/{dag_id}.csv", "facets": {}}]
        outs = outputs if task == "export" else []
        t += timedelta(seconds=2)
        events.append(_event(p, "START", t, task_run, run_facets, task_job, facets, [], outs))
        query_run = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        sql = {"sql": _facet(p, "SQLJobFacet", query=f"CREATE TABLE t_{dag} AS SELECT 1")}
        qf = {
            "jobType": _facet(
                p, "JobTypeJobFacet", processingType="BATCH", integration="AIRFLOW", jobType="QUERY"
            ),
            **sql,
        }
        qjob = (ns, f"{task_job[1]}.query.1")
        qrun_facets = parent(task_run, task_job[1])
        for etype in ("START", "COMPLETE"):
            events.append(_event(p, etype, t, query_run, qrun_facets, qjob, qf, [], []))
        t += timedelta(seconds=1)
        events.append(_event(p, "COMPLETE", t, task_run, run_facets, task_job, facets, [], outs))
    events.append(_event(p, "COMPLETE", t, dag_run, common_run, (ns, dag_id), dag_job, [], []))
    return events


def dbt_invocation(rng: random.Random, project: int, start: datetime) -> list[dict[str, Any]]:
    """A `dbt run` like the captured one: the invocation and five models (12 events)."""
    p, ns = PRODUCER_DBT, "jaffle_dev"
    db = f"duckdb://warehouse_{project % 7}.duckdb"
    invocation = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    job_type = {
        "jobType": _facet(
            p, "JobTypeJobFacet", processingType="BATCH", integration="DBT", jobType="JOB"
        )
    }
    run_facets = {
        "dbt_version": {
            "_producer": p,
            "_schemaURL": "https://example.com/dbt-version.json",
            "version": "1.10.23",
        },
        "processing_engine": _facet(p, "ProcessingEngineRunFacet", name="dbt", version="1.10.23"),
    }
    top = (ns, f"dbt-run-project_{project}")
    events = [_event(p, "START", start, invocation, run_facets, top, job_type, [], [])]

    def table(name: str, columns: int) -> dict[str, Any]:
        fields = [
            {"name": f"col_{i}", "type": "INTEGER", "description": ""} for i in range(columns)
        ]
        return {
            "namespace": db,
            "name": f"analytics.main.{name}",
            "facets": {
                "dataSource": _facet(p, "DatasourceDatasetFacet", name=db, uri=db),
                "schema": _facet(p, "SchemaDatasetFacet", fields=fields),
            },
        }

    models = [f"stg_{project}_{i}" for i in range(3)] + [f"mart_{project}_{i}" for i in range(2)]
    sql = "select * from " + ", ".join(models[:3])  # noqa: S608 - facet text, never run
    t = start
    for i, model in enumerate(models):
        run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        inputs = [] if i < 3 else [table(m, 4) for m in models[:3]]
        outputs = [table(model, 6)]
        job = (ns, f"project_{project}.{model}")
        facets = {
            "jobType": _facet(
                p, "JobTypeJobFacet", processingType="BATCH", integration="DBT", jobType="MODEL"
            ),
            "sql": _facet(p, "SQLJobFacet", dialect="duckdb", query=sql),
        }
        rf = {
            **run_facets,
            "parent": _facet(
                p,
                "ParentRunFacet",
                run={"runId": invocation},
                job={"namespace": ns, "name": top[1]},
            ),
        }
        t += timedelta(milliseconds=50)
        events.append(_event(p, "START", t, run_id, rf, job, facets, inputs, outputs))
        t += timedelta(milliseconds=50)
        events.append(_event(p, "COMPLETE", t, run_id, rf, job, facets, inputs, outputs))
    events.append(_event(p, "COMPLETE", t, invocation, run_facets, top, job_type, [], []))
    return events


def make_events(n: int, seed: int = 7, pipelines: int = 40) -> list[dict[str, Any]]:
    """About ``n`` events: runs of ``pipelines`` DAGs and dbt projects, day after day."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    day = datetime(2026, 1, 1, tzinfo=UTC)
    while len(out) < n:
        for k in range(pipelines):
            start = day + timedelta(minutes=k)
            make = airflow_dag_run if k % 2 else dbt_invocation
            out.extend(make(rng, k, start))
        day += timedelta(days=1)
    return out[:n]


# ---- the server and the clients ------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_token(data_dir: Path) -> str:
    from lineagegraph.auth import Role, TokenStore
    from lineagegraph.ingest.log import EventLog
    from lineagegraph.settings import Settings

    log = EventLog(Settings(data_dir=data_dir).log_url)
    try:
        return TokenStore(log.engine).create("bench", Role.INGESTER)[1]
    finally:
        log.close()


class Server:
    """``lineagegraph serve`` in a child process."""

    def __init__(self, data_dir: Path, projection: str) -> None:
        self.port = free_port()
        env = {**os.environ, "LINEAGEGRAPH_PROJECTION_MODE": projection}
        env.pop("LINEAGEGRAPH_LOG_LEVEL", None)  # the default: a JSON line per request
        cmd = [*CLI, "serve", "--port", str(self.port), "--data-dir", str(data_dir)]
        self.start(cmd, data_dir / "server.log", env=env, ready="/healthz")

    def start(
        self, cmd: list[str], log_path: Path, *, ready: str, env: dict[str, str] | None = None
    ) -> None:
        """Run ``cmd`` (serving on ``self.port``), its stderr to ``log_path``, until
        ``GET ready`` answers 200."""
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd, env=env, cwd=BENCH.parent, stdout=subprocess.DEVNULL, stderr=log
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", ready)
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise SystemExit(f"the server did not start:\n{tail}")
            time.sleep(0.2)

    def lag(self) -> float:
        """Log positions not yet in the graph (the server's /metrics)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/metrics")
        for line in conn.getresponse().read().decode().splitlines():
            if line.startswith("lineagegraph_projection_lag "):
                return float(line.split()[1])
        raise SystemExit("no lineagegraph_projection_lag in /metrics")

    def cpu_s(self) -> float:
        """CPU seconds the server has used (user + system), its worker processes included."""
        return sum(_proc_cpu_s(pid) for pid in _tree(self.proc.pid))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _tree(pid: int) -> list[int]:
    """A process and its descendants (those alive now)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):  # it exited meanwhile
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return out


def _proc_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # it exited meanwhile
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def encode_post(port: int, token: str, body: bytes) -> bytes:
    """A whole ``POST /api/v1/lineage`` request, ready for the socket."""
    head = (
        f"POST /api/v1/lineage HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def read_response(sock: socket.socket, buf: bytearray) -> int:
    """Read one HTTP/1.1 response (with a Content-Length) off ``sock``; its status."""
    while (end := buf.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buf += chunk
    head = bytes(buf[:end]).split(b"\r\n")
    del buf[: end + 4]
    status = int(head[0].split(b" ", 2)[1])
    lengths = [
        v for k, _, v in (h.partition(b":") for h in head[1:]) if k.lower() == b"content-length"
    ]
    if not lengths:
        raise ValueError(f"a response without Content-Length: {head!r}")
    length = int(lengths[0])
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        buf += chunk
    del buf[:length]
    return status


def _client(
    args: tuple[int, list[bytes], tuple[int, ...], Any],
) -> tuple[int, list[float], int, float]:
    """One client process: send each request in turn on one keep-alive connection,
    read each answer whole and check its status."""
    port, requests, expected, start = args
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    start.wait()
    cpu = time.process_time()
    latencies, failures = [], 0
    for request in requests:
        t = time.perf_counter()
        sock.sendall(request)
        status = read_response(sock, buf)
        latencies.append((time.perf_counter() - t) * 1000)
        failures += status not in expected
    cpu = time.process_time() - cpu
    sock.close()
    return len(requests), latencies, failures, cpu


def post_all(
    port: int,
    token: str,
    bodies: list[bytes],
    clients: int,
    events_per_body: int,
    settle: Callable[[float], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """POST ``bodies`` from ``clients`` processes at once; events/s over the wall time.

    ``settle(t0)`` runs as soon as the last answer is in (before the clients are
    torn down), with the perf-counter time of the first request; what it returns
    joins the result."""
    ctx = mp.get_context("fork")
    expected = (201,) if events_per_body == 1 else (201, 207)
    requests = [encode_post(port, token, b) for b in bodies]
    with ctx.Manager() as manager:
        start = manager.Event()
        shares = [requests[i::clients] for i in range(clients)]
        with ctx.Pool(clients) as pool:
            pending = pool.map_async(_client, [(port, s, expected, start) for s in shares])
            time.sleep(0.5)  # every client connected and waiting
            t = time.perf_counter()
            start.set()
            results = pending.get()
            wall = time.perf_counter() - t
            settled = settle(t) if settle is not None else {}
    latencies = sorted(x for _, lat, _, _ in results for x in lat)
    failures = sum(f for _, _, f, _ in results)
    events = len(bodies) * events_per_body
    return {
        "events": events,
        "requests": len(bodies),
        "clients": clients,
        "wall_s": wall,
        "events_per_s": events / wall,
        "latency_ms_median": statistics.median(latencies),
        "latency_ms_p99": latencies[int(0.99 * (len(latencies) - 1))],
        "failed_requests": failures,
        "client_cpu_ms_per_request": sum(c for *_, c in results) * 1000 / len(bodies),
        **settled,
    }


# ---- the three measurements -------------------------------------------------------------------
def bench_http(
    events: list[dict[str, Any]],
    workdir: Path,
    *,
    per_request: int,
    clients: int,
    projection: str,
) -> dict[str, Any]:
    """POST the events (one per request, or arrays of ``per_request``) to a fresh server.

    Inline projection answers once projected; background answers once durable,
    so the projected rate is measured too: until the server reports no lag.
    """
    data = workdir / f"http-{per_request}-{projection}"
    token = make_token(data)
    server = Server(data, projection)
    try:

        def bodies(evs: list[dict[str, Any]]) -> list[bytes]:
            if per_request == 1:
                return [orjson.dumps(e) for e in evs]
            evs = evs[: len(evs) - len(evs) % per_request]
            return [orjson.dumps(evs[i : i + per_request]) for i in range(0, len(evs), per_request)]

        warm = max(200, per_request)
        post_all(server.port, token, bodies(events[:warm]), clients, per_request)  # warm up
        while server.lag() > 0:
            time.sleep(0.1)

        def settle(t0: float) -> dict[str, Any]:
            """Wait until every acked event is projected (the server's lag is 0)."""
            acked = time.perf_counter()
            asked, lag = acked, server.lag()
            lag_at_ack = lag
            while lag > 0:
                time.sleep(0.1)  # (a scrape counts the log: not so often that it slows the server)
                asked = time.perf_counter()
                lag = server.lag()
            done = asked  # when the lag was last asked, and was 0
            return {
                "lag_at_last_ack": lag_at_ack,
                "catch_up_s": done - acked,
                "projected_s": done - t0,
                "server_cpu_s_at_projected": server.cpu_s(),
            }

        cpu = server.cpu_s()
        result = post_all(server.port, token, bodies(events[warm:]), clients, per_request, settle)
        cpu = result.pop("server_cpu_s_at_projected") - cpu
        result["server_cpu_ms_per_event"] = cpu * 1000 / result["events"]
        result.update(projection=projection, per_request=per_request)
        result["projected_events_per_s"] = result["events"] / result["projected_s"]
        return result
    finally:
        server.stop()


def bench_replay(events: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    data = workdir / "replay"
    path = workdir / "events.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    cmd = [*CLI, "ingest", "openlineage", str(path), "--data-dir", str(data)]
    t, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"replay failed:\n{done.stdout}\n{done.stderr}")
    # the command's own rate: from its first event read to its last projected
    rate = re.search(r"([\d,]+) events/s \(([\d,]+) in", done.stdout)
    if rate is None or int(rate[2].replace(",", "")) != len(events):
        raise SystemExit(f"no rate for every event in the command's summary:\n{done.stdout}")
    return {
        "events": len(events),
        "wall_s": wall,
        "events_per_s": len(events) / wall,
        "sustained_events_per_s": int(rate[1].replace(",", "")),
        "file_bytes": path.stat().st_size,
        "server_cpu_ms_per_event": cpu * 1000 / len(events),
    }


def machine() -> dict[str, Any]:
    """What a result depends on besides the code: the machine, and how busy it was."""
    return {
        "nproc": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def machine_line(results: dict[str, Any]) -> str:
    before = results["loadavg_before"]
    return (
        f"nproc = {results['nproc']}  ({results['cpu']}, Python {results['python']}); "
        f"load average before: {before[0]:.1f} {before[1]:.1f} {before[2]:.1f}"
    )


MODES = ("inline", "background", "process")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--single", type=int, default=6_000, help="events sent one per request")
    parser.add_argument("--batch", type=int, default=40_000, help="events sent in batches")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--replay", type=int, default=40_000, help="events in the replayed file")
    parser.add_argument("--only", choices=["single", "batch", "replay"], action="append")
    parser.add_argument(
        "--projection",
        choices=MODES,
        action="append",
        help="server projection mode(s) to measure (default: all three)",
    )
    args = parser.parse_args()
    if args.quick:
        args.single, args.batch, args.replay = 1_000, 4_000, 4_000
    only = set(args.only or TARGETS)
    args.projection = args.projection or list(MODES)
    results = machine()
    workdir = Path(tempfile.mkdtemp(prefix="ol-bench-"))
    try:
        for projection in args.projection:
            if "single" in only:
                events = make_events(args.single + 200, seed=1)
                results[f"single/{projection}"] = bench_http(
                    events, workdir, per_request=1, clients=8, projection=projection
                )
            if "batch" in only:
                events = make_events(args.batch + args.batch_size, seed=2)
                results[f"batch/{projection}"] = bench_http(
                    events,
                    workdir,
                    per_request=args.batch_size,
                    clients=2,
                    projection=projection,
                )
        if "replay" in only:
            results["replay/inline"] = bench_replay(make_events(args.replay, seed=3), workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "openlineage_ingest.json").write_text(json.dumps(results, indent=2))
    print(f"\n{machine_line(results)}\n")
    print(
        "| mode | projection | events | acked/s | projected/s | target | ratio | median ms "
        "| p99 ms | lag at last ack | catch-up s | failed | CPU ms/event | events per CPU-s |"
    )
    print(
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |"
    )
    for name, r in results.items():
        if not isinstance(r, dict):
            continue
        mode, projection = name.split("/")
        if "sustained_events_per_s" in r:  # replay: the command's own rate, then with start-up
            rate, target = r["sustained_events_per_s"], TARGETS[mode]
            cells = [
                f"{mode} (start-up excluded)", projection, str(r["events"]), f"{rate:,}",
                f"{rate:,}", f"{target:,}", f"{rate / target:.2f}", *["-"] * 7,
            ]  # fmt: skip
            print("| " + " | ".join(cells) + " |")
            mode += " (start-up included)"
        acked = r["events_per_s"]
        projected = r.get("projected_events_per_s", acked)
        target = TARGETS[mode.split()[0]]
        med = f"{r['latency_ms_median']:.1f}" if "latency_ms_median" in r else "-"
        p99 = f"{r['latency_ms_p99']:.1f}" if "latency_ms_p99" in r else "-"
        cpu = r["server_cpu_ms_per_event"]
        cells = [
            mode, projection, str(r["events"]), f"{acked:,.0f}", f"{projected:,.0f}",
            f"{target:,}", f"{min(acked, projected) / target:.2f}", med, p99,
            f"{r['lag_at_last_ack']:.0f}" if "lag_at_last_ack" in r else "-",
            f"{r['catch_up_s']:.1f}" if "catch_up_s" in r else "-",
            str(r.get("failed_requests", 0)), f"{cpu:.2f}", f"{1000 / cpu:,.0f}",
        ]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    load = os.getloadavg()
    print(f"\nload average after the run (1/5/15 min): {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print("CPU ms/event: the server's (or the CLI's) CPU time per event, its worker processes")
    print("included; events per CPU-s: what that CPU time would sustain on one dedicated core")
    print("(free of the other processes on the machine).")


if __name__ == "__main__":
    main()
