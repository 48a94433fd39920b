"""``lineagegraph ingest openlineage FILE... | -`` into a local store."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from typer.testing import CliRunner

from lineagegraph.cli.main import app
from lineagegraph.graph.keys import NodeKey
from lineagegraph.graph.registry import open_store
from lineagegraph.ingest.log import EventLog
from lineagegraph.settings import Settings
from tests.openlineage.helpers import capture


def test_files_of_every_shape_and_stdin_are_ingested(
    tmp_path: Path, openlineage_fixtures: Path
) -> None:
    airflow = capture(openlineage_fixtures, "airflow/events-run1")
    dbt = capture(openlineage_fixtures, "dbt/events-run")
    single = tmp_path / "one.json"
    single.write_text(json.dumps(airflow[0], indent=2))
    array = tmp_path / "many.json"
    array.write_text(json.dumps(airflow[1:]))
    ndjson = tmp_path / "dbt.ndjson.gz"
    ndjson.write_bytes(gzip.compress(b"\n".join(json.dumps(e).encode() for e in dbt[:6])))
    stdin = "\n".join(json.dumps(e) for e in dbt[6:]) + "\n"
    data = tmp_path / "data"

    result = CliRunner().invoke(
        app,
        [
            "ingest",
            "openlineage",
            str(single),
            str(array),
            str(ndjson),
            "-",
            "--data-dir",
            str(data),
        ],
        input=stdin,
    )
    assert result.exit_code == 0, result.output
    assert re.search(rf"accepted\W+{len(airflow) + len(dbt)}\b", result.output)
    assert re.search(r"rejected\W+0\b", result.output)
    settings = Settings(data_dir=data)
    store = open_store(settings.store_uri)
    try:
        runs = [NodeKey.run(e["run"]["runId"]) for e in airflow + dbt]
        assert set(store.get_nodes(runs)) == set(runs)
    finally:
        store.close()

    again = CliRunner().invoke(app, ["ingest", "openlineage", str(array), "--data-dir", str(data)])
    assert again.exit_code == 0
    assert re.search(rf"duplicates\W+{len(airflow) - 1}\b", again.output)


def test_rejected_events_are_listed_and_fail_the_command(
    tmp_path: Path, openlineage_fixtures: Path
) -> None:
    good = capture(openlineage_fixtures, "dbt/events-test")[0]
    bad = dict(good, eventTime="last tuesday")
    lines = tmp_path / "events.ndjson"
    lines.write_text(f"{json.dumps(good)}\n{{not json\n{json.dumps(bad)}\n")
    data = tmp_path / "data"
    result = CliRunner().invoke(app, ["ingest", "openlineage", str(lines), "--data-dir", str(data)])
    assert result.exit_code == 1, result.output
    assert f"{lines}:2" in result.output and "rule: json" in result.output
    assert f"{lines}:3: $.eventTime" in result.output and "rule: format" in result.output
    log = EventLog(Settings(data_dir=data).log_url)
    try:
        assert log.counts() == {"accepted": 1, "rejected": 2, "projection_errors": 0}
    finally:
        log.close()


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["ingest", "openlineage", str(tmp_path / "nope.json"), "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_a_long_file_goes_through_a_worker_process_with_the_same_outcome(tmp_path: Path) -> None:
    """More than one batch: parsed, validated and mapped in a worker process (on a
    machine with two cores or more), logged and projected here; nothing differs."""
    from bench.bench_openlineage_ingest import make_events

    events = make_events(300, seed=4, pipelines=4)
    lines = [json.dumps(e) for e in events]
    lines[77] = "{not json"
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    outcomes = []
    # several batches (worker processes, or --workers 0: this one), one batch (this one)
    for batch, workers in (("64", []), ("64", ["--workers", "0"]), ("1000", [])):
        data = tmp_path / f"data-{batch}-{len(workers)}"
        args = ["ingest", "openlineage", str(path), "--batch", batch, *workers]
        result = CliRunner().invoke(app, [*args, "--data-dir", str(data)])
        assert result.exit_code == 1, result.output
        assert re.search(r"accepted\W+299\b", result.output)
        assert f"{path}:78" in result.output and "rule: json" in result.output
        settings = Settings(data_dir=data)
        store = open_store(settings.store_uri)
        try:
            stats = store.stats()  # (the log positions differ: the rejected line has one)
            outcomes.append((stats.nodes_by_kind, stats.edges_by_kind))
        finally:
            store.close()
    assert outcomes[0] == outcomes[1] == outcomes[2]
