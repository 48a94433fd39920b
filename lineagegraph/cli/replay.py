"""``lineagegraph replay --to URI``: rebuild a graph store from the event log.

Moves a graph from the embedded default to a server store (or rebuilds a
broken one): every accepted input of the configured log is projected again,
from position 0, into the store ``--to`` names. Credentials for the target
come from LINEAGEGRAPH_STORE_USER / LINEAGEGRAPH_STORE_PASSWORD.
"""

from __future__ import annotations

from typing import Annotated

import typer

from lineagegraph.cli.common import DataDir, LogUrl, cli_errors, console, make_settings


def replay_cmd(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="The store to fill, e.g. bolt://neo4j:7687, falkordb://host:6379/graph, "
            "sqlite:///graph.db.",
            show_default=False,
        ),
    ],
    force: Annotated[bool, typer.Option(help="Project over a target that is not empty.")] = False,
    batch: Annotated[int, typer.Option(min=1, help="Inputs projected per batch.")] = 1000,
    data_dir: DataDir = None,
    log: LogUrl = None,
) -> None:
    """Replay the whole event log into another (empty) graph store."""
    from lineagegraph.graph.registry import open_store
    from lineagegraph.ingest.log import EventLog
    from lineagegraph.ingest.mappers import configure_mappers
    from lineagegraph.ingest.projection import ProjectionReport
    from lineagegraph.ingest.replay import replay

    with cli_errors():
        settings = make_settings(data_dir, None, log)
        configure_mappers(settings)  # the same identity rules as the running service
        events = EventLog(settings.log_url)
        try:
            target = open_store(to, **settings.store_credentials())
            try:
                done = 0

                def progress(step: ProjectionReport) -> None:
                    nonlocal done
                    done += step.projected + step.failed
                    console.print(f"  {done} inputs projected", highlight=False)

                report = replay(
                    events, target, force=force, batch=batch, name=to, progress=progress
                )
            finally:
                target.close()
        finally:
            events.close()
    console.print(
        f"replayed {report.projected} inputs into {to} in {report.seconds:.1f}s "
        f"({report.failed} failed, see the dead letters); the store has {report.nodes} nodes "
        f"and {report.edges} edges at log position {report.position}",
        highlight=False,
    )
    if report.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_cmd)
