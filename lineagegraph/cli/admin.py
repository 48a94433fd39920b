"""Operating commands: demo data and export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from lineagegraph.cli.common import DataDir, LogUrl, StoreUri, cli_errors, console, make_settings
from lineagegraph.graph.export import export_graph
from lineagegraph.graph.registry import open_store


def demo_cmd(data_dir: DataDir = None, store: StoreUri = None, log: LogUrl = None) -> None:
    """Load the demo model lifecycle (pipelines, a churn model, a deployment)."""
    from lineagegraph.demo import load_demo
    from lineagegraph.runtime import build_services

    with cli_errors():
        services = build_services(make_settings(data_dir, store, log))
        try:
            counts = load_demo(services)
            stats = services.store.stats()
        finally:
            services.close()
    console.print(
        f"demo: {counts['new']} new inputs ({counts['repeated']} already there); "
        f"graph has {stats.node_count} nodes and {stats.edge_count} edges"
    )


def export_cmd(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")
    ] = None,
    include_deleted: Annotated[bool, typer.Option(help="Also export ended nodes/edges.")] = False,
    data_dir: DataDir = None,
    store: StoreUri = None,
) -> None:
    """Export the graph as JSON lines: one node or edge per line."""
    with cli_errors():
        graph = open_store(make_settings(data_dir, store).store_uri)
        sink = out.open("wb") if out else sys.stdout.buffer
        try:
            for item in export_graph(graph, include_deleted=include_deleted):
                sink.write(orjson.dumps(item) + b"\n")
        finally:
            if out:
                sink.close()
            graph.close()


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
    app.command("export")(export_cmd)
