"""Operations endpoints: liveness, readiness and Prometheus metrics.

None of them needs a token (probes and scrapers carry none) and none shows
internals: readiness names the part that is down, the details go to the log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lineagegraph.runtime import Services

log = logging.getLogger("lineagegraph.api")

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readiness(services: Services) -> list[str]:
    """Why the service cannot serve now (empty when it can)."""
    reasons: list[str] = []
    try:
        services.store.check_health()
    except Exception:
        log.warning("readiness: graph store check failed", exc_info=True)
        reasons.append("graph store unavailable")
    try:
        services.log.head()
    except Exception:
        log.warning("readiness: event log check failed", exc_info=True)
        reasons.append("event log unreachable")
    down = services.ingest.projection_down
    if down is not None:
        reasons.append(down)
    return reasons


@router.get(
    "/readyz",
    summary="Readiness: the graph store and the event log answer",
    responses={503: {"description": "Not ready; `reasons` says which part is down."}},
)
def readyz(request: Request) -> JSONResponse:
    reasons = readiness(request.app.state.services)
    body: dict[str, Any] = {"status": "unavailable" if reasons else "ready"}
    if reasons:
        body["reasons"] = reasons
    return JSONResponse(body, status_code=503 if reasons else 200)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
