"""The ``lineagegraph`` command line (Typer). Commands stay thin: they parse
arguments, build Settings and call into graph, ingest and gates."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="lineagegraph",
    help="Model-lifecycle graph: lineage, impact analysis and promotion gates.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _main() -> None:
    """lineagegraph: where did this come from, what breaks if I change it, may it go live."""


def _register() -> None:
    from lineagegraph.cli import admin, ingest, mlflow, query, replay, serve, tokens

    query.register(app)
    admin.register(app)
    tokens.register(app)
    serve.register(app)
    app.add_typer(ingest.app, name="ingest")
    mlflow.register(app)
    replay.register(app)


_register()
