"""Options and helpers every command shares: Settings from flags, output, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from lineagegraph.errors import InvalidInput, LineageGraphError
from lineagegraph.settings import Settings

console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Where the embedded store and log live (LINEAGEGRAPH_DATA_DIR)."
    ),
]
StoreUri = Annotated[
    str | None,
    typer.Option("--store", help="Graph store URI (LINEAGEGRAPH_STORE_URI)."),
]
LogUrl = Annotated[
    str | None,
    typer.Option("--log", help="Event log database URL (LINEAGEGRAPH_LOG_URL)."),
]

F = TypeVar("F", bound=Callable[..., Any])


def make_settings(
    data_dir: Path | None = None,
    store: str | None = None,
    log: str | None = None,
    *,
    server: bool = False,
    **extra: Any,
) -> Settings:
    """Settings from the environment, overridden by the flags that were given
    (``server``: for ``serve``, the one command that runs a projector process)."""
    overrides: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if store:
        overrides["store_uri"] = store
    if log:
        overrides["log_url"] = log
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            where = f"{name} (LINEAGEGRAPH_{name.upper()}, or its flag): " if name else ""
            problems.append(f"{where}{error['msg']}")
        raise InvalidInput("; ".join(problems), path="settings") from None
    if settings.projection_mode == "process" and not server:
        # a one-shot command projects what it ingests before it exits: the projector
        # process is the server's
        settings = settings.model_copy(update={"projection_mode": "inline"})
    return settings


@contextmanager
def cli_errors() -> Iterator[None]:
    """Print our errors as one clear line and exit 2; let everything else raise."""
    try:
        yield
    except LineageGraphError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    from lineagegraph.errors import InvalidInput

    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"not an ISO 8601 time: {value!r}", path="--as-of") from None
    if t.tzinfo is None:
        raise InvalidInput(f"give a timezone, e.g. {value}Z or {value}+00:00", path="--as-of")
    return t


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
