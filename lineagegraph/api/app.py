"""The FastAPI application: REST routes, GraphQL, and the UI build.

``create_app(settings)`` builds everything from Settings; tests may pass
ready ``Services`` instead. Routers of each area live in their own module and
are included here; they reach the services through ``request.app.state.services``
(see :func:`lineagegraph.api.deps.services`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from lineagegraph.errors import LineageGraphError, http_status
from lineagegraph.runtime import Services, build_services
from lineagegraph.settings import Settings


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else Settings())
    owned = services is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = services or build_services(settings)
        try:
            yield
        finally:
            if owned:
                app.state.services.close()

    app = FastAPI(
        title="lineagegraph",
        version="0.1.0",
        description="Model-lifecycle graph: lineage, impact analysis and promotion gates.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    @app.exception_handler(LineageGraphError)
    async def _lineagegraph_error(_request: Request, exc: LineageGraphError) -> JSONResponse:
        return JSONResponse(status_code=http_status(exc), content={"error": exc.to_dict()})

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    return app
