"""``lineagegraph token create|list|revoke``: API tokens, stored hashed in the log database."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from lineagegraph.auth import Role, TokenStore
from lineagegraph.cli.common import DataDir, LogUrl, cli_errors, console, err_console, make_settings
from lineagegraph.ingest.log import EventLog

app = typer.Typer(
    name="token",
    help="API tokens: create (shown once), list, revoke. "
    "Roles: reader < ingester < promoter < admin.",
    no_args_is_help=True,
)


def _tokens(data_dir: DataDir, log: LogUrl) -> TokenStore:
    settings = make_settings(data_dir, None, log)
    return TokenStore(EventLog(settings.log_url).engine)


@app.command("create")
def create_cmd(
    role: Annotated[Role, typer.Option(help="reader, ingester, promoter or admin.")],
    name: Annotated[str, typer.Option(help="Who or what uses it, e.g. 'airflow-prod'.")],
    data_dir: DataDir = None,
    log: LogUrl = None,
) -> None:
    """Create a token and print it once: it is stored only as a hash."""
    with cli_errors():
        record, token = _tokens(data_dir, log).create(name, role)
    err_console.print(
        f"created token [bold]{record.id}[/] '{record.name}' with role {record.role}; "
        "store it now, it cannot be shown again:"
    )
    # The token alone on stdout, so `TOKEN=$(lineagegraph token create ...)` works.
    typer.echo(token)


@app.command("list")
def list_cmd(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
    data_dir: DataDir = None,
    log: LogUrl = None,
) -> None:
    """List tokens (never their secrets)."""
    with cli_errors():
        records = _tokens(data_dir, log).list(include_revoked=all_)
    table = Table("id", "name", "role", "created", "revoked")
    for r in records:
        table.add_row(
            r.id,
            r.name,
            r.role.value,
            r.created_at.isoformat(timespec="seconds"),
            r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "",
        )
    console.print(table)


@app.command("revoke")
def revoke_cmd(
    token: Annotated[str, typer.Argument(help="The token's id or name.")],
    data_dir: DataDir = None,
    log: LogUrl = None,
) -> None:
    """Revoke a token; running servers refuse it within LINEAGEGRAPH_TOKEN_CACHE_TTL_SECONDS."""
    with cli_errors():
        record = _tokens(data_dir, log).revoke(token)
    console.print(f"revoked token {record.id} '{record.name}' ({record.role})")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="token")
