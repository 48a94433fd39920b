"""MLflow sync benchmark (issue 4): a server holding 10,000 runs and 500 model versions.

    uv run python bench/bench_mlflow_sync.py                      # 10,000 runs, 500 versions
    uv run python bench/bench_mlflow_sync.py --runs 1000 --versions 50 --repeat 1   # quick

The MLflow database is populated through MLflow's own SQL store and ORM models
(the rows the server writes for REST calls, bulk inserted for speed), then a
real ``mlflow server`` serves it and the harvester reads it over REST, as in
production. Every run logs
params, metrics, tags and two datasets (training table, S3 holdout); every
version comes from a logged model with an ``MLmodel`` signature and an
evaluation metric on the holdout; ten registered models hold the versions,
with champion aliases. The graph is the embedded store in a SQLite file, the
event log SQLite.

Measured (medians over ``--repeat``), with the number of snapshots read and logged:

* first full sync (empty log and graph: everything is logged and projected);
* full re-sync (everything read again, nothing new logged);
* incremental sync with nothing changed;
* incremental sync after a change: 100 new runs, 10 new versions, 5 alias moves.

Prints a markdown table and writes the figures to ``bench/results/mlflow_sync.json``.
Nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lineagegraph.ingest.mlflow.harvester import MlflowHarvester
from lineagegraph.ingest.mlflow.report import SyncReport
from lineagegraph.runtime import build_services
from lineagegraph.settings import Settings
from tests.mlflow.mlflow_server import running_mlflow_server

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = 10
FEATURES = ["age", "income", "tenure", "visits", "spend"]
SCHEMA = json.dumps(
    {"mlflow_colspec": [{"type": "double", "name": c, "required": True} for c in FEATURES]}
)
MLMODEL = (
    "artifact_path: model\nflavors: {}\nsignature:\n  inputs: '"
    + json.dumps([{"type": "double", "name": c, "required": True} for c in FEATURES])
    + '\'\n  outputs: \'[{"type": "long", "required": true}]\'\n'
)


class Populator:
    """Writes runs and versions through MLflow's SQL stores (what the server does per request)."""

    def __init__(self, db: Path, artifacts: Path) -> None:
        import mlflow
        from mlflow.store.model_registry.sqlalchemy_store import (
            SqlAlchemyStore as RegistryStore,
        )
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        uri = f"sqlite:///{db}"
        # the registry resolves a version's models:/m-<id> source through the tracking URI
        mlflow.set_tracking_uri(uri)
        self.tracking = SqlAlchemyStore(uri, str(artifacts))
        self.registry = RegistryStore(uri)
        for engine in (self.tracking.engine, self.registry.engine):
            # a benchmark fixture, not data to keep: skip the fsync of every commit
            sa.event.listen(engine, "connect", _fast_sqlite)
            engine.dispose()
        self.experiments = [
            self.tracking.create_experiment(f"bench-{i}", artifact_location=str(artifacts / str(i)))
            for i in range(MODELS)
        ]
        self.locations = {e: str(artifacts / str(i)) for i, e in enumerate(self.experiments)}
        self.datasets: dict[str, dict[str, str]] = {}  # experiment -> dataset name -> uuid
        self.runs: list[tuple[str, str]] = []  # (run id, experiment id)
        self.version_count = 0

    def add_runs(self, count: int, start: int) -> None:
        """``count`` finished runs, each with params, metrics, tags and two dataset inputs.

        The first run of each experiment goes through the store's API (which
        registers the experiment's datasets); the rest are the same rows, bulk
        inserted with MLflow's own ORM models, for speed.
        """
        from mlflow.store.tracking.dbmodels.models import (
            SqlDataset,
            SqlInput,
            SqlInputTag,
            SqlLatestMetric,
            SqlMetric,
            SqlParam,
            SqlRun,
            SqlTag,
        )

        now = int(time.time() * 1000)
        for experiment in self.experiments:
            if experiment not in self.datasets:
                self._first_run(experiment, now)
                with self.tracking.ManagedSessionMaker() as session:
                    found = session.query(SqlDataset).filter(
                        SqlDataset.experiment_id == int(experiment)
                    )
                    self.datasets[experiment] = {d.name: d.dataset_uuid for d in found}
        for chunk in range(start, start + count, 1000):
            rows: list[Any] = []
            for i in range(chunk, min(chunk + 1000, start + count)):
                experiment = self.experiments[i % MODELS]
                run_id = uuid.uuid4().hex
                rows.append(
                    SqlRun(
                        run_uuid=run_id,
                        name=f"run-{i}",
                        source_type="LOCAL",
                        source_name="bench",
                        entry_point_name="",
                        user_id="bench",
                        status="FINISHED",
                        start_time=now,
                        end_time=now + 1000,
                        source_version="",
                        lifecycle_stage="active",
                        artifact_uri=f"{self.locations[experiment]}/{run_id}/artifacts",
                        experiment_id=int(experiment),
                    )
                )
                rows += [
                    SqlParam(key=k, value=v, run_uuid=run_id)
                    for k, v in (("alpha", str(i % 7)), ("depth", str(i % 5)))
                ]
                for table in (SqlMetric, SqlLatestMetric):
                    rows += [
                        table(key=k, value=v, timestamp=now, step=0, is_nan=False, run_uuid=run_id)
                        for k, v in (("rmse", 1 / (i + 1)), ("r2", 0.5))
                    ]
                rows += [
                    SqlTag(key=k, value=v, run_uuid=run_id)
                    for k, v in (
                        ("mlflow.runName", f"run-{i}"),
                        ("mlflow.user", "bench"),
                        ("team", "ml"),
                        ("mlflow.source.git.commit", f"{i:040x}"),
                    )
                ]
                for name, context in ((f"table-{i % 4}", "training"), ("holdout", "evaluation")):
                    input_id = uuid.uuid4().hex
                    rows.append(
                        SqlInput(
                            input_uuid=input_id,
                            source_type="DATASET",
                            source_id=self.datasets[experiment][name],
                            destination_type="RUN",
                            destination_id=run_id,
                        )
                    )
                    rows.append(
                        SqlInputTag(input_uuid=input_id, name="mlflow.data.context", value=context)
                    )
                self.runs.append((run_id, experiment))
            with self.tracking.ManagedSessionMaker() as session:
                session.add_all(rows)

    def _first_run(self, experiment: str, now: int) -> None:
        from mlflow.entities import Dataset, DatasetInput, InputTag, RunStatus

        run = self.tracking.create_run(experiment, "bench", now, [], "first")
        inputs = [
            DatasetInput(
                Dataset(
                    f"table-{t}",
                    f"d{t:07d}",
                    "spark",
                    json.dumps({"table_name": f"shop.features_{t}"}),
                    SCHEMA,
                ),
                [InputTag("mlflow.data.context", "training")],
            )
            for t in range(4)
        ]
        inputs.append(
            DatasetInput(
                Dataset(
                    "holdout",
                    "h0000001",
                    "s3",
                    json.dumps({"uri": "s3://bench/holdout.parquet"}),
                    SCHEMA,
                ),
                [InputTag("mlflow.data.context", "evaluation")],
            )
        )
        self.tracking.log_inputs(run.info.run_id, datasets=inputs)
        self.tracking.update_run_info(run.info.run_id, RunStatus.FINISHED, now + 1000, None)
        self.runs.append((run.info.run_id, experiment))

    def add_versions(self, count: int) -> None:
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric

        now = int(time.time() * 1000)
        for _ in range(count):
            i = self.version_count
            run_id, experiment = self.runs[(i * 17) % len(self.runs)]
            model = self.tracking.create_logged_model(experiment, "model", run_id)
            location = Path(model.artifact_location)
            location.mkdir(parents=True, exist_ok=True)
            (location / "MLmodel").write_text(MLMODEL)
            self.tracking.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
            self.tracking.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])
            metric = Metric(
                "accuracy",
                0.8,
                now,
                0,
                model_id=model.model_id,
                dataset_name="holdout",
                dataset_digest="h0000001",
                run_id=run_id,
            )
            self.tracking.log_batch(run_id, metrics=[metric], params=[], tags=[])
            name = f"model-{i % MODELS}"
            if i < MODELS:
                self.registry.create_registered_model(name)
            self.registry.create_model_version(
                name, f"models:/{model.model_id}", run_id=run_id, model_id=model.model_id
            )
            self.version_count += 1

    def set_champions(self, client: Any, version: Callable[[int], int]) -> None:
        for m in range(MODELS):
            client.set_registered_model_alias(f"model-{m}", "champion", str(version(m)))


def _fast_sqlite(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=OFF")
    cur.close()


def timed(fn: Callable[[], SyncReport]) -> tuple[float, SyncReport]:
    t = time.perf_counter()
    report = fn()
    return time.perf_counter() - t, report


def figures(times: list[float], report: SyncReport) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(times), 2),
        "times_s": [round(t, 2) for t in times],
        "read": sum(report.read.values()),
        "logged": sum(report.logged.values()),
        "runs_read": report.read["run"],
        "versions_read": report.read["model_version"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each re-sync")
    args = parser.parse_args()
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory(prefix="bench-mlflow-") as tmp:
        root = Path(tmp)
        (root / "server" / "artifacts").mkdir(parents=True)
        t = time.perf_counter()
        pop = Populator(root / "server" / "mlflow.db", root / "server" / "artifacts")
        pop.add_runs(args.runs, 0)
        pop.add_versions(args.versions)
        populate_s = time.perf_counter() - t
        print(f"populated {args.runs} runs, {args.versions} versions in {populate_s:.0f}s")

        with running_mlflow_server(root / "server") as server:
            client = MlflowClient(server.url)
            pop.set_champions(client, lambda m: 1)
            settings = Settings(data_dir=root / "graph", mlflow_sync_overlap_seconds=0)
            services = build_services(settings)
            try:
                harvester = MlflowHarvester.from_services(services, server.url)
                results: dict[str, Any] = {}
                first_s, report = timed(lambda: harvester.sync(full=True))
                results["first full sync"] = figures([first_s], report)
                print("first full", report.summary())

                runs: list[tuple[float, SyncReport]] = [
                    timed(lambda: harvester.sync(full=True)) for _ in range(args.repeat)
                ]
                results["full re-sync"] = figures([s for s, _ in runs], runs[-1][1])
                runs = [timed(harvester.sync) for _ in range(args.repeat)]
                results["incremental, nothing changed"] = figures([s for s, _ in runs], runs[-1][1])

                changed: list[tuple[float, SyncReport]] = []
                for r in range(args.repeat):
                    pop.add_runs(100, args.runs + 100 * r)
                    pop.add_versions(10)
                    pop.set_champions(client, lambda m, r=r: 2 + r)  # type: ignore[misc]
                    changed.append(timed(harvester.sync))
                results["incremental, 100 runs + 10 versions + alias moves"] = figures(
                    [s for s, _ in changed], changed[-1][1]
                )
                stats = services.store.stats()
            finally:
                services.close()

    out = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            # other work on the machine slows MLflow and us alike: say how busy it was
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "server": {"runs": args.runs, "model_versions": args.versions, "models": MODELS},
        "populate_s": round(populate_s, 1),
        "graph": {"nodes": stats.node_count, "edges": stats.edge_count},
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mlflow_sync.json").write_text(json.dumps(out, indent=2))
    print(
        f"\nMLflow server: {args.runs} runs, {args.versions} versions; "
        f"graph {stats.node_count} nodes, {stats.edge_count} edges; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n"
    )
    print("| sync | median s | runs read | versions read | snapshots logged | vs first full |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, f in results.items():
        ratio = f["median_s"] / results["first full sync"]["median_s"]
        print(
            f"| {name} | {f['median_s']:.2f} | {f['runs_read']} | {f['versions_read']} "
            f"| {f['logged']} | {ratio:.2f} |"
        )


if __name__ == "__main__":
    main()
