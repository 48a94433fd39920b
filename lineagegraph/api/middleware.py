"""Request middleware: a request id, the access log line, the latency metric, a body limit.

Pure ASGI (no buffering of bodies). Each HTTP request gets an id (the
client's ``X-Request-ID`` when it is a sane token, else a new one: a random
prefix per process and a counter, unique without a system call), returned
in the response's ``X-Request-ID`` and kept in ``request.state.request_id``
for error messages. When the response is done, one JSON log line records the
method, path, route template, status, duration, the caller's token name (never
the token) and, for GraphQL, the operation name.

Every request passes here, the single-event OpenLineage POSTs thousands of
times a second, so the work is kept small: one pass over the headers, the
latency histogram's labelled child looked up once per (method, route,
status), and the log line built only when the access log is enabled.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lineagegraph.api.logs import access_log
from lineagegraph.api.metrics import Metrics
from lineagegraph.errors import LimitExceeded

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._latency: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode())
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = _route(scope)
            method = scope["method"]
            self._observe(method, route, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                fields: dict[str, Any] = {
                    "request_id": request_id,
                    "method": method,
                    "path": scope.get("path", ""),
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "client": (scope.get("client") or ("", 0))[0],
                }
                for key in ("principal", "graphql_operation"):
                    if state.get(key):
                        fields[key] = state[key]
                access_log.info("request", extra={"fields": fields})

    def _observe(self, method: str, route: str, status: int, elapsed: float) -> None:
        key = (method, route, status)
        child = self._latency.get(key)
        if child is None:  # bounded: methods x route templates x statuses
            child = self.metrics.http_latency.labels(method, route, str(status))
            self._latency[key] = child
        child.observe(elapsed)


#: new request ids: a random prefix per process, then a counter
_ID_PREFIX = secrets.token_hex(8)
_ids = itertools.count(1)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _REQUEST_ID_RE.match(text):
                return text
            break
    return f"{_ID_PREFIX}{next(_ids):08x}"


def _route(scope: Scope) -> str:
    """The route template that matched (``/graphql``, ``/ui``), never the raw path."""
    path: object = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path:
        return path
    return "unmatched"


class GraphQLBodyLimit:
    """Refuse GraphQL request bodies larger than ``max_bytes`` (413), before parsing.

    The declared ``Content-Length`` is checked first; a body sent without one
    (chunked) is counted as it arrives and refused once it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, prefix: str = "/graphql") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(scope, receive, send, int(value))
                return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise LimitExceeded(
                        f"the request body exceeds {self.max_bytes} bytes (max_graphql_body_bytes)",
                        path="body",
                    )
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        error = LimitExceeded(
            f"the request body has {size} bytes; at most {self.max_bytes} (max_graphql_body_bytes)",
            path="body",
        )
        body = {
            "data": None,
            "errors": [{"message": error.message, "extensions": {"code": error.code}}],
        }
        await JSONResponse(body, status_code=413)(scope, receive, send)
