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

This is the service's hot path (one request per event, from every producer),
so it is served by a raw ASGI endpoint, :data:`endpoint`: it skips FastAPI's
dependency resolution and request objects, checks a cached token on the event
loop, and answers with orjson. ``create_app`` serves it through
:class:`FastLane`, ahead of the app's middleware stack, routing and exception
middlewares (~6% more single events a second, measured): the lane keeps what
they would give it (the request id, access log line and latency metric of
``RequestMiddleware``, the error bodies of the exception handlers). When CORS
is configured the app routes it like any other route instead, where
:data:`route` sits ahead of the others. :data:`router` holds the documented
FastAPI route of the same path (OpenAPI), which delegates to it.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from lineagegraph.api.logs import internal_error
from lineagegraph.api.security import authorize
from lineagegraph.auth import Role
from lineagegraph.errors import (
    InvalidInput,
    LimitExceeded,
    LineageGraphError,
    Unauthenticated,
    ValidationFailed,
    http_status,
)
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
from lineagegraph.ingest.openlineage.workers import MIN_BODY_BYTES, PreparePool
from lineagegraph.runtime import Services

PATH = "/api/v1/lineage"
#: batches larger than this are validated off the event loop
_INLINE_CHECKS = 16
_JSON = b"application/json"

Answer = tuple[int, bytes]


async def ingest_request(scope: Scope, receive: Receive) -> Answer:
    """Serve one ``POST /api/v1/lineage`` (see the module docstring): status and JSON body.

    Errors that have an exception handler (401, 403, 400 of a body that is not
    an event at all, 503) are raised; the others are answered here.
    """
    authorization = content_length = encoding = None
    for name, value in scope["headers"]:  # the first of each, as Starlette's Headers.get
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"content-length" and content_length is None:
            content_length = value
        elif name == b"content-encoding" and encoding is None:
            encoding = value.decode("latin-1").strip().lower()
    encoding = encoding or "identity"
    await authorize(scope, authorization, Role.INGESTER)
    svc: Services = scope["app"].state.services
    settings = svc.settings
    limit = settings.openlineage_max_body_bytes
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        declared = content_length.decode()
        return _too_large(f"the body has {declared} bytes; at most {limit}", limit_bytes=limit)
    body = await _read_body(receive, limit)
    if body is None:
        return _too_large(f"the body exceeds {limit} bytes", limit_bytes=limit)
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

    max_batch = settings.openlineage_max_batch
    pool: PreparePool | None = scope["app"].state.prepare_pool
    if pool is not None and len(body) >= MIN_BODY_BYTES and pool.ready:
        # read, validated and mapped by a worker process with the bodies arriving meanwhile;
        # shielded: a cancelled request must not lose a result that may be durable already
        done = await asyncio.shield(asyncio.wrap_future(pool.submit(body, max_batch)))
        if error := _count_error(done.count, max_batch):
            return error
        assert done.report is not None  # (a body of 1..max_batch events is taken)
        single, report = done.single, done.report
    else:
        items = split_documents(body, "body")
        if error := _count_error(len(items), max_batch):
            return error
        single = len(items) == 1 and items[0].origin == "body"
        if len(items) > _INLINE_CHECKS:
            checked = await run_in_threadpool(lambda: [check(item) for item in items])
        else:
            checked = [check(item) for item in items]
        report = await _ingest(svc, checked)
    scope["app"].state.metrics.count_ingest(
        SOURCE, accepted=report.accepted, duplicates=report.duplicates, rejected=report.rejected
    )
    return _single_response(report) if single else _batch_response(report)


class LineageEndpoint:
    """The raw ASGI endpoint of ``POST /api/v1/lineage``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, body = await ingest_request(scope, receive)
        await _answer(send, status, body)


class FastLane:
    """:data:`endpoint` served ahead of the app's middleware stack (see the module
    docstring), inside ``RequestMiddleware``: errors become the bodies the app's
    exception handlers would give them."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = route  # the route template of the access log and the metric
        headers: list[tuple[bytes, bytes]] = []
        try:
            status, body = await ingest_request(scope, receive)
        except ClientDisconnect:
            return  # nobody to answer
        except LineageGraphError as exc:
            status, body = http_status(exc), orjson.dumps({"error": exc.to_dict()})
            if isinstance(exc, Unauthenticated):
                headers.append((b"www-authenticate", b"Bearer"))
        except Exception as exc:
            request_id = scope.get("state", {}).get("request_id")
            status, body = 500, orjson.dumps(internal_error(request_id, exc))
        await _answer(send, status, body, headers)


async def _answer(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    head = [(b"content-type", _JSON), (b"content-length", b"%d" % len(body)), *(headers or ())]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


class _RawRoute(Route):
    """A Starlette route that names itself in the scope, as FastAPI's routes do
    (the request log and the latency metric label requests by route template)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


endpoint = LineageEndpoint()
#: the hot path, routed ahead of the app's other routes (``create_app``)
route = _RawRoute(PATH, endpoint, methods=["POST"], name="openlineage")

router = APIRouter(tags=["openlineage"])


@router.post(
    PATH,
    status_code=201,
    summary="Ingest OpenLineage events (Marquez-compatible)",
    description="Needs `Authorization: Bearer <token>` of the ingester role. One event, "
    "a JSON array or NDJSON; gzip bodies are accepted.",
    responses={
        201: {"description": "Durable in the event log (every event, for a batch)."},
        207: {"description": "A batch of which some events were rejected."},
        400: {"description": "Invalid event(s): JSON path and rule in `error`."},
        401: {"description": "No token, or an unknown or revoked one."},
        403: {"description": "The token lacks the ingester role."},
        413: {"description": "Body or batch too large."},
        415: {"description": "Unsupported Content-Encoding."},
        503: {"description": "The event log is down: nothing was acknowledged, retry."},
    },
)
async def post_lineage(request: Request) -> Response:
    """Log OpenLineage events durably, then project them (see the module docstring).

    The OpenAPI entry of the path; ``create_app`` routes requests to :data:`endpoint`
    first, and an app that only includes :data:`router` is served the same.
    """
    status, body = await ingest_request(request.scope, request.receive)
    return Response(body, status_code=status, media_type="application/json")


async def _ingest(svc: Services, checked: list[Checked]) -> IngestReport:
    valid = valid_payloads(checked)
    submitted = None
    if valid.docs:
        # coalesced with concurrent requests into one log transaction (group commit);
        # shielded: a cancelled request (server shutdown) must not cancel a submission
        # that the committer will resolve, and that may be durable already
        future = svc.ingest.submit_grouped(SOURCE, valid.docs, valid.keys, valid.texts)
        submitted = await asyncio.shield(asyncio.wrap_future(future))
    rejected: dict[int, int] = {}
    if any(c.error is not None for c in checked):
        rejected = await run_in_threadpool(reject_invalid, svc.ingest, checked)
    return assemble(checked, submitted, rejected)


def _single_response(report: IngestReport) -> Answer:
    result = report.results[0]
    if result.status == "rejected":
        error = dict(result.error or {})
        error["details"] = {**error.get("details", {}), "dead_letter": result.seq}
        return 400, orjson.dumps({"error": error})
    content: dict[str, Any] = {"status": result.status, "seq": result.seq}
    content["warnings"] = [w.to_dict() for w in result.warnings]
    return 201, orjson.dumps(content)


def _batch_response(report: IngestReport) -> Answer:
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
        return 400, orjson.dumps({"error": error.to_dict()})
    status = 207 if report.rejected else 201
    return status, orjson.dumps({**counts, "results": results})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body; None past ``limit`` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _count_error(count: int, max_batch: int) -> Answer | None:
    """A body must hold at least one event (400, raised) and at most ``max_batch``
    (413, answered)."""
    if not count:
        raise invalid("the body holds no events", path="$", rule="json")
    if count > max_batch:
        message = f"{count} events in one request; at most {max_batch}"
        return _too_large(message, max_batch=max_batch)
    return None


def _too_large(message: str, **details: Any) -> Answer:
    return _error(413, LimitExceeded(message, path="$", **details))


def _error(status: int, exc: InvalidInput | LimitExceeded) -> Answer:
    return status, orjson.dumps({"error": exc.to_dict()})
