"""GraphQL API benchmark (issue 6): depth-3 lineage of ~200 nodes under concurrent load.

    uv run python bench/bench_graphql.py                 # 50 clients, 30 s per run
    uv run python bench/bench_graphql.py --quick         # a smoke run

What it does:

* builds an embedded store from a synthetic lineage graph (``bench/synthetic.py``;
  cached under ``bench/.cache/``) and picks start nodes whose depth-3 lineage
  (both directions, job granularity) holds 150-250 nodes;
* starts ``lineagegraph serve`` on a free loopback port (a child process, the
  production configuration: JSON request logs at INFO, a reader token);
* runs the load from another child process: ``--clients`` concurrent keep-alive
  HTTP connections (asyncio, raw HTTP/1.1 so the generator spends little CPU),
  each sending the lineage query for a start node in turn, as fast as answers
  come (closed loop) and, in a second run, with a think time between requests
  (``--think``, like Locust users' ``wait_time``);
* prints p50/p95/p99 latency, requests/s, the nodes per answer and ``nproc``,
  and writes them to ``bench/results/graphql.json``.

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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
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
    """Dataset and job ids whose depth-3 lineage holds 150-250 nodes, with that count.

    Such nodes are the busier ones of the graph (most have a few dozen nodes
    within 3 hops), so every dataset and job is sized with a bare traversal.
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
                    if 150 <= len(expand(store, [node.key], depth=3).depth) <= 250:
                        fitting.append(node.key)
                if not page.has_next_page:
                    break
                after = page.end_cursor
        random.Random(seed).shuffle(fitting)
        return [(str(k), len(lineage(store, k, depth=3).nodes)) for k in fitting[:want]]
    finally:
        store.close()


def make_token(data_dir: Path) -> str:
    from lineagegraph.auth import Role, TokenStore
    from lineagegraph.ingest.log import EventLog
    from lineagegraph.settings import Settings

    log = EventLog(Settings(data_dir=data_dir).log_url)
    try:
        return TokenStore(log.engine).create("bench", Role.READER)[1]
    finally:
        log.close()


# ---- the server ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``lineagegraph serve`` in a child process."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        cmd = [*CLI, "serve", "--port", str(self.port), "--data-dir", str(data_dir)]
        # request logs stay on (INFO, JSON) as in production; they go nowhere here
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


# ---- the load generator (runs in its own process: --client) --------------------------------
async def _one_client(
    port: int,
    bodies: list[bytes],
    token: str,
    offset: int,
    start_at: float,
    stop_at: float,
    think: float,
    out: list[float],
    errors: list[str],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\n"
    ).encode()
    rng = random.Random(offset)
    i = offset
    await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    while time.monotonic() < stop_at:
        body = bodies[i % len(bodies)]
        i += 1
        t = time.perf_counter()
        writer.write(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await reader.readexactly(length)
        elapsed = (time.perf_counter() - t) * 1000
        if b" 200 " not in status_line or b'"errors"' in payload:
            errors.append(
                status_line.decode(errors="replace") + payload[:200].decode(errors="replace")
            )
        out.append(elapsed)
        if think:
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))
    writer.close()


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    bodies = [
        json.dumps({"query": QUERY, "variables": {"id": s}, "operationName": "Lineage3"}).encode()
        for s in spec["starts"]
    ]
    t0 = time.monotonic()
    warm_end = t0 + spec["warmup"]
    warm: list[float] = []
    errors: list[str] = []
    # warm-up: the same clients, results dropped
    await asyncio.gather(
        *(
            _one_client(
                spec["port"], bodies, spec["token"], k, t0, warm_end, spec["think"], warm, errors
            )
            for k in range(spec["clients"])
        )
    )
    lat: list[float] = []
    t = time.monotonic()
    stop_at = t + spec["duration"]
    await asyncio.gather(
        *(
            _one_client(
                spec["port"], bodies, spec["token"], k, t, stop_at, spec["think"], lat, errors
            )
            for k in range(spec["clients"])
        )
    )
    wall = time.monotonic() - t
    return {
        "latencies_ms": lat,
        "warmup_requests": len(warm),
        "wall_s": wall,
        "errors": errors[:5],
        "error_count": len(errors),
    }


def client_main() -> None:
    spec = json.loads(sys.stdin.read())
    result = asyncio.run(_load(spec))
    sys.stdout.write(json.dumps(result))


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(spec: dict[str, Any], server_pid: int) -> dict[str, Any]:
    """The load from a separate process; latency percentiles, throughput, and the
    server's CPU time per request (what a request costs whatever else runs)."""
    cpu_before = process_cpu_s(server_pid)
    proc = subprocess.run(
        [sys.executable, __file__, "--client"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
    )
    raw = json.loads(proc.stdout)
    server_cpu = process_cpu_s(server_pid) - cpu_before
    lat = sorted(raw["latencies_ms"])

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, max(0, int(p * len(lat) + 0.5) - 1))]

    return {
        "clients": spec["clients"],
        "think_s": spec["think"],
        "requests": len(lat),
        "requests_per_s": len(lat) / raw["wall_s"],
        "p50_ms": statistics.median(lat),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "server_cpu_ms_per_request": server_cpu * 1000 / (len(lat) + raw["warmup_requests"]),
        "errors": raw["error_count"],
        "error_samples": raw["errors"],
    }


# ---- main ---------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--nodes", type=int, default=50_000)
    parser.add_argument("--edges", type=int, default=150_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured per run")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time (second run)")
    parser.add_argument("--starts", type=int, default=40, help="distinct start nodes")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main()
        return
    if args.quick:
        args.duration = 5.0

    with tempfile.TemporaryDirectory(prefix="bench-graphql-") as tmp:
        data_dir = Path(tmp)
        t = time.perf_counter()
        build_data_dir(args.nodes, args.edges, args.seed, data_dir)
        starts = pick_starts(data_dir, args.starts, args.seed)
        if not starts:
            raise SystemExit("no start node with a depth-3 lineage of 150-250 nodes")
        token = make_token(data_dir)
        print(f"graph ready in {time.perf_counter() - t:.1f}s; {len(starts)} start nodes")
        server = Server(data_dir)
        try:
            base = {
                "port": server.port,
                "token": token,
                "starts": [s for s, _ in starts],
                "warmup": 3.0,
                "duration": args.duration,
            }
            runs = {
                "single client, back to back": run_load(
                    {**base, "clients": 1, "think": 0.0}, server.proc.pid
                ),
                f"{args.clients} clients, back to back": run_load(
                    {**base, "clients": args.clients, "think": 0.0}, server.proc.pid
                ),
                f"{args.clients} clients, think {args.think:g}s": run_load(
                    {**base, "clients": args.clients, "think": args.think}, server.proc.pid
                ),
            }
        finally:
            server.stop()

    nodes = [n for _, n in starts]
    result = {
        "nproc": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "cpu": platform.processor() or platform.machine(),
        "graph": {"nodes": args.nodes, "edges": args.edges},
        "answer_nodes": {"min": min(nodes), "median": statistics.median(nodes), "max": max(nodes)},
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "graphql.json").write_text(json.dumps(result, indent=2))
    print(
        f"\nnproc={result['nproc']}; graph {args.nodes} nodes / {args.edges} edges; "
        f"answers of {result['answer_nodes']['min']}-{result['answer_nodes']['max']} nodes "
        f"(median {result['answer_nodes']['median']})\n"
    )
    print("| load | requests/s | p50 ms | p95 ms | p99 ms | server CPU ms/request | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in runs.items():
        print(
            f"| {name} | {r['requests_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | {r['server_cpu_ms_per_request']:.1f} | {r['errors']} |"
        )
    load1, load5, _ = os.getloadavg()
    print(f"\nload average at the end: {load1:.1f} (1 min), {load5:.1f} (5 min)")
    for r in runs.values():
        for sample in r["error_samples"]:
            print("error:", sample)


if __name__ == "__main__":
    main()
