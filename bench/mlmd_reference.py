"""Google ML Metadata (MLMD) as a lineage reference, run in its own venv.

MLMD 1.17.1 pins protobuf<5, which lineagegraph's environment cannot hold, so
this script runs under ``bench/.venv-mlmd/bin/python`` (see bench/README.md)
and talks to ``bench_traversal.py`` through JSON only: it imports nothing from
lineagegraph.

Input (a JSON file named on the command line)::

    {"artifacts": [node ids...], "executions": [node ids...],
     "events": [[artifact id, execution id, "INPUT" | "OUTPUT"], ...],
     "queries": [{"start": artifact id, "hops": 10}, ...],
     "repeats": 30, "warmup": 3}

Node ids are the benchmark's integers; they become MLMD names. Each query is
a downstream ``get_lineage_subgraph`` from one artifact with
``max_num_hops = hops``. Output (stdout, JSON): the load time, and per query
every latency in milliseconds (wall clock and this thread's CPU time) and the
names of the artifacts and executions reached, so the caller can check MLMD
and lineagegraph give the same answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ml_metadata
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb


def open_store(sqlite_path: str | None) -> metadata_store.MetadataStore:
    """An in-memory SQLite store (MLMD's fastest), or a SQLite file."""
    config = pb.ConnectionConfig()
    if sqlite_path:
        config.sqlite.filename_uri = sqlite_path
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    else:
        config.fake_database.SetInParent()
    return metadata_store.MetadataStore(config)


def load(store: metadata_store.MetadataStore, doc: dict[str, Any]) -> dict[int, int]:
    """Put the DAG into MLMD; returns our artifact id -> MLMD artifact id."""
    a_type = store.put_artifact_type(pb.ArtifactType(name="Dataset"))
    e_type = store.put_execution_type(pb.ExecutionType(name="Run"))
    artifacts = []
    for node in doc["artifacts"]:
        a = pb.Artifact(type_id=a_type, name=str(node), uri=f"synthetic://{node}")
        a.state = pb.Artifact.LIVE
        artifacts.append(a)
    executions = []
    for node in doc["executions"]:
        e = pb.Execution(type_id=e_type, name=str(node))
        e.last_known_state = pb.Execution.COMPLETE
        executions.append(e)
    a_ids = dict(zip(doc["artifacts"], store.put_artifacts(artifacts), strict=True))
    e_ids = dict(zip(doc["executions"], store.put_executions(executions), strict=True))
    events = []
    for artifact, execution, kind in doc["events"]:
        ev = pb.Event(artifact_id=a_ids[artifact], execution_id=e_ids[execution])
        ev.type = pb.Event.INPUT if kind == "INPUT" else pb.Event.OUTPUT
        events.append(ev)
    store.put_events(events)
    return a_ids


def query(store: metadata_store.MetadataStore, artifact_id: int, hops: int) -> pb.LineageGraph:
    options = pb.LineageSubgraphQueryOptions(
        max_num_hops=hops, direction=pb.LineageSubgraphQueryOptions.DOWNSTREAM
    )
    options.starting_artifacts.filter_query = f"id = {artifact_id}"
    return store.get_lineage_subgraph(options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dag", type=Path, help="the JSON input described above")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not in-memory")
    args = parser.parse_args()
    doc = json.loads(args.dag.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "mlmd.sqlite") if args.sqlite else None)
        t0 = time.perf_counter()
        a_ids = load(store, doc)
        load_s = time.perf_counter() - t0
        results = []
        for q in doc["queries"]:
            mlmd_id = a_ids[q["start"]]
            for _ in range(doc.get("warmup", 3)):
                query(store, mlmd_id, q["hops"])
            times, cpu = [], []
            graph = None
            for _ in range(doc.get("repeats", 30)):
                c, t = time.thread_time(), time.perf_counter()
                graph = query(store, mlmd_id, q["hops"])
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.thread_time() - c) * 1000)
            assert graph is not None
            results.append(
                {
                    "start": q["start"],
                    "hops": q["hops"],
                    "times_ms": times,
                    "cpu_ms": cpu,
                    "artifacts": sorted(int(a.name) for a in graph.artifacts),
                    "executions": sorted(int(e.name) for e in graph.executions),
                    "events": len(graph.events),
                }
            )
    json.dump(
        {
            "ml_metadata": ml_metadata.__version__,
            "backend": "sqlite file" if args.sqlite else "in-memory sqlite (fake_database)",
            "load_s": load_s,
            "results": results,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
