"""``POST /api/v1/lineage``: the OpenLineage endpoint, where Marquez has it.

Producers (Airflow, Spark, dbt, Flink, the OpenLineage clients' HTTP
transport) only need their URL switched to this service. Thin: validation,
logging and mapping live in :mod:`lineagegraph.ingest.openlineage`.

Requests (``Authorization: Bearer <token>`` of the ``ingester`` role):

* one event (a JSON object) — what producers send;
* a batch: a JSON array of events, or newline-delimited JSON (one event per
  line; ``Content-Type: application/x-ndjson``, though any JSON body that is
  not one value but several lines is read as NDJSON);
* ``Content-Encoding: gzip`` for any of them.

Answers:

* one event: **201 Created** when it is durable in the event log (also for an
  event already logged: ingest is idempotent), with ``{"status", "seq",
  "warnings"}``; **400** with ``{"error": {"code", "message", "path",
  "details": {"rule", "errors", "dead_letter"}}}`` when it is invalid (it is
  kept in the dead letters).
* a batch: every event gets a result (``accepted``, ``duplicate`` or
  ``rejected`` with its error); the valid ones are logged whatever the others
  are. **201** when none was rejected, **207 Multi-Status** when some were,
  **400** when all were (the results are then in ``error.details.results``).
* **413** when the body (inflated) exceeds ``openlineage_max_body_bytes`` or
  holds more than ``openlineage_max_batch`` events; **415** for a content
  encoding other than gzip; **503** when the event log is down (nothing was
  acknowledged: retry).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from lineagegraph.api.deps import services
from lineagegraph.api.security import require_role
from lineagegraph.auth import Principal, Role
from lineagegraph.errors import InvalidInput, LimitExceeded, ValidationFailed
from lineagegraph.ingest.openlineage.ingest import (
    Checked,
    IngestReport,
    assemble,
    check,
    reject_invalid,
    valid_payloads,
)
from lineagegraph.ingest.openlineage.mapping import SOURCE
from lineagegraph.ingest.openlineage.reader import gunzip, split_documents
from lineagegraph.ingest.openlineage.validate import invalid
from lineagegraph.runtime import Services

router = APIRouter(tags=["openlineage"])

_INGESTER = require_role(Role.INGESTER)
#: batches larger than this are validated off the event loop
_INLINE_CHECKS = 16


@router.post(
    "/api/v1/lineage",
    status_code=201,
    summary="Ingest OpenLineage events (Marquez-compatible)",
    responses={
        201: {"description": "Durable in the event log (every event, for a batch)."},
        207: {"description": "A batch of which some events were rejected."},
        400: {"description": "Invalid event(s): JSON path and rule in `error`."},
        413: {"description": "Body or batch too large."},
        415: {"description": "Unsupported Content-Encoding."},
    },
)
async def post_lineage(
    request: Request,
    svc: Annotated[Services, Depends(services)],
    _caller: Annotated[Principal, Depends(_INGESTER)],
) -> JSONResponse:
    """Log OpenLineage events durably, then project them (see the module docstring)."""
    settings = svc.settings
    limit = settings.openlineage_max_body_bytes
    body = await _read_body(request, limit)
    if isinstance(body, JSONResponse):
        return body
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        try:
            body = gunzip(body, limit)
        except OverflowError as exc:
            return _too_large(str(exc), limit_bytes=limit)
        except ValueError as exc:
            seq = await run_in_threadpool(
                svc.ingest.reject, SOURCE, "base64:" + base64.b64encode(body).decode(), str(exc)
            )
            raise InvalidInput(str(exc), path="$", rule="gzip", dead_letter=seq) from None
    elif encoding not in ("identity", ""):
        return _error(415, InvalidInput(f"unsupported Content-Encoding {encoding!r} (use gzip)"))

    items = split_documents(body, "body")
    if not items:
        raise invalid("the body holds no events", path="$", rule="json")
    if len(items) > settings.openlineage_max_batch:
        return _too_large(
            f"{len(items)} events in one request; at most {settings.openlineage_max_batch}",
            max_batch=settings.openlineage_max_batch,
        )
    single = len(items) == 1 and items[0].origin == "body"
    if len(items) > _INLINE_CHECKS:
        checked = await run_in_threadpool(lambda: [check(item) for item in items])
    else:
        checked = [check(item) for item in items]
    report = await _ingest(svc, checked)
    return _single_response(report) if single else _batch_response(report)


async def _ingest(svc: Services, checked: list[Checked]) -> IngestReport:
    docs, keys = valid_payloads(checked)
    submitted = None
    if docs:
        # coalesced with concurrent requests into one log transaction (group commit)
        submitted = await asyncio.wrap_future(svc.ingest.submit_grouped(SOURCE, docs, keys))
    rejected: dict[int, int] = {}
    if any(c.error is not None for c in checked):
        rejected = await run_in_threadpool(reject_invalid, svc.ingest, checked)
    return assemble(checked, submitted, rejected)


def _single_response(report: IngestReport) -> JSONResponse:
    result = report.results[0]
    if result.status == "rejected":
        error = dict(result.error or {})
        error["details"] = {**error.get("details", {}), "dead_letter": result.seq}
        return JSONResponse(status_code=400, content={"error": error})
    content: dict[str, Any] = {"status": result.status, "seq": result.seq}
    content["warnings"] = [w.to_dict() for w in result.warnings]
    return JSONResponse(status_code=201, content=content)


def _batch_response(report: IngestReport) -> JSONResponse:
    counts = {
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "rejected": report.rejected,
        "warnings": report.warnings,
    }
    results = [r.to_dict() for r in report.results]
    if report.rejected == len(report.results):
        error = ValidationFailed(
            f"all {len(results)} events were rejected", path="$", **counts, results=results
        )
        return JSONResponse(status_code=400, content={"error": error.to_dict()})
    status = 207 if report.rejected else 201
    return JSONResponse(status_code=status, content={**counts, "results": results})


async def _read_body(request: Request, limit: int) -> bytes | JSONResponse:
    """The request body, refusing (413) to read past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return _too_large(f"the body has {declared} bytes; at most {limit}", limit_bytes=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _too_large(f"the body exceeds {limit} bytes", limit_bytes=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(message: str, **details: Any) -> JSONResponse:
    return _error(413, LimitExceeded(message, path="$", **details))


def _error(status: int, exc: InvalidInput | LimitExceeded) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": exc.to_dict()})
