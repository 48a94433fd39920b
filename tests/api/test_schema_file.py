"""schema.graphql at the repository root is the schema the code serves."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lineagegraph.api.graphql.schema import export_sdl
from lineagegraph.cli.main import app as cli

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.is_file(), "no schema.graphql: run `lineagegraph export-schema`"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == export_sdl(), (
        "schema.graphql is out of date: run `lineagegraph export-schema` and commit it"
    )


def test_export_schema_writes_and_checks(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    runner = CliRunner()
    stale = runner.invoke(cli, ["export-schema", "--check", "-o", str(target)])
    written = runner.invoke(cli, ["export-schema", "-o", str(target)])
    fresh = runner.invoke(cli, ["export-schema", "--check", "-o", str(target)])
    assert stale.exit_code == 1 and "out of date" in stale.output
    assert written.exit_code == 0 and target.read_text(encoding="utf-8") == export_sdl()
    assert fresh.exit_code == 0
    for name in (
        "type Query",
        "type Mutation",
        "interface Node",
        "type ModelVersion implements Node",
    ):
        assert name in target.read_text(encoding="utf-8")
