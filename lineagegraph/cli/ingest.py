"""``lineagegraph ingest``: load inputs from files into the local store and log.

``lineagegraph ingest openlineage FILE... | -`` reads OpenLineage events
(JSON objects, JSON arrays, newline-delimited JSON, any of them gzipped; ``-``
is standard input), validates them, logs the valid ones and projects them
into the configured store, dead-letters the rest, and prints a summary.
Exit status: 0 when every event was accepted (or already there), 1 when any
was rejected, 2 when the command itself failed.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lineagegraph.cli.common import (
    DataDir,
    LogUrl,
    StoreUri,
    cli_errors,
    console,
    err_console,
    make_settings,
)
from lineagegraph.errors import InvalidInput

app = typer.Typer(name="ingest", help="Load inputs from files into the local store.")


@app.command("openlineage")
def openlineage_cmd(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Files of OpenLineage events (.json, .ndjson, arrays, .gz); - for stdin.",
            show_default=False,
        ),
    ],
    batch: Annotated[
        int, typer.Option(min=1, help="Events per log transaction and projection.")
    ] = 2000,
    show: Annotated[int, typer.Option(min=0, help="Rejected events listed with reasons.")] = 20,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Processes that validate and map events beside this one "
            "(default: one per CPU, at most 4; 0: none).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDir = None,
    store: StoreUri = None,
    log: LogUrl = None,
) -> None:
    """Ingest OpenLineage events from files (or stdin) into the local store."""
    from lineagegraph.ingest.openlineage.ingest import IngestSummary, ingest_stream
    from lineagegraph.ingest.openlineage.reader import read_paths
    from lineagegraph.runtime import build_services

    summary = IngestSummary(keep=show)
    elapsed = 0.0
    with cli_errors():
        for name in files:
            if name != "-" and not Path(name).is_file():
                raise InvalidInput(f"no such file: {name}", path="FILE")
        services = build_services(make_settings(data_dir, store, log))
        # A replay allocates millions of short-lived objects while the store's index
        # lives on: keep the collector off the long-lived heap and run it less often
        # (about a fifth of the CPU time otherwise).
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        try:
            with Progress(
                SpinnerColumn(),
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed} events"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            ) as progress:
                task = progress.add_task("ingesting", total=None)
                started = time.perf_counter()
                for report in ingest_stream(
                    services.ingest, read_paths(files), batch=batch, workers=workers
                ):
                    summary.add(report)
                    progress.update(task, completed=summary.total)
                # background projection mode: leave nothing unprojected behind on exit
                progress.update(task, description="projecting")
                services.ingest.projector.catch_up()
                elapsed = time.perf_counter() - started
        except OSError as exc:
            raise InvalidInput(f"cannot read input: {exc}", path="FILE") from None
        finally:
            services.close()

    table = Table(title="OpenLineage ingest", show_header=False)
    table.add_row("accepted", str(summary.accepted))
    table.add_row("duplicates", str(summary.duplicates))
    table.add_row("warnings", str(sum(summary.warnings.values())))
    table.add_row("rejected", str(summary.rejected))
    if summary.total and elapsed > 0:
        # from the first event read to the last projected (start-up not included)
        rate = f"{summary.total / elapsed:,.0f} events/s ({summary.total:,} in {elapsed:.2f} s)"
        table.add_row("rate", rate)
    console.print(table)
    for code, n in sorted(summary.warnings.items()):
        console.print(f"  warning {code}: {n}")
    for origin, reason in summary.rejections:
        console.print(f"  [red]rejected[/] {origin}: {reason}", highlight=False, soft_wrap=True)
    if summary.rejected > len(summary.rejections):
        console.print(f"  ... and {summary.rejected - len(summary.rejections)} more rejected")
    if summary.rejected:
        raise typer.Exit(1)
