"""``lineagegraph serve`` (the API server) and ``lineagegraph export-schema`` (its SDL)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lineagegraph.cli.common import (
    DataDir,
    LogUrl,
    StoreUri,
    cli_errors,
    err_console,
    make_settings,
)

DEFAULT_SCHEMA_FILE = Path("schema.graphql")


def serve_cmd(
    host: Annotated[str | None, typer.Option(help="Interface to bind (LINEAGEGRAPH_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (LINEAGEGRAPH_PORT).")] = None,
    anonymous_read: Annotated[
        bool | None,
        typer.Option(
            "--anonymous-read/--no-anonymous-read",
            help="Allow reads without a token (LINEAGEGRAPH_ANONYMOUS_READ).",
        ),
    ] = None,
    projection: Annotated[
        str | None,
        typer.Option(
            help="inline, background or process: where accepted inputs are projected "
            "(LINEAGEGRAPH_PROJECTION_MODE; process: in a process of its own, for the most "
            "single-event POSTs a second).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDir = None,
    store: StoreUri = None,
    log: LogUrl = None,
) -> None:
    """Run the API: GraphQL at /graphql, OpenLineage at /api/v1/lineage, /metrics."""
    import uvicorn

    from lineagegraph.api.app import create_app
    from lineagegraph.api.logs import configure_logging

    with cli_errors():
        settings = make_settings(
            data_dir,
            store,
            log,
            server=True,
            host=host,
            port=port,
            anonymous_read=anonymous_read,
            projection_mode=projection,
        )
    configure_logging(settings.log_level, json=settings.log_json)
    err_console.print(
        f"lineagegraph on http://{settings.host}:{settings.port}/graphql "
        f"(store {settings.store_uri.split('@')[-1]}, projection {settings.projection_mode})"
    )
    uvicorn.run(
        create_app(settings, tune_gc=True, start_workers=True),
        host=settings.host,
        port=settings.port,
        log_config=None,  # configure_logging set the handlers: JSON lines
        access_log=False,  # the request middleware writes the request log
        proxy_headers=True,
        server_header=False,
    )


def export_schema_cmd(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the SDL ('-': stdout).")
    ] = DEFAULT_SCHEMA_FILE,
    check: Annotated[
        bool, typer.Option(help="Only check that the file matches the code (exit 1 if not).")
    ] = False,
) -> None:
    """Write the GraphQL schema (SDL) that the server serves, e.g. to schema.graphql."""
    from lineagegraph.api.graphql.schema import export_sdl

    sdl = export_sdl()
    if str(output) == "-":
        sys.stdout.write(sdl)
        return
    if check:
        current = output.read_text(encoding="utf-8") if output.is_file() else None
        if current != sdl:
            err_console.print(
                f"{output} is out of date: run `lineagegraph export-schema -o {output}`"
            )
            raise typer.Exit(1)
        err_console.print(f"{output} is up to date")
        return
    output.write_text(sdl, encoding="utf-8")
    err_console.print(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
    app.command("export-schema")(export_schema_cmd)
