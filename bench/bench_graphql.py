"""GraphQL API benchmark (issue 6): depth-3 lineage of ~200 nodes under concurrent load.

    uv run python bench/bench_graphql.py                 # 50 clients, 30 s per run
    uv run python bench/bench_graphql.py --quick         # a smoke run (5 s per run)

What it does:

* builds an embedded store from a synthetic lineage graph (``bench/synthetic.py``;
  cached under ``bench/.cache/``) and picks every start node whose depth-3 lineage
  (both directions, job granularity: the query below) answers with 150-250 nodes
  (``--starts`` at most; 22 on the default 50k-node graph, more on larger ones);
* starts ``lineagegraph serve`` on a free loopback port (a child process, the
  production configuration: JSON request logs at INFO, a reader token), twice:
  with the GraphQL response cache off (``LINEAGEGRAPH_GRAPHQL_CACHE_BYTES=0``: what
  every query costs) and on (the default);
* runs the load from another child process: ``--clients`` concurrent keep-alive
  HTTP/1.1 connections (asyncio, pre-encoded raw requests, so the generator spends
  little CPU), each sending the lineage query for the start nodes in turn, from
  its own offset, so all start nodes are asked all the time (never one hot
  query); as fast as answers come (closed loop) and, in a third run, with a think
  time between requests (``--think``, like Locust users' ``wait_time``), and in a
  fourth closed loop while an ingester POSTs ``--writes`` OpenLineage events a
  second (each one moves the store's revision: every cached answer goes). Every
  answer is checked: status 200, no ``errors``, and as many nodes as the start
  node's lineage has;
* each run starts with a warm-up (``--warmup`` s, the same clients; excluded from
  every figure, including the server CPU), then measures ``--duration`` s;
* prints p50/p95/p99 latency, requests/s, the server's CPU time per request (from
  ``/proc``, measured window only), the load generator's CPU per request, the
  cache's hits and misses in the window (from ``/metrics``), ``nproc`` and the
  load average, and writes them to ``bench/results/graphql.json``.

Nothing asserts the target (p95 <= 50 ms); the figures are for the report.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache"
RESULTS = BENCH / "results"
CLI = [sys.executable, "-c", "from lineagegraph.cli.main import app; app()"]

QUERY = """query Lineage3($id: ID!) {
  lineage(id: $id, direction: BOTH, depth: 3) {
    truncated
    nodes { depth node { id kind name } }
    edges { source target kind }
  }
}"""


# ---- the graph and the start nodes -----------------------------------------------------------
def build_data_dir(nodes: int, edges: int, seed: int, data_dir: Path) -> None:
    """A data dir whose graph.db holds the synthetic graph (built once, then copied)."""
    from bench.synthetic import generate
    from lineagegraph.graph.embedded import EmbeddedStore

    cached = CACHE / f"graphql-n{nodes}-e{edges}-s{seed}.db"
    if not cached.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        store = EmbeddedStore.from_uri(f"sqlite:///{tmp}")
        for cs in generate(nodes, edges, seed).changesets(50_000):
            store.apply(cs)
        store.close()
        tmp.rename(cached)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "graph.db").write_bytes(cached.read_bytes())


def pick_starts(data_dir: Path, want: int, seed: int) -> list[tuple[str, int]]:
    """Dataset and job ids whose depth-3 lineage answers with 150-250 nodes, with that count.

    Such nodes are the busier ones of the graph (most have a few dozen nodes
    within 3 hops), so every dataset and job is sized with a bare traversal
    first (all kinds: at least as many nodes as the job-level answer), then the
    candidates with the answer the benchmark asks for.
    """
    from lineagegraph.graph.embedded import EmbeddedStore
    from lineagegraph.graph.kinds import NodeKind
    from lineagegraph.graph.lineage import expand, lineage
    from lineagegraph.graph.store import SearchQuery

    store = EmbeddedStore.from_uri(f"sqlite:///{data_dir / 'graph.db'}")
    try:
        fitting = []
        for kind in (NodeKind.DATASET, NodeKind.JOB):
            after = None
            while True:
                page = store.search(SearchQuery(kinds=frozenset({kind}), first=1000, after=after))
                for node in page.nodes:
                    if 150 <= len(expand(store, [node.key], depth=3).depth) <= 800:
                        fitting.append(node.key)
                if not page.has_next_page:
                    break
                after = page.end_cursor
        random.Random(seed).shuffle(fitting)
        sized = [(str(k), len(lineage(store, k, depth=3).nodes)) for k in fitting]
        return [(k, n) for k, n in sized if 150 <= n <= 250][:want]
    finally:
        store.close()


def make_token(data_dir: Path, role: str = "reader") -> str:
    from lineagegraph.auth import Role, TokenStore
    from lineagegraph.ingest.log import EventLog
    from lineagegraph.settings import Settings

    log = EventLog(Settings(data_dir=data_dir).log_url)
    try:
        return TokenStore(log.engine).create(f"bench-{role}", Role(role))[1]
    finally:
        log.close()


def write_event(i: int) -> bytes:
    """An OpenLineage event that changes the graph (a new run) away from every start node's
    lineage: the answers stay the same, the store's revision moves (the cache empties)."""
    return json.dumps(
        {
            "eventType": "COMPLETE",
            "eventTime": f"2026-11-01T00:00:{i % 60:02d}.{i:06d}Z",
            "producer": "https://github.com/lineagegraph/lineagegraph/bench",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-write-{i}"))},
            "job": {"namespace": "bench://writes", "name": "writer"},
            "inputs": [{"namespace": "bench://writes", "name": "in"}],
            "outputs": [{"namespace": "bench://writes", "name": "out"}],
        }
    ).encode()


# ---- the server ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``lineagegraph serve`` in a child process."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        cmd = [*CLI, "serve", "--port", str(self.port), "--data-dir", str(data_dir)]
        # request logs stay on (INFO, JSON) as in production; they go nowhere here
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **env}
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.2)

    def cache_counts(self) -> dict[str, float]:
        """The response cache's counters from ``/metrics`` (empty when it never ran)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        pattern = r'^lineagegraph_graphql_cache_requests_total\{outcome="(\w+)"\} (\S+)$'
        return {m[1]: float(m[2]) for m in re.finditer(pattern, text, re.MULTILINE)}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


# ---- the load generator (runs in its own process: --client) --------------------------------
class Phase:
    """What the clients are doing: warming up (results dropped), measuring, or done."""

    def __init__(self) -> None:
        self.measuring = False
        self.stop_at = float("inf")


async def _one_client(
    port: int,
    requests: list[tuple[bytes, int]],
    offset: int,
    think: float,
    phase: Phase,
    warm: list[float],
    out: list[float],
    errors: list[str],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rng = random.Random(offset)
    i = offset
    while time.monotonic() < phase.stop_at:
        request, nodes = requests[i % len(requests)]
        i += 1
        measuring = phase.measuring
        t = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await reader.readexactly(length)
        elapsed = (time.perf_counter() - t) * 1000
        # checked without parsing the JSON: one "depth" key per node of the answer
        if (
            not head.startswith(b"HTTP/1.1 200 ")
            or b'"errors"' in payload
            or payload.count(b'"depth":') != nodes
        ):
            errors.append(head.decode(errors="replace") + payload[:200].decode(errors="replace"))
        (out if measuring and phase.measuring else warm).append(elapsed)
        if think:
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))
    writer.close()


async def _writer(spec: dict[str, Any], phase: Phase, done: list[int], errors: list[str]) -> None:
    """POST an OpenLineage event every 1/writes_per_s seconds (as an ingester)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", spec["port"])
    i = 0
    while time.monotonic() < phase.stop_at:
        await asyncio.sleep(1 / spec["writes_per_s"])
        body = write_event(i)
        i += 1
        writer.write(
            (
                "POST /api/v1/lineage HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\n"
                f"Authorization: Bearer {spec['ingester_token']}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 201 "):
            errors.append("write: " + (head + payload[:200]).decode(errors="replace"))
        if phase.measuring:
            done.append(i)
    writer.close()


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    """Warm up, say so on stdout and wait for the word on stdin, then measure."""
    requests = []
    for start, nodes in spec["starts"]:
        body = json.dumps(
            {"query": QUERY, "variables": {"id": start}, "operationName": "Lineage3"}
        ).encode()
        head = (
            "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {spec['token']}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        requests.append((head + body, nodes))
    phase = Phase()
    warm: list[float] = []
    lat: list[float] = []
    errors: list[str] = []
    tasks = [
        _one_client(spec["port"], requests, k, spec["think"], phase, warm, lat, errors)
        for k in range(spec["clients"])
    ]
    writes: list[int] = []
    if spec.get("writes_per_s"):
        tasks.append(_writer(spec, phase, writes, errors))
    clients = asyncio.gather(*tasks)
    loop = asyncio.get_running_loop()
    await asyncio.sleep(spec["warmup"])
    sys.stdout.write("warm\n")
    sys.stdout.flush()
    await loop.run_in_executor(None, sys.stdin.readline)  # the parent sampled the server
    cpu = time.process_time()
    t = time.monotonic()
    phase.measuring = True
    phase.stop_at = t + spec["duration"]
    await asyncio.sleep(spec["duration"])
    phase.measuring = False
    wall = time.monotonic() - t
    cpu = time.process_time() - cpu
    sys.stdout.write("done\n")
    sys.stdout.flush()
    await clients
    return {
        "latencies_ms": lat,
        "writes": len(writes),
        "warmup_requests": len(warm),
        "wall_s": wall,
        "client_cpu_s": cpu,
        "errors": errors[:5],
        "error_count": len(errors),
    }


def client_main() -> None:
    spec = json.loads(sys.stdin.readline())
    result = asyncio.run(_load(spec))
    sys.stdout.write(json.dumps(result) + "\n")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(spec: dict[str, Any], server: Server) -> dict[str, Any]:
    """The load from a separate process; latency percentiles, throughput, and the
    server's CPU time per request (what a request costs whatever else runs), all
    over the measured window only (the warm-up is excluded)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--client"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(spec) + "\n")
    proc.stdin.flush()
    if proc.stdout.readline().strip() != "warm":
        raise SystemExit("the load generator failed")
    counts_before = server.cache_counts()
    cpu_before = process_cpu_s(server.proc.pid)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    if proc.stdout.readline().strip() != "done":
        raise SystemExit("the load generator failed")
    server_cpu = process_cpu_s(server.proc.pid) - cpu_before
    counts_after = server.cache_counts()
    raw = json.loads(proc.stdout.readline())
    proc.wait(timeout=60)
    lat = sorted(raw["latencies_ms"])
    n = len(lat)

    def pct(p: float) -> float:
        return lat[min(n - 1, max(0, int(p * n + 0.5) - 1))]

    hits = counts_after.get("hit", 0) - counts_before.get("hit", 0)
    misses = counts_after.get("miss", 0) - counts_before.get("miss", 0)
    return {
        "clients": spec["clients"],
        "think_s": spec["think"],
        "warmup_s": spec["warmup"],
        "warmup_requests": raw["warmup_requests"],
        "requests": n,
        "requests_per_s": n / raw["wall_s"],
        "p50_ms": statistics.median(lat),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        # requests still in flight at the window's ends make this approximate
        "server_cpu_ms_per_request": server_cpu * 1000 / n,
        "client_cpu_ms_per_request": raw["client_cpu_s"] * 1000 / n,
        "writes_per_s": raw["writes"] / raw["wall_s"],
        "cache_hits": hits,
        "cache_misses": misses,
        "errors": raw["error_count"],
        "error_samples": raw["errors"],
    }


# ---- main ---------------------------------------------------------------------------------
MODES = {"cache off": {"LINEAGEGRAPH_GRAPHQL_CACHE_BYTES": "0"}, "cache on": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--nodes", type=int, default=50_000)
    parser.add_argument("--edges", type=int, default=150_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before each run")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time (third run)")
    parser.add_argument("--starts", type=int, default=400, help="most distinct start nodes")
    parser.add_argument(
        "--writes", type=float, default=2.0, help="OpenLineage events/s in the fourth run"
    )
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main()
        return
    if args.quick:
        args.duration, args.warmup = 5.0, 2.0

    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-graphql-") as tmp:
        data_dir = Path(tmp)
        t = time.perf_counter()
        build_data_dir(args.nodes, args.edges, args.seed, data_dir)
        starts = pick_starts(data_dir, args.starts, args.seed)
        if not starts:
            raise SystemExit("no start node with a depth-3 lineage of 150-250 nodes")
        token = make_token(data_dir)
        ingester_token = make_token(data_dir, "ingester")
        print(f"graph ready in {time.perf_counter() - t:.1f}s; {len(starts)} start nodes")
        for mode in args.modes:
            server = Server(data_dir, MODES[mode])
            try:
                base = {
                    "port": server.port,
                    "token": token,
                    "ingester_token": ingester_token,
                    "starts": starts,
                    "warmup": args.warmup,
                    "duration": args.duration,
                }
                loads = {
                    "1 client, back to back": {"clients": 1, "think": 0.0},
                    f"{args.clients} clients, back to back": {
                        "clients": args.clients,
                        "think": 0.0,
                    },
                    f"{args.clients} clients, think {args.think:g}s": {
                        "clients": args.clients,
                        "think": args.think,
                    },
                    f"{args.clients} clients, back to back, {args.writes:g} writes/s": {
                        "clients": args.clients,
                        "think": 0.0,
                        "writes_per_s": args.writes,
                    },
                }
                for name, load in loads.items():
                    runs[f"{mode}: {name}"] = run_load({**base, **load}, server)
                    print(f"  {mode}: {name} done", flush=True)
            finally:
                server.stop()

    nodes = [n for _, n in starts]
    result = {
        "nproc": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "cpu": platform.processor() or platform.machine(),
        "graph": {"nodes": args.nodes, "edges": args.edges},
        "start_nodes": len(starts),
        "answer_nodes": {"min": min(nodes), "median": statistics.median(nodes), "max": max(nodes)},
        "warmup_s": args.warmup,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "graphql.json").write_text(json.dumps(result, indent=2))
    print(
        f"\nnproc={result['nproc']}; graph {args.nodes} nodes / {args.edges} edges; "
        f"{len(starts)} start nodes, answers of {result['answer_nodes']['min']}-"
        f"{result['answer_nodes']['max']} nodes (median {result['answer_nodes']['median']}); "
        f"{args.warmup:g} s warm-up excluded from every figure\n"
    )
    print(
        "| load | requests/s | p50 ms | p95 ms | p99 ms | server CPU ms/req "
        "| client CPU ms/req | cache hits / misses | errors |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in runs.items():
        cache = (
            f"{r['cache_hits']:.0f} / {r['cache_misses']:.0f}"
            if r["cache_hits"] or r["cache_misses"]
            else "-"
        )
        print(
            f"| {name} | {r['requests_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['server_cpu_ms_per_request']:.2f} "
            f"| {r['client_cpu_ms_per_request']:.2f} | {cache} | {r['errors']} |"
        )
    load1, load5, _ = os.getloadavg()
    print(f"\nload average at the end: {load1:.1f} (1 min), {load5:.1f} (5 min)")
    for r in runs.values():
        for sample in r["error_samples"]:
            print("error:", sample)


if __name__ == "__main__":
    main()
