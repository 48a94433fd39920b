"""``POST /api/v1/mlflow/webhooks``: the receiver for MLflow registry webhooks.

Register it in MLflow with the shared secret::

    MlflowClient().create_webhook(
        name="lineagegraph", url="https://lineagegraph.example/api/v1/mlflow/webhooks",
        events=["model_version.created", "model_version_alias.created", ...],
        secret=<LINEAGEGRAPH_MLFLOW_WEBHOOK_SECRET>)

MLflow cannot send a bearer token, so the HMAC signature is this route's
authentication (``lineagegraph.ingest.mlflow.webhooks`` verifies it and
hydrates the objects the event names). Thin: no logic lives here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from lineagegraph.api.deps import services
from lineagegraph.ingest.mlflow.webhooks import receive
from lineagegraph.runtime import Services

router = APIRouter(tags=["mlflow"])


@router.post("/api/v1/mlflow/webhooks")
async def mlflow_webhook(
    request: Request, svc: Annotated[Services, Depends(services)]
) -> dict[str, Any]:
    """Verify an MLflow webhook delivery, then read what it names back from MLflow.

    401 for a missing, wrong or stale signature; 200 with what was logged
    (``status`` is ``ignored`` for events the graph does not use).
    """
    body = await request.body()
    # hydration calls MLflow and the event log: off the event loop
    return await run_in_threadpool(receive, svc, dict(request.headers), body)
