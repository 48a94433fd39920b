"""Structured logs: one JSON object per line, through the standard ``logging`` module.

Code logs as usual and passes structured fields in ``extra={"fields": {...}}``;
:class:`JsonFormatter` writes the record's time, level, logger and message
plus those fields (and the trace of an exception) as one line of JSON, which
log shippers read without parsing rules. ``configure_logging`` installs it on
the root logger; the server does this at start-up, libraries never do.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

#: The request log: one line per HTTP request.
access_log = logging.getLogger("lineagegraph.access")
_api_log = logging.getLogger("lineagegraph.api")


def internal_error(request_id: str | None, exc: BaseException) -> dict[str, Any]:
    """Log an unexpected error with its trace; the body of its 500, which names only
    the request id (a trace is for the operator, not the caller)."""
    _api_log.error("unexpected error", exc_info=exc, extra={"fields": {"request_id": request_id}})
    message = f"internal error (request {request_id})" if request_id else "internal error"
    return {"error": {"code": "internal", "message": message}}


class JsonFormatter(logging.Formatter):
    """Format a record as a single line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Send every log record to stderr, as JSON lines (or plain text for a terminal)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    # The formatters above use none of these: skip collecting them for every record
    # (finding the caller's source line walks the stack), one request log line each.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate ours, in another format.
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
