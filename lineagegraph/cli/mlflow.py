"""``lineagegraph sync-mlflow``: harvest an MLflow tracking server once, or keep watching it."""

from __future__ import annotations

from types import TracebackType
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from lineagegraph.cli.common import (
    DataDir,
    LogUrl,
    StoreUri,
    cli_errors,
    console,
    err_console,
    make_settings,
)
from lineagegraph.errors import LineageGraphError


class RichSyncProgress:
    """A sync's phases as rich progress bars (on stderr; gone when the sync ends)."""

    def __init__(self) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<15}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichSyncProgress:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def start(self, phase: str, total: int | None = None) -> None:
        self._tasks[phase] = self._progress.add_task(phase, total=total)

    def advance(self, phase: str, count: int = 1) -> None:
        self._progress.advance(self._tasks[phase], count)


def sync_mlflow_cmd(
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="The MLflow tracking URI (http(s)://, sqlite:, file:); default "
            "LINEAGEGRAPH_MLFLOW_TRACKING_URI. Credentials come from MLflow's own "
            "variables (MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/PASSWORD).",
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Read everything, not only what changed since the last sync."),
    ] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep polling every --interval.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between polls with --watch.")
    ] = 60.0,
    full_every: Annotated[
        int,
        typer.Option(
            "--full-every", min=0, help="With --watch: every Nth poll is a full sync (0: never)."
        ),
    ] = 0,
    max_polls: Annotated[
        int,
        typer.Option("--max-polls", min=0, help="With --watch: stop after N polls (0: never)."),
    ] = 0,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace", help="Graph namespace of this server (LINEAGEGRAPH_MLFLOW_NAMESPACE)."
        ),
    ] = None,
    data_dir: DataDir = None,
    store: StoreUri = None,
    log: LogUrl = None,
) -> None:
    """Harvest MLflow experiments, runs, datasets, models, versions and deployments."""
    from lineagegraph.ingest.mlflow.harvester import MlflowHarvester
    from lineagegraph.ingest.mlflow.harvester import watch as watch_loop
    from lineagegraph.ingest.mlflow.report import SyncReport
    from lineagegraph.runtime import build_services

    def show(report: SyncReport) -> None:
        console.print(report.summary(), soft_wrap=True, markup=False)

    def failed(exc: LineageGraphError) -> None:
        err_console.print(f"[bold red]error:[/] {exc} (retrying in {interval:g}s)")

    extra: dict[str, Any] = {"mlflow_tracking_uri": tracking_uri, "mlflow_namespace": namespace}
    with cli_errors():
        services = build_services(make_settings(data_dir, store, log, **extra))
        try:
            harvester = MlflowHarvester.from_services(services)
            if not watch:
                with RichSyncProgress() as progress:
                    report = harvester.sync(full=full, progress=progress)
                show(report)
                return
            try:
                watch_loop(
                    harvester,
                    interval=interval,
                    first_full=full,
                    full_every=full_every,
                    max_polls=max_polls,
                    on_report=show,
                    on_error=failed,
                )
            except KeyboardInterrupt:
                console.print("stopped")
        finally:
            services.close()


def register(app: typer.Typer) -> None:
    app.command("sync-mlflow")(sync_mlflow_cmd)
