"""Serving the front-end build: its assets under ``/ui`` and the GraphiQL page.

``ui/`` holds the web front end as its own npm project; ``npm ci && npm run
build`` writes ``ui/dist`` with every script, style, font and worker the pages
need, so nothing loads from a CDN and GraphiQL works on an offline machine.
Without a build, ``/graphql`` in a browser says how to make one.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from lineagegraph.settings import Settings

UI_PREFIX = "/ui"
GRAPHIQL_PAGE = "graphiql.html"


def ui_dir(settings: Settings) -> Path:
    """Where the build is: ``settings.ui_dir``, else ``ui/dist`` of the source tree."""
    if settings.ui_dir is not None:
        return settings.ui_dir
    return Path(__file__).resolve().parents[2] / "ui" / "dist"


def graphiql_page(settings: Settings) -> str:
    """The GraphiQL page of the build, or a page saying how to build it."""
    page = ui_dir(settings) / GRAPHIQL_PAGE
    if page.is_file():
        return page.read_text(encoding="utf-8")
    where = html.escape(str(page))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>lineagegraph · GraphiQL not built</title></head><body>"
        "<h1>GraphiQL is not built</h1>"
        f"<p>No <code>{where}</code>. Build the front end once: "
        "<code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code>, "
        "or point <code>LINEAGEGRAPH_UI_DIR</code> at a build.</p>"
        "<p>The API itself works: POST GraphQL queries to this URL.</p>"
        "</body></html>"
    )


def mount_ui(app: FastAPI, settings: Settings) -> None:
    """Serve the build's assets under ``/ui`` when there is a build."""
    directory = ui_dir(settings)
    if directory.is_dir():
        app.mount(UI_PREFIX, StaticFiles(directory=directory), name="ui")
