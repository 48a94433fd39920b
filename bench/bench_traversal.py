"""Traversal benchmark of the embedded store (issue 2), with two references.

    uv run python bench/bench_traversal.py --nodes 1000000 --edges 3000000   # full
    uv run python bench/bench_traversal.py --quick                           # small

On a synthetic lineage graph (``bench/synthetic.py``) it measures:

* the write rate of ``EmbeddedStore.apply`` in large chunks, building the
  SQLite file once (cached under ``bench/.cache/``, in a child process so its
  memory does not count below);
* start-up: ``EmbeddedStore.from_uri`` on that file, and resident memory after;
* downstream closures of 10,000-20,000 nodes: ``store.traverse`` and the full
  ``lineage()`` against igraph's ``subcomponent`` from the same start nodes
  (the answers are checked equal), median and p99, and the ratio to igraph;
* depth-3 lineage around a node (upstream and downstream), same references;
* Google ML Metadata's ``get_lineage_subgraph`` against our ``lineage()`` on
  an MLMD-sized DAG, at 10 and 100 hops (and 200, which MLMD silently caps at
  100), in MLMD's own venv (``bench/mlmd_reference.py``), answers checked equal.

Prints a markdown table and writes every figure to ``bench/results/*.json``.
Targets are the issue's; nothing here asserts them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import igraph as ig

from bench.synthetic import SyntheticGraph, generate, generate_artifact_dag
from lineagegraph.graph.embedded import EmbeddedStore
from lineagegraph.graph.kinds import EdgeKind, NodeKind
from lineagegraph.graph.lineage import Granularity, expand, lineage
from lineagegraph.graph.store import Direction, TraversalSpec

#: bump when bench/synthetic.py's output changes, so cached stores are rebuilt
GENERATOR_VERSION = 1
BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache"
RESULTS = BENCH / "results"
MLMD_VENV = BENCH / ".venv-mlmd"
MLMD_REQUIREMENT = "ml-metadata==1.17.1"
GiB = 1024**3


# ---- measuring ---------------------------------------------------------------
def memory() -> dict[str, int]:
    """This process's resident memory now and at its peak, in bytes (Linux)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) * 1024
    return {"rss": out["VmRSS"], "peak": out["VmHWM"]}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.machine()


def summary(times_ms: list[float]) -> dict[str, float]:
    """Median, p99 (nearest rank) and count of a list of latencies."""
    ordered = sorted(times_ms)
    p99 = ordered[min(len(ordered) - 1, max(0, int(0.99 * len(ordered) + 0.5) - 1))]
    return {"median": statistics.median(ordered), "p99": p99, "n": len(ordered)}


class Timings:
    """Latencies of one operation: wall clock, and this thread's CPU time.

    The machine is shared; CPU time is what a query costs when it is not
    waiting for a core, wall time what a caller sees under today's load.
    """

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def run(self, fn: Callable[[], Any]) -> Any:
        c, t = time.thread_time_ns(), time.perf_counter_ns()
        out = fn()
        self.wall.append((time.perf_counter_ns() - t) / 1e6)
        self.cpu.append((time.thread_time_ns() - c) / 1e6)
        return out

    def summary(self) -> dict[str, float]:
        cpu = summary(self.cpu)
        return {**summary(self.wall), "cpu_median": cpu["median"], "cpu_p99": cpu["p99"]}


def sizes(values: Iterable[int]) -> dict[str, float]:
    v = sorted(values)
    return {"min": v[0], "median": statistics.median(v), "max": v[-1]}


# ---- building the cached store (in a child process) ---------------------------
def cache_path(nodes: int, edges: int, seed: int) -> Path:
    return CACHE / f"graph-n{nodes}-e{edges}-s{seed}-g{GENERATOR_VERSION}.db"


def apply_all(store: EmbeddedStore, graph: SyntheticGraph, chunk_size: int) -> tuple[float, int]:
    """Apply the graph in chunks; returns the seconds spent inside ``apply`` and the chunks."""
    apply_s = 0.0
    chunks = 0
    for cs in graph.changesets(chunk_size):
        t = time.perf_counter()
        store.apply(cs)
        apply_s += time.perf_counter() - t
        chunks += 1
    return apply_s, chunks


def build_store(graph: SyntheticGraph, uri: str, chunk_size: int) -> dict[str, float]:
    """Apply the graph to a new store in chunks; time only ``apply``."""
    t_all = time.perf_counter()
    store = EmbeddedStore.from_uri(uri)
    apply_s, chunks = apply_all(store, graph, chunk_size)
    store.close()
    items = graph.n_nodes + graph.n_edges
    return {
        "apply_s": apply_s,
        "wall_s": time.perf_counter() - t_all,
        "chunks": chunks,
        "chunk_size": chunk_size,
        "items_per_s": items / apply_s,
    }


def build_cache(path: Path, nodes: int, edges: int, seed: int, chunk_size: int) -> None:
    """Child-process entry: generate, build into a temporary file, then rename."""
    t = time.perf_counter()
    graph = generate(nodes, edges, seed)
    gen_s = time.perf_counter() - t
    tmp = path.with_suffix(".building")
    for stale in path.parent.glob(tmp.name + "*"):
        stale.unlink()
    stats = build_store(graph, f"sqlite:///{tmp}", chunk_size)
    for suffix in ("-wal", "-shm"):
        side = Path(str(tmp) + suffix)
        if side.exists():
            side.rename(Path(str(path) + suffix))
    tmp.rename(path)
    meta = {
        "generate_s": gen_s,
        **stats,
        "peak_rss_bytes": memory()["peak"],
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": graph.counts(),
        "file_bytes": path.stat().st_size,
    }
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2))


def ensure_cache(args: argparse.Namespace) -> tuple[Path, dict[str, Any], bool]:
    path = cache_path(args.nodes, args.edges, args.seed)
    meta_path = path.with_suffix(".json")
    fresh = args.rebuild or not (path.exists() and meta_path.exists())
    if fresh:
        CACHE.mkdir(parents=True, exist_ok=True)
        for old in CACHE.glob(path.name + "*"):
            old.unlink()
        print(f"building {path.name} (once; reused by later runs) ...", flush=True)
        cmd = [sys.executable, __file__, "--build-cache", str(path), "--nodes", str(args.nodes),
               "--edges", str(args.edges), "--seed", str(args.seed),
               "--chunk-size", str(args.chunk_size)]  # fmt: skip
        subprocess.run(cmd, check=True)
    return path, json.loads(meta_path.read_text()), fresh


# ---- the large graph: closures and depth 3 ----------------------------------
def pick_closure_starts(
    graph: SyntheticGraph, ref: ig.Graph, lo: int, hi: int, count: int, seed: int
) -> list[tuple[int, int]]:
    """Datasets whose downstream closure (start included) has lo..hi nodes."""
    rng = random.Random(seed)
    candidates = graph.indices_of_kind(NodeKind.DATASET)
    rng.shuffle(candidates)
    found: list[tuple[int, int]] = []
    for v in candidates[: 400 * count]:
        n = len(ref.subcomponent(v, mode="out"))
        if lo <= n <= hi:
            found.append((v, n))
            if len(found) == count:
                break
    if not found:
        raise SystemExit(f"no dataset has a downstream closure of {lo}-{hi} nodes")
    return found


def forget_records(store: EmbeddedStore) -> None:
    """Empty the store's cache of node and edge records, to time a first read."""
    store._records.clear()  # (private: a benchmark timing the cold path)


def python_adjacency(graph: SyntheticGraph) -> list[list[int]]:
    """Lineage successors as plain lists of ints, for the pure-Python floor."""
    adj: list[list[int]] = [[] for _ in range(graph.n_nodes)]
    for s, d in graph.lineage_edge_pairs():
        adj[s].append(d)
    return adj


def python_closure(adj: list[list[int]], start: int) -> set[int]:
    """A hand-written breadth-first closure over int lists: what any Python
    traversal costs at least, before it names nodes by key."""
    seen = {start}
    frontier = [start]
    while frontier:
        nxt: list[int] = []
        for u in frontier:
            for v in adj[u]:
                if v not in seen:
                    seen.add(v)
                    nxt.append(v)
        frontier = nxt
    return seen


def bench_closures(
    store: EmbeddedStore, graph: SyntheticGraph, ref: ig.Graph, starts: list[tuple[int, int]],
    repeats: int, lineage_repeats: int,
) -> dict[str, Any]:  # fmt: skip
    keys = {v: graph.key(v) for v, _ in starts}
    adj = python_adjacency(graph)
    # same answer first (untimed): our closure is igraph's, node for node
    mismatches = 0
    for v, _ in starts:
        ours = store.traverse(TraversalSpec(starts=(keys[v],), direction=Direction.DOWNSTREAM))
        theirs = {graph.key(i) for i in ref.subcomponent(v, mode="out")}
        mismatches += set(ours.depth) != theirs
    names = ("igraph", "python", "traverse", "lineage_cold", "lineage", "lineage_job")
    runs = {name: Timings() for name in names}
    job_sizes: list[int] = []
    down = Direction.DOWNSTREAM
    for r in range(repeats):  # interleaved, so each sees the same conditions
        for v, _ in starts:
            key = keys[v]
            runs["igraph"].run(partial(ref.subcomponent, v, mode="out"))
            runs["python"].run(partial(python_closure, adj, v))
            runs["traverse"].run(partial(store.traverse, TraversalSpec((key,), down)))
            if r < lineage_repeats:  # slow: fewer timings
                picture = partial(lineage, store, key, direction=down, granularity=Granularity.ALL)
                if r == 0:  # the first time: the store's record cache emptied first
                    forget_records(store)
                    runs["lineage_cold"].run(picture)
                else:
                    runs["lineage"].run(picture)
                res = runs["lineage_job"].run(partial(lineage, store, key, direction=down))
                job_sizes.append(len(res.nodes))
    return {
        "closure_sizes": sizes(n for _, n in starts),
        "job_level_sizes": sizes(job_sizes),
        "starts": len(starts),
        "repeats": repeats,
        "lineage_repeats": min(repeats, lineage_repeats),
        "answers_differ": mismatches,
        **{name: t.summary() for name, t in runs.items()},
    }


def bench_depth3(
    store: EmbeddedStore, graph: SyntheticGraph, ref: ig.Graph, count: int, repeats: int,
    seed: int,
) -> dict[str, Any]:  # fmt: skip
    """Depth-3 lineage around random nodes: the union of 3 hops up and 3 down."""
    rng = random.Random(seed + 1)
    nodes = rng.sample(range(graph.n_nodes), count)
    keys = {v: graph.key(v) for v in nodes}

    def ref_around(v: int) -> set[int]:
        return set(ref.neighborhood(v, order=3, mode="out")) | set(
            ref.neighborhood(v, order=3, mode="in")
        )

    mismatches = 0
    found: list[int] = []
    for v in nodes:
        ours = expand(
            store, [keys[v]], direction=Direction.BOTH, depth=3, granularity=Granularity.ALL
        )
        theirs = {graph.key(i) for i in ref_around(v)}
        mismatches += set(ours.depth) != theirs
        found.append(len(theirs))
    runs = {name: Timings() for name in ("igraph", "traverse", "lineage")}
    for _ in range(repeats):
        for v in nodes:
            key = keys[v]
            runs["igraph"].run(partial(ref_around, v))
            runs["traverse"].run(
                partial(expand, store, [key], depth=3, granularity=Granularity.ALL)
            )
            runs["lineage"].run(partial(lineage, store, key, depth=3, granularity=Granularity.ALL))
    return {
        "sizes": sizes(found),
        "starts": count,
        "repeats": repeats,
        "answers_differ": mismatches,
        **{name: t.summary() for name, t in runs.items()},
    }


# ---- ML Metadata ---------------------------------------------------------------
def mlmd_python() -> Path:
    """The MLMD venv's interpreter, created on first use (``uv`` from PyPI)."""
    python = MLMD_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {MLMD_VENV} with {MLMD_REQUIREMENT} ...", flush=True)
        uv = shutil.which("uv") or "uv"
        subprocess.run([uv, "venv", "--python", "3.11", str(MLMD_VENV)], check=True)
        subprocess.run(
            [uv, "pip", "install", "--python", str(python), MLMD_REQUIREMENT], check=True
        )
    return python


def bench_mlmd(args: argparse.Namespace) -> dict[str, Any]:
    n_art, n_exe, n_ev = args.mlmd_dag
    dag = generate_artifact_dag(n_art, n_exe, n_ev, args.seed)
    artifacts = dag.indices_of_kind(NodeKind.DATASET)
    events = []
    for j in range(dag.n_edges):
        s, d = dag.edge_src[j], dag.edge_dst[j]
        if dag.edge_kind(j) is EdgeKind.CONSUMED:
            events.append([s, d, "INPUT"])
        else:
            events.append([d, s, "OUTPUT"])
    # raw sources and artifacts a third of the way in: long and medium futures
    starts = [artifacts[0], artifacts[len(artifacts) // 3], artifacts[len(artifacts) // 2]]
    queries = [{"start": s, "hops": h} for h in args.hops for s in starts]
    with tempfile.TemporaryDirectory() as tmp:
        doc_path = Path(tmp) / "dag.json"
        doc_path.write_text(json.dumps({
            "artifacts": artifacts, "executions": dag.indices_of_kind(NodeKind.RUN),
            "events": events, "queries": queries, "repeats": args.mlmd_repeats, "warmup": 2,
        }))  # fmt: skip
        proc = subprocess.run(
            [str(mlmd_python()), str(BENCH / "mlmd_reference.py"), str(doc_path)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        mlmd = json.loads(proc.stdout)
        store = EmbeddedStore.from_uri(f"sqlite:///{Path(tmp) / 'dag.db'}")
        try:
            apply_s, _ = apply_all(store, dag, 50_000)
            rows = []
            answers: dict[tuple[int, int], set[Any]] = {}  # (start, hops) -> our node set
            for q in mlmd["results"]:
                key, hops = dag.key(q["start"]), q["hops"]
                full = partial(lineage, store, key, direction=Direction.DOWNSTREAM, depth=hops,
                               granularity=Granularity.ALL)  # fmt: skip
                walk = partial(store.traverse, TraversalSpec((key,), Direction.DOWNSTREAM, hops))
                timings = {"lineage": Timings(), "traverse": Timings(), "cold": Timings()}
                forget_records(store)
                timings["cold"].run(full)  # the first read, nothing cached
                for _ in range(2):  # warm-up, as MLMD had
                    full()
                    walk()
                for _ in range(args.mlmd_repeats):
                    result = timings["lineage"].run(full)
                    walked = timings["traverse"].run(walk)
                ours_set = answers[q["start"], hops] = set(result.depth)
                mlmd_set = {dag.key(i) for i in q["artifacts"] + q["executions"]}
                # MLMD caps max_num_hops at 100 (it only logs it): say so when that is why
                capped = hops > 100 and mlmd_set == answers.get((q["start"], 100))
                rows.append({
                    "start": str(key), "hops": hops, "ours_nodes": len(ours_set),
                    "mlmd_nodes": len(mlmd_set), "same_answer": ours_set == mlmd_set,
                    "mlmd_capped_at_100": capped,
                    "traverse_agrees": set(walked.depth) == ours_set,
                    "ours_edges": len(result.edges), "mlmd_events": q["events"],
                    "ours": timings["lineage"].summary(),
                    "ours_traverse": timings["traverse"].summary(),
                    "ours_cold": timings["cold"].summary(),
                    "mlmd": {**summary(q["times_ms"]),
                             "cpu_median": summary(q["cpu_ms"])["median"],
                             "cpu_p99": summary(q["cpu_ms"])["p99"]},
                })  # fmt: skip
        finally:
            store.close()
    return {
        "dag": {"artifacts": n_art, "executions": n_exe, "events": n_ev},
        "ml_metadata": mlmd["ml_metadata"], "backend": mlmd["backend"],
        "mlmd_load_s": mlmd["load_s"], "ours_apply_s": apply_s, "queries": rows,
    }  # fmt: skip


# ---- report ---------------------------------------------------------------------
def ms(s: dict[str, float]) -> str:
    return f"{s['median']:.2f} / {s['p99']:.2f} ({s['cpu_median']:.2f} / {s['cpu_p99']:.2f})"


def ratio(a: dict[str, float], b: dict[str, float]) -> str:
    return f"{a['median'] / b['median']:.1f}x, {a['cpu_median'] / b['cpu_median']:.1f}x"


def report(r: dict[str, Any]) -> str:
    c, d3, b = r["closure"], r["depth3"], r["build"]
    load = ", ".join(f"{x:.1f}" for x in r["loadavg_start"])
    built = "" if r["fresh_build"] else f", cached build of {b['built_at']}"
    lines = [
        f"# traversal benchmark — {r['date']}, nproc={r['nproc']}, {r['cpu']}",
        f"command: `{r['command']}`; load average at start {load} (a shared machine)",
        "",
        "| measure | value | target |",
        "| --- | --- | --- |",
        f"| graph | {r['nodes']:,} nodes, {r['edges']:,} edges | 1M / 3M |",
        f"| write rate (apply, chunks of {b['chunk_size']:,}) | {b['items_per_s']:,.0f} items/s "
        f"({b['apply_s']:.0f} s{built}) | |",
        f"| load (`EmbeddedStore.from_uri`) | {r['load_s']:.1f} s (CPU {r['load_cpu_s']:.1f} s) "
        "| <= 30 s |",
        f"| RSS after load | {r['rss_after_load'] / GiB:.2f} GB "
        f"(+{(r['rss_after_load'] - r['rss_before_load']) / GiB:.2f} GB by the load) | <= 3 GB |",
        "",
        f"Downstream closure, {c['starts']} start datasets x {c['repeats']} "
        f"(`lineage()` x {c['lineage_repeats']}), closure "
        f"{c['closure_sizes']['min']:,}-{c['closure_sizes']['max']:,} nodes "
        f"(median {c['closure_sizes']['median']:,.0f}); answers differing from igraph: "
        f"{c['answers_differ']}",
        "",
        "| closure | median / p99 ms (CPU median / p99) | vs igraph (median, CPU) |",
        "| --- | --- | --- |",
        f"| igraph `subcomponent` | {ms(c['igraph'])} | 1.0x, 1.0x |",
    ]
    base, base_cpu = c["igraph"]["median"], c["igraph"]["cpu_median"]
    for name, label in (("python", "hand-written Python BFS over int lists (floor)"),
                        ("traverse", "ours `store.traverse`"),
                        ("lineage_cold", "ours `lineage()` (granularity all), first read"),
                        ("lineage", "ours `lineage()` (granularity all), again")):  # fmt: skip
        lines.append(
            f"| {label} | {ms(c[name])} | {c[name]['median'] / base:.1f}x, "
            f"{c[name]['cpu_median'] / base_cpu:.1f}x |"
        )
    js = c["job_level_sizes"]
    lines.append(
        f"| ours `lineage()` default job view ({js['min']:,}-{js['max']:,} nodes) "
        f"| {ms(c['lineage_job'])} | |"
    )
    lines += [
        "",
        f"Depth-3 lineage around {d3['starts']} random nodes x {d3['repeats']} (up and down), "
        f"{d3['sizes']['min']:,}-{d3['sizes']['max']:,} nodes (median {d3['sizes']['median']:,.0f})"
        f"; answers differing from igraph: {d3['answers_differ']}",
        "",
        "| depth 3 | median / p99 ms (CPU median / p99) |",
        "| --- | --- |",
        f"| igraph `neighborhood` out + in | {ms(d3['igraph'])} |",
        f"| ours `expand` (traverse up + down) | {ms(d3['traverse'])} |",
        f"| ours `lineage()` (nodes and edges) | {ms(d3['lineage'])} |",
    ]
    m = r.get("mlmd")
    if m:
        dag = m["dag"]
        lines += [
            "",
            f"ML Metadata {m['ml_metadata']} ({m['backend']}) vs ours on a DAG of "
            f"{dag['artifacts']:,} artifacts, {dag['executions']:,} executions, "
            f"{dag['events']:,} events; downstream from one artifact",
            "",
            "| hops | nodes ours / MLMD | same answer | MLMD `get_lineage_subgraph` "
            "| ours `lineage()` | MLMD / `lineage()` | ours `lineage()` first read "
            "| ours `traverse` | MLMD / `traverse` |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for q in m["queries"]:
            mm, lo, tr = q["mlmd"], q["ours"], q["ours_traverse"]
            same = "yes" if q["same_answer"] and q["traverse_agrees"] else "NO"
            if not q["same_answer"] and q["mlmd_capped_at_100"] and q["traverse_agrees"]:
                same = "no: MLMD stopped at 100 hops"
            lines.append(
                f"| {q['hops']} | {q['ours_nodes']:,} / {q['mlmd_nodes']:,} | {same} "
                f"| {ms(mm)} | {ms(lo)} | {ratio(mm, lo)} | {ms(q['ours_cold'])} "
                f"| {ms(tr)} | {ratio(mm, tr)} |"
            )
        lines += ["", "(latencies: wall median / p99 ms, CPU median / p99 in brackets; "
                      "ratios: wall, CPU)"]  # fmt: skip
    return "\n".join(lines)


# ---- main ---------------------------------------------------------------------
#: defaults of the full run and of ``--quick``; options given on the command line win
FULL: dict[str, Any] = {
    "nodes": 1_000_000, "edges": 3_000_000, "closure": [10_000, 20_000], "starts": 30,
    "repeats": 10, "depth3": 300, "mlmd_dag": [10_000, 10_000, 40_000], "mlmd_repeats": 10,
}  # fmt: skip
QUICK: dict[str, Any] = {
    "nodes": 50_000, "edges": 150_000, "closure": [1_000, 2_000], "starts": 10,
    "repeats": 5, "depth3": 100, "mlmd_dag": [2_000, 2_000, 8_000], "mlmd_repeats": 5,
}  # fmt: skip


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, help="default 1,000,000 (--quick: 50,000)")
    p.add_argument("--edges", type=int, help="default 3,000,000 (--quick: 150,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a small run: 50k nodes, fewer samples")
    p.add_argument("--rebuild", action="store_true", help="rebuild the cached SQLite store")
    p.add_argument("--chunk-size", type=int, default=100_000, help="ChangeSet size when building")
    p.add_argument("--closure", type=int, nargs=2, metavar=("MIN", "MAX"),
                   help="closure sizes to pick starts from (default 10000 20000)")  # fmt: skip
    p.add_argument("--starts", type=int, help="closure start nodes (default 30)")
    p.add_argument("--repeats", type=int, help="timings per closure start node (default 10)")
    p.add_argument("--lineage-repeats", type=int, default=3, help="of which lineage() is timed")
    p.add_argument("--depth3", type=int, help="depth-3 start nodes (default 300)")
    p.add_argument("--mlmd-dag", type=int, nargs=3, metavar=("ARTIFACTS", "EXECUTIONS", "EVENTS"),
                   help="default 10000 10000 40000")  # fmt: skip
    p.add_argument("--hops", type=int, nargs="+", default=[10, 100, 200])
    p.add_argument("--mlmd-repeats", type=int, help="timings per MLMD query (default 10)")
    p.add_argument("--skip-mlmd", action="store_true")
    p.add_argument("--profile", type=Path, default=None,
                   help="write a cProfile of our closures to this file")  # fmt: skip
    p.add_argument("--build-cache", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main() -> None:
    args = parse_args()
    if args.build_cache:
        build_cache(args.build_cache, args.nodes, args.edges, args.seed, args.chunk_size)
        return
    load_start = os.getloadavg()
    path, build, fresh = ensure_cache(args)
    gc.collect()
    before = memory()["rss"]
    load_cpu, t = time.process_time(), time.perf_counter()
    store = EmbeddedStore.from_uri(f"sqlite:///{path}")
    load_s, load_cpu = time.perf_counter() - t, time.process_time() - load_cpu
    after = memory()["rss"]
    print(f"loaded {path.name} in {load_s:.1f} s, RSS {after / GiB:.2f} GB", flush=True)
    stats = store.stats()
    if (stats.node_count, stats.edge_count) != (args.nodes, args.edges):
        raise SystemExit(f"the cached store holds {stats.node_count} nodes and "
                         f"{stats.edge_count} edges; rerun with --rebuild")  # fmt: skip
    graph = generate(args.nodes, args.edges, args.seed)
    ref = ig.Graph(n=graph.n_nodes, edges=list(graph.lineage_edge_pairs()), directed=True)
    lo, hi = args.closure
    starts = pick_closure_starts(graph, ref, lo, hi, args.starts, args.seed)
    print(f"closures: {len(starts)} starts ...", flush=True)
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        for v, _ in starts:
            key = graph.key(v)
            prof.runcall(
                lineage, store, key, direction=Direction.DOWNSTREAM, granularity=Granularity.ALL
            )
        prof.dump_stats(args.profile)
        print(f"profile of lineage() written to {args.profile}")
    closure = bench_closures(store, graph, ref, starts, args.repeats, args.lineage_repeats)
    print("depth 3 ...", flush=True)
    depth3 = bench_depth3(store, graph, ref, args.depth3, max(1, args.repeats // 2), args.seed)
    store.close()
    del store, ref
    gc.collect()
    mlmd = None
    if not args.skip_mlmd:
        print("ML Metadata ...", flush=True)
        mlmd = bench_mlmd(args)
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "command": "uv run python bench/bench_traversal.py " + " ".join(sys.argv[1:]),
        "nodes": args.nodes,
        "edges": args.edges,
        "seed": args.seed,
        "graph_counts": graph.counts(),
        "fresh_build": fresh,
        "build": build,
        "load_s": load_s,
        "load_cpu_s": load_cpu,
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
        "rss_before_load": before,
        "rss_after_load": after,
        "closure": closure,
        "depth3": depth3,
        "mlmd": mlmd,
    }
    text = report(result)
    print("\n" + text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"traversal-n{args.nodes}-{stamp}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
