"""``lineagegraph sync-mlflow``: once, then watching, against the real MLflow server."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from lineagegraph.cli.main import app
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.registry import open_store
from tests.mlflow.mlflow_server import MlflowServer


def test_sync_once_then_watch(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    client = MlflowClient(mlflow_server.url)
    name = f"cli-{uuid.uuid4().hex[:8]}"
    experiment_id = client.create_experiment(name)
    run = client.create_run(experiment_id, run_name="cli-run")
    client.log_param(run.info.run_id, "alpha", "0.5")
    client.set_terminated(run.info.run_id)

    runner = CliRunner()
    args = ["sync-mlflow", "--tracking-uri", mlflow_server.url, "--data-dir", str(tmp_path)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "incremental sync in" in first.output and "run:" in first.output

    store = open_store(f"sqlite:///{tmp_path / 'graph.db'}")
    try:
        experiment = NodeKey.experiment("mlflow", experiment_id)
        found = store.get_nodes([experiment, NodeKey.run(run.info.run_id)])
        assert found[experiment].props["name"] == name
        assert found[NodeKey.run(run.info.run_id)].props["params"] == {"alpha": "0.5"}
    finally:
        store.close()

    # two polls, the second one full: nothing changed, so nothing new is logged
    watching = runner.invoke(
        app, [*args, "--watch", "--interval", "0.1", "--max-polls", "2", "--full-every", "1"]
    )
    assert watching.exit_code == 0, watching.output
    lines = [line for line in watching.output.splitlines() if "sync in" in line]
    assert [line.split()[0] for line in lines] == ["incremental", "full"]
    assert all(re.search(r"\b[1-9]\d* new", line) is None for line in lines), lines


def test_sync_without_a_server_says_what_to_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LINEAGEGRAPH_MLFLOW_TRACKING_URI", raising=False)
    result = CliRunner().invoke(app, ["sync-mlflow", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "--tracking-uri" in result.output and "LINEAGEGRAPH_MLFLOW_TRACKING_URI" in result.output
