"""The FastAPI application: REST routes, GraphQL, operations and the UI build.

``create_app(settings)`` builds everything from Settings; tests may pass
ready ``Services`` instead. Routers of each area live in their own module and
are included here; they reach the services through ``request.app.state.services``
(see :func:`lineagegraph.api.deps.services`) and protect themselves with
:func:`lineagegraph.api.security.require_role`.

Errors: every :class:`~lineagegraph.errors.LineageGraphError` becomes its HTTP
status (``errors.http_status``) and ``{"error": {"code", "message", "path"}}``
(GraphQL-shaped ``{"errors": [...]}`` on ``/graphql``); anything else is a 500
that names only the request id, with the trace in the log.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from lineagegraph.api import openlineage, ops
from lineagegraph.api.graphql.schema import build_schema, graphql_router
from lineagegraph.api.logs import internal_error
from lineagegraph.api.metrics import Metrics
from lineagegraph.api.middleware import GraphQLBodyLimit, RequestMiddleware
from lineagegraph.api.ui import graphiql_page, mount_ui
from lineagegraph.auth import TokenStore
from lineagegraph.errors import LineageGraphError, Unauthenticated, http_status
from lineagegraph.ingest.openlineage.workers import PreparePool
from lineagegraph.runtime import Services, build_services
from lineagegraph.settings import Settings

#: ``gc.set_threshold`` of the server process (see ``create_app(tune_gc=True)``)
GC_THRESHOLD = (20_000, 20, 20)


class App(FastAPI):
    """FastAPI, with ``POST /api/v1/lineage`` served by :attr:`fast_lane` when set:
    ahead of the middleware stack and routing (see :mod:`lineagegraph.api.openlineage`)."""

    fast_lane: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = self.fast_lane
        if (
            lane is not None
            and scope["type"] == "http"
            and scope["path"] == openlineage.PATH
            and scope["method"] == "POST"
        ):
            scope["app"] = self
            await lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    tune_gc: bool = False,
    start_workers: bool = False,
) -> App:
    """The app. ``tune_gc`` is for ``lineagegraph serve``, where the app owns the
    process: once started, everything built so far is moved out of the garbage
    collector's sight (``gc.freeze``), and the youngest generation is collected
    every :data:`GC_THRESHOLD` allocations instead of 700, so that collections
    during requests are rare and only walk what requests allocate (a request
    allocates hundreds of objects, nearly all freed by reference counting).
    ``start_workers`` (``serve`` too) starts the ingest worker processes at
    start-up rather than with the first large body (see ``PreparePool``)."""
    settings = settings or (services.settings if services else Settings())
    owned = services is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Opening stores may load an index from disk: keep the loop free meanwhile.
        svc = (
            services
            if services is not None
            else await anyio.to_thread.run_sync(build_services, settings)
        )
        app.state.services = svc
        app.state.tokens = TokenStore(svc.log.engine, cache_ttl=settings.token_cache_ttl_seconds)
        workers = settings.ingest_workers
        if workers is None:
            workers = PreparePool.default_workers()
        app.state.prepare_pool = (
            PreparePool(svc.ingest, workers, settings.dataset_aliases) if workers else None
        )
        if start_workers and app.state.prepare_pool is not None:
            app.state.prepare_pool.start()
        if tune_gc:
            gc.collect()
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLD)
        try:
            yield
        finally:
            if app.state.prepare_pool is not None:
                app.state.prepare_pool.close()
            if owned:
                svc.close()

    app = App(
        title="lineagegraph",
        version="0.1.0",
        description="Model-lifecycle graph: lineage, impact analysis and promotion gates. "
        "GraphQL at /graphql (GraphiQL in a browser); REST for ingest and operations.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.prepare_pool = None
    metrics = Metrics(lambda: app.state.services)
    app.state.metrics = metrics

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(GraphQLBodyLimit, max_bytes=settings.max_graphql_body_bytes)
    # Added last, so outermost: it times and logs every request, CORS preflights too.
    app.add_middleware(RequestMiddleware, metrics=metrics)

    @app.exception_handler(LineageGraphError)
    async def _lineagegraph_error(request: Request, exc: LineageGraphError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
        body: dict[str, object]
        if request.url.path.startswith("/graphql"):
            extensions: dict[str, object] = {"code": exc.code}
            if exc.path is not None:
                extensions["path"] = exc.path
            body = {"data": None, "errors": [{"message": exc.message, "extensions": extensions}]}
        else:
            body = {"error": exc.to_dict()}
        return JSONResponse(status_code=http_status(exc), content=body, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        return JSONResponse(status_code=500, content=internal_error(request_id, exc))

    # The OpenLineage hot path first: one raw ASGI route, no FastAPI dependency resolution;
    # and unless CORS headers are wanted, ahead of the middleware stack too.
    app.router.routes.insert(0, openlineage.route)
    if not settings.cors_origins:
        app.fast_lane = RequestMiddleware(openlineage.FastLane(), metrics=metrics)
    app.include_router(ops.router)
    app.include_router(graphql_router(build_schema(settings), graphiql_page(settings)))
    mount_ui(app, settings)
    # ---- routers of the other areas (one line each) -----------------------------------
    app.include_router(openlineage.router)  # its OpenAPI entry
    app.include_router(__import__("lineagegraph.api.mlflow_webhooks", fromlist=["router"]).router)
    return app
