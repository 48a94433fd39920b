"""The read commands and the demo, end to end through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lineagegraph.cli.main import app

runner = CliRunner()
STG = "dataset:postgres://warehouse:5432|analytics.staging.stg_orders"
MV2 = "model_version:mlflow|churn-classifier|2"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("demo")
    first = runner.invoke(app, ["demo", "--data-dir", str(d)])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["demo", "--data-dir", str(d)])
    assert again.exit_code == 0 and "0 new inputs" in again.output  # idempotent
    return d


def test_impact_of_a_column_reaches_production_and_fails_ci(data_dir: Path) -> None:
    args = ["impact", STG, "-c", "amount_usd", "--data-dir", str(data_dir), "--format", "json"]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.output)
    deployments = [a["id"] for a in report["affected"]["deployment"]]
    assert deployments == ["deployment:production|https://serving.internal/churn"]
    path = report["affected"]["deployment"][0]["path"]
    assert path[0].endswith("|amount_usd") and path[-1] == deployments[0]
    failing = runner.invoke(app, [*args, "--fail-on", "deployment"])
    assert failing.exit_code == 1
    # a column nothing reads affects nothing downstream, so CI passes
    quiet = runner.invoke(
        app,
        [
            "impact",
            STG,
            "-c",
            "customer_id",
            "--data-dir",
            str(data_dir),
            "--fail-on",
            "deployment",
            "--format",
            "markdown",
        ],
    )
    assert quiet.exit_code == 0, quiet.output


def test_lineage_upstream_of_the_served_model(data_dir: Path) -> None:
    out = runner.invoke(
        app,
        [
            "lineage",
            MV2,
            "--direction",
            "upstream",
            "--data-dir",
            str(data_dir),
            "--format",
            "json",
        ],
    )
    assert out.exit_code == 0, out.output
    ids = {n["id"] for n in json.loads(out.output)["nodes"]}
    assert "dataset:postgres://orders-db:5432|shop.public.orders" in ids
    assert "job:dbt-prod|analytics.features.customer_features" in ids
    assert not any(i.startswith("run:") for i in ids)  # job granularity by default


def test_bad_input_is_one_clear_line(data_dir: Path) -> None:
    out = runner.invoke(app, ["lineage", "table:x|y", "--data-dir", str(data_dir)])
    assert out.exit_code == 2
    assert "unknown node kind 'table'" in out.output
    out = runner.invoke(app, ["lineage", STG, "--as-of", "2026-11-01", "--data-dir", str(data_dir)])
    assert out.exit_code == 2 and "timezone" in out.output


def test_search_stats_and_export(data_dir: Path, tmp_path: Path) -> None:
    found = runner.invoke(
        app,
        [
            "search",
            "churn",
            "--kind",
            "model_version",
            "--format",
            "json",
            "--data-dir",
            str(data_dir),
        ],
    )
    assert {n["id"] for n in json.loads(found.output)} == {
        "model_version:mlflow|churn-classifier|1",
        MV2,
    }
    stats = json.loads(runner.invoke(app, ["stats", "--data-dir", str(data_dir)]).output)
    target = tmp_path / "graph.jsonl"
    assert (
        runner.invoke(app, ["export", "-o", str(target), "--data-dir", str(data_dir)]).exit_code
        == 0
    )
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert sum(1 for i in lines if i["type"] == "node") == sum(stats["nodes"].values())
    assert sum(1 for i in lines if i["type"] == "edge") == sum(stats["edges"].values())


def test_settings_that_cannot_work_are_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEAGEGRAPH_PROJECTION_MODE", "sideways")
    bad = runner.invoke(app, ["stats", "--data-dir", str(tmp_path)])
    said = " ".join(bad.output.split())  # (the console wraps long lines)
    assert bad.exit_code == 2 and "Traceback" not in said
    assert said.startswith("error: settings: projection_mode (LINEAGEGRAPH_PROJECTION_MODE")
    assert "'inline', 'background' or 'process'" in said
    # a projector process cannot share a private in-memory store
    monkeypatch.setenv("LINEAGEGRAPH_PROJECTION_MODE", "process")
    memory = runner.invoke(app, ["serve", "--store", "memory://", "--port", "1"])
    assert memory.exit_code == 2 and "another process can open" in " ".join(memory.output.split())


def test_one_shot_commands_project_inline_whatever_the_servers_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEAGEGRAPH_PROJECTION_MODE", "process")
    loaded = runner.invoke(app, ["demo", "--data-dir", str(tmp_path)])
    assert loaded.exit_code == 0, loaded.output
    # projected before the command returned, by the command itself: the graph is there
    from lineagegraph.graph.embedded import EmbeddedStore
    from lineagegraph.ingest.log import EventLog
    from lineagegraph.settings import Settings

    store, log = EmbeddedStore(tmp_path / "graph.db"), EventLog(Settings(data_dir=tmp_path).log_url)
    try:
        assert store.log_position() == log.head() > 0 and store.stats().node_count > 0
    finally:
        store.close()
        log.close()
